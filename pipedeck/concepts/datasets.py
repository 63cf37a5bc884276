"""Datasets and their freshness.

A dataset is what a job type's successful run refreshes (a brand's Meta
performance, its ad assets, a competitor's ads ...). Each is described once,
where its job type is registered: a key, the title screens show, and the
default freshness policy. A policy says after how long a dataset is
``warning`` and then ``stale``; people may override it for all brands or one.
States: fresh, warning, stale, never, each with a reason a person can read
("last success 3 d ago; stale after 50 h").

A day-by-day dataset can also say how complete it is: how many of the last
``completeness_window`` days it covers (see :mod:`pipedeck.concepts.completeness`),
measured by its ``completeness`` function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from pipedeck.concepts.durations import words

FRESH, WARNING, STALE, NEVER = "fresh", "warning", "stale", "never"
FRESHNESS_STATES = (FRESH, WARNING, STALE, NEVER)
# (mark, rich style name) per freshness state.
FRESHNESS_MARKS: dict[str, tuple[str, str]] = {
    FRESH: ("●", "green"),
    WARNING: ("◐", "yellow"),
    STALE: ("○", "red"),
    NEVER: ("–", "bright_black"),
}
# Worst first when one mark stands for several datasets.
SEVERITY = {NEVER: 3, STALE: 2, WARNING: 1, FRESH: 0}

BUILT_IN, DEFAULT, BRAND = "built-in policy", "default policy", "brand policy"


@dataclass(frozen=True)
class Policy:
    warn_after: float
    stale_after: float

    def describe(self) -> str:
        return f"warns after {words(self.warn_after)}, stale after {words(self.stale_after)}"


@dataclass(frozen=True)
class Dataset:
    key: str
    title: str
    policy: Policy
    # Days back whose coverage is reported beside freshness (None: not a day-by-day dataset).
    completeness_window: int | None = None
    # (database, brand record, window days, now) -> Completeness, or None when it cannot be told
    # (e.g. the brand has no ad account). Named by the registry, which knows where the data lives.
    completeness: Callable[[Any, dict, int, float], Any] | None = field(default=None, compare=False)

    @property
    def column(self) -> str:
        """The dataset's column heading in tables."""
        return self.title.upper()


def policy_for(stored: dict[tuple[int, str], Policy], brand_id: int, dataset: Dataset) -> tuple[Policy, str]:
    """The policy that applies to one brand's dataset, and where it comes from.

    ``stored`` holds the overrides keyed (brand id, dataset key); brand id 0
    is the default for all brands.
    """
    if brand_id and (brand_id, dataset.key) in stored:
        return stored[(brand_id, dataset.key)], BRAND
    if (0, dataset.key) in stored:
        return stored[(0, dataset.key)], DEFAULT
    return dataset.policy, BUILT_IN


def assess(row: dict | None, policy: Policy, now: float, source: str = "policy") -> tuple[str, str]:
    """(state, reason) for one dataset's freshness record under a policy."""
    success = row.get("last_success_at") if row else None
    failure = row.get("last_failure_at") if row else None
    failed_note = ""
    if failure is not None and (success is None or failure > success):
        error = (row.get("last_error") or "").strip()
        failed_note = f"; last attempt failed {words(now - failure)} ago" + (f": {error[:120]}" if error else "")
    if success is None:
        return NEVER, f"never refreshed successfully{failed_note}"
    return state_at(success, policy, now), \
        f"last success {words(now - success)} ago ({source}: {policy.describe()}){failed_note}"


def state_at(last_success_at: float | None, policy: Policy, now: float) -> str:
    """The state at ``now`` of a dataset last refreshed at ``last_success_at``.

    Screens call this as time passes, so a state changes when it crosses its policy.
    """
    if last_success_at is None:
        return NEVER
    age = now - last_success_at
    if age >= policy.stale_after:
        return STALE
    if age >= policy.warn_after:
        return WARNING
    return FRESH
