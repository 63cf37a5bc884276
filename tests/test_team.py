"""Team mode: several workers (as if on several hosts), several producers and several tickers on one
database, all at once. The rules under test: a run executes once and never twice at the same time,
a dead worker's runs are recovered, no lock error reaches a user, the live change feed sees every
change, and each schedule occurrence is queued once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from pipedeck.queue.service import Service
from pipedeck.tui.live import LiveFeed
from tests.helpers import REPO, Clock, WorkerProcess, base_env, wait_for
from tests.jobtypes import read_executions
from tests.test_worker import assert_never_overlapping

TEAM_PLUGINS = "tests.jobtypes,tests.team_jobtypes"


def host_worker(tmp_path, name: str, started: list, **env) -> WorkerProcess:
    """A worker with a data dir and a host id of its own: what another machine on the same database has."""
    home = tmp_path / name
    proc = WorkerProcess(base_env(home, PIPEDECK_HOST_ID=name, PIPEDECK_PLUGINS=TEAM_PLUGINS, **env))
    started.append(proc)
    return proc.wait_ready(30)


def queue_work(svc, brand, n: int, pause: float) -> list[int]:
    """Record and enqueue runs of a job type only the workers know (this process's registry does not)."""
    ids = []
    for _ in range(n):
        run_id = svc.runs.create_run(job_type="team_work", brand_id=brand["id"], competitor_id=None,
                                     params={"pause": pause}, max_attempts=30)
        svc.queue.enqueue(run_id)
        ids.append(run_id)
    return ids


def all_executions(*homes) -> list:
    return sorted((e for home in homes for e in read_executions(home)), key=lambda e: e[4])


@pytest.mark.slow
@pytest.mark.engines("postgresql")
def test_two_hosts_drain_1000_runs_while_one_is_sigkilled_20_times(svc, brand, tmp_path):
    started: list[WorkerProcess] = []
    try:
        steady = host_worker(tmp_path, "host-b", started)
        run_ids = queue_work(svc, brand, 1000, pause=0.1)
        kills = 0
        while kills < 20:
            victim = host_worker(tmp_path, "host-a", started)
            host_a_busy = lambda: svc.database.scalar(  # noqa: E731
                "SELECT count(*) FROM runs WHERE status = 'running' AND worker_id LIKE 'host-a:%'")
            wait_for(host_a_busy, 30, interval=0.01, message="host-a to be running something")
            victim.kill()
            kills += 1
        host_worker(tmp_path, "host-a", started)

        def settled():
            return Counter(r["status"] for r in svc.list_runs(limit=None))

        wait_for(lambda: settled()["succeeded"] == 1000, 240, interval=0.5, message="all 1000 runs to succeed")
        assert settled() == {"succeeded": 1000}
        assert svc.queue_depth()["running"] == 0
        executions = all_executions(tmp_path / "host-a", tmp_path / "host-b")
        ends = Counter(run_id for run_id, _, event, _, _ in executions if event == "end")
        assert set(ends) == set(run_ids) and set(ends.values()) == {1}, "a run ended more than once"
        assert_never_overlapping(executions)
        interrupted = svc.database.scalar("SELECT count(*) FROM attempts WHERE status = 'interrupted'")
        assert interrupted > 0  # kills caught runs of host-a mid-flight, and they were recovered
        assert "recovered" in steady.output() or any("recovered" in w.output() for w in started)
    finally:
        for proc in started:
            proc.stop(timeout=15)


PRODUCER = """
import sys
from pipedeck.config import load_settings
from pipedeck.queue.service import Service

svc = Service(load_settings(), lazy_registry=True)
try:
    for _ in range(int(sys.argv[1])):
        print(svc.queue_one_time_job("Acme", "test_echo", {"lines": 1}), flush=True)
finally:
    svc.close()
"""


class FeedRecorder:
    """Where the app's live feed posts its messages: here they are kept (Textual's App stands behind it
    in the app; tests/tui checks that side)."""

    def __init__(self) -> None:
        self.messages: list = []
        self.notices: list[str] = []
        self.lock = threading.Lock()

    def post_message(self, message) -> None:
        with self.lock:
            self.messages.append(message)

    def call_from_thread(self, fn, *args, **kwargs):
        if getattr(fn, "__name__", "") == "notify":
            self.notices.append(str(args[0] if args else kwargs))
            return None
        return fn(*args, **kwargs)

    def notify(self, message, **kwargs) -> None:
        self.notices.append(message)


@pytest.mark.slow
def test_four_producers_and_two_workers_lose_nothing_and_the_feed_sees_every_change(svc, brand, env, home,
                                                                                      worker_factory):
    worker_factory()
    worker_factory()
    recorder = FeedRecorder()
    feed = LiveFeed(recorder, Service(svc.settings), interval=0.05, health_interval=1.0, catalog_interval=60)
    feed.start()
    try:
        wait_for(lambda: feed.last_rev is not None, 10, message="the feed to start")
        producers = [subprocess.Popen([sys.executable, "-c", PRODUCER, "500"], env=env, cwd=REPO, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
        outputs = [p.communicate(timeout=600) for p in producers]
        assert [p.returncode for p in producers] == [0] * 4, [err for _, err in outputs]
        assert all(err == "" for _, err in outputs), [err[:300] for _, err in outputs if err]  # nothing reached a user
        queued = [int(line) for out, _ in outputs for line in out.split()]
        assert len(queued) == len(set(queued)) == 2000

        def succeeded():
            return svc.database.scalar("SELECT count(*) FROM runs WHERE status = 'succeeded'")

        wait_for(lambda: succeeded() == 2000, 300, interval=0.5, message="all 2000 runs to succeed")
        wait_for(lambda: feed.last_rev == svc.live_rev(), 10, message="the feed to catch up")
    finally:
        feed.stop()
        feed.service.close()
    assert recorder.notices == []
    seen: dict[int, dict] = {}
    for message in recorder.messages:
        assert type(message).__name__ != "RunsReload"  # every change came as a patch
        for row in getattr(message, "rows", ()):
            if row["id"] not in seen or row["rev"] >= seen[row["id"]]["rev"]:
                seen[row["id"]] = row
    final = {r["id"]: r for r in svc.list_runs(limit=None)}
    assert set(final) == set(queued)
    assert set(seen) == set(queued), f"{len(set(queued) - set(seen))} runs never reached the feed"
    stale = [run_id for run_id in queued if (seen[run_id]["status"], seen[run_id]["rev"]) !=
             (final[run_id]["status"], final[run_id]["rev"])]
    assert stale == [], f"the feed missed the last change of {len(stale)} runs, e.g. {stale[:5]}"
    starts = Counter(r for r, _, event, _, _ in read_executions(home) if event == "start")
    assert set(starts) == set(queued) and set(starts.values()) == {1}


T0 = 2_082_758_400.0  # 2036-01-01 00:00 UTC: the real workers' own ticks never see these due


def test_two_workers_ticking_200_schedules_for_a_simulated_hour_queue_each_occurrence_once(settings, brand):
    clock = Clock(T0)
    tickers = [Service(settings, clock=clock), Service(settings, clock=clock)]  # each its own connections
    first = tickers[0]
    try:
        schedules = [first.add_schedule("test_echo", "Acme", cron="*/5 * * * *", params={"lines": 1})["id"]
                     for _ in range(200)]
        errors: list[BaseException] = []
        barrier = threading.Barrier(2)

        def tick(svc, t):
            try:
                barrier.wait()
                svc.tick(now=t)
            except BaseException as exc:  # noqa: BLE001 - any error here is a finding
                errors.append(exc)

        t = T0
        while t <= T0 + 3600:
            clock.t = t
            threads = [threading.Thread(target=tick, args=(svc, t)) for svc in tickers]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            # Finish what was queued, as a worker would, so the next occurrence is not skipped as still running.
            for run in first.list_runs(statuses=["queued"], limit=None):
                claim = first.runs.claim(run["id"], "w")
                first.runs.finish(run["id"], claim.attempt, "w", "succeeded", lease=claim.lease)
            t += 30.0
        assert errors == []
        rows = first.database.query("SELECT schedule_id, created_at FROM runs WHERE schedule_id IS NOT NULL")
        per_schedule = Counter(r["schedule_id"] for r in rows)
        assert set(per_schedule) == set(schedules) and set(per_schedule.values()) == {12}
        assert len({(r["schedule_id"], r["created_at"]) for r in rows}) == 2400
        events = Counter(r["action"] for r in first.database.query("SELECT action FROM schedule_events"))
        assert events == {"queued": 2400}
    finally:
        for svc in tickers:
            svc.close()
