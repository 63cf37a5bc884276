"""Listing runs, freshness and workers must not import the handlers or their HTTP and browser libraries.

`pipedeck runs`, `status` and `freshness` start in a fresh process each time, so
what the service imports is most of their start-up. Only a run that executes (or
a form that needs a params model) should import a handler.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.helpers import REPO

LIGHT_HANDLER_MODULES = {"pipedeck.handlers", "pipedeck.handlers.registry", "pipedeck.handlers.params"}

LISTING = """
import json, sys
from pipedeck.config import load_settings
from pipedeck.queue.service import Service

svc = Service(load_settings())
runs = svc.list_runs()
rows = svc.freshness()
svc.worker_health()
svc.queue_depth()
print(json.dumps({"runs": len(runs), "freshness": len(rows), "modules": sorted(sys.modules)}))
"""


def test_listing_runs_imports_no_handler_httpx_or_playwright(svc, brand, env):
    for job_type, params in (("meta_sync", {}), ("asset_download", {"max_images": 3}), ("template_scrape", {})):
        svc.queue_one_time_job("Acme", job_type, params, direct=True)
    child_env = {k: v for k, v in env.items() if k != "PIPEDECK_PLUGINS"}
    out = subprocess.run([sys.executable, "-c", LISTING], env=child_env, cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["runs"] == 3 and seen["freshness"] == 3  # the brand's three datasets
    modules = set(seen["modules"])
    heavy = sorted(m for m in modules if m.split(".")[0] in ("httpx", "httpcore", "playwright"))
    assert heavy == []
    handlers = sorted(m for m in modules if m.startswith("pipedeck.handlers") and m not in LIGHT_HANDLER_MODULES)
    assert handlers == []


# -- the real command line ------------------------------------------------------------------------
# Libraries a listing never needs: the app's, the handlers', the queue's, alerts', the write path's.
NOT_FOR_LISTINGS = ("textual", "httpx", "httpcore", "playwright", "apprise", "huey", "sqlite_utils", "psycopg",
                    "redis")
LISTINGS = (("runs",), ("runs", "--json"), ("status",), ("status", "--json"), ("freshness",), ("freshness", "--json"))


def imported_by(env: dict[str, str], *argv: str) -> set[str]:
    """Every module a real `python -m pipedeck ARGV` process imported (from ``-X importtime``)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "pipedeck", *argv], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("import time:")]
    assert len(lines) > 100, proc.stderr[-2000:]  # the report is there
    return {line.rsplit("|", 1)[1].strip() for line in lines[1:]}


def test_listing_verbs_import_no_app_handler_queue_or_alert_library(svc, brand, env, engine):
    for job_type, params in (("meta_sync", {}), ("asset_download", {"max_images": 3}), ("template_scrape", {})):
        svc.queue_one_time_job("Acme", job_type, params, direct=True)
    child_env = {k: v for k, v in env.items() if k != "PIPEDECK_PLUGINS"}
    for argv in LISTINGS:
        modules = imported_by(child_env, *argv)
        assert {"pipedeck.cli.main", "pipedeck.config", "pipedeck.queue.service"} <= modules, argv  # it ran
        # On PostgreSQL the driver is the database; nothing else heavy is needed there either.
        heavy = sorted(m for m in modules if m.split(".")[0] in NOT_FOR_LISTINGS
                       and not (engine == "postgresql" and m.split(".")[0] == "psycopg"))
        assert heavy == [], (argv, heavy)
        ours = sorted(m for m in modules if m.startswith(("pipedeck.tui", "pipedeck.sandbox", "pipedeck.demo",
                                                          "pipedeck.alerts", "pipedeck.queue.worker"))
                      or (m.startswith("pipedeck.handlers.") and m not in LIGHT_HANDLER_MODULES))
        assert ours == [], (argv, ours)


GC_PROBE = """
import gc

from pipedeck.handlers.params import JobParams
from pipedeck.handlers.registry import JobType, register


class ProbeParams(JobParams):
    pass


def probe(ctx, params):
    return {"collector_on": gc.isenabled()}


register(JobType(key="gc_probe", emoji="?", label="gc probe", params_model=ProbeParams, scope="brand",
                 datasets=(), handler=probe, max_attempts=1), replace=True)
"""


