"""competitor_scrape end to end: real headless Chromium against the sandbox over 127.0.0.1,
queued on a real worker process or run directly (in-process or through the CLI)."""

from __future__ import annotations

import json
import subprocess
import sys

import psutil
import pytest

from pipedeck.handlers.browser import RUN_MARKER_ENV
from tests.helpers import REPO, run_cli, wait_for
from tests.test_sandbox_adlibrary import library_ads, search_url


SCRAPE_TIMEOUT = 90


class Lib:
    """A data dir wired to the sandbox and Chromium, with brand Acme and competitor Rival (212 ads)."""

    def __init__(self, svc, env, sandbox) -> None:
        self.svc = svc
        self.env = env
        self.sandbox = sandbox
        self.brand = svc.catalog.add_brand("Acme", meta_ad_account_id="1001", ad_library_page_id="5001")
        self.url = search_url(sandbox.base_url, 212)
        self.rival = svc.catalog.add_competitor(self.brand["id"], "Rival", self.url, sandbox.base_url)

    def queue(self, competitor="Rival", direct=False, **params) -> int:
        return self.svc.queue_one_time_job("Acme", "competitor_scrape", params, competitor=competitor, direct=direct)

    def direct(self, competitor="Rival", **params) -> tuple[int, str]:
        run_id = self.queue(competitor, direct=True, **params)
        return run_id, self.svc.execute_direct(run_id)

    def wait(self, run_id: int, status: str = "succeeded") -> dict:
        def ended():
            run = self.svc.runs.get(run_id)
            return run if run["status"] in ("succeeded", "failed", "cancelled") else None
        run = wait_for(ended, SCRAPE_TIMEOUT, message=f"run {run_id} to end")
        assert run["status"] == status, (run["status"], run["error_type"], run["error_message"], self.logs(run_id))
        return run

    def logs(self, run_id: int) -> list[str]:
        return [line["message"] for line in self.svc.runs.logs(run_id)]

    def ads(self, competitor_id: int | None = None) -> dict[str, dict]:
        rows = self.svc.database.query("SELECT * FROM competitor_ads WHERE competitor_id = ?",
                                       (competitor_id or self.rival["id"],))
        return {r["ad_archive_id"]: r for r in rows}


@pytest.fixture
def lib(home, sandbox, chromium_path, monkeypatch):
    from pipedeck.config import load_settings
    from pipedeck.queue.service import Service
    from tests.helpers import base_env

    extra = {**sandbox.env(), "PIPEDECK_CHROMIUM": chromium_path}
    for key, value in extra.items():
        monkeypatch.setenv(key, value)
    svc = Service(load_settings())
    yield Lib(svc, base_env(home, **extra), sandbox)
    svc.close()


