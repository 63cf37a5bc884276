"""Which runs a listing shows and in what order: the runs table's filter and sort, the export's.

The storage answers them in SQL (``storage/run_window.py``); ``RunFilter.matches``
says the same of one run in Python, so a live change is placed without a read.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipedeck.concepts.statuses import ACTIVE

# What a run listing can be sorted by. Each sorts ties newest first.
SORT_KEYS = ("id", "created", "status", "job_type", "brand", "competitor", "attempts", "took", "summary", "direct")


@dataclass(frozen=True)
class RunFilter:
    """Runs of a status ("active": any waiting or in flight), job type, brand, competitor, and text.

    The text matches, ignoring case, a part of the job type, the brand's or
    competitor's name, the summary or the error, or the run id exactly.
    """

    status: str | None = None
    job_type: str | None = None
    brand_id: int | None = None
    competitor_id: int | None = None
    text: str = ""

    @property
    def statuses(self) -> list[str] | None:
        if self.status is None:
            return None
        return list(ACTIVE) if self.status == "active" else [self.status]

    @property
    def needle(self) -> str:
        return self.text.strip().lower()

    @property
    def is_empty(self) -> bool:
        return self == RunFilter()

    def matches(self, run: dict) -> bool:
        statuses = self.statuses
        if statuses is not None and run["status"] not in statuses:
            return False
        if self.job_type is not None and run["job_type"] != self.job_type:
            return False
        if self.brand_id is not None and run["brand_id"] != self.brand_id:
            return False
        if self.competitor_id is not None and run.get("competitor_id") != self.competitor_id:
            return False
        needle = self.needle
        if needle:
            hay = (run.get("job_type"), run.get("brand"), run.get("competitor"), run.get("summary"),
                   run.get("error_message"))
            if not (any(needle in (h or "").lower() for h in hay) or str(run["id"]) == needle):
                return False
        return True

    def describe(self, brand_name=None) -> str:
        """``status=failed type=meta_sync text='503'`` (empty when nothing is filtered)."""
        parts = [self.status and f"status={self.status}", self.job_type and f"type={self.job_type}",
                 self.brand_id is not None and f"brand={brand_name(self.brand_id) if brand_name else self.brand_id}",
                 self.competitor_id is not None and f"competitor={self.competitor_id}",
                 self.text and f"text={self.text!r}"]
        return " ".join(p for p in parts if p)


@dataclass(frozen=True)
class RunOrder:
    """Sorted by ``key`` (one of SORT_KEYS; None: newest first), ascending unless ``reverse``."""

    key: str | None = None
    reverse: bool = False

    def __post_init__(self) -> None:
        if self.key is not None and self.key not in SORT_KEYS:
            raise ValueError(f"unknown sort key {self.key!r} (one of {', '.join(SORT_KEYS)})")

    @property
    def is_newest_first(self) -> bool:
        return self.key is None or (self.key in ("id", "created") and self.reverse)


NEWEST_FIRST = RunOrder()
