"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def pct(values, p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))
    return values[k]


def median(values) -> float:
    return statistics.median(values) if values else float("nan")


def bench_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPEDECK_")}
    env.update({"PIPEDECK_HOME": str(home), "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    out = open(log, "w")
    return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True)


def wait_until(cond, timeout: float, interval: float = 0.01, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: timed out waiting for {what}")
        time.sleep(interval)


def emit(result: dict) -> None:
    """The last line of every bench script: one JSON object."""
    sys.stdout.flush()
    print(json.dumps(result, sort_keys=True))


def cpu_seconds(pid: int) -> float:
    import psutil

    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total
