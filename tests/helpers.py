"""Process helpers for tests: real workers, the sandbox, waiting on conditions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent


def wait_for(condition: Callable[[], object], timeout: float = 10.0, interval: float = 0.02,
             message: str = "condition") -> object:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def base_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for pipedeck subprocesses on ``home``, and on the test's database (the ``home``
    fixture puts a PostgreSQL test's URL in PIPEDECK_DATABASE_URL)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIPEDECK_", "META_ACCESS_TOKEN"))}
    if os.environ.get("PIPEDECK_DATABASE_URL"):
        env["PIPEDECK_DATABASE_URL"] = os.environ["PIPEDECK_DATABASE_URL"]
    env.update({
        "PIPEDECK_HOME": str(home),
        "PIPEDECK_PLUGINS": "tests.jobtypes",
        "PYTHONPATH": str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
        "PIPEDECK_STALE_AFTER": "3",
        "PIPEDECK_HEARTBEAT_INTERVAL": "0.5",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


def run_cli(env: dict[str, str], *args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipedeck", *args], env=env, capture_output=True, text=True,
                          input=input, timeout=timeout, cwd=REPO)


class WorkerProcess:
    """A real `pipedeck worker` subprocess on a test data dir."""

    def __init__(self, env: dict[str, str], *args: str, prefix: tuple[str, ...] = ()) -> None:
        self.log_path = Path(env["PIPEDECK_HOME"]) / f"worker-{time.monotonic_ns()}.out"
        Path(env["PIPEDECK_HOME"]).mkdir(mode=0o700, parents=True, exist_ok=True)  # as pipedeck makes it
        self._out = open(self.log_path, "w")
        # ``prefix`` runs the worker through another command that execs it (same pid), e.g. unshare.
        self.proc = subprocess.Popen([*prefix, sys.executable, "-m", "pipedeck", "worker", *args], env=env,
                                     stdout=self._out, stderr=subprocess.STDOUT, cwd=REPO,
                                     start_new_session=True)
        self.pid = self.proc.pid

    def output(self) -> str:
        self._out.flush()
        return self.log_path.read_text()

    def wait_ready(self, timeout: float = 20.0) -> "WorkerProcess":
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.output()}")
            return "pipedeck worker" in self.output()
        wait_for(ready, timeout, message="worker start")
        return self

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL, and reap so the pid is really gone."""
        self.signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._out.close()
        return self.proc.returncode


class SandboxProcess:
    """`pipedeck sandbox --port 0` in a subprocess; knows its URLs."""

    def __init__(self, *faults: str) -> None:
        args = [sys.executable, "-m", "pipedeck", "sandbox", "--port", "0"]
        for fault in faults:
            args += ["--fault", fault]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     cwd=REPO, start_new_session=True)
        values = {}
        deadline = time.monotonic() + 20
        while len(values) < 3:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"sandbox exited early ({self.proc.poll()})")
            if "=" in line:
                key, _, value = line.strip().partition("=")
                values[key] = value
            if time.monotonic() > deadline:
                raise AssertionError("sandbox did not start")
        self.graph_url = values["PIPEDECK_GRAPH_URL"]
        self.ad_library_url = values["PIPEDECK_AD_LIBRARY_URL"]
        self.token = values["META_ACCESS_TOKEN"]
        self.base_url = self.ad_library_url

    def env(self) -> dict[str, str]:
        return {"PIPEDECK_GRAPH_URL": self.graph_url, "PIPEDECK_AD_LIBRARY_URL": self.ad_library_url,
                "META_ACCESS_TOKEN": self.token}

    def control(self, method: str, path: str, json: dict | None = None):
        import httpx

        r = httpx.request(method, f"{self.base_url}/__sandbox/{path}", json=json, timeout=10)
        r.raise_for_status()
        return r.json()

    def set_faults(self, **faults) -> None:
        self.control("POST", "faults", faults)

    def reset(self) -> None:
        self.control("POST", "reset")

    def stats(self) -> dict:
        return self.control("GET", "stats")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Clock:
    """An injectable clock the test moves by hand (``clock.t = ...``)."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def database_target(home: Path) -> str | Path:
    """The test's database: the PostgreSQL URL the ``home`` fixture set, else the data dir's SQLite file."""
    return os.environ.get("PIPEDECK_DATABASE_URL") or home / "pipedeck.db"


def db_digest(home: Path) -> str:
    """A digest of every row of every pipedeck table (not huey's queue), on either engine."""
    import hashlib

    from pipedeck.storage.db import Database

    db = Database(database_target(home), migrate=False)
    try:
        h = hashlib.sha256()
        for table in db.dialect.tables(db.conn):
            if table.startswith("huey_"):
                continue
            rows = sorted(repr(sorted(row.items())) for row in db.query(f'SELECT * FROM "{table}"'))
            h.update(f"{table}:{len(rows)}:".encode() + "\n".join(rows).encode())
        return h.hexdigest()
    finally:
        db.close()


def outside_write(svc, sql: str, params=()) -> None:
    """Write straight to the database, as another program (or an older pipedeck) could have."""
    with svc.database.write() as tx:
        tx.conn.execute(sql, params)
