"""Run statuses, how they group, and how they are marked on screen and in the CLI.

Lifecycle::

    queued ──claim──▶ running ──▶ succeeded
      ▲   ╲                 ├──▶ failed            (permanent, or out of attempts)
      │    ╲cancel          ├──▶ retrying ─(eta)─▶ claimable again
      │     ▼               ├──▶ cancelling ──▶ cancelled
      │   cancelled         └──▶ queued            (handed back on worker shutdown,
      │                                             or recovered after a worker died)
"""

from __future__ import annotations

QUEUED, RETRYING, RUNNING, CANCELLING = "queued", "retrying", "running", "cancelling"
SUCCEEDED, FAILED, CANCELLED = "succeeded", "failed", "cancelled"
WAITING = (QUEUED, RETRYING)
IN_FLIGHT = (RUNNING, CANCELLING)
ACTIVE = WAITING + IN_FLIGHT
TERMINAL = (SUCCEEDED, FAILED, CANCELLED)
STATUSES = ACTIVE + TERMINAL

# (mark, rich style name) per status.
STATUS_MARKS: dict[str, tuple[str, str]] = {
    QUEUED: ("·", "bright_black"),
    RETRYING: ("↻", "yellow"),
    RUNNING: ("▶", "cyan"),
    CANCELLING: ("⊘", "magenta"),
    SUCCEEDED: ("✔", "green"),
    FAILED: ("✘", "red"),
    CANCELLED: ("⊘", "bright_black"),
}


def status_mark(status: str) -> tuple[str, str]:
    return STATUS_MARKS.get(status, ("?", ""))


def status_label(status: str) -> str:
    """``✔ succeeded``."""
    return f"{status_mark(status)[0]} {status}"


def check_status(status: str) -> str:
    """The status, or a one-line error listing the known ones."""
    from pipedeck.errors import UserError

    if status not in STATUSES:
        raise UserError(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
    return status
