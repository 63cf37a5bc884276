"""The baseline: plain huey with no-op tasks, run by huey's own consumer: SqliteHuey on a file,
or PostgresHuey (BENCH_RAW_DSN) in the same PostgreSQL database as pipedeck, in tables of its own."""

from __future__ import annotations

import os

from huey import PostgresHuey, SqliteHuey

from bench.jobs import append_stamp

if os.environ.get("BENCH_RAW_DSN"):
    huey = PostgresHuey("raw", dsn=os.environ["BENCH_RAW_DSN"], results=False, table_prefix="rawbench",
                        read_timeout=1)
else:
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
