"""Dataset freshness: when each dataset last refreshed, and whether that is stale.

A policy per dataset says after how long data is ``warning`` and ``stale``;
brands may override it. States: fresh, warning, stale, never. Each comes with
a reason a person can read ("last success 3 d ago; stale after 50 h").
"""

from __future__ import annotations

from dataclasses import dataclass

from pipedeck.storage.db import Database

HOUR = 3600.0
DAY = 24 * HOUR


@dataclass(frozen=True)
class Policy:
    warn_after: float
    stale_after: float


DEFAULT_POLICIES: dict[str, Policy] = {
    "meta_performance": Policy(26 * HOUR, 50 * HOUR),
    "ad_assets": Policy(7 * DAY, 14 * DAY),
    "competitor_ads": Policy(7 * DAY, 10 * DAY),
    "templates": Policy(7 * DAY, 14 * DAY),
}
FALLBACK_POLICY = Policy(1 * DAY, 2 * DAY)


def span(seconds: float) -> str:
    """Compact human span: 45 s, 12 min, 26 h, 3 d."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < HOUR:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * DAY and seconds % DAY:
        return f"{seconds / HOUR:.0f} h"
    return f"{seconds / DAY:.0f} d"


def policies(database: Database, brand_id: int | None = None) -> dict[tuple[int, str], Policy]:
    """Stored policies keyed (brand id or 0 for the default, dataset)."""
    rows = database.query("SELECT * FROM freshness_policies" + (" WHERE brand_id IN (0, ?)" if brand_id else ""),
                          (brand_id,) if brand_id else ())
    return {(r["brand_id"], r["dataset"]): Policy(r["warn_after"], r["stale_after"]) for r in rows}


def policy_for(stored: dict[tuple[int, str], Policy], brand_id: int, dataset: str) -> tuple[Policy, str]:
    if (brand_id, dataset) in stored:
        return stored[(brand_id, dataset)], "brand policy"
    if (0, dataset) in stored:
        return stored[(0, dataset)], "default policy"
    return DEFAULT_POLICIES.get(dataset, FALLBACK_POLICY), "built-in policy"


def assess(row: dict | None, policy: Policy, now: float, source: str = "policy") -> tuple[str, str]:
    """(state, reason) for one dataset's freshness row under a policy."""
    limits = f"warns after {span(policy.warn_after)}, stale after {span(policy.stale_after)}"
    success = row.get("last_success_at") if row else None
    failure = row.get("last_failure_at") if row else None
    failed_note = ""
    if failure is not None and (success is None or failure > success):
        error = (row.get("last_error") or "").strip()
        failed_note = f"; last attempt failed {span(now - failure)} ago" + (f": {error[:120]}" if error else "")
    if success is None:
        return "never", f"never refreshed successfully{failed_note}"
    age = now - success
    if age >= policy.stale_after:
        state = "stale"
    elif age >= policy.warn_after:
        state = "warning"
    else:
        state = "fresh"
    return state, f"last success {span(age)} ago ({source}: {limits}){failed_note}"
