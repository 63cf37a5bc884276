"""One module per job type: a pydantic ``Params`` model and ``run(ctx, params)``.

Handlers use httpx and Playwright; they never import Textual or huey.
"""
