"""template_scrape and the template review queue, with real headless Chromium against the sandbox."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.helpers import base_env, run_cli, wait_for
from tests.test_sandbox_adlibrary import library_ads

SCRAPE_TIMEOUT = 90


@pytest.fixture
def tenv(home, sandbox, chromium_path, monkeypatch):
    """Service and subprocess env on the sandbox; brand Acme's Ad Library page has 40 ads."""
    from pipedeck.config import load_settings
    from pipedeck.queue.service import Service

    extra = {**sandbox.env(), "PIPEDECK_CHROMIUM": chromium_path}
    for key, value in extra.items():
        monkeypatch.setenv(key, value)
    svc = Service(load_settings())
    svc.catalog.add_brand("Acme", meta_ad_account_id="1001", ad_library_page_id="20040")
    yield svc, base_env(home, **extra)
    svc.close()


def wait_end(svc, run_id: int) -> dict:
    def ended():
        run = svc.runs.get(run_id)
        return run if run["status"] in ("succeeded", "failed", "cancelled") else None
    return wait_for(ended, SCRAPE_TIMEOUT, message=f"run {run_id} to end")


def cli_json(env, *args) -> list[dict]:
    proc = run_cli(env, *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_template_scrape_fills_the_review_queue_and_reviews_stick(tenv, sandbox, worker_factory):
    svc, env = tenv
    worker_factory(extra_env=env)
    run = wait_end(svc, svc.queue_one_time_job("Acme", "template_scrape", {}))
    assert run["status"] == "succeeded", (run["error_message"], [l["message"] for l in svc.runs.logs(run["id"])])
    assert "view_all_page_id=20040" in run["params"]["search_url"]  # filled from the brand
    _, truth, _ = library_ads(sandbox.base_url, 20040)
    pending = cli_json(env, "templates", "list", "--brand", "Acme")
    assert len(pending) == 40 and {t["ad_archive_id"] for t in pending} == {a["ad_archive_id"] for a in truth}
    assert all(t["status"] == "pending" for t in pending)
    assert run["result"]["new_pending"] == 40 and run["result"]["previews"] == 40
    # Each preview went through the safe download path: a content-addressed file of the image's bytes.
    for t in pending:
        data = open(t["preview_path"], "rb").read()
        assert data.startswith(b"\x89PNG") and hashlib.sha256(data).hexdigest() in t["preview_path"]
    assert svc.database.scalar("SELECT count(*) FROM assets") == 40

    approve, reject = [t["id"] for t in pending[:2]], [t["id"] for t in pending[2:5]]
    proc = run_cli(env, "templates", "approve", *map(str, approve))
    assert proc.returncode == 0 and proc.stdout.strip() == "approved 2 template(s)"
    proc = run_cli(env, "templates", "reject", *map(str, reject))
    assert proc.returncode == 0 and proc.stdout.strip() == "rejected 3 template(s)"
    assert [t["id"] for t in svc.templates("Acme", "rejected")] == reject

    # Scrape again (directly this time): nothing comes back as pending, nothing is duplicated.
    run_id = svc.queue_one_time_job("Acme", "template_scrape", {}, direct=True)
    assert svc.execute_direct(run_id) == "succeeded"
    run2 = svc.runs.get(run_id)
    assert run2["result"]["new_pending"] == 0 and run2["result"]["already_reviewed"] == 5
    assert run2["result"]["previews"] == 0  # already stored
    everything = cli_json(env, "templates", "list", "--status", "all")
    assert len(everything) == 40
    status = {t["id"]: t["status"] for t in everything}
    assert [status[i] for i in approve] == ["approved"] * 2 and [status[i] for i in reject] == ["rejected"] * 3
    assert sum(1 for s in status.values() if s == "pending") == 35


def test_rejected_template_is_not_downloaded_or_reopened_by_a_new_scrape(tenv, sandbox):
    svc, env = tenv
    sandbox.set_faults(adlib_format="IMAGE")
    run_id = svc.queue_one_time_job("Acme", "template_scrape", {"max_ads": 5}, direct=True)
    assert svc.execute_direct(run_id) == "succeeded"
    first = svc.templates("Acme")
    assert len(first) == 5
    svc.review_templates([first[0]["id"]], "rejected")
    with svc.database.write() as db:  # forget every preview, as if never downloaded
        db.conn.execute("UPDATE templates SET preview_sha256 = NULL")
    run_id = svc.queue_one_time_job("Acme", "template_scrape", {"max_ads": 10}, direct=True)
    assert svc.execute_direct(run_id) == "succeeded"
    run = svc.runs.get(run_id)
    assert run["result"]["new_pending"] == 5 and run["result"]["previews"] == 9
    rejected = svc.templates("Acme", "rejected")
    assert [t["id"] for t in rejected] == [first[0]["id"]] and rejected[0]["preview_sha256"] is None
    assert "captured 10 of 40 reported (stopped at max_ads=10)" in [l["message"] for l in svc.runs.logs(run_id)]
    shown = cli_json(env, "runs", "show", str(run_id))
    assert (shown["result"]["captured"], shown["result"]["reported"], shown["result"]["truncated"]) == (10, 40, True)


def test_dynamic_creative_templates_show_the_cards_copy_never_a_placeholder(tenv, sandbox):
    """DCO ads carry {{product.name}}-style templates in snapshot.body/title; the real copy is in
    snapshot.cards[]. The review queue shows (and stores) every card's copy, in order."""
    svc, env = tenv
    sandbox.set_faults(adlib_format="DCO", adlib_dco_placeholders=True)
    run_id = svc.queue_one_time_job("Acme", "template_scrape", {"max_ads": 12}, direct=True)
    assert svc.execute_direct(run_id) == "succeeded"
    _, truth, _ = library_ads(sandbox.base_url, 20040)
    truth = {a["ad_archive_id"]: a for a in truth}
    listed = cli_json(env, "templates", "list", "--brand", "Acme")
    assert len(listed) == 12
    stored = {t["ad_archive_id"]: t for t in svc.templates("Acme")}
    for t in listed:
        snap = truth[t["ad_archive_id"]]["snapshot"]
        assert "{{" in json.dumps(snap["body"]) and "{{" in snap["title"]  # the data shape is on
        cards = snap["cards"]
        assert t["body"] == "\n\n".join(dict.fromkeys(c["body"] for c in cards))
        assert t["title"] == cards[0]["title"]
        assert not any("{{" in (t[k] or "") for k in ("body", "title", "cta_text", "link_url"))
        copies = json.loads(stored[t["ad_archive_id"]]["cards"])
        assert [(c["title"], c["body"], c["link_description"]) for c in copies] == [
            (c["title"], c["body"], c["link_description"]) for c in cards]
        assert all(c["link_description"] for c in copies)


def test_template_cli_refuses_bad_input_with_one_line(tenv):
    svc, env = tenv
    for args, expected in [
        (("templates", "approve", "999"), "no template with id 999"),
        (("templates", "reject", "abc"), "'abc' is not a template id"),
        (("templates", "list", "--status", "maybe"), "'maybe' is not one of"),
        (("templates", "--brand", "Nobody"), "Nobody"),
        (("queue", "template_scrape", "--brand", "Acme", "--set", "max_ads=0"), "max_ads"),
        (("queue", "template_scrape", "--brand", "Acme", "--set", "search_url=https://www.facebook.com/ads/library/?q=x"),
         "not on the Ad Library origin"),
    ]:
        proc = run_cli(env, *args)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode != 0 and len(lines) == 1 and expected in lines[0], (args, proc.stderr)
    assert svc.runs.list(limit=None) == []