def test_a_command_runs_with_the_cycle_collector_on(brand, env, tmp_path):
    # Start-up holds the collector off (pipedeck.__main__); the command's own work must not.
    (tmp_path / "gc_probe.py").write_text(GC_PROBE)
    probe_env = {**env, "PIPEDECK_PLUGINS": "gc_probe",
                 "PYTHONPATH": os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])}
    queued = subprocess.run([sys.executable, "-m", "pipedeck", "queue", "gc_probe", "--brand", "Acme", "--direct"],
                            env=probe_env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert queued.returncode == 0, queued.stderr
    run_id = queued.stdout.split()[0]
    shown = subprocess.run([sys.executable, "-m", "pipedeck", "runs", "show", run_id, "--json"], env=probe_env,
                           cwd=REPO, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    run = json.loads(shown.stdout)
    assert run["status"] == "succeeded", run
    assert run["result"] == {"collector_on": True}


# Loaded by every Python process started with its folder on PYTHONPATH (the standard sitecustomize hook).
EXIT_PROBE = """
import atexit, gc, json, os, sys


def _report():
    with open(os.environ["PIPEDECK_TEST_EXIT_PROBE"], "w") as out:
        json.dump({"collector_on": gc.isenabled(), "modules": sorted(sys.modules)}, out)


atexit.register(_report)
"""


def test_the_real_app_paints_and_quits_on_ctrl_q_with_the_collector_on_and_no_job_library(brand, env, tmp_path):
    import pty
    import re
    import select
    import time

    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    (probe_dir / "sitecustomize.py").write_text(EXIT_PROBE)
    report = tmp_path / "exit.json"
    app_env = {k: v for k, v in env.items() if k != "PIPEDECK_PLUGINS"}
    app_env.update(TERM="xterm-256color", PIPEDECK_TEST_EXIT_PROBE=str(report),
                   PYTHONPATH=os.pathsep.join([str(probe_dir), env["PYTHONPATH"]]))
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "pipedeck"], env=app_env, cwd=REPO, stdin=terminal,
                            stdout=terminal, stderr=terminal, start_new_session=True)
    os.close(terminal)
    screen, pressed = b"", False
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if select.select([controller], [], [], 0.1)[0]:
                try:
                    screen += os.read(controller, 65536)
                except OSError:
                    break
            if not pressed and b"Acme" in re.sub(rb"\x1b\[[0-9;?<>=]*[A-Za-z]", b"", screen):
                os.write(controller, b"\x11")  # ctrl+q, with nothing running
                pressed = True
        assert pressed, screen[-2000:]
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(controller)
    seen = json.loads(report.read_text())
    assert "pipedeck.tui.app" in seen["modules"]
    assert seen["collector_on"] is True  # start-up held it off; the app got it back
    heavy = sorted(m for m in seen["modules"] if m.split(".")[0] in ("httpx", "httpcore", "playwright", "apprise", "huey",
                                                                  "sqlite_utils"))
    assert heavy == []


RUNS_FIRST_PAINT = """
import json, sys
from pipedeck.config import load_settings
from pipedeck.queue.service import Service
from pipedeck.tui.app import PipedeckApp

app = PipedeckApp(Service(load_settings()), initial_view="runs")

def check():
    table = app.screen.query_one("#runs") if app.screen.is_mounted else None
    if table is not None and table.current_run() is not None:
        app.exit(0)
    else:
        app.set_timer(0.02, check)

app.call_later(check)
app.run(headless=True, size=(120, 30))
print(json.dumps(sorted(sys.modules)))
"""


def test_the_runs_view_paints_first_without_the_other_views_screens(svc, brand, env):
    svc.queue_one_time_job("Acme", "test_echo", {})
    child_env = {k: v for k, v in env.items() if k != "PIPEDECK_PLUGINS"}
    out = subprocess.run([sys.executable, "-c", RUNS_FIRST_PAINT], env=child_env, cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    modules = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert "pipedeck.tui.screens.pipeline" in modules  # it painted the runs view
    screens = sorted(m for m in modules if m.startswith("pipedeck.tui.screens.")
                     and m not in ("pipedeck.tui.screens.base", "pipedeck.tui.screens.pipeline",
                                   "pipedeck.tui.screens.run_actions"))
    assert screens == []  # the other views, the dialogs: imported when first shown
    assert "textual.widgets._data_table" not in modules  # the runs table is not a DataTable
