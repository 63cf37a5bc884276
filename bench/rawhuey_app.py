"""The baseline: a plain SqliteHuey with no-op tasks, run by huey's own consumer."""

from __future__ import annotations

import os

from huey import SqliteHuey

from bench.jobs import append_stamp

huey = SqliteHuey("raw", filename=os.environ["BENCH_RAW_QUEUE"], results=False)


@huey.task()
def noop(i):
    return None


@huey.task()
def stamp(i):
    append_stamp(i)


@huey.task()
def done_marker(i):
    append_stamp(f"done-{i}")
