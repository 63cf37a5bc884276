"""Shared fixtures: a temp data dir, the service on it, real worker processes, the sandbox."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.helpers import SandboxProcess, WorkerProcess, base_env, run_cli  # noqa: F401

import tests.jobtypes  # noqa: F401  (register test job types in this process too)


# Every test that stands on a data dir (``home`` and what builds on it: settings, svc, the
# workers) runs once per engine: SQLite, and PostgreSQL with a fresh database of its own.
# A module or test limited to some engines says so: ``pytest.mark.engines("sqlite")``.
# PIPEDECK_TEST_ENGINES=sqlite (or postgresql) runs one engine only, for a quick local loop.
ENGINES = ("sqlite", "postgresql")


def pytest_configure(config):
    config.addinivalue_line("markers", "engines(*names): the engines this test runs on (default: all)")


def selected_engines() -> tuple[str, ...]:
    wanted = os.environ.get("PIPEDECK_TEST_ENGINES")
    if not wanted:
        return ENGINES
    names = tuple(e.strip() for e in wanted.split(",") if e.strip())
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        raise pytest.UsageError(f"PIPEDECK_TEST_ENGINES: unknown engine {unknown[0]!r} (one of {', '.join(ENGINES)})")
    return names


def pytest_generate_tests(metafunc):
    if "engine" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("engines")
    allowed = marker.args if marker else ENGINES
    engines = [e for e in selected_engines() if e in allowed]
    if not engines:
        metafunc.definition.add_marker(pytest.mark.skip(
            reason=f"only on {', '.join(allowed)}; PIPEDECK_TEST_ENGINES leaves it out"))
    if tuple(allowed) == ("sqlite",):
        return  # one engine, the default: the test keeps its plain name (snapshots are named by it)
    metafunc.parametrize("engine", engines or list(allowed[:1]), indirect=True)


@pytest.fixture
def engine(request):
    """The test's database engine (see pytest_generate_tests); SQLite unless parametrized."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def database_url(engine, request):
    """The test's database URL: None for SQLite (the data dir's own file), else a fresh PostgreSQL database."""
    if engine == "sqlite":
        yield None
        return
    server = request.getfixturevalue("postgres_server")
    url = server.create_database()
    yield url
    server.drop_database(url)


@pytest.fixture
def home(tmp_path, monkeypatch, database_url):
    path = tmp_path / "home"
    for key in list(os.environ):
        if key.startswith("PIPEDECK_") or key == "META_ACCESS_TOKEN":
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PIPEDECK_HOME", str(path))
    if database_url:
        monkeypatch.setenv("PIPEDECK_DATABASE_URL", database_url)
    monkeypatch.setenv("PIPEDECK_PLUGINS", "tests.jobtypes")
    monkeypatch.setenv("PIPEDECK_STALE_AFTER", "3")
    monkeypatch.setenv("PIPEDECK_HEARTBEAT_INTERVAL", "0.5")
    return path


@pytest.fixture
def database(engine, tmp_path, database_url):
    """A migrated Database on the test's engine (no data dir, no service)."""
    from pipedeck.storage.db import Database

    db = Database(database_url or tmp_path / "p.db")
    yield db
    db.close()


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
