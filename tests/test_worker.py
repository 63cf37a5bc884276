"""The queue with real worker processes on a real SQLite file."""

from __future__ import annotations

import os
import signal
from collections import Counter, defaultdict

import pytest

from tests.helpers import wait_for
from tests.jobtypes import read_executions


def statuses(svc, run_ids):
    return Counter(svc.runs.get(r)["status"] for r in run_ids)


def assert_never_overlapping(executions):
    """No run was executing in two places at the same time."""
    spans = defaultdict(list)
    open_starts = {}
    for run_id, attempt, event, pid, ts in executions:
        if event == "start":
            open_starts[(run_id, attempt, pid)] = ts
        elif event == "end":
            spans[run_id].append((open_starts.pop((run_id, attempt, pid)), ts))
    for run_id, items in spans.items():
        items.sort()
        for (s1, e1), (s2, e2) in zip(items, items[1:]):
            assert s2 >= e1, f"run {run_id} executed twice at once"


def test_200_runs_each_execute_exactly_once(svc, brand, home, worker):
    run_ids = [svc.queue_one_time_job("Acme", "test_echo", {"lines": 2}) for _ in range(200)]
    wait_for(lambda: statuses(svc, run_ids)["succeeded"] == 200, 60, interval=0.2,
             message="200 runs to succeed")
    starts = Counter(r for r, _, event, _, _ in read_executions(home) if event == "start")
    assert set(starts) == set(run_ids)
    assert all(n == 1 for n in starts.values()), "some run executed more than once"
    for run_id in run_ids[:: 20]:
        detail = svc.run_detail(run_id)
        assert detail["run"]["attempts"] == 1
        assert detail["run"]["progress_current"] == 2 and detail["run"]["progress_total"] == 2
        assert [l["message"] for l in detail["logs"] if l["message"].startswith("echo")] == [
            "echo line 1 of 2", "echo line 2 of 2"]
    fresh = {(r["dataset"]): r for r in svc.runs.freshness(brand["id"])}
    assert fresh["test_data"]["last_success_run_id"] in run_ids


def test_sigkill_mid_run_is_recovered_and_retried(svc, brand, home, worker_factory):
    first = worker_factory()
    run_id = svc.queue_one_time_job("Acme", "test_sleep", {"seconds": 1.5})
    wait_for(lambda: svc.runs.get(run_id)["status"] == "running", 10, message="run to start")
    first.kill()
    second = worker_factory()
    wait_for(lambda: svc.runs.get(run_id)["status"] == "succeeded", 20, message="recovered run to succeed")
    run = svc.runs.get(run_id)
    attempts = svc.runs.attempts(run_id)
    assert [a["status"] for a in attempts] == ["interrupted", "succeeded"]
    assert str(first.pid) in attempts[0]["error_message"]
    assert attempts[1]["worker_id"] != attempts[0]["worker_id"]
    assert run["attempts"] == 2
    assert svc.runs.counts()["running"] == 0
    assert_never_overlapping(read_executions(home))
    assert "recovered" in second.output()


def test_sigkill_out_of_attempts_fails_as_interrupted(svc, brand, worker_factory):
    # test_sleep allows 2 attempts: kill the worker during both.
    run_id = svc.queue_one_time_job("Acme", "test_sleep", {"seconds": 30})
    for attempt in (1, 2):
        w = worker_factory()
        wait_for(lambda: (lambda r: r["status"] == "running" and r["attempts"] == attempt)(svc.runs.get(run_id)),
                 15, message=f"attempt {attempt} to run")
        w.kill()
    worker_factory()  # notices the dead worker at start
    wait_for(lambda: svc.runs.get(run_id)["status"] == "failed", 15, message="run to fail")
    run = svc.runs.get(run_id)
    assert run["error_type"] == "Interrupted"
    assert "interrupted" in run["error_message"] and "attempt 2 of 2" in run["error_message"]
    assert [a["status"] for a in svc.runs.attempts(run_id)] == ["interrupted", "interrupted"]
    assert svc.runs.counts()["running"] == 0


def test_retryable_twice_then_succeeds_with_three_attempts(svc, brand, home, worker):
    run_id = svc.queue_one_time_job("Acme", "test_flaky", {"fail_times": 2})
    wait_for(lambda: svc.runs.get(run_id)["status"] == "succeeded", 20, message="flaky run to succeed")
    attempts = svc.runs.attempts(run_id)
    assert [a["status"] for a in attempts] == ["failed", "failed", "succeeded"]
    assert all(a["error_type"] == "Upstream5xx" for a in attempts[:2])
    # Exponential backoff: the second wait is longer than the first.
    gap1 = attempts[1]["started_at"] - attempts[0]["finished_at"]
    gap2 = attempts[2]["started_at"] - attempts[1]["finished_at"]
    assert gap1 >= 0.15 and gap2 >= 0.3
    assert svc.runs.get(run_id)["error_message"] is None


