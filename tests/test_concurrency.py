"""A worker, a CLI loop queueing runs and readers polling listings, all at once."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter

from tests.helpers import run_cli, wait_for
from tests.jobtypes import read_executions

SOAK_SECONDS = float(os.environ.get("PIPEDECK_SOAK_SECONDS", "30"))


def test_soak_no_locked_errors_and_no_lost_runs(svc, brand, env, home, worker_factory):
    worker_factory()
    stop = time.monotonic() + SOAK_SECONDS
    queued_ids: list[int] = []
    problems: list[str] = []
    reads = Counter()

    def check(proc, what):
        # A lock error reaches a user on stderr; stdout may name the data dir, whose temp path
        # carries this test's name ("..._no_locked_errors_...").
        text = proc.stdout + proc.stderr
        if proc.returncode != 0 or "locked" in proc.stderr.lower() or "Traceback" in text:
            problems.append(f"{what}: rc={proc.returncode} {proc.stderr.strip()[:300]}")

    def cli_queue_loop():
        while time.monotonic() < stop:
            proc = run_cli(env, "queue", "test_echo", "--brand", "Acme", "--set", "lines=2")
            check(proc, "queue")
            if proc.returncode == 0:
                queued_ids.append(int(proc.stdout.strip()))

    def api_queue_loop():  # a second, faster producer through the service API
        from pipedeck.config import load_settings
        from pipedeck.queue.service import Service

        own = Service(load_settings())
        try:
            while time.monotonic() < stop:
                queued_ids.append(own.queue_one_time_job("Acme", "test_echo", {"lines": 1}))
                time.sleep(0.01)
        except Exception as exc:  # noqa: BLE001 - any error here is a finding
            problems.append(f"api queue: {exc!r}")
        finally:
            own.close()

    def reader_loop():
        while time.monotonic() < stop:
            for args in (("runs", "--json", "--limit", "200"), ("status", "--json"), ("freshness", "--json")):
                proc = run_cli(env, *args)
                check(proc, " ".join(args))
                reads[args[0]] += 1
                if args[0] == "runs" and proc.returncode == 0:
                    json.loads(proc.stdout)

    threads = [threading.Thread(target=f) for f in (cli_queue_loop, api_queue_loop, reader_loop)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not problems, problems[:5]
    assert len(queued_ids) > 50 and reads["runs"] > 5

    def all_done():
        return Counter(svc.runs.get(r)["status"] for r in queued_ids)["succeeded"] == len(queued_ids)

    wait_for(all_done, 120, interval=0.5, message="every queued run to succeed")
    recorded = svc.database.scalar("SELECT count(*) FROM runs")
    assert recorded == len(queued_ids)
    starts = Counter(r for r, _, event, _, _ in read_executions(home) if event == "start")
    assert set(starts) == set(queued_ids) and set(starts.values()) == {1}
