"""Alerts: each event alerts once however many workers see it, floods fold into a digest, and a
target that fails or hangs never delays or fails a run. Delivered through apprise to a local
HTTP receiver on 127.0.0.1; real worker processes."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipedeck.queue import alerts as alerting
from pipedeck.storage import alerts as store
from tests.helpers import wait_for


class Receiver:
    """A webhook target: records each JSON message; can answer 500 or hang until released."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.mode = "ok"
        self.release = threading.Event()
        self.waiting = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if receiver.mode == "hang":
                    receiver.waiting += 1
                    receiver.release.wait(30)
                    receiver.waiting -= 1
                if receiver.mode == "fail":
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.messages.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hook"

    def mentions(self, text: str) -> int:
        """How many times ``text`` stands in what was received (a digest counts each alert it holds)."""
        return sum((m.get("title", "") + "\n" + m.get("message", "")).count(text) for m in self.messages)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def alert_env(receiver):
    return {"PIPEDECK_ALERT_URLS": receiver.url, "PIPEDECK_ALERT_INTERVAL": "0.5"}


def test_an_event_is_recorded_once_however_many_notice_it(svc, brand):
    now = svc.clock()
    first = store.record(svc.database, key="run_failed:1", kind="run_failed", subject="s", body="b", now=now)
    again = store.record(svc.database, key="run_failed:1", kind="run_failed", subject="s", body="b", now=now + 1)
    assert (first, again) == (True, False)
    claimed = store.claim(svc.database, "w1", now, newer_than=now - 60, stale_claim=120)
    assert [r["key"] for r in claimed] == ["run_failed:1"]
    assert store.claim(svc.database, "w2", now + 1, newer_than=now - 60, stale_claim=120) == []  # w1 holds it
    assert [r["key"] for r in store.claim(svc.database, "w2", now + 200, newer_than=now - 60,
                                          stale_claim=120)] == ["run_failed:1"]  # w1 went quiet


def test_a_flood_is_one_digest():
    rows = [{"subject": f"run {i} failed", "body": "HTTP 503"} for i in range(30)]
    title, body = alerting.fold(rows)
    assert title == "pipedeck: 30 alerts"
    assert body.count("\n- ") == 19 and "and 10 more" in body
    assert alerting.fold(rows[:1]) == ("run 0 failed", "HTTP 503")


def test_failed_run_stale_dataset_and_dead_worker_alert_once_each_with_two_workers(
        svc, brand, worker_factory, alert_env, receiver):
    worker_factory(extra_env=alert_env)
    worker_factory(extra_env=alert_env)
    doomed = worker_factory(extra_env={"PIPEDECK_ALERT_URLS": ""})

    failing = svc.queue_one_time_job("Acme", "test_flaky", {"fail_times": 5, "permanent": True})
    fresh = svc.queue_one_time_job("Acme", "test_echo", {"lines": 1})
    wait_for(lambda: svc.run(fresh)["status"] == "succeeded", 20, message="the echo run")
    svc.set_freshness_policy("test_data", 1, 2, brand="Acme")  # its success goes stale in 2 s
    doomed.kill()

    failed = f"run {failing} test_flaky failed"
    stale = "test_data of Acme is stale"
    dead = f"worker {doomed_id(svc, doomed)}"
    for subject in (failed, stale, dead):
        wait_for(lambda: receiver.mentions(subject), 30, interval=0.1, message=f"an alert: {subject}")
    # One more event after all three: by the time it is delivered, both workers have looked again.
    closing = svc.queue_one_time_job("Acme", "test_flaky", {"fail_times": 5, "permanent": True})
    wait_for(lambda: receiver.mentions(f"run {closing} test_flaky failed"), 30, interval=0.1,
             message="the closing alert")
    assert (receiver.mentions(failed), receiver.mentions(stale), receiver.mentions(dead)) == (1, 1, 1)
    assert "MetaBadParameter: bad parameter (code 100)" in json.dumps(receiver.messages)


def doomed_id(svc, proc) -> str:
    return next(w["id"] for w in svc.worker_health(include_stopped=True) if w["pid"] == proc.pid)


@pytest.mark.parametrize("mode", ["fail", "hang"])
def test_a_failing_or_hanging_target_never_delays_or_fails_a_run(svc, brand, worker_factory, alert_env,
                                                                  receiver, mode):
    receiver.mode = mode
    worker_factory(extra_env=alert_env)
    failing = svc.queue_one_time_job("Acme", "test_flaky", {"fail_times": 5, "permanent": True})
    wait_for(lambda: svc.run(failing)["status"] == "failed", 20, message="the failing run")
    if mode == "hang":
        wait_for(lambda: receiver.waiting, 20, interval=0.05, message="the alert to reach the hanging target")
    later = svc.queue_one_time_job("Acme", "test_echo", {"lines": 2})
    wait_for(lambda: svc.run(later)["status"] == "succeeded", 20, message="a run while the target misbehaves")
    if mode == "hang":
        assert receiver.waiting  # the run went through while the alert was still stuck at the target
    # A hanging target is given up on after apprise's read timeout.
    wait_for(svc.alert_delivery_error, alerting.READ_TIMEOUT + 20, interval=0.1, message="the delivery error recorded")
    assert receiver.messages == []
    assert svc.alert_delivery_error()["last_error"]
    assert receiver.url.split("://")[1] not in svc.alert_delivery_error()["last_error"]  # no target URL in it


def test_the_cli_sends_a_test_alert_and_lists_what_was_alerted(svc, brand, receiver, monkeypatch):
    from tests.clirunner import invoke

    monkeypatch.setenv("PIPEDECK_ALERT_URLS", receiver.url)
    sent = invoke("alerts", "test")
    assert sent.returncode == 0 and sent.stdout.strip() == "test alert sent to 1 target(s)"
    assert [m["title"] for m in receiver.messages] == ["pipedeck test alert"]
    failing = svc.queue_one_time_job("Acme", "test_flaky", {"fail_times": 5, "permanent": True}, direct=True)
    svc.execute_direct(failing)
    checked = invoke("alerts", "check")
    assert checked.returncode == 0 and checked.stdout.startswith("1 new alert(s)")
    assert receiver.mentions(f"run {failing} test_flaky failed") == 1
    listed = json.loads(invoke("alerts", "--json").stdout)
    assert [(a["kind"], a["sent_at"] is not None) for a in listed] == [("run_failed", True)]
    receiver.mode = "fail"
    refused = invoke("alerts", "test")
    assert refused.returncode != 0 and refused.stderr.startswith("pipedeck: the test alert was not delivered")
    assert receiver.url.split("://")[1] not in refused.stderr
