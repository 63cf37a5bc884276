"""`pipedeck demo`: the app on seeded demo data, with the sandbox and a worker running.

Everything lives in a separate demo data dir (never the user's own): brands
on the sandbox's Meta ad accounts 1001-1003, competitors whose Ad Library
URLs point at the sandbox, a few recurring schedules, a `pipedeck sandbox
--port 0` child and a `pipedeck worker` child, both stopped when the app exits.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pipedeck.config import default_home, load_settings
from pipedeck.errors import UserError
from pipedeck.urls import page_search_url

MARKER = ".pipedeck-demo"

DEMO_BRANDS = [
    # name, Meta ad account (sandbox), Ad Library page id, competitors (name, page id).
    # The sandbox's Ad Library reads a page id's last four digits as its number of ads.
    ("Acme Outdoor", "1001", "100000000240", [("Summit Gear", "200000000212"), ("Trailhead Co", "200000000180")]),
    ("Bloom Skincare", "1002", "100000010180", [("Glow Labs", "200000010090"), ("Pure Petal", "200000010150")]),
    ("Cobalt Coffee", "1003", "100000020090", [("Roast Republic", "200000020120")]),
]
# Recurring jobs: (brand, competitor or None, job type, cron, time zone, missed-run policy).
DEMO_SCHEDULES = [
    ("Acme Outdoor", None, "meta_sync", "0 7 * * *", "Europe/Berlin", "skip"),
    ("Acme Outdoor", None, "template_scrape", "0 6 * * 1", "UTC", "run_once"),
    ("Acme Outdoor", "Summit Gear", "competitor_scrape", "0 5 * * 1", "UTC", "run_once"),
    ("Bloom Skincare", None, "meta_sync", "30 7 * * 1-5", "America/New_York", "skip"),
    # Often enough that its history fills while you look around.
    ("Cobalt Coffee", None, "asset_download", "*/30 * * * *", "UTC", "skip"),
]


def demo_home(args_home: str | None) -> Path:
    if args_home:
        return Path(args_home).expanduser().resolve()
    real = Path(os.environ.get("PIPEDECK_HOME") or default_home()).expanduser()
    return real.with_name(real.name + "-demo")


def _check_separate(home: Path) -> None:
    real = Path(os.environ.get("PIPEDECK_HOME") or default_home()).expanduser().resolve()
    if home.resolve() == real:
        raise UserError(f"the demo data dir must not be your data dir ({real}); pass another --home")
    if home.exists() and any(home.iterdir()) and not (home / MARKER).exists():
        raise UserError(f"{home} holds data that is not a pipedeck demo; pass an empty or demo --home")


def reset(home: Path) -> None:
    if home.exists():
        if not (home / MARKER).exists():
            raise UserError(f"refusing to delete {home}: it is not a pipedeck demo data dir")
        shutil.rmtree(home)


class Sandbox:
    """`pipedeck sandbox --port 0` as a child; its URLs and token are read from its first lines."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.log_path = home / "logs" / "sandbox.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "pipedeck", "sandbox", "--port", "0"], env=env,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.values = self._read_values()

    def _read_values(self, timeout: float = 20.0) -> dict[str, str]:
        wanted = ("PIPEDECK_GRAPH_URL", "PIPEDECK_AD_LIBRARY_URL", "META_ACCESS_TOKEN")
        deadline = time.monotonic() + timeout
        while True:
            values = {}
            for line in self.log_path.read_text(errors="replace").splitlines():
                key, sep, value = line.strip().partition("=")
                if sep and key in wanted:
                    values[key] = value
            if all(k in values for k in wanted):
                return values
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace").strip().splitlines()[-1:]
                self.stop()
                raise UserError(f"the sandbox exited at start ({self.proc.returncode}): {' '.join(tail)}")
            if time.monotonic() > deadline:
                self.stop()
                raise UserError(f"the sandbox did not start within {timeout:.0f}s (see {self.log_path})")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def _with_origin(url: str, origin: str) -> str:
    parts, new = urlsplit(url), urlsplit(origin)
    return urlunsplit((new.scheme, new.netloc, parts.path, parts.query, parts.fragment))


