"""Alerts: a run that failed for good, a dataset gone stale, a worker that died or none
running with work queued, a run that ended without some of its files or ads.

Every worker checks every ``PIPEDECK_ALERT_INTERVAL`` seconds (``pipedeck alerts check``
does it once, for a machine where no worker runs). Each event is recorded once in the
database under its own key, however many processes notice it; unsent alerts are claimed
by one process and sent through apprise to ``PIPEDECK_ALERT_URLS`` (and to the desktop
where one can show them). More than a few at once are folded into one digest. Sending
happens on a thread of its own with short timeouts: a target that fails or hangs never
delays or fails a run; its error is logged and recorded (the workers view shows it).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from dataclasses import dataclass
from typing import Callable

from pipedeck.concepts.datasets import STALE
from pipedeck.concepts.summary import result_warning
from pipedeck.concepts.text import visible
from pipedeck.storage import alerts as store

log = logging.getLogger("pipedeck.alerts")

# Events older than this when first noticed are history, not news (e.g. when alerts are first set up).
NEWS_WINDOW = 3600.0
# A claim not delivered within this long is taken again by another process.
STALE_CLAIM = 120.0
# More alerts than this in one delivery become one digest.
DIGEST_AFTER = 3
# Seconds a target may take to connect and to answer.
CONNECT_TIMEOUT, READ_TIMEOUT = 4, 8
# Queued work this old with no live worker is worth telling someone about.
NO_WORKER_AFTER = 60.0


@dataclass(frozen=True)
class Alert:
    key: str
    kind: str
    subject: str
    body: str


# -- what is worth an alert ---------------------------------------------------------------------
def detect(svc, now: float) -> list[Alert]:
    """Everything alert-worthy the database shows at ``now`` (recording dedupes repeats)."""
    since = now - NEWS_WINDOW
    found: list[Alert] = []
    for run in store.runs_ended_since(svc.database, since, "failed"):
        who = run["brand"] + (f" / {run['competitor']}" if run["competitor"] else "")
        found.append(Alert(f"run_failed:{run['id']}", "run_failed",
                           f"run {run['id']} {run['job_type']} failed ({who})",
                           f"after {run['attempts']} attempt(s): {run['error_type']}: {run['error_message']}"))
    for run in store.runs_ended_since(svc.database, since, "succeeded"):
        warning = result_warning(run["result"])
        if warning:
            found.append(Alert(f"run_incomplete:{run['id']}", "run_incomplete",
                               f"run {run['id']} {run['job_type']} ended incomplete ({run['brand']})", warning))
    for row in svc.freshness(now=now):
        if row["state"] == STALE and row["last_success_run_id"] is not None:
            who = row["brand"] + (f" / {row['competitor']}" if row["competitor"] else "")
            found.append(Alert(
                f"dataset_stale:{row['brand_id']}:{row['competitor_id'] or 0}:{row['dataset']}:"
                f"{row['last_success_run_id']}", "dataset_stale", f"{row['dataset']} of {who} is stale",
                row["reason"]))
    found += _worker_alerts(svc, now)
    return found


def _worker_alerts(svc, now: float) -> list[Alert]:
    found = []
    health = svc.worker_health(include_stopped=True)
    for w in health:
        died = (w["status"] != "stopped" and not w["alive"]) or w.get("died")
        if died and now - (w["heartbeat_at"] or 0) < NEWS_WINDOW:
            found.append(Alert(f"worker_dead:{w['id']}", "worker_dead",
                               f"worker {w['id']} on {w['host']} stopped heartbeating",
                               f"last heartbeat {now - w['heartbeat_at']:.0f} s ago (pid {w['pid']})"))
    waiting = store.oldest_waiting(svc.database)
    if waiting and now - waiting["created_at"] > NO_WORKER_AFTER and not any(w["alive"] for w in health):
        found.append(Alert(f"no_worker:{waiting['id']}", "no_worker", "no worker is running and runs are queued",
                           f"run {waiting['id']} has waited {now - waiting['created_at']:.0f} s; "
                           "start one with `pipedeck worker` (or `pipedeck worker install`)"))
    return found


# -- where alerts go ---------------------------------------------------------------------------
def desktop_target() -> str | None:
    """The apprise URL of this machine's desktop notifications, where one can be shown."""
    if sys.platform == "darwin":
        return "macosx://"
    if sys.platform.startswith("linux") and os.environ.get("DBUS_SESSION_BUS_ADDRESS") and \
            (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "dbus://"
    return None


def _with_timeouts(url: str) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}cto={CONNECT_TIMEOUT}&rto={READ_TIMEOUT}"