def test_permanent_error_fails_after_one_attempt(svc, brand, worker):
    run_id = svc.queue_one_time_job("Acme", "test_flaky", {"fail_times": 5, "permanent": True})
    wait_for(lambda: svc.runs.get(run_id)["status"] == "failed", 10, message="run to fail")
    run = svc.runs.get(run_id)
    assert run["attempts"] == 1
    assert run["error_type"] == "MetaBadParameter"
    fresh = {r["dataset"]: r for r in svc.runs.freshness(brand["id"])}
    assert fresh["test_data"]["last_failure_run_id"] == run_id


def test_cancelled_queued_run_never_starts(svc, brand, home, worker_factory):
    run_id = svc.queue_one_time_job("Acme", "test_echo", {"lines": 1})
    assert svc.cancel(run_id) == "cancelled"
    later = svc.queue_one_time_job("Acme", "test_echo", {"lines": 1})
    worker_factory()
    wait_for(lambda: svc.runs.get(later)["status"] == "succeeded", 10, message="later run")
    assert svc.runs.get(run_id)["status"] == "cancelled"
    assert svc.runs.attempts(run_id) == []
    assert run_id not in {r for r, *_ in read_executions(home)}


def test_cancel_running_run_stops_within_a_second(svc, brand, worker):
    run_id = svc.queue_one_time_job("Acme", "test_sleep", {"seconds": 60})
    wait_for(lambda: svc.runs.get(run_id)["status"] == "running", 10, message="run to start")
    assert svc.cancel(run_id) == "cancelling"
    asked = svc.runs.get(run_id)
    assert asked["status"] == "cancelling"
    wait_for(lambda: svc.runs.get(run_id)["status"] == "cancelled", 5, interval=0.01, message="cancelled")
    attempts = svc.runs.attempts(run_id)
    assert [a["status"] for a in attempts] == ["cancelled"]
    # From the cancel request to the handler stopping, by the store's own clock.
    assert attempts[0]["finished_at"] - asked["updated_at"] < 1.0


def test_sigterm_hands_back_a_running_run(svc, brand, home, worker_factory):
    w = worker_factory("--grace", "0.2")
    run_id = svc.queue_one_time_job("Acme", "test_sleep", {"seconds": 3})
    wait_for(lambda: svc.runs.get(run_id)["status"] == "running", 10, message="run to start")
    w.signal(signal.SIGTERM)
    assert w.proc.wait(timeout=10) == 0
    run = svc.runs.get(run_id)
    assert run["status"] == "queued"
    assert [a["status"] for a in svc.runs.attempts(run_id)] == ["handed_back"]
    assert "handed back" in w.output()
    worker_factory()
    wait_for(lambda: svc.runs.get(run_id)["status"] == "succeeded", 20, message="handed-back run to finish")
    assert svc.runs.get(run_id)["failures"] == 0


def test_sigint_lets_a_short_run_finish(svc, brand, worker_factory):
    w = worker_factory("--grace", "10")
    run_id = svc.queue_one_time_job("Acme", "test_sleep", {"seconds": 0.8})
    wait_for(lambda: svc.runs.get(run_id)["status"] == "running", 10, message="run to start")
    w.signal(signal.SIGINT)
    assert w.proc.wait(timeout=15) == 0
    assert svc.runs.get(run_id)["status"] == "succeeded"
    assert svc.live_workers() == []


def test_lost_message_is_resent(svc, brand, worker, monkeypatch):
    """A run recorded as queued whose huey message vanished is still executed."""
    from pipedeck.queue import worker as worker_mod

    run_id = svc.runs.create_run(job_type="test_echo", brand_id=brand["id"], competitor_id=None,
                                 params={"lines": 1, "pause": 0.0}, max_attempts=3)
    # Age the row past the sweep's threshold instead of waiting for it.
    with svc.database.write() as db:
        db.conn.execute("UPDATE runs SET updated_at = updated_at - ? WHERE id = ?", (worker_mod.ORPHAN_AFTER + 1, run_id))
    wait_for(lambda: svc.runs.get(run_id)["status"] == "succeeded", 15, message="orphan to be re-sent and run")


def test_direct_mode_runs_in_the_calling_process(svc, brand, home):
    run_id = svc.queue_one_time_job("Acme", "test_flaky", {"fail_times": 1}, direct=True)
    assert svc.runs.get(run_id)["direct"] == 1
    lines = []
    assert svc.execute_direct(run_id, echo=lines.append) == "succeeded"
    attempts = svc.runs.attempts(run_id)
    assert [a["status"] for a in attempts] == ["failed", "succeeded"]
    assert all(a["worker_id"].startswith("direct:") for a in attempts)
    import os
    assert {pid for *_, pid, _ in read_executions(home)} == {os.getpid()}
    assert any("succeeded" in line for line in lines)


