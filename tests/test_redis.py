"""RedisHuey: the same worker and lifecycle on a Redis queue (the path past one machine)."""

from __future__ import annotations

import shutil
import socket
import subprocess

import pytest

from tests.helpers import wait_for


@pytest.fixture
def redis_url(tmp_path):
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed; .ci/run installs Debian's redis-server")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    wait_for(up, 10, message="redis-server")
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


def test_worker_on_redis_queue(redis_url, monkeypatch, home, worker_factory):
    monkeypatch.setenv("PIPEDECK_QUEUE_URL", redis_url)
    from pipedeck.config import load_settings
    from pipedeck.queue.service import Service

    svc = Service(load_settings())
    try:
        svc.catalog.add_brand("Acme", meta_ad_account_id="1001")
        worker_factory(extra_env={"PIPEDECK_QUEUE_URL": redis_url})
        ids = [svc.queue_one_time_job("Acme", "test_echo", {"lines": 1}) for _ in range(20)]
        flaky = svc.queue_one_time_job("Acme", "test_flaky", {"fail_times": 1})
        wait_for(lambda: all(svc.runs.get(r)["status"] == "succeeded" for r in ids + [flaky]), 30,
                 message="runs on the redis queue")
        assert [a["status"] for a in svc.runs.attempts(flaky)] == ["failed", "succeeded"]
        assert svc.queue.description.startswith("redis://127.0.0.1")
    finally:
        svc.close()


def test_unreachable_redis_is_one_line_and_keeps_the_run(monkeypatch, home):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here
    monkeypatch.setenv("PIPEDECK_QUEUE_URL", f"redis://127.0.0.1:{port}/0")
    from pipedeck.config import load_settings
    from pipedeck.errors import UserError
    from pipedeck.queue.service import Service

    svc = Service(load_settings())
    try:
        svc.catalog.add_brand("Acme")
        with pytest.raises(UserError) as err:
            svc.queue_one_time_job("Acme", "test_echo", {})
        assert "unreachable" in str(err.value) and "recorded as queued" in str(err.value)
        assert [r["status"] for r in svc.list_runs()] == ["queued"]
    finally:
        svc.close()