def send(targets: list[str], title: str, body: str) -> str | None:
    """Send one message to every target; None when all took it, else the (secret-free) error."""
    import apprise

    box = apprise.Apprise()
    for url in targets:
        if not box.add(_with_timeouts(url) if "://" in url and not url.startswith(("dbus", "macosx")) else url):
            return f"not a usable apprise URL: {url.split('://')[0]}://..."
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as output:
        ok = box.notify(title=title, body=body)
        captured = output.getvalue()
    if ok:
        return None
    lines = [line.strip() for line in captured.splitlines() if line.strip()]
    return (lines[-1] if lines else "a target refused the message")[:300]


def fold(rows: list[dict]) -> tuple[str, str]:
    """The title and body of one message for these alerts: one alert as itself, many as a digest."""
    if len(rows) == 1:
        return rows[0]["subject"], rows[0]["body"]
    head = rows if len(rows) <= DIGEST_AFTER else rows[:20]
    body = "\n".join(f"- {r['subject']}: {r['body']}" for r in head)
    if len(rows) > len(head):
        body += f"\n... and {len(rows) - len(head)} more (pipedeck alerts lists them)"
    return f"pipedeck: {len(rows)} alerts", body


class AlertPump:
    """What a worker's maintenance calls: record what is new, then hand unsent alerts to a sender thread."""

    def __init__(self, svc, claimant: str, *, clock: Callable[[], float], targets: list[str] | None = None,
                 desktop: bool = True, secrets: list[str] | None = None) -> None:
        self.svc = svc
        self.claimant = claimant
        self.clock = clock
        self.targets = list(targets if targets is not None else svc.settings.alert_targets())
        if desktop and (target := desktop_target()):
            self.targets.append(target)
        self.secrets = secrets if secrets is not None else svc.settings.secrets()
        self._sending: threading.Thread | None = None
        self.last_error: str | None = None

    def check(self) -> int:
        """Record what is alert-worthy now; returns how many alerts are new."""
        now = self.clock()
        new = 0
        for alert in detect(self.svc, now):
            new += store.record(self.svc.database, key=alert.key, kind=alert.kind, subject=visible(alert.subject),
                                body=visible(alert.body), now=now)
        self.deliver()
        return new

    def deliver(self) -> None:
        if not self.targets or (self._sending is not None and self._sending.is_alive()):
            return  # nowhere to send; or the last delivery is still going (a slow target): claim later
        now = self.clock()
        rows = store.claim(self.svc.database, self.claimant, now, newer_than=now - NEWS_WINDOW,
                           stale_claim=STALE_CLAIM)
        if rows:
            self._sending = threading.Thread(target=self._send, args=(rows,), name="pipedeck-alerts", daemon=True)
            self._sending.start()

    def _send(self, rows: list[dict]) -> None:
        title, body = fold(rows)
        try:
            error = send(self.targets, title, body)
        except Exception as exc:  # noqa: BLE001 - a broken target must never reach the worker
            error = f"{type(exc).__name__}: {exc}"
        if error is not None:
            from pipedeck.handlers.context import redact

            error = redact(error, self.secrets)
            log.warning("alert delivery failed: %s", error)
        self.last_error = error
        try:
            store.delivered(self.svc.database, [r["id"] for r in rows], self.clock(), error)
        except Exception:  # noqa: BLE001 - recorded next time; the claim lapses and is taken again
            log.exception("could not record an alert delivery")

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a delivery in flight (for `pipedeck alerts check` and tests)."""
        if self._sending is not None:
            self._sending.join(timeout)
