"""Ad Library scrape figures (issue 4): pipedeck's competitor_scrape against a minimal Playwright script.

    .venv/bin/python bench/scrape.py            # 5 rounds (~1.5 min)
    .venv/bin/python bench/scrape.py --rounds 1

All read the same 1,000-ad search from the sandbox (its own process, 127.0.0.1):

- pipedeck: a real `pipedeck worker` runs competitor_scrape (max_ads 1000) for a fresh
  competitor each round; ads/s = ads stored / (run finished_at - started_at), i.e.
  browser start, bot check, first page, cursor paging, normalising, upserts, close.
- baseline (`baseline_fetch`, the ratio's denominator): a minimal Playwright script making
  the same requests and nothing else - same Chromium and flags, the same resources refused
  (images, media, fonts, stylesheets), open the URL, let the page send its first request
  for more, resend it with each next cursor, read only the cursor.
- scrolling baseline (`baseline_scroll`, also reported): the page left to itself - scroll
  until its own script has loaded every page; it renders all 1,000 ads and their images.
- peak memory of the worker plus everything it started (Playwright driver, Chromium
  and its renderers) while the scrape runs, sampled every 50 ms: RSS summed over the
  processes in the timed rounds (shared pages counted once per process, so an upper
  bound) and PSS (each shared page split between the processes mapping it: what the
  tree really holds) in two untimed rounds, the warm-up one and one after the timed
  ones, as reading it costs enough CPU to slow the scrape; the peak is broken down by
  process (worker, Playwright's driver, Chromium's browser, renderer, ... processes).
  PSS also splits pages shared with processes outside the tree: another Chromium of
  the same build running on the machine makes it read lower (the bench's own baseline
  browsers are closed while pipedeck's scrape runs).

Rounds alternate the three after one warm-up round; medians are reported, and the
median of the per-round ratios (each pair ran back to back). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, bench_env, emit, median, spawn, wait_until  # noqa: E402

ADS = 1000
PAGE_ID = 91000  # last four digits: 1000 ads


def start_sandbox() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "pipedeck", "sandbox", "--port", "0"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    while True:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("bench: sandbox did not start")
        if line.startswith("PIPEDECK_AD_LIBRARY_URL="):
            return proc, line.strip().split("=", 1)[1]


def search_url(base: str) -> str:
    return (f"{base}/ads/library/?active_status=all&ad_type=all&country=US&view_all_page_id={PAGE_ID}"
            "&search_type=page&media_type=all")


# -- the baselines: minimal Playwright scripts ---------------------------------------
async def _open(p, url: str, executable: str, block: bool = False):
    """Chromium as pipedeck launches it (same binary and flags; Playwright starts it without the
    sandbox here, as pipedeck does as root) and the search opened; ``block``: refusing what
    pipedeck's scrape refuses (images, media, fonts, stylesheets), so it sends the same requests."""
    from pipedeck.handlers.adlibrary_scraper import BLOCKED_RESOURCES, NOT_RESULTS
    from pipedeck.handlers.browser import CHROMIUM_ARGS, UNSANDBOXED_ARGS

    browser = await p.chromium.launch(executable_path=executable, args=[*CHROMIUM_ARGS, *UNSANDBOXED_ARGS])
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    if block:
        async def refuse(route):
            if route.request.resource_type in BLOCKED_RESOURCES:
                await route.abort("blockedbyclient")
            else:
                await route.fallback()

        await page.route(NOT_RESULTS, refuse)  # as pipedeck: the requests for results are not routed
    await page.goto(url)
    await page.wait_for_selector('script[type="application/json"][data-sjs]', state="attached")
    return browser, page


async def baseline_fetch(url: str, executable: str) -> tuple[float, int]:
    """The same requests pipedeck makes, nothing else: open the search, let the page send its
    first request for more, then send that request again from the page with each next cursor,
    reading only the cursor out of each reply. Returns (seconds, ads seen)."""
    from playwright.async_api import async_playwright

    t0 = time.monotonic()
    replies = []
    async with async_playwright() as p:
        browser, page = await _open(p, url, executable, block=True)
        async with page.expect_request(lambda r: "/api/graphql/" in r.url) as first:
            await page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        request = await first.value
        text = await (await request.response()).text()
        replies.append(text)
        form = {k: v[-1] for k, v in parse_qs(request.post_data).items()}
        while '"has_next_page":true' in text:
            variables = json.loads(form["variables"])
            variables["cursor"] = re.search(r'"end_cursor":"([^"]+)"', text).group(1)
            form["variables"] = json.dumps(variables)
            text = await page.evaluate(
                "async ([u, h, b]) => (await fetch(u, {method: 'POST', headers: h, body: b})).text()",
                [request.url, {"Content-Type": "application/x-www-form-urlencoded"}, urlencode(form)])
            replies.append(text)
        await browser.close()
    seconds = time.monotonic() - t0
    first_page = 30  # results the server rendered into the HTML (counted, not timed, below)
    return seconds, first_page + sum(r.count('"ad_archive_id"') for r in replies)


