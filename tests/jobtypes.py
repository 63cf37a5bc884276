"""Job types for tests, registered in every process through PIPEDECK_PLUGINS=tests.jobtypes.

Each execution appends a line to ``<home>/executions.log`` (O_APPEND, one
write per line) so tests can prove a run executed exactly once and never
twice at the same time.
"""

from __future__ import annotations

import os
import time

from pydantic import Field

from pipedeck.concepts.datasets import Dataset, Policy
from pipedeck.concepts.durations import DAY
from pipedeck.errors import PermanentError, RetryableError
from pipedeck.handlers.params import JobParams
from pipedeck.handlers.registry import JobType, register, register_dataset


def record(ctx, event: str) -> None:
    path = ctx.settings.home / "executions.log"
    line = f"{ctx.run_id} {ctx.attempt} {event} {os.getpid()} {time.time():.6f}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_executions(home) -> list[tuple[int, int, str, int, float]]:
    path = home / "executions.log"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        run_id, attempt, event, pid, ts = line.split()
        out.append((int(run_id), int(attempt), event, int(pid), float(ts)))
    return out


class EchoParams(JobParams):
    lines: int = Field(3, ge=0, le=1000)
    pause: float = Field(0.0, ge=0, le=60)


def echo(ctx, params: EchoParams):
    record(ctx, "start")
    for i in range(params.lines):
        ctx.progress(i + 1, params.lines, f"line {i + 1}")
        ctx.log(f"echo line {i + 1} of {params.lines}")
        if params.pause:
            ctx.sleep(params.pause)
    record(ctx, "end")
    return {"lines": params.lines}


class SleepParams(JobParams):
    seconds: float = Field(5.0, ge=0, le=600)
    check_cancel: bool = True


def sleep(ctx, params: SleepParams):
    record(ctx, "start")
    deadline = time.monotonic() + params.seconds
    step = 0
    while time.monotonic() < deadline:
        step += 1
        if params.check_cancel:
            ctx.check_cancelled()
        time.sleep(0.02)
        if step % 10 == 0:
            ctx.progress(params.seconds - max(0.0, deadline - time.monotonic()), params.seconds, "sleeping")
    record(ctx, "end")
    return {"slept": params.seconds}


class FlakyParams(JobParams):
    fail_times: int = Field(2, ge=0, le=10)
    permanent: bool = False


def flaky(ctx, params: FlakyParams):
    record(ctx, "start")
    if ctx.attempt <= params.fail_times:
        ctx.log(f"failing on purpose (attempt {ctx.attempt})")
        if params.permanent:
            raise PermanentError("bad parameter (code 100)", error_type="MetaBadParameter")
        raise RetryableError("HTTP 503 from upstream", error_type="Upstream5xx")
    record(ctx, "end")
    return {"attempt": ctx.attempt}


class NoopParams(JobParams):
    pass


def noop(ctx, params):
    return None


register_dataset(Dataset("test_data", "Test data", Policy(1 * DAY, 2 * DAY)), replace=True)
register(JobType(key="test_echo", emoji="🔊", label="Test: echo lines", params_model=EchoParams, scope="brand",
                 datasets=("test_data",), handler=echo, max_attempts=3), replace=True)
register(JobType(key="test_sleep", emoji="😴", label="Test: sleep", params_model=SleepParams, scope="brand",
                 datasets=("test_data",), handler=sleep, max_attempts=2, backoff_base=0.2), replace=True)
register(JobType(key="test_flaky", emoji="🎲", label="Test: flaky", params_model=FlakyParams, scope="brand",
                 datasets=("test_data",), handler=flaky, max_attempts=4, backoff_base=0.2), replace=True)
register(JobType(key="test_noop", emoji="⚪", label="Test: no-op", params_model=NoopParams, scope="brand",
                 datasets=(), handler=noop, max_attempts=1), replace=True)