def seed(settings, *, first_jobs: bool = True) -> dict:
    """Demo brands and competitors (idempotent); competitor URLs follow the sandbox's current origin."""
    from pipedeck.queue.service import Service

    svc = Service(settings)
    origin = settings.ad_library_url
    created = {"brands": 0, "competitors": 0, "runs": 0, "schedules": 0}
    try:
        existing = {b["name"]: b for b in svc.brands()}
        fresh_seed = not existing
        for name, account, page, competitors in DEMO_BRANDS:
            brand = existing.get(name) or svc.add_brand(name, account, page)
            created["brands"] += name not in existing
            have = {c["name"]: c for c in svc.competitors(brand["id"])}
            for comp_name, comp_page in competitors:
                if comp_name in have:
                    current = have[comp_name]["ad_library_url"]
                    moved = _with_origin(current, origin)
                    if moved != current:  # the sandbox listens on a new port each start
                        svc.edit_competitor(have[comp_name]["id"], ad_library_url=moved)
                else:
                    svc.add_competitor(brand["id"], comp_name, page_search_url(origin, comp_page))
                    created["competitors"] += 1
        if fresh_seed:
            for brand_name, comp_name, job_type, cron, tz, missed in DEMO_SCHEDULES:
                svc.add_schedule(job_type, brand_name, competitor=comp_name, cron=cron, tz=tz, missed_policy=missed)
                created["schedules"] += 1
        if fresh_seed and first_jobs:
            # Something for the worker to do while the newcomer looks around.
            for name, _, _, competitors in DEMO_BRANDS:
                for key in ("meta_sync",):
                    svc.queue_one_time_job(name, key, {})
                    created["runs"] += 1
            first = DEMO_BRANDS[0]
            svc.queue_one_time_job(first[0], "competitor_scrape", {}, competitor=first[3][0][0])
            svc.queue_one_time_job(first[0], "template_scrape", {})
            created["runs"] += 2
    finally:
        svc.close()
    return created


def demo_env(home: Path, sandbox_values: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not (k.startswith("PIPEDECK_") or k == "META_ACCESS_TOKEN")}
    env.update(sandbox_values)
    env["PIPEDECK_HOME"] = str(home)
    env["PIPEDECK_QUEUE_URL"] = f"sqlite:///{home / 'queue.db'}"
    if os.environ.get("PIPEDECK_PLUGINS"):
        env["PIPEDECK_PLUGINS"] = os.environ["PIPEDECK_PLUGINS"]
    return env


def run_demo(args) -> int:
    home = demo_home(getattr(args, "home", None))
    _check_separate(home)
    if getattr(args, "reset", False):
        reset(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / MARKER).write_text("pipedeck demo data dir: safe to delete\n")
    base = demo_env(home, {})
    sandbox = Sandbox(home, base)
    from pipedeck.tui.children import WorkerChild

    worker = None
    try:
        env = demo_env(home, sandbox.values)
        settings = load_settings(env)
        seeded = seed(settings)
        if getattr(args, "no_tui", False):
            worker = WorkerChild(settings, env)
            worker.start()
            print(f"demo data dir: {home}", flush=True)
            if any(seeded.values()):
                print(f"seeded {seeded['brands']} brands, {seeded['competitors']} competitors, "
                      f"{seeded['schedules']} schedules, queued {seeded['runs']} runs", flush=True)
            for key, value in sandbox.values.items():
                print(f"{key}={value}", flush=True)
            print(f"worker pid {worker.proc.pid}; Ctrl+C stops the sandbox and the worker", flush=True)
            try:
                while worker.running and sandbox.proc.poll() is None:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass
            return 0
        from pipedeck.tui.app import run_tui

        return run_tui(settings, worker_env=env, start_worker=True, title=f"pipedeck demo ({home})")
    finally:
        if worker is not None:
            worker.stop()
        sandbox.stop()
