"""sqlite-utils' table API against pipedeck's hand-written SQL, where both could serve.

    .venv/bin/python bench/storage_api.py [--rows 20000] [--rounds 5]

1. Insights upsert: ``storage.meta.upsert_insights`` (typed tuples, one executemany of an
   ON CONFLICT upsert, counts of inserted/updated) against sqlite-utils'
   ``table.upsert_all(dicts, pk=...)`` writing the same rows into the same table, first as
   inserts, then again as updates. Ratio > 1: the hand SQL is faster.
2. Catalog reads: ``Catalog.brands()`` against ``db["brands"].rows_where(order_by=...)``.

Each round alternates the two on fresh files; medians; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def graph_rows(n: int) -> list[dict]:
    ads = max(1, n // 30)
    return [{"ad_id": str(1000 + i % ads), "date_start": f"2026-{1 + (i // ads) // 28 % 12:02d}-{1 + (i // ads) % 28:02d}",
             "spend": "12.5", "impressions": "1000", "reach": "800", "clicks": "12", "ctr": "1.2", "cpc": "1.04",
             "cpm": "12.5", "actions": [{"action_type": "purchase", "value": "2"}]} for i in range(n)]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from pipedeck.storage import meta
    from pipedeck.storage.catalog import Catalog
    import sqlite_utils

    from pipedeck.storage.db import Database

    rows = graph_rows(args.rows)
    hand, lib, reads = [], [], []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            a = Database(Path(tmp) / "a.db")
            b = Database(Path(tmp) / "b.db")
            brand = Catalog(a).add_brand("Acme")["id"]
            Catalog(b).add_brand("Acme")
            # sqlite-utils on the same migrated files, through its own connections.
            lib_a = sqlite_utils.Database(Path(tmp) / "a.db")
            lib_b = sqlite_utils.Database(Path(tmp) / "b.db")
            t = time.perf_counter()
            meta.upsert_insights(a, brand, rows)
            meta.upsert_insights(a, brand, rows)
            hand.append(time.perf_counter() - t)
            now = time.time()
            cols = ("ad_id", "date", "brand_id", "spend", "impressions", "reach", "clicks", "ctr", "cpc", "cpm",
                    "actions", "action_values", "purchase_roas", "updated_at")
            t = time.perf_counter()
            for _ in range(2):
                dicts = [dict(zip(cols, meta.insight_row(r, brand, now))) for r in rows]
                with lib_b.conn:  # one transaction, as ours
                    lib_b["meta_insights"].upsert_all(dicts, pk=("ad_id", "date"))
            lib.append(time.perf_counter() - t)
            for i in range(200):
                Catalog(a).add_brand(f"Brand {i}")
            t = time.perf_counter()
            for _ in range(200):
                Catalog(a).brands()
            mine = time.perf_counter() - t
            t = time.perf_counter()
            for _ in range(200):
                list(lib_a["brands"].rows_where(order_by="name COLLATE NOCASE"))
            reads.append((time.perf_counter() - t) / mine)
            lib_a.close()
            lib_b.close()
            a.close()
            b.close()
    ratio = statistics.median(l / h for h, l in zip(hand, lib))
    out = {"rows": args.rows, "hand_upsert_s": round(statistics.median(hand), 3),
           "sqlite_utils_upsert_all_s": round(statistics.median(lib), 3),
           "upsert_all_time_over_hand": round(ratio, 2), "rows_where_time_over_hand": round(statistics.median(reads), 2)}
    print(f"insights upsert of {args.rows} rows twice: hand SQL {out['hand_upsert_s']} s, sqlite-utils upsert_all "
          f"{out['sqlite_utils_upsert_all_s']} s ({ratio:.2f}x the time)")
    print(f"brands listing: sqlite-utils rows_where takes {out['rows_where_time_over_hand']}x the hand query's time")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
