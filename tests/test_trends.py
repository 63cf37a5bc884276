"""Trends (storage/trends.py via Service.trends): counts, failure rates and nearest-rank p50/p95 per job type
and per brand, per bucket, against a direct computation over the seeded runs."""

from __future__ import annotations

import math
import random

import pytest

from pipedeck.concepts import trends as concept
from pipedeck.concepts.run_query import RunFilter, RunOrder

TYPES = ["meta_sync", "asset_download", "template_scrape"]


@pytest.fixture
def seeded(svc):
    brands = [svc.catalog.add_brand(name) for name in ("Acme", "Beta")]
    rng = random.Random(7)
    now = svc.clock()
    runs = []
    for i in range(3000):
        job = TYPES[i % 3]
        status = rng.choice(["succeeded"] * 6 + ["failed"] * (1 + TYPES.index(job)) + ["cancelled", "queued"])
        created = now - rng.uniform(0, 40 * 86400)  # some older than the longest window
        started = created + 1 if status != "queued" else None
        # Each type its own spread, so that the slowest is clear.
        took = rng.uniform(1, 60) * (1 + 4 * TYPES.index(job))
        runs.append({"job_type": job, "brand_id": rng.choice(brands)["id"], "status": status,
                     "created_at": created, "started_at": started,
                     "finished_at": started + took if started is not None else None})
    svc.runs.insert_history(runs)
    return svc, brands


def direct(runs, since, until, key):
    """The figures the view promises, computed from every run in Python."""
    out = {}
    for r in runs:
        if not since <= r["created_at"] < until:
            continue
        g = out.setdefault(r[key], {"runs": 0, "ended": 0, "failed": 0, "took": []})
        g["runs"] += 1
        g["ended"] += r["status"] in ("succeeded", "failed", "cancelled")
        g["failed"] += r["status"] == "failed"
        if r["finished_at"] is not None and r["started_at"] is not None:
            g["took"].append(r["finished_at"] - r["started_at"])
    for g in out.values():
        took = sorted(g["took"])
        g["p50"] = took[math.ceil(0.5 * len(took)) - 1] if took else None
        g["p95"] = took[math.ceil(0.95 * len(took)) - 1] if took else None
        g["failure_rate"] = g["failed"] / g["ended"] if g["ended"] else None
    return out


@pytest.mark.parametrize("window_key", list(concept.WINDOWS))
def test_trend_figures_equal_a_direct_computation_over_every_run(seeded, window_key):
    svc, brands = seeded
    everything = svc.run_window(RunFilter(), RunOrder("id"), 0, 100_000).rows
    t = svc.trends(window_key)
    window = t["window"]
    for rows, key in ((t["by_type"], "job_type"), (t["by_brand"], "brand_id")):
        want = direct(everything, t["since"], t["until"], key)
        assert {r["key"] for r in rows} == set(want)
        for r in rows:
            w = want[r["key"]]
            assert (r["runs"], r["ended"], r["failed"]) == (w["runs"], w["ended"], w["failed"])
            assert r["failure_rate"] == pytest.approx(w["failure_rate"])
            assert r["p50"] == pytest.approx(w["p50"]) and r["p95"] == pytest.approx(w["p95"])
    # Each bucket of each job type, as the sparklines draw them.
    for job, series in t["type_series"].items():
        for n in range(window.buckets):
            lo = t["since"] + n * window.bucket
            want = direct([r for r in everything if r["job_type"] == job], lo, lo + window.bucket, "job_type")
            got = series.get(n)
            if not want:
                assert got is None
                continue
            w = want[job]
            assert (got["runs"], got["failed"], got["ended"]) == (w["runs"], w["failed"], w["ended"])
            assert got["p95"] == pytest.approx(w["p95"])
        assert sum(concept.points(series, window, "runs")) == sum(r["runs"] for r in t["by_type"] if r["key"] == job)
    assert [r["key"] for r in t["slowest"]] == ["template_scrape", "asset_download", "meta_sync"]
    assert [r["key"] for r in t["most_failing"]][0] == "template_scrape"


def test_a_brands_trend_and_its_last_30_durations_per_job_type(seeded):
    svc, brands = seeded
    acme = brands[0]["id"]
    everything = svc.run_window(RunFilter(brand_id=acme), RunOrder("id"), 0, 100_000).rows
    t = svc.trends("30d", brand="Acme")
    assert {r["key"] for r in t["by_brand"]} == {acme}
    want = direct(everything, t["since"], t["until"], "job_type")
    assert {r["key"]: r["runs"] for r in t["by_type"]} == {k: v["runs"] for k, v in want.items()}
    recent = svc.recent_durations(acme)
    for job in TYPES:
        finished = [r for r in everything if r["job_type"] == job and r["finished_at"] and r["started_at"]]
        assert recent[job] == pytest.approx([r["finished_at"] - r["started_at"] for r in finished[-30:]])


def test_summary_counts_from_the_buckets_equal_counting_the_window(seeded):
    from pipedeck.storage import trends

    svc, _ = seeded
    now = svc.clock()
    since = now - 7 * 86400
    for group in ("job_type", "brand"):
        buckets = trends.series(svc.database, group, since, now, 86400)
        assert trends.summary(svc.database, group, since, now, buckets=buckets) == \
            trends.summary(svc.database, group, since, now)
