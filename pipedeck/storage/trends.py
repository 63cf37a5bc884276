"""How runs behave over time: per job type and per brand, counts, failure rates and duration percentiles.

Every figure is computed in SQL over the runs created in a window (the
``runs_created`` index picks them), grouped and ranked by the database
(window functions: ``row_number`` and ``count`` over a partition, on
SQLite >= 3.25 and PostgreSQL alike), so a trend over 100,000 runs reads no
run into Python. Percentiles are nearest-rank: p-th of n finished runs is
the ceil(p * n)-th shortest.

A run counts in the bucket of its creation; its duration is finished_at -
started_at for runs that ran to an end; the failure rate is failed runs over
ended runs (succeeded, failed, cancelled).
"""

from __future__ import annotations

from pipedeck.storage.db import Database

_TOOK = "(r.finished_at - r.started_at)"
_ENDED = "('succeeded', 'failed', 'cancelled')"
GROUPS = {"job_type": "r.job_type", "brand": "r.brand_id"}


def _percentiles_sql(database: Database, group: str, bucket: bool, extra: str) -> str:
    """Per group (and bucket), the nearest-rank p50 and p95 duration of the finished runs. Arguments:
    (since, bucket seconds if bucketed), since, until, then those of ``extra``."""
    key = GROUPS[group]
    parts = "g, bucket" if bucket else "g"
    bucket_sql = f", {database.dialect.whole('(r.created_at - ?) / ?')} AS bucket" if bucket else ""
    return (
        f"WITH took AS (SELECT {key} AS g{bucket_sql}, {_TOOK} AS took FROM runs r"
        " WHERE r.created_at >= ? AND r.created_at < ? AND r.finished_at IS NOT NULL"
        f" AND r.started_at IS NOT NULL{extra}),"
        f" ranked AS (SELECT {parts}, took, row_number() OVER (PARTITION BY {parts} ORDER BY took) AS n,"
        f" count(*) OVER (PARTITION BY {parts}) AS total FROM took)"
        f" SELECT {parts},"
        " max(CASE WHEN n = CAST((total * 50 + 99) / 100 AS INTEGER) THEN took END) AS p50,"
        " max(CASE WHEN n = CAST((total * 95 + 99) / 100 AS INTEGER) THEN took END) AS p95"
        f" FROM ranked GROUP BY {parts}")


def summary(database: Database, group: str, since: float, until: float, brand_id: int | None = None,
            buckets: dict | None = None) -> list[dict]:
    """One row per job type (or brand id) with runs in [since, until): runs, ended, failed, failure rate,
    p50 and p95 seconds; ordered by the group key. With ``buckets`` (what ``series`` returned for the
    same window) the counts are their sums, which saves a pass over the window."""
    key = GROUPS[group]
    extra, extra_args = ("", []) if brand_id is None else (" AND r.brand_id = ?", [brand_id])
    if buckets is not None:
        counts = [{"g": g, "runs": sum(c["runs"] for c in cells.values()),
                   "ended": sum(c["ended"] for c in cells.values()),
                   "failed": sum(c["failed"] for c in cells.values())} for g, cells in sorted(buckets.items())]
    else:
        counts = database.query(
            f"SELECT {key} AS g, count(*) AS runs, sum(CASE WHEN r.status IN {_ENDED} THEN 1 ELSE 0 END) AS ended,"
            " sum(CASE WHEN r.status = 'failed' THEN 1 ELSE 0 END) AS failed FROM runs r"
            f" WHERE r.created_at >= ? AND r.created_at < ?{extra} GROUP BY {key} ORDER BY {key}",
            [since, until, *extra_args])
    percentiles = {row["g"]: row for row in database.query(
        _percentiles_sql(database, group, False, extra), [since, until, *extra_args])}
    out = []
    for row in counts:
        p = percentiles.get(row["g"], {})
        out.append({"key": row["g"], "runs": row["runs"], "ended": row["ended"] or 0, "failed": row["failed"] or 0,
                    "failure_rate": (row["failed"] or 0) / row["ended"] if row["ended"] else None,
                    "p50": p.get("p50"), "p95": p.get("p95")})
    return out


def series(database: Database, group: str, since: float, until: float, bucket_seconds: float,
           brand_id: int | None = None) -> dict:
    """Per group, per bucket of ``bucket_seconds`` from ``since``: runs, failed, ended, p50, p95.

    Returns {key: {bucket index: {...}}}; buckets with no run are absent."""
    key = GROUPS[group]
    extra, extra_args = ("", []) if brand_id is None else (" AND r.brand_id = ?", [brand_id])
    out: dict = {}
    for row in database.query(
            f"SELECT {key} AS g, {database.dialect.whole('(r.created_at - ?) / ?')} AS bucket, count(*) AS runs,"
            f" sum(CASE WHEN r.status IN {_ENDED} THEN 1 ELSE 0 END) AS ended,"
            " sum(CASE WHEN r.status = 'failed' THEN 1 ELSE 0 END) AS failed FROM runs r"
            f" WHERE r.created_at >= ? AND r.created_at < ?{extra} GROUP BY {key}, bucket",
            [since, bucket_seconds, since, until, *extra_args]):
        out.setdefault(row["g"], {})[row["bucket"]] = {"runs": row["runs"], "ended": row["ended"] or 0,
                                                       "failed": row["failed"] or 0, "p50": None, "p95": None}
    sql = _percentiles_sql(database, group, True, extra)
    for row in database.query(sql, [since, bucket_seconds, since, until, *extra_args]):
        cell = out.get(row["g"], {}).get(row["bucket"])
        if cell is not None:
            cell["p50"], cell["p95"] = row["p50"], row["p95"]
    return out


def recent_durations(database: Database, brand_id: int, per_type: int = 30) -> dict[str, list[float]]:
    """Per job type, the durations of the brand's last ``per_type`` finished runs, oldest first
    (the (brand_id, job_type, id) index walks each type's newest runs)."""
    rows = database.query(
        "SELECT job_type, took FROM (SELECT r.job_type, r.id, (r.finished_at - r.started_at) AS took,"
        " row_number() OVER (PARTITION BY r.job_type ORDER BY r.id DESC) AS n FROM runs r"
        " WHERE r.brand_id = ? AND r.competitor_id IS NULL AND r.finished_at IS NOT NULL"
        " AND r.started_at IS NOT NULL) recent WHERE n <= ? ORDER BY job_type, id", (brand_id, per_type))
    out: dict[str, list[float]] = {}
    for row in rows:
        out.setdefault(row["job_type"], []).append(row["took"])
    return out
