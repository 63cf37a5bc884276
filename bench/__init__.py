"""Benchmark scripts: run them as ``python bench/<name>.py`` from the repository root.

Run that way, this folder comes first on ``sys.path``, where ``bench/queue.py``
would shadow the standard library's ``queue`` module (which logging,
concurrent.futures and asyncio import). Every script imports this package
before anything else that could import ``queue``, so the folder is dropped here.
"""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
if "queue" in sys.modules and Path(getattr(sys.modules["queue"], "__file__", "") or "").resolve().parent == _HERE:
    del sys.modules["queue"]  # imported too early from here: let the real one load
