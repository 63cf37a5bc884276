"""Completeness beside freshness (issue 14 point 2): how many of the last 30 days of a brand's Meta
performance have rows, which are missing, and days with no delivery that Meta answered with no rows."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from pipedeck.concepts.completeness import assess, describe_range
from pipedeck.sandbox import graph_data
from tests.helpers import run_cli
from tests.meta_support import graph_get, log_text, wait_run


def ago(days: int) -> dt.date:
    return graph_data.today() - dt.timedelta(days=days)


# -- the concept ---------------------------------------------------------------------
def test_assess_names_the_missing_runs_of_days():
    until = dt.date(2026, 11, 30)
    covered = {until - dt.timedelta(days=k) for k in range(30)} - {dt.date(2026, 11, 3), dt.date(2026, 11, 4)}
    c = assess(covered | {dt.date(2026, 10, 1)}, until=until, window=30)  # a day before the window does not count
    assert (c.days_covered, c.days_expected) == (28, 30)
    assert c.missing == ((dt.date(2026, 11, 3), dt.date(2026, 11, 4)),)
    assert c.text() == "28 of 30 days; missing Nov 3–4"
    assert c.as_dict()["missing"] == [{"since": "2026-11-03", "until": "2026-11-04", "days": 2}]

    none = assess([], until=until, window=30)
    assert none.text() == "0 of 30 days; missing Nov 1–30" and none.missing == ((dt.date(2026, 11, 1), until),)
    assert assess(covered | {dt.date(2026, 11, 3), dt.date(2026, 11, 4)}, until=until, window=30).text() == \
        "30 of 30 days"
    gappy = assess([until - dt.timedelta(days=k) for k in range(0, 30, 2)], until=until, window=30)
    assert gappy.days_covered == 15 and len(gappy.missing) == 15
    assert gappy.text() == "15 of 30 days; missing Nov 1, Nov 3, Nov 5, 12 more ranges"


def test_describe_range_across_months_and_years():
    assert describe_range(dt.date(2026, 10, 30), dt.date(2026, 11, 2), dt.date(2026, 11, 30)) == "Oct 30 – Nov 2"
    assert describe_range(dt.date(2025, 12, 30), dt.date(2026, 1, 2), dt.date(2026, 1, 5)) == "Dec 30 2025 – Jan 2"
    assert describe_range(dt.date(2026, 11, 3), dt.date(2026, 11, 3)) == "Nov 3"


# -- the sandbox's knobs ---------------------------------------------------------------
def _days(sandbox, level: str, since: dt.date, until: dt.date) -> dict[str, int]:
    params = {"level": level, "time_increment": "1", "fields": "impressions,date_start", "limit": "5000",
              "time_range": json.dumps({"since": since.isoformat(), "until": until.isoformat()})}
    body = graph_get(sandbox, "act_1003/insights", params).json()
    assert "paging" not in body or "next" not in body["paging"], body
    out: dict[str, int] = {}
    for row in body["data"]:
        out[row["date_start"]] = out.get(row["date_start"], 0) + 1
    return out


def test_sandbox_leaves_out_days_and_has_days_without_delivery(sandbox):
    sandbox.set_faults(no_delivery="2-3", insights_left_out="5")
    ads, account = _days(sandbox, "ad", ago(6), ago(1)), _days(sandbox, "account", ago(6), ago(1))
    assert set(ads) == {ago(k).isoformat() for k in (1, 4, 6)}
    assert all(n == 25 for n in ads.values())  # every ad of account 1003, every day it delivers
    assert account == {ago(k).isoformat(): 1 for k in (1, 4, 5, 6)}  # the account did deliver on the day left out
    body = graph_get(sandbox, "act_1003/insights", {"level": "account", "time_increment": "1",
                                                    "fields": "impressions,spend,date_start",
                                                    "time_range": json.dumps({"since": ago(1).isoformat(),
                                                                              "until": ago(1).isoformat()})}).json()
    ad_rows = graph_get(sandbox, "act_1003/insights", {"level": "ad", "time_increment": "1",
                                                       "fields": "impressions,date_start", "limit": "100",
                                                       "time_range": json.dumps({"since": ago(1).isoformat(),
                                                                                 "until": ago(1).isoformat()})}).json()
    assert int(body["data"][0]["impressions"]) == sum(int(r["impressions"]) for r in ad_rows["data"])


# -- meta_sync records what Meta answered; the freshness rows say how complete it is -------
def _completeness(svc) -> dict:
    rows = {r["dataset"]: r for r in svc.freshness("Acme")}
    assert rows["ad_assets"]["completeness"] is None  # only day-by-day datasets have one
    return rows["meta_performance"]["completeness"]


def test_completeness_counts_answered_days_and_names_the_missing(svc, brand, sandbox, worker_factory, env):
    # Nothing synced yet: every day of the window is missing.
    before = _completeness(svc)
    assert (before["days_covered"], before["days_expected"]) == (0, 30)

    worker_factory(extra_env=sandbox.env())
    # Days 5-6 ago: no ad delivered (Meta answers them with no rows). Days 10-11 ago: Meta's ad-level
    # answer leaves them out although the account delivered. Days 20-30 ago: no sync asked for them.
    sandbox.set_faults(no_delivery="5-6", insights_left_out="10-11")
    run = wait_run(svc, svc.queue_one_time_job("Acme", "meta_sync", {"days_back": 20}))
    assert run["status"] == "succeeded", run["error_message"]
    assert run["result"]["days_left_out"] == [ago(11).isoformat(), ago(10).isoformat()]
    assert "left out 2 day(s)" in run["result"]["warning"]
    assert "left out" in log_text(svc, run["id"])
    answered = {r["date"]: r["rows"] for r in svc.database.query(
        "SELECT date, rows FROM meta_answered_days WHERE brand_id = ?", (brand["id"],))}
    assert answered[ago(5).isoformat()] == answered[ago(6).isoformat()] == 0
    assert answered[ago(4).isoformat()] == 200
    assert ago(10).isoformat() not in answered and ago(11).isoformat() not in answered
    assert len(answered) == 20 - 2 and run["result"]["days_answered"] == 18

    got = _completeness(svc)
    assert (got["days_covered"], got["days_expected"]) == (30 - 11 - 2, 30)
    assert (got["since"], got["until"]) == (ago(30).isoformat(), ago(1).isoformat())
    assert got["missing"] == [{"since": ago(30).isoformat(), "until": ago(20).isoformat(), "days": 11},
                              {"since": ago(11).isoformat(), "until": ago(10).isoformat(), "days": 2}]
    assert got["text"] == (f"17 of 30 days; missing {describe_range(ago(30), ago(20), ago(1))}, "
                           f"{describe_range(ago(11), ago(10), ago(1))}")

    # The CLI's --json carries the same entry; its table shows the text.
    out = run_cli(env, "freshness", "--json")
    assert out.returncode == 0, out.stderr
    perf = next(r for r in json.loads(out.stdout) if r["dataset"] == "meta_performance")
    assert perf["completeness"] == got
    table = run_cli(env, "freshness")
    assert got["text"] in table.stdout

    # Meta answers the days it had left out; a sync over the whole window completes it. The days
    # without delivery stay answered with no rows, and are not missing.
    sandbox.set_faults(insights_left_out=None)
    again = wait_run(svc, svc.queue_one_time_job("Acme", "meta_sync", {"days_back": 31}))
    assert again["status"] == "succeeded", again["error_message"]
    assert "days_left_out" not in again["result"] and "warning" not in again["result"]
    done = _completeness(svc)
    assert done["days_covered"] == done["days_expected"] == 30 and done["missing"] == []
    assert done["text"] == "30 of 30 days"
    rows_by_day = {r["date"]: r["n"] for r in svc.database.query(
        "SELECT date, count(*) AS n FROM meta_insights WHERE brand_id = ? GROUP BY date", (brand["id"],))}
    assert ago(5).isoformat() not in rows_by_day and rows_by_day[ago(10).isoformat()] == 200


def test_a_brand_without_an_ad_account_has_no_completeness(svc):
    svc.catalog.add_brand("Nowhere")
    row = next(r for r in svc.freshness("Nowhere") if r["dataset"] == "meta_performance")
    assert row["completeness"] is None


@pytest.mark.parametrize("window", [0, None])
def test_a_dataset_needs_both_a_window_and_a_measure(window):
    from pipedeck.concepts.datasets import Dataset, Policy
    from pipedeck.handlers import registry

    with pytest.raises(ValueError, match="completeness needs both"):
        registry.register_dataset(Dataset("bad_completeness", "Bad", Policy(1, 2), completeness_window=window,
                                          completeness=lambda *a: None))
    with pytest.raises(ValueError, match="completeness needs both"):
        registry.register_dataset(Dataset("bad_completeness", "Bad", Policy(1, 2), completeness_window=30))
