"""A job type for the team tests, loaded only by their workers (PIPEDECK_PLUGINS=tests.jobtypes,tests.team_jobtypes):
registered in the test process too it would change every view that lists job types."""

from __future__ import annotations

from pydantic import Field

from pipedeck.handlers.params import JobParams
from pipedeck.handlers.registry import JobType, register
from tests.jobtypes import record


class WorkParams(JobParams):
    pause: float = Field(0.1, ge=0, le=10)


def work(ctx, params: WorkParams):
    record(ctx, "start")
    ctx.progress(0, 1, "working")
    ctx.sleep(params.pause)
    ctx.progress(1, 1, "done")
    record(ctx, "end")
    return {"worked": params.pause}


# Many attempts: a run may be on the worker that is SIGKILLed more than once.
register(JobType(key="team_work", emoji="🧱", label="Test: team work", params_model=WorkParams, scope="brand",
                 datasets=(), handler=work, max_attempts=30, backoff_base=0.2), replace=True)
