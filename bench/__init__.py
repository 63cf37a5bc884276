"""Benchmark scripts: run them as ``python bench/<name>.py`` from the repository root.

No module here is named like a standard-library one (the queue figures are
``queue_bench.py``, not ``queue.py``), since running a script puts this folder
first on ``sys.path``.
"""
