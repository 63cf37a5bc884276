"""Helpers shared by the Meta Graph API tests (sandbox, meta_sync, asset_download)."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import httpx

from tests.helpers import wait_for

TERMINAL = ("succeeded", "failed", "cancelled")
INSIGHT_FIELDS = ("ad_id,ad_name,spend,impressions,reach,clicks,ctr,cpc,cpm,actions,action_values,purchase_roas,"
                  "date_start,date_stop")


def wait_run(svc, run_id: int, statuses=TERMINAL, timeout: float = 60.0) -> dict:
    wait_for(lambda: svc.runs.get(run_id)["status"] in statuses, timeout, interval=0.05,
             message=f"run {run_id} to reach {statuses} (now {svc.runs.get(run_id)['status']})")
    return svc.runs.get(run_id)


def log_text(svc, run_id: int) -> str:
    return "\n".join(line["message"] for line in svc.runs.logs(run_id))


def graph_get(sandbox, path: str, params: dict | None = None, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or sandbox.token}"}
    return httpx.get(f"{sandbox.graph_url}/{path}", params=params, headers=headers, timeout=30)


def all_insight_rows(sandbox, account: str, since: str, until: str) -> list[dict]:
    """Every row the sandbox serves for this range, paged by hand (independent of the handler)."""
    params = {"level": "ad", "time_increment": "1", "fields": INSIGHT_FIELDS, "limit": "1000",
              "time_range": json.dumps({"since": since, "until": until})}
    body = graph_get(sandbox, f"act_{account}/insights", params).json()
    rows = list(body["data"])
    while body.get("paging", {}).get("next"):
        body = httpx.get(body["paging"]["next"], headers={"Authorization": f"Bearer {sandbox.token}"},
                         timeout=30).json()
        rows.extend(body["data"])
    return rows


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def stored_files(media_dir: Path) -> list[Path]:
    """Content-addressed files (not the temp dir)."""
    if not media_dir.exists():
        return []
    return sorted(p for p in media_dir.rglob("*") if p.is_file() and ".tmp" not in p.parts)


def temp_leftovers(media_dir: Path) -> list[Path]:
    tmp = media_dir / ".tmp"
    return sorted(tmp.iterdir()) if tmp.exists() else []


class PeakRSS:
    """Samples a process's resident memory in a thread; ``peak`` in bytes."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        import psutil

        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                rss = self.proc.memory_info().rss
            except psutil.Error:
                return
            self.peak = max(self.peak, rss)
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
