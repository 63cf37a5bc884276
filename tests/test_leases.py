"""Leases: a run never executes twice at once, even when a worker stalls; no write of a
stalled attempt lands once its run was recovered; a finished run never stays running."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time

import pytest

from pipedeck.errors import LeaseLost
from pipedeck.handlers.context import HeldLease, RunContext, lease_clock
from pipedeck.queue.worker import recover_dead_runs
from pipedeck.storage import meta
from pipedeck.storage.runs import LogLine, RunStore
from tests.helpers import wait_for
from tests.jobtypes import read_executions

OTHER_HOST = "pipedeck-other-host"
# The workers of these tests also load tests/lease_jobtypes.py (not imported here: it would
# register its job types in this process too, and every app view listing job types would change).
PLUGINS = "tests.jobtypes,tests.lease_jobtypes"


# -- the store and the context, in process -------------------------------------------
@pytest.fixture
def store(database, tmp_path):
    database.conn.execute("INSERT INTO brands (name, created_at, updated_at) VALUES ('A', 0, 0)")
    store = RunStore(database)
    store.home = tmp_path
    return store


def context(store, claim, *, since: float | None = None, seconds: float = 3.0) -> RunContext:
    held = HeldLease(claim.lease, seconds, lambda: store.renew(claim.lease, seconds),
                     since=lease_clock() if since is None else since)
    from pipedeck.config import Settings

    return RunContext(run_id=claim.run["id"], attempt=claim.attempt, job_type="x", brand={"id": 1},
                      competitor=None, settings=Settings(home=store.home, queue_url="sqlite:///q"),
                      database=store.database, lease=held)


def new_run(store) -> int:
    return store.create_run(job_type="x", brand_id=1, competitor_id=None, params={}, max_attempts=3)


def take_over(store, run_id, claim, worker="w2"):
    """What another host's worker does once the first attempt's lease expired."""
    assert store.recover(run_id, claim.lease.token, "test: lease expired") == "queued"
    return store.claim(run_id, worker)


def test_no_write_of_a_recovered_attempt_lands(store):
    run_id = new_run(store)
    first = store.claim(run_id, "w1", lease_seconds=-1.0)  # expired a second ago
    second = take_over(store, run_id, first)
    ctx = context(store, first)  # the stalled attempt still believes in its lease...

    with pytest.raises(LeaseLost):  # ...but its data write checks the lease in its own transaction
        meta.upsert_ads(ctx.database, 1, "acct", [{"ad_id": "from-stale", "name": "stale"}])
    with pytest.raises(LeaseLost):  # and from now on its next ctx call raises
        ctx.log("still here?")
    with pytest.raises(LeaseLost):
        store.flush(run_id, 1, [LogLine(time.time(), "info", "late line")], (1, 2, "late"), lease=first.lease)
    assert store.finish(run_id, 1, "w1", "succeeded", lease=first.lease, result={"stale": True}) is None
    assert not store.renew(first.lease)
    assert store.heartbeat("w1", [first.lease]) == {run_id}

    assert store.database.query("SELECT ad_id FROM meta_ads") == []
    assert [l["message"] for l in store.logs(run_id) if l["attempt"] == 1] == [
        "interrupted: test: lease expired during attempt 1 of 3"]
    run = store.get(run_id)
    assert run["status"] == "running" and run["attempts"] == 2 and run["progress_current"] is None
    # The attempt holding the lease writes as usual.
    meta.upsert_ads(context(store, second).database, 1, "acct", [{"ad_id": "from-current"}])
    assert store.finish(run_id, 2, "w2", "succeeded", lease=second.lease) == "succeeded"
    assert [r["ad_id"] for r in store.database.query("SELECT ad_id FROM meta_ads")] == ["from-current"]


def test_a_stalled_attempt_asks_the_database_before_going_on(store):
    run_id = new_run(store)
    claim = store.claim(run_id, "w1", lease_seconds=3.0)
    # The process was stopped past its lease, but nobody took the run: it renews and goes on.
    stalled = context(store, claim, since=lease_clock() - 10)
    stalled.check_cancelled()
    stalled.progress(1, 2)
    # Stalled again, and this time the run was recovered meanwhile: the very next call raises.
    other = store.claim(new_run(store), "w1", lease_seconds=-1.0)
    take_over(store, other.run["id"], other)
    late = context(store, other, since=lease_clock() - 10)
    with pytest.raises(LeaseLost):
        late.check_cancelled()
    assert late.cancelled and late.lease_lost


def test_recovery_needs_the_current_lease_and_an_expired_one(store):
    run_id = new_run(store)
    claim = store.claim(run_id, "w1", lease_seconds=60.0)
    assert store.recover(run_id, claim.lease.token, "stale?") is None  # still valid by the database's clock
    assert store.recover(run_id, "someone-else", "stale?", only_if_expired=False) is None
    assert store.get(run_id)["status"] == "running"
    assert store.recover(run_id, claim.lease.token, "pid gone", only_if_expired=False) == "queued"


def test_a_live_process_on_this_host_is_not_recovered_by_heartbeat_alone(store, settings):
    run_id = new_run(store)
    store.register_worker("alive", kind="worker", host=settings.host_id, pid=os.getpid(), proc_start=None, threads=1,
                          version="t", queue="q")
    store.claim(run_id, "alive", lease_seconds=-1.0)
    assert recover_dead_runs(store, settings, "me") == []
    gone = subprocess.Popen(["true"])
    gone.wait()
    store.register_worker("gone", kind="worker", host=settings.host_id, pid=gone.pid, proc_start=None, threads=1,
                          version="t", queue="q")
    dead_run = new_run(store)
    store.claim(dead_run, "gone", lease_seconds=60.0)  # a fresh lease, but its process has exited
    assert recover_dead_runs(store, settings, "me") == [(dead_run, "queued")]
    assert store.get(run_id)["status"] == "running"


def test_a_worker_recovers_its_own_runs_whose_thread_is_gone(store, settings):
    run_id = new_run(store)
    store.claim(run_id, "me", lease_seconds=-1.0)
    fresh = new_run(store)
    store.claim(fresh, "me", lease_seconds=60.0)  # claimed a moment ago, not registered as active yet
    assert recover_dead_runs(store, settings, "me", own_active={run_id}) == []
    assert recover_dead_runs(store, settings, "me", own_active=set()) == [(run_id, "queued")]
    assert "its thread in worker me is gone" in store.get(run_id)["error_message"]
    assert store.get(fresh)["status"] == "running"


# -- real workers on a real SQLite file ------------------------------------------------
@pytest.fixture
def start_worker(worker_factory):
    """Workers that also know the job types of tests/lease_jobtypes.py."""
    def start(*, extra_env: dict | None = None, **kwargs):
        return worker_factory(extra_env={"PIPEDECK_PLUGINS": PLUGINS, **(extra_env or {})}, **kwargs)
    return start


def queue(svc, brand, job_type: str, params: dict) -> int:
    """Record and enqueue a run of a job type only the workers know (this process's registry does not)."""
    run_id = svc.runs.create_run(job_type=job_type, brand_id=brand["id"], competitor_id=None, params=params,
                                 max_attempts=3)
    svc.queue.enqueue(run_id)
    return run_id


def holds_no_write_lock(path) -> bool:
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


def no_open_transaction(url: str, pid: int) -> bool:
    """No session of the worker process ``pid`` is inside a transaction (holding row locks)."""
    import psycopg

    with psycopg.connect(url) as conn:
        busy = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND application_name LIKE 'pipedeck%%' AND state NOT IN ('idle') AND backend_xid IS NOT NULL").fetchone()
    return busy[0] == 0


def freeze(worker, home) -> float:
    """SIGSTOP ``worker`` at a moment it holds no write lock (else everyone would wait for it).
    Returns when it was frozen."""
    url = os.environ.get("PIPEDECK_DATABASE_URL")

    def stopped_cleanly():
        at = time.time()
        worker.signal(signal.SIGSTOP)
        if url and no_open_transaction(url, worker.pid):
            return at
        if not url and holds_no_write_lock(home / "pipedeck.db") and holds_no_write_lock(home / "queue.db"):
            return at
        worker.signal(signal.SIGCONT)
        return None
    return wait_for(stopped_cleanly, 10, interval=0.05, message="a moment the worker holds no lock")


def stamps(svc, run_id) -> list[tuple[int, int, float]]:
    """(attempt, tick, time) of every stamp the run's handler wrote through storage."""
    rows = svc.database.query("SELECT ad_id, name FROM meta_ads WHERE ad_account_id = 'stamps' AND ad_id LIKE ?",
                              (f"{run_id}-%",))
    out = [(int(r["ad_id"].split("-")[1]), int(r["ad_id"].split("-")[2]), float(r["name"])) for r in rows]
    return sorted(out, key=lambda s: s[2])


def worker_row(svc, pid) -> dict:
    return next(w for w in svc.runs.workers() if w["pid"] == pid)


def test_stalled_worker_keeps_its_run_on_the_same_host(svc, brand, home, settings, start_worker):
    frozen = start_worker()
    run_id = queue(svc, brand, "test_stamp", {"ticks": 12, "every": 0.2})
    wait_for(lambda: stamps(svc, run_id), 10, message="the first stamp")
    frozen_at = freeze(frozen, home)
    try:
        other = start_worker()
        lapsed = frozen_at + settings.stale_after
        # Past the stale limit, and the other worker's monitor (heartbeat, then its 2 s maintenance) looked since.
        wait_for(lambda: worker_row(svc, other.pid)["heartbeat_at"] > lapsed + 2.5, 20,
                 message="the other worker to look after the lease lapsed")
        assert svc.runs.get(run_id)["status"] == "running"
        assert svc.runs.get(run_id)["attempts"] == 1
    finally:
        frozen.signal(signal.SIGCONT)
    wait_for(lambda: svc.runs.get(run_id)["status"] == "succeeded", 20, message="the thawed worker to finish")
    assert [a["status"] for a in svc.runs.attempts(run_id)] == ["succeeded"]
    assert [(a, t) for a, t, _ in stamps(svc, run_id)] == [(1, i) for i in range(12)]
    events = [(attempt, event) for rid, attempt, event, _, _ in read_executions(home) if rid == run_id]
    assert events == [(1, "start"), (1, "end")]
    assert "recovered" not in other.output()


def other_host_prefix() -> tuple[str, ...]:
    """Run a worker in its own UTS namespace: the same machine and database, another host name."""
    script = f'hostname {OTHER_HOST} && exec "$@"'
    for unshare in (("unshare", "--uts"), ("unshare", "--user", "--map-root-user", "--uts")):
        try:
            probe = subprocess.run([*unshare, "sh", "-c", script, "sh", "hostname"], capture_output=True,
                                   text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0 and probe.stdout.strip() == OTHER_HOST:
            return (*unshare, "sh", "-c", script, "sh")
    pytest.skip("cannot give a worker another host name here (unshare --uts is not permitted)")


def test_stalled_worker_on_another_host_is_fenced_off(svc, brand, home, start_worker):
    """SIGSTOP a worker on another host past the stale limit: its run is taken over, and when
    it resumes it stops at its next ctx call and none of its writes land."""
    frozen = start_worker(prefix=other_host_prefix())
    assert worker_row(svc, frozen.pid)["host"] == OTHER_HOST
    run_id = queue(svc, brand, "test_stamp", {"ticks": 20, "every": 0.2})
    wait_for(lambda: stamps(svc, run_id), 10, message="the first stamp")
    frozen_at = freeze(frozen, home)
    try:
        taker = start_worker()
        wait_for(lambda: any(a == 2 for a, _, _ in stamps(svc, run_id)), 30, message="attempt 2 to run")
        before_thaw = (stamps(svc, run_id), [l for l in svc.runs.logs(run_id) if l["attempt"] == 1])
    finally:
        frozen.signal(signal.SIGCONT)
    wait_for(lambda: svc.runs.get(run_id)["status"] == "succeeded", 30, message="attempt 2 to finish")
    # The thawed worker stops its attempt (or, were it not fenced, runs it to its end and is refused only then).
    wait_for(lambda: "lost its lease" in frozen.output() or "no longer ours" in frozen.output(), 15,
             message="the thawed worker to be done with its attempt")

    mine = stamps(svc, run_id)
    first = [ts for a, _, ts in mine if a == 1]
    second = [ts for a, _, ts in mine if a == 2]
    assert first and len(second) == 20
    assert max(first) <= frozen_at < min(second)  # zero overlap, by the handlers' own stamps
    assert [s for s in mine if s[0] == 1] == [s for s in before_thaw[0] if s[0] == 1]  # nothing landed after
    assert [l for l in svc.runs.logs(run_id) if l["attempt"] == 1] == before_thaw[1]
    assert [a["status"] for a in svc.runs.attempts(run_id)] == ["interrupted", "succeeded"]
    assert svc.runs.get(run_id)["result"] == {"ticks": 20}
    events = [(attempt, event) for rid, attempt, event, _, _ in read_executions(home) if rid == run_id]
    assert events == [(1, "start"), (2, "start"), (2, "end")]  # the stalled attempt never ran on to its end
    assert "recovered" in taker.output() and "lost its lease" in frozen.output()


class LockHolder:
    """Another process's lock on what the worker must write: SQLite's write lock, or the run's row."""

    def __init__(self, home, run_id: int) -> None:
        url = os.environ.get("PIPEDECK_DATABASE_URL")
        if url:
            import psycopg

            self.conn = psycopg.connect(url)
            self.conn.execute("SELECT * FROM runs WHERE id = %s FOR UPDATE", (run_id,))
        else:
            self.conn = sqlite3.connect(home / "pipedeck.db", isolation_level=None)
            self.conn.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        self.conn.rollback() if hasattr(self.conn, "broken") else self.conn.execute("ROLLBACK")
        self.conn.close()


def test_end_of_a_run_is_written_once_a_long_lock_is_released(svc, brand, home, start_worker):
    """The handler finished while another process held the lock past the busy timeout."""
    worker = start_worker(extra_env={"PIPEDECK_BUSY_TIMEOUT": "0.3"})
    gate = home / "gate"
    run_id = queue(svc, brand, "test_gate", {"path": str(gate)})
    wait_for(lambda: any(r == run_id for r, *_ in read_executions(home)), 10, message="the handler to start")
    holder = LockHolder(home, run_id)
    try:
        gate.touch()
        wait_for(lambda: "locked" in worker.output(), 10, message="the worker to try and fail to write the end")
        assert svc.runs.get(run_id)["status"] == "running"
    finally:
        holder.release()
    wait_for(lambda: svc.runs.get(run_id)["status"] == "succeeded", 15, message="the end to land")
    assert [a["status"] for a in svc.runs.attempts(run_id)] == ["succeeded"]
    assert svc.runs.get(run_id)["result"] == {"gated": 1}
    assert [e for r, _, e, _, _ in read_executions(home) if r == run_id] == ["start", "end"]
    assert f"run {run_id}: could not write its end" in worker.output()
