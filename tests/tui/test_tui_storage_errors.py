"""Database errors in the app: a long lock is a notification and the app stays up; a damaged
database ends the app with one line; the log file holds the full cause."""

from __future__ import annotations

import subprocess
import sys

from pipedeck.queue.service import Service
from pipedeck.tui.app import PipedeckApp
from pipedeck.tui.screens.brands import BrandScreen
from pipedeck.tui.screens.modals import JobFormScreen
import pytest

from tests.helpers import database_target
from tests.test_storage import corrupt_table
from tests.tui.conftest import wait_for_screen, wait_until

HOLD_LOCK = """
import sqlite3, sys
if "://" in sys.argv[1]:
    import psycopg
    conn = psycopg.connect(sys.argv[1])
    conn.execute("LOCK TABLE runs IN EXCLUSIVE MODE")
else:
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
"""
# What the log's full cause says on each engine.
LOCK_CAUSE = {"sqlite": "sqlite3.OperationalError: database is locked",
              "postgresql": "psycopg.errors.LockNotAvailable: canceling statement due to lock timeout"}


async def test_queueing_while_another_process_holds_the_lock(settings, svc, acme, engine):
    service = Service(settings.with_(busy_timeout=0.3))
    app = PipedeckApp(service, refresh_interval=0.1)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(database_target(settings.home))],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        async with app.run_test(size=(160, 45)) as pilot:
            app.open_brand(acme["brand"]["id"])
            screen = await wait_for_screen(pilot, app, BrandScreen)
            await wait_until(pilot, lambda: screen.brand, message="brand loaded")
            await pilot.press("m")
            await wait_for_screen(pilot, app, JobFormScreen)
            await pilot.press("enter")
            await wait_until(pilot, lambda: any("locked" in n.message for n in app._notifications),
                             message="a notification about the lock")
            assert app.is_running and app.fatal_error is None and app.crash_error is None
            assert isinstance(app.screen, JobFormScreen)  # the form is still there to submit again
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
        service.close()
    assert svc.list_runs() == []
    logged = (settings.log_dir / "tui-errors.log").read_text()
    assert "DatabaseLocked" in logged and "Traceback" in logged
    assert LOCK_CAUSE[engine] in logged  # the full cause


@pytest.mark.engines("sqlite")  # a damaged SQLite file; PostgreSQL checks its own pages
async def test_a_damaged_database_ends_the_app_with_one_line(settings, svc, acme, capsys):
    svc.queue_one_time_job("Acme", "meta_sync", {})
    svc.database.close()
    corrupt_table(settings.db_path, "runs")
    app = PipedeckApp(Service(settings), refresh_interval=0.1, initial_view="runs")
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_until(pilot, lambda: not app.is_running, message="the app to exit")
    assert app.return_code == 4
    assert app.crash_error is None
    line = str(app.fatal_error)
    assert "\n" not in line and str(settings.db_path) in line and ".recover" in line
    assert "DatabaseCorrupt" in (settings.log_dir / "tui-errors.log").read_text()


@pytest.mark.engines("sqlite")
def test_the_real_app_on_a_damaged_database_prints_one_line_and_exits_nonzero(settings, svc, acme, env):
    import os
    import pty
    import re
    import select
    import time

    from tests.helpers import REPO

    svc.queue_one_time_job("Acme", "meta_sync", {})
    svc.database.close()
    corrupt_table(settings.db_path, "runs")
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "pipedeck"], env={**env, "TERM": "xterm-256color"}, cwd=REPO,
                            stdin=terminal, stdout=terminal, stderr=subprocess.PIPE)
    os.close(terminal)
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if select.select([controller], [], [], 0.2)[0]:
                try:
                    os.read(controller, 65536)  # keep the terminal drained
                except OSError:
                    break
        assert proc.wait(timeout=10) == 4
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(controller)
    # What is left once the app has restored the terminal: one line.
    text = proc.stderr.read().decode().rsplit("\x1b[?1049l", 1)[-1]
    lines = [line for line in re.sub(r"\x1b\[[0-9;?<>=]*[A-Za-z]", "", text).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("pipedeck: database ") and ".recover" in lines[0], lines
    assert "Traceback" not in text
