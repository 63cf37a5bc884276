"""A PostgreSQL database that cannot be reached, or goes away mid-run: one line naming the problem
(never a traceback, never the password); workers wait for the server with backoff, say so in their
log, and carry on when it is back, losing and doubling nothing; the app's live feed says so and
recovers by itself."""

from __future__ import annotations

from collections import Counter

import pytest

from pipedeck.queue.service import Service
from pipedeck.tui.live import LiveFeed
from pipedeck.tui.messages import DatabaseReachability
from tests.clirunner import invoke, one_line_error
from tests.helpers import wait_for
from tests.jobtypes import read_executions
from tests.postgres_server import free_port
from tests.test_team import TEAM_PLUGINS, FeedRecorder, queue_work
from tests.test_worker import assert_never_overlapping

pytestmark = pytest.mark.engines("postgresql")

PASSWORD_MARK = "hunter2-not-shown"


def cases(server) -> dict[str, tuple[str, str]]:
    """name -> (PIPEDECK_DATABASE_URL, what the one line must say)."""
    return {
        "refused": (f"postgresql://team:{PASSWORD_MARK}@127.0.0.1:{free_port()}/pipedeck",
                    "is unreachable (connection refused; is the server running"),
        "bad credentials": (server.url_for("postgres", password=PASSWORD_MARK), "refused the credentials"),
        "missing database": (server.url_for("no_such_db_here"), "does not exist on that server"),
        "wrong URL": (f"postgresql://team:{PASSWORD_MARK}@/pipedeck", "PIPEDECK_DATABASE_URL must be"),
        "not a URL": (f"postgres:/team:{PASSWORD_MARK}@db/pipedeck", "PIPEDECK_DATABASE_URL must be"),
    }


@pytest.mark.parametrize("case", ["refused", "bad credentials", "missing database", "wrong URL", "not a URL"])
def test_each_connection_problem_is_one_line_naming_it(home, postgres_server, case):
    url, expected = cases(postgres_server)[case]
    result = invoke("brands", env={"PIPEDECK_DATABASE_URL": url})
    line = one_line_error(result)
    assert expected in line, line
    assert PASSWORD_MARK not in result.stdout + result.stderr
    password = postgres_server.admin_url.split(":")[2].split("@")[0]
    assert password not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_worker_waits_for_a_server_that_is_not_up_yet_and_says_so(home, worker_factory):
    url = f"postgresql://team:{PASSWORD_MARK}@127.0.0.1:{free_port()}/pipedeck"
    worker = worker_factory(extra_env={"PIPEDECK_DATABASE_URL": url}, ready=False)
    wait_for(lambda: worker.output().count("retrying in") >= 3, 20, message="three tries with backoff")
    out = worker.output()
    assert worker.proc.poll() is None, out  # still waiting, not dead
    delays = [line.split("retrying in ")[1].split("s")[0] for line in out.splitlines() if "retrying in" in line]
    assert delays[:3] == ["1", "2", "4"], delays
    assert "unreachable (connection refused" in out and PASSWORD_MARK not in out and "Traceback" not in out
    assert worker.stop() == 0


@pytest.mark.slow
def test_a_server_restart_during_a_drain_loses_and_doubles_nothing(svc, brand, home, postgres_server,
                                                                   worker_factory):
    if postgres_server.external:
        pytest.fail("this test restarts the server: run it on the suite's own (unset PIPEDECK_TEST_POSTGRES_URL)")
    workers = [worker_factory(extra_env={"PIPEDECK_PLUGINS": TEAM_PLUGINS}) for _ in range(2)]
    recorder = FeedRecorder()
    feed_service = Service(svc.settings)
    feed = LiveFeed(recorder, feed_service, interval=0.05, health_interval=0.5, catalog_interval=60)
    feed.start()
    try:
        run_ids = queue_work(svc, brand, 300, pause=0.05)
        wait_for(lambda: svc.database.scalar("SELECT count(*) FROM runs WHERE status = 'succeeded'") >= 40, 60,
                 message="the drain to be under way")
        postgres_server.stop()
        try:
            wait_for(lambda: all("unreachable" in w.output() for w in workers), 30,
                     message="both workers to say the database is unreachable")
            wait_for(lambda: feed.unreachable, 10, message="the feed to notice")
        finally:
            postgres_server.start()

        def settled():
            return Counter(r["status"] for r in svc.list_runs(limit=None))

        wait_for(lambda: settled()["succeeded"] == 300, 180, interval=0.5, message="every run to succeed")
        wait_for(lambda: all("reachable again" in w.output() for w in workers), 30,
                 message="both workers to say the database is back")
        wait_for(lambda: not feed.unreachable and feed.last_rev == svc.live_rev(), 20,
                 message="the feed to recover and catch up")
    finally:
        feed.stop()
        feed_service.close()
    assert settled() == {"succeeded": 300}
    executions = read_executions(home)
    ends = Counter(run_id for run_id, _, event, _, _ in executions if event == "end")
    assert set(ends) == set(run_ids) and set(ends.values()) == {1}, "a run ended twice"
    assert_never_overlapping(executions)
    states = [m.reachable for m in recorder.messages if isinstance(m, DatabaseReachability)]
    assert states == [False, True]
    for worker in workers:
        assert "Traceback" not in worker.output()