async def baseline_scroll(url: str, executable: str) -> float:
    """The page left to itself: open the search and scroll until its own script has loaded
    every page ("End of results"). Renders every ad and its image; stores nothing."""
    from playwright.async_api import async_playwright

    t0 = time.monotonic()
    async with async_playwright() as p:
        browser, page = await _open(p, url, executable)
        while await page.text_content("#status") != "End of results":
            await page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
            await asyncio.sleep(0.05)
        seconds = time.monotonic() - t0
        assert await page.locator(".ad").count() == ADS
        await browser.close()
    return seconds


# -- memory sampling ---------------------------------------------------------------
def process_kind(proc) -> str:
    """worker, driver (Playwright's node), or Chromium's browser / renderer / utility / zygote / gpu-process."""
    try:
        name = proc.name()
        cmd = proc.cmdline()
    except Exception:  # noqa: BLE001 - exiting (its memory was read a moment ago)
        return "exiting"
    if "node" in name or any(a.endswith(("cli.js", "run-driver")) for a in cmd):
        return "driver"
    kind = next((a.split("=", 1)[1] for a in cmd if a.startswith("--type=")), None)
    if kind is None and any("chrom" in a or "headless_shell" in a for a in cmd[:1]):
        return "chromium browser"
    return f"chromium {kind}" if kind else ("worker" if "python" in name else name)


class TreeMemory(threading.Thread):
    """Peak memory (MB) of a process and all its descendants, sampled until stopped.

    RSS (cheap: /proc/PID/statm) every ``interval``; PSS (smaps_rollup, which walks every
    mapping: costly on Chromium's processes) only when ``pss`` is set, so timed rounds are not
    slowed by the sampling. ``peak_by_kind``: PSS per kind of process at the PSS peak.
    """

    def __init__(self, pid: int, interval: float = 0.05, pss: bool = False) -> None:
        super().__init__(daemon=True)
        import psutil

        self.root = psutil.Process(pid)
        self.interval = interval
        self.pss = pss
        self.peak_rss = 0.0
        self.peak_pss = 0.0
        self.peak_by_kind: dict[str, float] = {}
        self.max_procs = 0
        self._halt = threading.Event()

    def sample(self) -> None:
        import psutil

        procs = [self.root, *self.root.children(recursive=True)]
        rss = pss = 0
        kinds: dict[str, float] = {}
        for proc in procs:
            try:
                if self.pss:
                    info = proc.memory_full_info()
                    pss += info.pss
                    kind = process_kind(proc)
                    kinds[kind] = kinds.get(kind, 0.0) + info.pss / 2**20
                else:
                    info = proc.memory_info()
                rss += info.rss
            except psutil.Error:
                continue
        self.max_procs = max(self.max_procs, len(procs))
        self.peak_rss = max(self.peak_rss, rss / 2**20)
        if pss / 2**20 > self.peak_pss:
            self.peak_pss = pss / 2**20
            self.peak_by_kind = {k: round(v, 1) for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])}

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def stop(self) -> "TreeMemory":
        self._halt.set()
        self.join()
        return self


