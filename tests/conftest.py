"""Shared fixtures: a temp data dir, the service on it, real worker processes, the sandbox."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.helpers import SandboxProcess, WorkerProcess, base_env, run_cli  # noqa: F401

import tests.jobtypes  # noqa: F401  (register test job types in this process too)


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "home"
    for key in list(os.environ):
        if key.startswith("PIPEDECK_") or key == "META_ACCESS_TOKEN":
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PIPEDECK_HOME", str(path))
    monkeypatch.setenv("PIPEDECK_PLUGINS", "tests.jobtypes")
    monkeypatch.setenv("PIPEDECK_STALE_AFTER", "3")
    monkeypatch.setenv("PIPEDECK_HEARTBEAT_INTERVAL", "0.5")
    return path


@pytest.fixture
def settings(home):
    from pipedeck.config import load_settings

    return load_settings()


@pytest.fixture
def svc(settings):
    from pipedeck.queue.service import Service

    service = Service(settings)
    yield service
    service.close()


@pytest.fixture
def brand(svc):
    return svc.catalog.add_brand("Acme", meta_ad_account_id="1001", ad_library_page_id="5001")


@pytest.fixture
def env(home):
    """Environment for pipedeck subprocesses on this test's data dir."""
    return base_env(home)


@pytest.fixture
def worker_factory(env):
    started: list[WorkerProcess] = []

    def start(*args: str, extra_env: dict | None = None, ready: bool = True,
              prefix: tuple[str, ...] = ()) -> WorkerProcess:
        proc = WorkerProcess({**env, **(extra_env or {})}, *args, prefix=prefix)
        started.append(proc)
        return proc.wait_ready() if ready else proc

    yield start
    for proc in started:
        proc.stop(timeout=10)


@pytest.fixture
def worker(worker_factory):
    return worker_factory()


@pytest.fixture(scope="session")
def sandbox_session():
    sb = SandboxProcess()
    yield sb
    sb.stop()


@pytest.fixture
def sandbox(sandbox_session):
    """The session's sandbox, with faults, counters and state reset for this test."""
    sandbox_session.reset()
    yield sandbox_session
    sandbox_session.reset()


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for the session: started here (tests/postgres_server.py), or the one
    PIPEDECK_TEST_POSTGRES_URL names."""
    from tests.postgres_server import PostgresServer

    server = PostgresServer(os.environ.get("PIPEDECK_TEST_POSTGRES_URL") or None)
    yield server
    server.close()


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty database on the session's server; dropped after the test."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(scope="session")
def chromium_path():
    from pipedeck.config import load_settings

    try:
        from pipedeck.handlers.browser import find_chromium
    except ImportError:
        find_chromium = None
    path = find_chromium(load_settings()) if find_chromium else (shutil.which("chromium") or shutil.which("chromium-browser"))
    if not path:
        pytest.fail("no Chromium on this machine; .ci/run installs Debian's chromium package")
    return path
