"""Job types for benchmarks (PIPEDECK_PLUGINS=bench.jobs)."""

from __future__ import annotations

import os
import time

from pipedeck.handlers.params import JobParams
from pipedeck.handlers.registry import JobType, register


class NoParams(JobParams):
    pass


def stamp_path() -> str:
    return os.environ["BENCH_STAMP_FILE"]


def append_stamp(tag) -> None:
    fd = os.open(stamp_path(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{tag} {time.time():.6f}\n".encode())
    finally:
        os.close(fd)


def noop(ctx, params):
    return None


def stamp(ctx, params):
    append_stamp(ctx.run_id)


register(JobType(key="bench_noop", emoji="⚪", label="Bench: no-op", params_model=NoParams, scope="brand",
                 datasets=(), handler=noop, max_attempts=1), replace=True)
register(JobType(key="bench_stamp", emoji="⏱", label="Bench: stamp start time", params_model=NoParams,
                 scope="brand", datasets=(), handler=stamp, max_attempts=1), replace=True)
