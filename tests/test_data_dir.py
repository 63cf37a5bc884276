"""The data dir is owner-only: created 0700, its files 0600, a warning when an existing one is
looser (issue 10 point 12)."""

from __future__ import annotations

import json
import os
import stat

from tests.clirunner import invoke

HARNESS_FILES = ("worker-",)  # the tests' own capture of a worker's output, written by pytest's process


def loose(home) -> list[str]:
    """Everything under ``home`` that someone other than its owner could read or enter."""
    found = []
    for root, dirs, files in os.walk(home):
        for name in dirs + files:
            path = os.path.join(root, name)
            mode = os.lstat(path).st_mode
            if name.startswith(HARNESS_FILES) or not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                continue
            if mode & 0o077:
                found.append(f"{os.path.relpath(path, home)} {stat.S_IMODE(mode):o}")
    return found


def test_a_new_data_dir_and_the_database_and_queue_in_it_are_owner_only(home):
    umask = os.umask(0o022)
    os.umask(umask)
    assert invoke("brands", "add", "Acme").returncode == 0
    assert invoke("queue", "test_echo", "--brand", "Acme").returncode == 0
    assert invoke("queue", "test_echo", "--brand", "Acme", "--direct").returncode == 0
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    files = ("pipedeck.db", "queue.db") if not os.environ.get("PIPEDECK_DATABASE_URL") else ()
    for name in files:  # on PostgreSQL the data dir holds neither (only logs, media, the token)
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name
    assert loose(home) == []
    assert os.umask(umask) == umask  # the process's own umask is back after each command


def test_worker_logs_are_owner_only(home, worker_factory):
    assert invoke("brands", "add", "Acme").returncode == 0
    worker_factory()
    log = home / "logs" / "worker.log"
    assert log.exists()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600 and stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    assert loose(home) == []


def test_downloaded_media_is_owner_only(home, sandbox):
    assert invoke("brands", "add", "Acme", "--meta-ad-account", "1003").returncode == 0
    result = invoke("queue", "asset_download", "--brand", "Acme", "--set", "max_images=3", "--set", "max_videos=1",
                    "--direct", env=sandbox.env())
    assert result.returncode == 0, result.stderr
    run = json.loads(invoke("runs", "show", result.stdout.strip(), "--json").stdout)
    assert run["status"] == "succeeded"
    media = [p for p in (home / "media").rglob("*") if p.is_file()]
    assert media, "asset_download stored no file"
    assert loose(home) == []


def test_an_existing_looser_data_dir_gets_one_warning_line(home):
    assert invoke("brands", "add", "Acme").returncode == 0
    assert invoke("brands").stderr == ""
    os.chmod(home, 0o755)
    result = invoke("brands")
    assert result.returncode == 0 and result.stdout.splitlines()[1].split()[1] == "Acme"
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0] == (f"pipedeck: warning: data dir {home} is open to other users (mode 755); "
                        f"`chmod 700 {home}` keeps its data and token yours")
    assert stat.S_IMODE(home.stat().st_mode) == 0o755  # warned, not changed behind the user's back
