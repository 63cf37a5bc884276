"""A throwaway PostgreSQL server for the tests, started by the suite itself.

Debian's ``postgresql`` package provides the binaries (``/usr/lib/postgresql/*/bin``).
``initdb`` refuses to run as root, and CI runs as root, so as root the cluster
belongs to the unprivileged ``postgres`` user (``runuser -u postgres``). The
server listens on a free loopback port, with password authentication, and is
tuned for tests (no fsync). ``PIPEDECK_TEST_POSTGRES_URL`` names an existing
server instead (databases are still created and dropped per test).
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

SUPERUSER = "pipedeck_test"


def find_bin_dir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
                        if Path(p).parent.name.isdigit() else 0)
    for path in reversed(candidates):
        if (Path(path) / "initdb").exists():
            return Path(path)
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise RuntimeError("no PostgreSQL server binaries: install Debian's postgresql package "
                       "(scripts/install.sh --dev does), or set PIPEDECK_TEST_POSTGRES_URL")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One server for the test session; each test gets a database of its own."""

    def __init__(self, url: str | None = None, *, durable: bool = False) -> None:
        """``durable``: fsync and synchronous commit on, as a real server runs (benchmarks); the tests' is not."""
        self.external = url is not None
        self.durable = durable
        self._root: Path | None = None
        if url is not None:
            self.admin_url = url
            return
        self.bin = find_bin_dir()
        self.port = free_port()
        self.password = secrets.token_hex(12)
        self._root = Path(tempfile.mkdtemp(prefix="pipedeck-pg-"))
        self.data = self._root / "data"
        self.socket_dir = self._root / "sock"
        self.socket_dir.mkdir()
        self.log = self._root / "server.log"
        pwfile = self._root / "pw"
        pwfile.write_text(self.password + "\n")
        self._as_owner = []
        if os.geteuid() == 0:
            shutil.chown(self._root, "postgres")
            for p in (self.socket_dir, pwfile):
                shutil.chown(p, "postgres")
            self._as_owner = ["runuser", "-u", "postgres", "--"]
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--pwfile", str(pwfile),
                   "-A", "scram-sha-256", "--no-sync", "-E", "UTF8", "--locale", "C"])
        pwfile.unlink()
        self.admin_url = f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/postgres"
        self.start()

    def _run(self, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        result = subprocess.run(self._as_owner + args, capture_output=True, text=True, **kwargs)
        if result.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result

    # -- the server process ------------------------------------------------------
    def start(self) -> None:
        if self.external:
            raise RuntimeError("an external server (PIPEDECK_TEST_POSTGRES_URL) is not started by the tests")
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        if os.geteuid() == 0:
            shutil.chown(self._root, "postgres")
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options,
                   "-w", "-t", "60", "start"])

    def stop(self, mode: str = "fast") -> None:
        if self.external:
            return
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"])

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        if self.external or self._root is None:
            return
        try:
            self.stop("immediate")
        except RuntimeError:
            pass
        shutil.rmtree(self._root, ignore_errors=True)

    # -- databases ----------------------------------------------------------------
    def _admin(self):
        import psycopg

        return psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10)

    def url_for(self, dbname: str, *, user: str | None = None, password: str | None = None) -> str:
        parts = urlsplit(self.admin_url)
        user = user if user is not None else parts.username
        password = password if password is not None else parts.password
        netloc = f"{quote(user or '')}:{quote(password or '')}@{parts.hostname}:{parts.port}"
        return urlunsplit(("postgresql", netloc, "/" + dbname, "", ""))

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its URL (with the password)."""
        name = name or f"t_{secrets.token_hex(6)}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        deadline = time.monotonic() + 10
        with self._admin() as conn:
            while True:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                             " WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
                try:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