def test_direct_run_whose_process_died_before_claiming_goes_to_a_worker(svc, brand, worker):
    from pipedeck.storage.runs import RunStore

    run_id = svc.queue_one_time_job("Acme", "test_echo", {"lines": 1}, direct=True)
    # Its process vanished before claiming it; a minute later the worker's sweep takes it.
    later = RunStore(svc.database, clock=lambda: __import__("time").time() + 61)
    assert run_id in later.orphaned(10)
    with svc.database.write() as db:
        db.conn.execute("UPDATE runs SET updated_at = updated_at - 61 WHERE id = ?", (run_id,))
    wait_for(lambda: svc.runs.get(run_id)["status"] == "succeeded", 15, message="orphaned direct run")
    run = svc.runs.get(run_id)
    assert run["direct"] == 0 and not svc.runs.attempts(run_id)[0]["worker_id"].startswith("direct:")


def test_ctrl_c_in_direct_mode_cancels_the_run(svc, brand):
    import _thread
    import threading

    import pytest

    run_id = svc.queue_one_time_job("Acme", "test_sleep", {"seconds": 30}, direct=True)
    threading.Timer(0.5, _thread.interrupt_main).start()
    with pytest.raises(KeyboardInterrupt):
        svc.execute_direct(run_id)
    run = svc.runs.get(run_id)
    assert run["status"] == "cancelled"
    assert svc.runs.attempts(run_id)[0]["status"] == "cancelled"


@pytest.mark.engines("sqlite")  # a damaged SQLite file; PostgreSQL checks its own pages
def test_worker_on_a_damaged_database_stops_with_one_line_and_leaves_the_queue(svc, brand, home, worker_factory):
    from tests.test_storage import corrupt_table

    run_ids = [svc.queue_one_time_job("Acme", "test_echo", {"lines": 1}) for _ in range(3)]
    assert svc.queue.pending() == 3
    svc.database.close()
    corrupt_table(home / "pipedeck.db", "runs")
    w = worker_factory(ready=False)
    assert w.proc.wait(timeout=30) == 4
    lines = [line for line in w.output().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert str(home / "pipedeck.db") in lines[0] and ".recover" in lines[0] and "Traceback" not in lines[0]
    assert svc.queue.pending() == 3  # no message consumed or discarded
    assert not read_executions(home) and run_ids


def test_sigint_right_after_start_from_a_script_stops_the_worker(svc, brand, home, worker_factory):
    """A script's background job starts with SIGINT ignored; the worker takes it over at once."""
    import sqlite3

    url = os.environ.get("PIPEDECK_DATABASE_URL")
    db_file = home / "pipedeck.db"
    if url:  # the worker waits at its first write (registering itself), early in its start
        import psycopg

        holder = psycopg.connect(url)
        holder.execute("LOCK TABLE workers IN EXCLUSIVE MODE")
    else:
        holder = sqlite3.connect(db_file, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    try:
        w = worker_factory(ready=False, prefix=("sh", "-c", 'trap "" INT; exec "$@"', "sh"))

        def opened_database():
            if url:  # (a view of its own: statistics views are read once per transaction)
                with psycopg.connect(url, autocommit=True) as probe:
                    return probe.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                         " AND datname = current_database()").fetchone()[0] > 0
            try:
                return any(os.path.realpath(f"/proc/{w.pid}/fd/{fd}") == str(db_file)
                           for fd in os.listdir(f"/proc/{w.pid}/fd"))
            except OSError:
                return False
        wait_for(opened_database, 20, message="the worker to open the database")
        w.signal(signal.SIGINT)
    finally:
        holder.rollback() if url else holder.execute("ROLLBACK")
        holder.close()
    assert w.proc.wait(timeout=20) == 0
    assert "SIGINT" in w.output()
    assert svc.live_workers() == []


@pytest.mark.engines("sqlite")  # the wake-up sockets of a SQLite queue
def test_wake_directory_is_removed_when_the_last_worker_closes(svc, brand, home, worker_factory):
    from pipedeck.queue.wake import wake_dir_for

    wake_dir = wake_dir_for(home / "queue.db")
    killed = worker_factory()
    kept = worker_factory()
    assert len(list(wake_dir.glob("*.sock"))) == 2
    killed.kill()  # leaves its socket behind
    run_id = svc.queue_one_time_job("Acme", "test_echo", {"lines": 1})
    wait_for(lambda: svc.runs.get(run_id)["status"] == "succeeded", 15, message="a run")
    assert kept.stop() == 0
    assert not wake_dir.exists()


@pytest.mark.engines("postgresql")
def test_idle_workers_on_postgresql_wait_on_listen_and_an_enqueue_notifies_them(svc, brand, worker_factory):
    """Point 4: no polling loop; each consumer thread of each worker blocks in LISTEN on the queue's
    channel (with a 1 s backstop), and the enqueue's NOTIFY wakes one."""
    worker_factory("-w", "2")
    worker_factory("-w", "2")

    def listening() -> list[dict]:
        return svc.database.query(
            "SELECT pid, query FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'pipedeck-queue' AND query ILIKE 'listen %'")

    wait_for(lambda: len(listening()) >= 4, 20, message="every consumer thread of both workers to LISTEN")
    assert all('"huey.q.pipedeck"' in row["query"] for row in listening())
    run_id = svc.queue_one_time_job("Acme", "test_echo", {"lines": 1})
    wait_for(lambda: svc.run(run_id)["status"] == "succeeded", 20, message="the notified worker to run it")