# -- the run ---------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    import os

    root = Path(tempfile.mkdtemp(prefix="pipedeck-bench-scrape-"))
    sandbox, base = start_sandbox()
    url = search_url(base)
    home = root / "home"
    env = bench_env(home, PIPEDECK_AD_LIBRARY_URL=base)
    os.environ.update(PIPEDECK_HOME=str(home), PIPEDECK_AD_LIBRARY_URL=base)
    from pipedeck.config import load_settings
    from pipedeck.handlers.browser import require_chromium
    from pipedeck.queue.service import Service

    settings = load_settings()
    executable = require_chromium(settings)
    svc = Service(settings)
    brand = svc.catalog.add_brand("Bench")
    worker = spawn([sys.executable, "-m", "pipedeck", "worker", "-w", "1"], env, root / "worker.log")
    try:
        wait_until(lambda: svc.live_workers(), 30, 0.05, "the worker to start")
        idle = TreeMemory(worker.pid)
        idle.sample()
        fetch_s, scroll_s, pipedeck_s, rss, procs = [], [], [], [], []
        pss_rounds: list[TreeMemory] = []
        # Warm-up (page cache, the sandbox's generated data) for each, not counted.
        asyncio.run(baseline_fetch(url, executable))
        last = args.rounds + 1  # an untimed round after the timed ones, for PSS again
        for i in range(last + 1):
            timed = 0 < i < last
            if timed:
                seconds, seen = asyncio.run(baseline_fetch(url, executable))
                assert seen >= ADS, seen
                fetch_s.append(seconds)
                scroll_s.append(asyncio.run(baseline_scroll(url, executable)))
            elif i == 0:
                asyncio.run(baseline_fetch(url, executable))
            comp = svc.catalog.add_competitor(brand["id"], f"Rival {i}", url, base)
            mem = TreeMemory(worker.pid, pss=not timed)  # PSS (costly to read) only in untimed rounds
            mem.start()
            run_id = svc.queue_one_time_job("Bench", "competitor_scrape", {"max_ads": ADS}, competitor=comp["id"])
            run = wait_until(lambda: (r := svc.runs.get(run_id))["status"] in ("succeeded", "failed", "cancelled")
                             and r, 300, 0.05, f"run {run_id}")
            mem.stop()
            if run["status"] != "succeeded":
                raise SystemExit(f"bench: run {run_id} {run['status']}: {run['error_message']}")
            stored = svc.database.scalar("SELECT count(*) FROM competitor_ads WHERE competitor_id = ?", (comp["id"],))
            assert stored == ADS == run["result"]["captured"], (stored, run["result"])
            if not timed:
                pss_rounds.append(mem)
                print(f"untimed round: peak PSS {mem.peak_pss:.0f} MB over {mem.max_procs} processes: "
                      + ", ".join(f"{k} {v:.0f}" for k, v in mem.peak_by_kind.items()), flush=True)
                continue
            pipedeck_s.append(run["finished_at"] - run["started_at"])
            rss.append(mem.peak_rss)
            procs.append(mem.max_procs)
            print(f"round {i}: pipedeck {ADS / pipedeck_s[-1]:.0f} ads/s ({pipedeck_s[-1]:.2f}s), "
                  f"same-requests baseline {ADS / fetch_s[-1]:.0f} ads/s ({fetch_s[-1]:.2f}s), "
                  f"scrolling baseline {ADS / scroll_s[-1]:.0f} ads/s ({scroll_s[-1]:.2f}s); "
                  f"peak RSS {mem.peak_rss:.0f} MB over {mem.max_procs} processes",
                  flush=True)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        sandbox.terminate()
        sandbox.wait(timeout=10)
        svc.close()

    pd_rate, fetch_rate, scroll_rate = (ADS / median(x) for x in (pipedeck_s, fetch_s, scroll_s))
    paired = median([b / a for a, b in zip(pipedeck_s, fetch_s)])
    peak = max(pss_rounds, key=lambda m: m.peak_pss)
    print(f"pipedeck {pd_rate:.0f} ads/s; ratio {pd_rate / fetch_rate:.2f} to the same-requests baseline "
          f"({fetch_rate:.0f} ads/s; median of per-round ratios {paired:.2f}), {pd_rate / scroll_rate:.2f} to the"
          f" scrolling baseline ({scroll_rate:.0f} ads/s) (aim >= 0.9)")
    print(f"peak memory of worker + Chromium: RSS {max(rss):.0f} MB (sum over processes), PSS {peak.peak_pss:.0f} MB"
          f" (aim <= 400); idle worker RSS {idle.peak_rss:.0f} MB")
    emit({"bench": "scrape", "ads": ADS, "rounds": args.rounds,
          "pipedeck_ads_per_s": round(pd_rate, 1),
          "baseline_ads_per_s": round(fetch_rate, 1), "ratio": round(pd_rate / fetch_rate, 3),
          "scroll_baseline_ads_per_s": round(scroll_rate, 1), "ratio_to_scroll": round(pd_rate / scroll_rate, 3),
          "pipedeck_seconds": [round(x, 3) for x in pipedeck_s], "baseline_seconds": [round(x, 3) for x in fetch_s],
          "scroll_baseline_seconds": [round(x, 3) for x in scroll_s],
          "paired_ratio": round(paired, 3),
          "peak_rss_mb": round(max(rss), 1), "peak_pss_mb": round(peak.peak_pss, 1),
          "peak_pss_rounds_mb": [round(m.peak_pss, 1) for m in pss_rounds], "peak_pss_by_process": peak.peak_by_kind,
          "idle_worker_rss_mb": round(idle.peak_rss, 1), "max_processes": max(procs),
          "chromium": executable})

if __name__ == "__main__":
    main()
