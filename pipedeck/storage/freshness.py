"""Freshness policies as stored: the overrides of each dataset's built-in policy.

What a policy means and how a dataset is judged lives in
``pipedeck.concepts.datasets``; this module only reads and writes the table.
Brand id 0 holds the default for all brands.
"""

from __future__ import annotations

from pipedeck.concepts.datasets import Policy
from pipedeck.storage.db import Database


def policies(database: Database, brand_id: int | None = None) -> dict[tuple[int, str], Policy]:
    """Stored policies keyed (brand id or 0 for the default, dataset)."""
    rows = database.query("SELECT * FROM freshness_policies" + (" WHERE brand_id IN (0, ?)" if brand_id else ""),
                          (brand_id,) if brand_id else ())
    return {(r["brand_id"], r["dataset"]): Policy(r["warn_after"], r["stale_after"]) for r in rows}


def set_policy(database: Database, brand_id: int, dataset: str, policy: Policy) -> None:
    with database.write() as db:
        db.conn.execute("INSERT INTO freshness_policies (brand_id, dataset, warn_after, stale_after)"
                        " VALUES (?,?,?,?) ON CONFLICT (brand_id, dataset) DO UPDATE SET"
                        " warn_after = excluded.warn_after, stale_after = excluded.stale_after",
                        (brand_id, dataset, policy.warn_after, policy.stale_after))


def clear_policy(database: Database, brand_id: int, dataset: str) -> bool:
    with database.write() as db:
        return db.conn.execute("DELETE FROM freshness_policies WHERE brand_id = ? AND dataset = ?",
                               (brand_id, dataset)).rowcount > 0