def browser_processes(run_id: int, home) -> list[psutil.Process]:
    """Live processes (not zombies) of the Chromium launched for this run of this data dir."""
    found = []
    for proc in psutil.process_iter(["status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            env = proc.environ()
        except (psutil.Error, OSError):
            continue
        if env.get(RUN_MARKER_ENV) == str(run_id) and env.get("PIPEDECK_HOME") == str(home):
            found.append(proc)
    return found


def test_212_ads_then_second_run_adds_none_and_marks_stopped_ads(lib, worker_factory):
    worker_factory(extra_env=lib.env)
    run1 = lib.wait(lib.queue())
    ads = lib.ads()
    count, truth, _ = library_ads(lib.sandbox.base_url, 212)
    assert len(ads) == 212 == count and set(ads) == {a["ad_archive_id"] for a in truth}
    assert "captured 212 of 212 reported" in lib.logs(run1["id"])
    assert run1["result"]["captured"] == 212 and run1["result"]["new"] == 212
    for raw in truth:
        row = ads[raw["ad_archive_id"]]
        assert bool(row["is_active"]) == raw["is_active"]
        assert row["end_date"] == (None if raw["is_active"] else raw["end_date"])
    fresh = [f for f in lib.svc.freshness("Acme") if f["competitor"] == "Rival" and f["dataset"] == "competitor_ads"]
    assert fresh[0]["last_success_run_id"] == run1["id"]

    lib.sandbox.set_faults(adlib_generation=1)
    run2 = lib.wait(lib.queue())
    after = lib.ads()
    _, truth2, _ = library_ads(lib.sandbox.base_url, 212)
    stopped = {a["ad_archive_id"]: a for a in truth2 if not a["is_active"] and ads[a["ad_archive_id"]]["is_active"]}
    assert len(after) == 212 and run2["result"]["new"] == 0
    assert stopped and run2["result"]["stopped"] == len(stopped)
    for ad_id, row in after.items():
        assert row["first_seen_at"] == ads[ad_id]["first_seen_at"]
        assert row["last_seen_at"] > ads[ad_id]["last_seen_at"]
        if ad_id in stopped:
            assert row["is_active"] == 0 and row["end_date"] == stopped[ad_id]["end_date"]
    assert f"{len(stopped)} ads stopped running since the last scrape" in lib.logs(run2["id"])


def test_max_ads_50_stores_exactly_50_direct_through_the_cli(lib):
    proc = run_cli(lib.env, "queue", "competitor_scrape", "--brand", "Acme", "--competitor", "Rival",
                   "--set", "max_ads=50", "--direct", timeout=SCRAPE_TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    run_id = int(proc.stdout.split()[0])
    assert len(lib.ads()) == 50
    logs = lib.logs(run_id)
    assert any("captured 50 of 212 reported" in line for line in logs), logs
    assert lib.svc.runs.get(run_id)["direct"] == 1
    # Stopped by max_ads: the structured result says so, not only a log line.
    shown = json.loads(run_cli(lib.env, "runs", "show", str(run_id), "--json").stdout)
    assert (shown["result"]["captured"], shown["result"]["reported"], shown["result"]["truncated"]) == (50, 212, True)
    # A scrape that read everything is not truncated.
    full_id, status = lib.direct()
    assert status == "succeeded" and lib.svc.runs.get(full_id)["result"]["truncated"] is False


def test_count_above_what_paging_returns_succeeds_with_the_shortfall_recorded(lib, worker_factory):
    lib.sandbox.set_faults(adlib_count_extra=15)
    worker_factory(extra_env=lib.env)
    run = lib.wait(lib.queue())
    assert len(lib.ads()) == 212
    assert run["result"]["shortfall"] == 15 and run["result"]["reported"] == 227
    logs = lib.logs(run["id"])
    assert "captured 212 of 227 reported" in logs
    assert any(line.startswith("shortfall:") and "15 were never returned" in line for line in logs)
    shown = json.loads(run_cli(lib.env, "runs", "show", str(run["id"]), "--json").stdout)
    assert shown["status"] == "succeeded" and shown["result"]["shortfall"] == 15
    assert "shortfall=15" in shown["summary"]


def test_unseen_ads_are_marked_inactive_only_after_a_complete_scrape(lib):
    assert lib.direct()[1] == "succeeded"
    _, truth, _ = library_ads(lib.sandbox.base_url, 212)
    removed = {a["ad_archive_id"] for a in truth[200:]}
    active_removed = {a["ad_archive_id"] for a in truth[200:] if a["is_active"]}
    assert active_removed
    lib.sandbox.set_faults(adlib_limit=200)
    # Stopped at max_ads: the rest was not reached, so nothing may be marked.
    run_id, status = lib.direct(max_ads=50)
    assert status == "succeeded" and lib.svc.runs.get(run_id)["result"]["missing_marked_inactive"] == 0
    # Complete, but Meta counted more than paging gave: unseen ads may still exist.
    lib.sandbox.set_faults(adlib_count_extra=12)
    run_id, status = lib.direct()
    assert status == "succeeded" and lib.svc.runs.get(run_id)["result"]["missing_marked_inactive"] == 0
    assert all(lib.ads()[a]["is_active"] for a in active_removed)
    # Complete and everything counted was captured: the ads no longer listed are gone.
    lib.sandbox.set_faults(adlib_count_extra=None)
    run_id, status = lib.direct()
    assert status == "succeeded"
    assert lib.svc.runs.get(run_id)["result"]["missing_marked_inactive"] == len(active_removed)
    ads = lib.ads()
    assert len(ads) == 212
    for ad_id in removed:
        assert ads[ad_id]["is_active"] == 0
    for ad_id in active_removed:
        assert ads[ad_id]["missing_since"] is not None and ads[ad_id]["end_date"] is None
    assert all(ads[a]["missing_since"] is None for a in ads if a not in removed)


def test_stored_content_is_normalised(lib):
    comp = lib.svc.catalog.add_competitor(lib.brand["id"], "Mixed", search_url(lib.sandbox.base_url, 160),
                                          lib.sandbox.base_url)
    run_id, status = lib.direct(competitor="Mixed")
    assert status == "succeeded"
    ads = lib.ads(comp["id"])
    _, truth, _ = library_ads(lib.sandbox.base_url, 160)
    kinds = set()
    for raw in truth:
        row, snap = ads[raw["ad_archive_id"]], raw["snapshot"]
        body = snap["body"]
        if isinstance(body, str):
            kinds.add("json_body")
            body = json.loads(body)
        assert row["body"] == body["text"].strip() and not row["body"].startswith(("{", '"'))
        assert json.loads(row["platforms"]) == raw["publisher_platform"]
        assert (row["cta_text"], row["link_url"], row["title"]) == (snap["cta_text"], snap["link_url"], snap["title"])
        assert row["start_date"] == raw["start_date"] and row["page_name"] == raw["page_name"]
        fmt = snap["display_format"]
        kinds.add(fmt)
        images, videos = json.loads(row["image_urls"]), json.loads(row["video_urls"])
        if fmt == "IMAGE":
            assert images == [snap["images"][0]["original_image_url"]] and videos == []
        elif fmt == "VIDEO":
            assert videos == [snap["videos"][0]["video_hd_url"]]
            assert row["preview_image_url"] == snap["videos"][0]["video_preview_image_url"]
        else:
            assert row["card_count"] == len(snap["cards"])
            assert images == [c["original_image_url"] for c in snap["cards"] if c["original_image_url"]]
            assert videos == [c["video_hd_url"] for c in snap["cards"] if c["video_hd_url"]]
        if snap["branded_content"]:
            kinds.add("branded")
            assert row["branded_content"] == 1 and row["branded_partner"] == snap["branded_content"]["page_name"]
        else:
            assert row["branded_content"] == 0
    assert kinds >= {"IMAGE", "VIDEO", "CAROUSEL", "json_body", "branded"}


def test_dynamic_creative_ads_store_their_cards_copy_not_placeholders(lib):
    lib.sandbox.set_faults(adlib_dco_placeholders=True)
    run_id, status = lib.direct(max_ads=160)
    assert status == "succeeded", lib.logs(run_id)
    _, truth, _ = library_ads(lib.sandbox.base_url, 212)
    ads = lib.ads()
    dco = [a for a in truth[:160] if a["snapshot"]["display_format"] == "DCO"]
    assert dco, "the default mix has dynamic creative ads"
    for raw in dco:
        row, cards = ads[raw["ad_archive_id"]], raw["snapshot"]["cards"]
        assert row["body"] == "\n\n".join(dict.fromkeys(c["body"] for c in cards))
        assert row["title"] == cards[0]["title"]
        assert [c["body"] for c in json.loads(row["cards"])] == [c["body"] for c in cards]
    assert not [a for a, r in ads.items() if any("{{" in (r[k] or "") for k in ("body", "title", "caption", "link_url"))]


def test_page_that_stops_loading_is_followed_by_cursor_not_scrolling(lib):
    # The page's own script loads one more page, then goes quiet while has_next_page is still
    # true (the false plateau); one GraphQL reply is also a server error to get past.
    lib.sandbox.set_faults(adlib_stall_after=1, adlib_graphql_error=1)
    run_id, status = lib.direct()
    assert status == "succeeded", lib.logs(run_id)
    assert len(lib.ads()) == 212
    logs = lib.logs(run_id)
    assert "captured 212 of 212 reported" in logs
    assert any("HTTP 500" in line and "asking again" in line for line in logs), logs
    assert lib.svc.runs.get(run_id)["result"]["pages"] == 8


@pytest.mark.parametrize("guarded", [True, False], ids=["with-guard", "no-guard"])
def test_graphql_replies_holding_several_json_values_are_read(lib, guarded):
    """Meta may send the data on the first line and further JSON values after it (with or without
    the for (;;); guard): every page is still read, in one attempt."""
    lib.sandbox.set_faults(adlib_graphql_lines=True, adlib_graphql_no_guard=not guarded)
    run_id, status = lib.direct()
    assert status == "succeeded", lib.logs(run_id)
    run = lib.svc.runs.get(run_id)
    assert run["attempts"] == 1 and run["result"]["pages"] == 8
    assert len(lib.ads()) == 212
    assert not any("unreadable" in line for line in lib.logs(run_id))


@pytest.mark.parametrize("url, why", [
    ("https://evil.example.com/ads/library/?view_all_page_id=212", "not on the Ad Library origin"),
    ("{base}/pages/212/?view_all_page_id=212", "not an Ad Library search"),
    ("javascript:alert(document.cookie)//ads/library/?view_all_page_id=1", "only"),
    ("file:///etc/passwd?view_all_page_id=1", "only"),
])
def test_bad_urls_are_refused_at_queue_time(lib, url, why):
    url = url.format(base=lib.sandbox.base_url)
    proc = run_cli(lib.env, "queue", "competitor_scrape", "--brand", "Acme", "--competitor", "Rival",
                   "--set", f"ad_library_url={url}")
    assert proc.returncode != 0 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pipedeck: invalid params for competitor_scrape: ad_library_url")
    assert why in lines[0]
    assert lib.svc.runs.list(limit=None) == []


def test_no_chromium_fails_with_a_clear_one_line_error(lib, tmp_path):
    proc = run_cli({**lib.env, "PIPEDECK_CHROMIUM": str(tmp_path / "no-such-chromium")}, "queue",
                   "competitor_scrape", "--brand", "Acme", "--competitor", "Rival", "--direct")
    assert proc.returncode == 1
    run = lib.svc.runs.get(int(proc.stdout.split()[0]))
    assert run["status"] == "failed" and run["attempts"] == 1 and run["error_type"] == "NoChromium"
    assert "PIPEDECK_CHROMIUM" in run["error_message"] and "\n" not in run["error_message"]
    assert "does not exist" in proc.stderr.strip().splitlines()[-1]

    # Nothing anywhere: no PIPEDECK_CHROMIUM, no Playwright browser, nothing on PATH.
    env = {k: v for k, v in lib.env.items() if k != "PIPEDECK_CHROMIUM"}
    env.update(PATH=str(tmp_path), PLAYWRIGHT_BROWSERS_PATH=str(tmp_path / "pw"))
    proc = run_cli(env, "queue", "competitor_scrape", "--brand", "Acme", "--competitor", "Rival", "--direct")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert "no Chromium found" in last and "install" in last and "PIPEDECK_CHROMIUM" in last


def _wait_mid_scrape(lib, run_id: int) -> list[psutil.Process]:
    home = lib.svc.settings.home

    def scraping():
        run = lib.svc.runs.get(run_id)
        assert run["status"] in ("queued", "running"), (run["status"], run["error_message"], lib.logs(run_id))
        procs = browser_processes(run_id, home)
        return procs if procs and (run["progress_current"] or 0) >= 1 else None
    return wait_for(scraping, 60, interval=0.05, message="the scrape to be under way in Chromium")


def _assert_browser_gone(lib, run_id: int, seen: list[psutil.Process]) -> None:
    wait_for(lambda: not browser_processes(run_id, lib.svc.settings.home), 2.0,
             message=f"Chromium of run {run_id} to be gone")
    for proc in seen:  # the very processes seen during the scrape, by pid and start time
        assert not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE


def test_cancel_mid_scrape_on_a_worker_leaves_no_chromium(lib, worker_factory):
    lib.sandbox.set_faults(adlib_slow=0.4)
    worker = worker_factory(extra_env=lib.env)
    run_id = lib.queue()
    seen = _wait_mid_scrape(lib, run_id)
    assert any(worker.pid in [a.pid for a in p.parents()] for p in seen)
    lib.svc.cancel(run_id)
    lib.wait(run_id, "cancelled")
    _assert_browser_gone(lib, run_id, seen)
    assert len(lib.ads()) < 212
    assert worker.proc.poll() is None  # the worker carries on


def test_cancel_mid_scrape_in_direct_mode_leaves_no_chromium(lib):
    lib.sandbox.set_faults(adlib_slow=0.4)
    proc = subprocess.Popen([sys.executable, "-m", "pipedeck", "queue", "competitor_scrape", "--brand", "Acme",
                             "--competitor", "Rival", "--direct"], env=lib.env, cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        run_id = int(proc.stdout.readline())
        seen = _wait_mid_scrape(lib, run_id)
        cancel = run_cli(lib.env, "runs", "cancel", str(run_id))
        assert cancel.returncode == 0, cancel.stderr
        assert proc.wait(timeout=30) == 1
        lib.wait(run_id, "cancelled")
        _assert_browser_gone(lib, run_id, seen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_worker_stopping_mid_scrape_hands_the_run_back_and_closes_chromium(lib, worker_factory):
    import signal

    lib.sandbox.set_faults(adlib_slow=0.3)
    worker = worker_factory("--grace", "0", extra_env=lib.env)  # stop now: hand running jobs back
    run_id = lib.queue()
    seen = _wait_mid_scrape(lib, run_id)
    worker.signal(signal.SIGTERM)
    assert worker.proc.wait(timeout=30) == 0
    assert lib.svc.runs.get(run_id)["status"] == "queued"
    _assert_browser_gone(lib, run_id, seen)
    # The next worker finishes it; what the first stored is updated, not duplicated.
    lib.sandbox.set_faults(adlib_slow=None)
    worker_factory(extra_env=lib.env)
    run = lib.wait(run_id)
    assert len(lib.ads()) == 212 and run["attempts"] == 2


def _scrape_failing_first_attempt(lib, **direct_kw) -> int:
    """A direct scrape whose first attempt fails after its first page (every further page errors
    until that attempt is recorded failed; the retry then runs clean). Returns the run id."""
    import threading

    lib.sandbox.set_faults(adlib_graphql_error=100_000)
    before = lib.svc.database.scalar("SELECT coalesce(max(id), 0) FROM runs")

    def heal():
        wait_for(lambda: lib.svc.database.scalar(
            "SELECT count(*) FROM attempts WHERE run_id > ? AND status = 'failed'", (before,)), SCRAPE_TIMEOUT)
        lib.sandbox.set_faults(adlib_graphql_error=None)

    healer = threading.Thread(target=heal)
    healer.start()
    run_id, status = lib.direct(**direct_kw)
    healer.join()
    assert status == "succeeded"
    assert [a["status"] for a in lib.svc.runs.attempts(run_id)] == ["failed", "succeeded"]
    return run_id


def test_counts_describe_the_run_across_its_attempts(lib):
    """Attempt 1 stores the first page and then fails; the retry's result still counts the whole run."""
    run_id = _scrape_failing_first_attempt(lib)
    assert lib.svc.runs.get(run_id)["result"]["new"] == 212 == len(lib.ads())
    lib.sandbox.set_faults(adlib_generation=1)  # a later crawl: some ads have stopped
    run_id = _scrape_failing_first_attempt(lib)
    _, truth, _ = library_ads(lib.sandbox.base_url, 212)
    stopped_now = {a["ad_archive_id"] for a in truth if not a["is_active"]}
    stopped_by_run = {a for a, row in lib.ads().items() if row["stopped_run_id"] == run_id}
    assert stopped_by_run and stopped_by_run <= stopped_now
    result = lib.svc.runs.get(run_id)["result"]
    assert result["stopped"] == len(stopped_by_run) and result["new"] == 0 and result["updated"] == 212


def test_the_browser_fetches_only_what_the_scrape_reads(lib, chromium_path):
    """Images, media, fonts and stylesheets are refused before they are requested; the page's own
    script (which asks for more results) still loads, so pagination works."""
    import asyncio

    from playwright.async_api import async_playwright

    async def open_unblocked() -> None:  # what the page loads when nothing is refused
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium_path)
            page = await browser.new_page()
            await page.goto(lib.url)
            await page.wait_for_function(
                "[...document.querySelectorAll('.ad img')].some(i => i.complete && i.naturalWidth > 0)")
            await page.wait_for_load_state("load")
            await browser.close()

    asyncio.run(open_unblocked())
    loaded = lib.sandbox.stats()
    assert loaded.get("adlib_static:css", 0) >= 1 and loaded.get("adlib_static:font", 0) >= 1
    # at least one image was fetched unrefused (how many depends on lazy loading and timing)
    assert loaded.get("adlib_media", 0) >= 1 and loaded.get("adlib_static:js", 0) >= 1

    lib.sandbox.reset()
    run_id, status = lib.direct()
    assert status == "succeeded" and lib.svc.runs.get(run_id)["result"]["captured"] == 212
    stats = lib.sandbox.stats()
    assert stats.get("adlib_static:js", 0) >= 1 and stats.get("adlib_graphql", 0) >= 7
    assert {k: stats.get(k, 0) for k in ("adlib_static:css", "adlib_static:font", "adlib_media")} == \
        {"adlib_static:css": 0, "adlib_static:font": 0, "adlib_media": 0}
