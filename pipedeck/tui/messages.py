"""Messages the background threads post to the app; handlers on the event loop render them."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message


@dataclass(frozen=True)
class StatusInfo:
    """What the always-visible status bar shows. Equal values mean no repaint."""

    loaded: bool = False
    workers_alive: int = 0
    queued: int = 0
    retrying: int = 0
    running: int = 0
    cancelling: int = 0
    paused: bool = False
    live: bool = True
    direct_default: bool = False
    child: str = ""  # state of the worker this app started: "", "starting", "running", "exited 1"
    direct_active: int = 0
    database_unreachable: bool = False


class RunsChanged(Message):
    """Runs whose row changed since the last refresh (read by ``rev``), and the queue counts read with them."""

    def __init__(self, rows: list[dict], rev: int, counts: dict[str, int] | None = None) -> None:
        super().__init__()
        self.rows = rows
        self.rev = rev
        self.counts = counts


class RunsReload(Message):
    """Too much changed to patch in place (or refresh resumed after a long pause): reload."""

    def __init__(self, counts: dict[str, int] | None = None) -> None:
        super().__init__()
        self.counts = counts


class DatabaseReachability(Message):
    """The database server stopped answering (``reachable`` False, with why), or answers again."""

    def __init__(self, reachable: bool, reason: str = "") -> None:
        super().__init__()
        self.reachable = reachable
        self.reason = reason


class HealthChanged(Message):
    """Each worker's heartbeat, about once a second."""

    def __init__(self, workers: list[dict]) -> None:
        super().__init__()
        self.workers = workers


class CatalogChanged(Message):
    def __init__(self, brands: list[dict], competitors: list[dict]) -> None:
        super().__init__()
        self.brands = brands
        self.competitors = competitors


@dataclass
class CatalogCache:
    """Brands and competitors as last read, for the palette and the forms (never read on the loop)."""

    brands: list[dict] = field(default_factory=list)
    competitors: list[dict] = field(default_factory=list)

    def brand(self, brand_id: int) -> dict | None:
        return next((b for b in self.brands if b["id"] == brand_id), None)

    def competitor(self, competitor_id: int) -> dict | None:
        return next((c for c in self.competitors if c["id"] == competitor_id), None)

    def competitors_of(self, brand_id: int) -> list[dict]:
        return [c for c in self.competitors if c["brand_id"] == brand_id]
