"""Freshness states (fresh / warning / stale / never) with their reasons."""

from __future__ import annotations

import json

import pytest

from pipedeck.concepts.datasets import Policy, assess
from pipedeck.concepts.durations import HOUR
from pipedeck.handlers import registry
from tests.helpers import run_cli

NOW = 2_000_000_000.0
POLICY = Policy(26 * HOUR, 50 * HOUR)


@pytest.mark.parametrize("success_age,failure_age,state,reason_parts", [
    (None, None, "never", ["never refreshed successfully"]),
    (None, 2 * HOUR, "never", ["never refreshed successfully", "last attempt failed 2 h ago", "HTTP 503"]),
    (1 * HOUR, None, "fresh", ["last success 1 h ago", "warns after 26 h, stale after 50 h"]),
    (1 * HOUR, 3 * HOUR, "fresh", ["last success 1 h ago"]),          # failure before the success: not news
    (3 * HOUR, 1 * HOUR, "fresh", ["last success 3 h ago", "last attempt failed 1 h ago"]),
    (30 * HOUR, None, "warning", ["last success 30 h ago"]),
    (30 * HOUR, 1 * HOUR, "warning", ["last attempt failed 1 h ago"]),
    (60 * HOUR, None, "stale", ["last success 60 h ago"]),
    (60 * HOUR, 5 * HOUR, "stale", ["last success 60 h ago", "last attempt failed 5 h ago"]),
    (26 * HOUR, None, "warning", []),                                 # boundaries belong to the worse state
    (50 * HOUR, None, "stale", []),
])
def test_each_combination(success_age, failure_age, state, reason_parts):
    row = {"last_success_at": None if success_age is None else NOW - success_age,
           "last_failure_at": None if failure_age is None else NOW - failure_age,
           "last_error": "HTTP 503 from upstream"}
    got_state, reason = assess(row, POLICY, NOW, "built-in policy")
    assert got_state == state
    for part in reason_parts:
        assert part in reason
    if failure_age is not None and success_age is not None and failure_age > success_age:
        assert "failed" not in reason


def test_defaults_match_the_issue():
    assert registry.dataset("meta_performance").policy == Policy(26 * HOUR, 50 * HOUR)
    assert registry.dataset("competitor_ads").policy.warn_after == 7 * 24 * HOUR


def test_service_rows_and_brand_override(svc, brand):
    run_id = svc.queue_one_time_job("Acme", "test_echo", {"lines": 0}, direct=True)
    assert svc.execute_direct(run_id) == "succeeded"
    success = svc.runs.get(run_id)["finished_at"]
    svc.catalog.add_competitor(brand["id"], "Rival", "https://www.facebook.com/ads/library/?view_all_page_id=9",
                               svc.settings.ad_library_url)
    rows = {(r["competitor"], r["dataset"]): r for r in svc.freshness(now=success + 30 * HOUR)}
    assert rows[(None, "meta_performance")]["state"] == "never"
    assert rows[("Rival", "competitor_ads")]["state"] == "never"
    svc.set_freshness_policy("meta_performance", 1 * HOUR, 2 * HOUR)
    svc.set_freshness_policy("meta_performance", 20 * HOUR, 40 * HOUR, brand="Acme")
    # test_data is refreshed by the test job; give it a brand policy and check each state.
    svc.set_freshness_policy("test_data", 10 * HOUR, 20 * HOUR, brand="Acme")
    def state_at(hours):
        return {r["dataset"]: r for r in svc.freshness(brand="Acme", now=success + hours * HOUR)}
    assert state_at(1)["test_data"]["state"] == "fresh"
    assert state_at(15)["test_data"]["state"] == "warning"
    stale = state_at(25)["test_data"]
    assert stale["state"] == "stale" and "brand policy: warns after 10 h, stale after 20 h" in stale["reason"]
    assert state_at(1)["meta_performance"]["warn_after"] == 20 * HOUR   # the brand's override beats the default


def test_policy_validation(svc, brand):
    from pipedeck.errors import UserError

    with pytest.raises(UserError, match="unknown dataset"):
        svc.set_freshness_policy("nope", 1, 2)
    with pytest.raises(UserError, match="warn-after < stale-after"):
        svc.set_freshness_policy("meta_performance", 5 * HOUR, 2 * HOUR)


def test_cli_freshness_json_and_policy(env):
    assert run_cli(env, "brands", "add", "Acme").returncode == 0
    ok = run_cli(env, "queue", "test_flaky", "--brand", "Acme", "--set", "permanent=true", "--direct")
    assert ok.returncode == 1
    rows = json.loads(run_cli(env, "freshness", "--json").stdout)
    meta = [r for r in rows if r["dataset"] == "meta_performance"][0]
    assert meta["state"] == "never" and meta["reason"] == "never refreshed successfully"
    assert run_cli(env, "queue", "test_echo", "--brand", "Acme", "--direct").returncode == 0
    proc = run_cli(env, "freshness", "policy", "set", "meta_performance", "--warn", "2h", "--stale", "1h")
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1
    proc = run_cli(env, "freshness", "policy", "set", "meta_performance", "--warn", "20h", "--stale", "2d",
                   "--brand", "Acme")
    assert proc.returncode == 0, proc.stderr
    policies = json.loads(run_cli(env, "freshness", "policy", "--json").stdout)
    assert {"brand": "Acme", "dataset": "meta_performance", "warn_after": 72000.0, "stale_after": 172800.0,
            "source": "brand policy"} in policies
    bad = run_cli(env, "freshness", "policy", "set", "meta_performance", "--warn", "soon", "--stale", "2d")
    assert bad.returncode != 0 and "not a duration" in bad.stderr
