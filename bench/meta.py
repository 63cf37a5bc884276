"""Meta Graph API figures (issue 3): asset_download throughput, memory on a 1 GB video, meta_sync storage rate.

    .venv/bin/python bench/meta.py              # 5 rounds (~1 min)
    .venv/bin/python bench/meta.py --rounds 1
    .venv/bin/python bench/meta.py --only throughput   # just part 1 (or video, storage; repeatable)

The sandbox runs in its own process (`pipedeck sandbox --port 0`) on 127.0.0.1.

1. asset_download throughput. pipedeck: a real `pipedeck worker` (fresh data dir
   each round) runs asset_download with the defaults (40 images, 20 videos of ad
   account 1001, ~150 MB); time = the run's started_at..finished_at, so it includes
   listing 200 ads, resolving URLs through the Graph API, hashing, the
   content-addressed rename and the database rows. Baseline: `curl --parallel
   --parallel-max 4` (pipedeck also downloads 4 at a time) fetching the same 60
   files from the same sandbox to the same disk, wall time of the curl process;
   it only downloads. Bytes on both sides are what the sandbox says it sent.
   Also shown: pipedeck's transfer phase alone (from its "downloading" log line
   to its summary line), and curl followed by `sha256sum` of the files (the
   hashing a content-addressed store has to do, which curl does not), and a
   minimal httpx downloader in this script doing the same work the fast way
   (4 threads, one pooled client, stream, sha256, write, rename by hash; no
   checks, no database): what Python with httpx can reach on this machine,
   so the ratio to it shows how much pipedeck's own code costs.
   A first, uncounted pipedeck run learns the file list and warms the sandbox; then
   each round runs curl, the minimal downloader and pipedeck back to back; ratios are
   medians of the per-round ratios. On a shared 2-core box the sandbox (Python) and
   the downloader compete for CPU, so figures move with the machine's load. Beside each MB/s: CPU-seconds per GB (GB = 1024 MB) of
   the downloading process only (user + system; the sandbox's CPU is not counted):
   the worker process over the run, this script's own process over the minimal
   downloader, the curl child (rusage) for curl.
2. Peak RSS of the worker process (sampled every 20 ms) while asset_download
   fetches one 1 GiB video; the worker's idle RSS is shown for scale.
3. meta_sync storage rate: rows/s of ``storage.meta.store_insights_page`` (what
   meta_sync calls per page: Graph rows with string numbers -> typed row, ads of
   the page, upsert by (ad id, date)) against raw ``sqlite3.executemany`` INSERT of
   the already-converted tuples into the same schema. Same rows (200 ads x 180
   days from the sandbox generator), same page size (500), one transaction per
   page, same pragmas (WAL, synchronous=NORMAL), fresh files each round.

The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, bench_env, emit, median, spawn, wait_until  # noqa: E402

MB = 1024 * 1024
CONCURRENCY = 4


class Sandbox:
    def __init__(self, *faults: str) -> None:
        args = [sys.executable, "-m", "pipedeck", "sandbox", "--port", "0"]
        for f in faults:
            args += ["--fault", f]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
                                     start_new_session=True)
        values = {}
        while len(values) < 3:
            line = self.proc.stdout.readline()
            if not line:
                raise SystemExit("bench: sandbox exited early")
            key, sep, value = line.strip().partition("=")
            if sep:
                values[key] = value
        self.graph_url = values["PIPEDECK_GRAPH_URL"]
        self.base_url = values["PIPEDECK_AD_LIBRARY_URL"]
        self.token = values["META_ACCESS_TOKEN"]

    def env(self) -> dict[str, str]:
        return {"PIPEDECK_GRAPH_URL": self.graph_url, "META_ACCESS_TOKEN": self.token}

    def bytes_sent(self) -> int:
        return int(httpx.get(f"{self.base_url}/__sandbox/stats").json().get("cdn:bytes", 0))

    def get(self, path: str, params: dict) -> dict:
        return httpx.get(f"{self.graph_url}/{path}", params=params,
                         headers={"Authorization": f"Bearer {self.token}"}, timeout=30).json()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Worker:
    def __init__(self, home: Path, sandbox: Sandbox) -> None:
        from pipedeck.config import load_settings
        from pipedeck.queue.service import Service

        self.env = bench_env(home, **sandbox.env())
        home.mkdir(parents=True, exist_ok=True)
        self.log = home / "worker.out"
        self.proc = spawn([sys.executable, "-m", "pipedeck", "worker"], self.env, self.log)
        wait_until(lambda: "pipedeck worker" in self.log.read_text(), 30, what="worker start")
        self.svc = Service(load_settings(self.env))
        if not any(b["name"] == "Acme" for b in self.svc.catalog.brands()):
            self.svc.catalog.add_brand("Acme", meta_ad_account_id="1001")

    def run(self, job: str, params: dict, timeout: float = 600) -> dict:
        run_id = self.svc.queue_one_time_job("Acme", job, params)
        wait_until(lambda: self.svc.runs.get(run_id)["status"] in ("succeeded", "failed", "cancelled"), timeout,
                   interval=0.02, what=f"{job} run")
        run = self.svc.runs.get(run_id)
        if run["status"] != "succeeded":
            raise SystemExit(f"bench: {job} {run['status']}: {run['error_message']}")
        return run

    def cpu_seconds(self) -> float:
        """User + system CPU the worker process has used so far (its threads included)."""
        import psutil

        times = psutil.Process(self.proc.pid).cpu_times()
        return times.user + times.system

    def stop(self) -> None:
        self.svc.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


def sources_of(svc) -> tuple[list[str], list[str]]:
    """The files pipedeck downloaded, in the order it downloads them (images, then videos, each by
    the first ad that uses them): with 4 at a time the order decides how long the last ones run."""
    rows = svc.database.query("SELECT kind, source_key FROM ad_assets GROUP BY kind, source_key "
                              "ORDER BY kind = 'video', min(ad_id)")
    return ([r["source_key"] for r in rows if r["kind"] == "image"],
            [r["source_key"] for r in rows if r["kind"] == "video"])


def resolve_urls(sandbox: Sandbox, images: list[str], videos: list[str]) -> list[str]:
    """The files' URLs, in the order given (Graph pages /adimages 25 a page: every page is read)."""
    by_hash: dict[str, str] = {}
    for i in range(0, len(images), 50):
        data = sandbox.get("act_1001/adimages", {"hashes": json.dumps(images[i:i + 50]), "fields": "hash,url"})
        while True:
            by_hash.update((d["hash"], d["url"]) for d in data["data"])
            following = data.get("paging", {}).get("next")
            if not following:
                break
            data = httpx.get(following, headers={"Authorization": f"Bearer {sandbox.token}"}, timeout=30).json()
    urls = [by_hash.get(h) or h for h in images]  # a source without a hash is keyed by its URL
    for v in videos:
        urls.append(sandbox.get(v, {"fields": "source"})["source"])
    return urls


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_s_per_gb(cpu: float, sent: int) -> float:
    return round(cpu / (sent / MB / 1024), 2)


def curl_fetch(sandbox: Sandbox, urls: list[str], out_dir: Path) -> tuple[float, float, int, float]:
    """(curl seconds, curl + sha256sum seconds, bytes the sandbox sent, curl's CPU seconds)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    config = out_dir / "curl.cfg"
    outputs = [out_dir / f"f{i}" for i in range(len(urls))]
    config.write_text("".join(f'url = "{u}"\noutput = "{o}"\n' for u, o in zip(urls, outputs)))
    before = sandbox.bytes_sent()
    cpu_before = children_cpu()
    started = time.monotonic()
    subprocess.run(["curl", "--parallel", "--parallel-max", str(CONCURRENCY), "--silent", "--no-progress-meter",
                    "--show-error", "--fail", "-K", str(config)], check=True)
    took = time.monotonic() - started
    cpu = children_cpu() - cpu_before
    subprocess.run(["sha256sum", *map(str, outputs)], check=True, stdout=subprocess.DEVNULL)
    return took, time.monotonic() - started, sandbox.bytes_sent() - before, cpu


def minimal_httpx_fetch(urls: list[str], out_dir: Path) -> tuple[float, float]:
    """(seconds, CPU seconds of this process) for a bare httpx downloader to fetch, hash and store
    ``urls`` content-addressed."""
    out_dir.mkdir(parents=True, exist_ok=True)

    def fetch(client: httpx.Client, i: int, url: str) -> None:
        digest = hashlib.sha256()
        part = out_dir / f"{i}.part"
        with client.stream("GET", url) as response, open(part, "wb", buffering=0) as out:
            response.raise_for_status()
            for chunk in response.iter_raw():
                digest.update(chunk)
                out.write(chunk)
        os.replace(part, out_dir / digest.hexdigest())

    started, cpu = time.monotonic(), time.process_time()
    with httpx.Client(limits=httpx.Limits(max_connections=CONCURRENCY), timeout=60) as client, \
            concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(lambda iu: fetch(client, *iu), enumerate(urls)))
    return time.monotonic() - started, time.process_time() - cpu


def transfer_seconds(svc, run: dict) -> float:
    """From the handler's 'downloading ...' line to its summary line: the transfer phase alone."""
    logs = svc.runs.logs(run["id"])
    start = next(l["ts"] for l in logs if "; downloading " in l["message"])
    end = next(l["ts"] for l in logs if " new file(s) (" in l["message"])
    return end - start


def bench_throughput(rounds: int, tmp: Path) -> dict:
    sandbox = Sandbox()
    ours, transfer, theirs, hashed, minimal = {}, {}, {}, {}, {}  # by round
    cpu_ours, cpu_curl, cpu_minimal = {}, {}, {}  # CPU-seconds per GB, by round

    def run_curl(r: int, tag: str) -> None:
        took, took_hash, sent, cpu = curl_fetch(sandbox, urls, tmp / f"curl-{r}")
        theirs[r] = sent / MB / took
        hashed[r] = sent / MB / took_hash
        cpu_curl[r] = cpu_s_per_gb(cpu, sent)
        print(f"  {tag}: curl --parallel   {sent / MB:7.1f} MB in {took:5.2f}s = {theirs[r]:6.1f} MB/s"
              f" {cpu_curl[r]:5.2f} CPU-s/GB   (+ sha256sum: {took_hash:5.2f}s = {hashed[r]:6.1f} MB/s)")
        shutil.rmtree(tmp / f"curl-{r}")
        before = sandbox.bytes_sent()
        took, cpu = minimal_httpx_fetch(urls, tmp / f"minimal-{r}")
        sent = sandbox.bytes_sent() - before
        minimal[r] = sent / MB / took
        cpu_minimal[r] = cpu_s_per_gb(cpu, sent)
        print(f"  {tag}: minimal httpx     {sent / MB:7.1f} MB in {took:5.2f}s = {minimal[r]:6.1f} MB/s"
              f" {cpu_minimal[r]:5.2f} CPU-s/GB")
        shutil.rmtree(tmp / f"minimal-{r}")

    def run_pipedeck(r: int | None) -> dict:
        """One asset_download run on a fresh data dir; ``r`` None: the uncounted warm-up."""
        home = tmp / f"home{'-warm' if r is None else r}"
        worker = Worker(home, sandbox)
        try:
            before = sandbox.bytes_sent()
            cpu = worker.cpu_seconds()
            run = worker.run("asset_download", {})
            cpu = worker.cpu_seconds() - cpu
            sent = sandbox.bytes_sent() - before
            took = run["finished_at"] - run["started_at"]
            speed, phase = sent / MB / took, sent / MB / transfer_seconds(worker.svc, run)
            tag = "warm-up (not counted)" if r is None else f"round {r + 1}"
            if r is not None:
                ours[r], cpu_ours[r], transfer[r] = speed, cpu_s_per_gb(cpu, sent), phase
            print(f"  {tag}: pipedeck worker  {sent / MB:7.1f} MB in {took:5.2f}s = {speed:6.1f} MB/s"
                  f" {cpu_s_per_gb(cpu, sent):5.2f} CPU-s/GB   (transfer phase {phase:6.1f} MB/s;"
                  f" {run['result']['files']} files, {run['result']['stored']} new,"
                  f" {run['result']['deduplicated']} duplicates)")
            return {"run": run, "sent": sent, "urls": resolve_urls(sandbox, *sources_of(worker.svc)) if r is None else None}
        finally:
            worker.stop()
            shutil.rmtree(home, ignore_errors=True)

    try:
        # The warm-up learns the file list (in pipedeck's order) and warms the sandbox, so every
        # counted round runs curl, the minimal downloader and pipedeck back to back on equal terms.
        warm = run_pipedeck(None)
        urls, files, total_mb = warm["urls"], warm["run"]["result"]["files"], warm["sent"] / MB
        for r in range(rounds):
            run_curl(r, f"round {r + 1}")
            run_pipedeck(r)
    finally:
        sandbox.stop()

    def ratio(a: dict, b: dict) -> float:  # median of the per-round ratios (each pair ran back to back)
        return round(median([a[r] / b[r] for r in a]), 3)

    return {"asset_download_mb_s": round(median(ours.values()), 1),
            "curl_parallel_mb_s": round(median(theirs.values()), 1),
            "throughput_ratio": ratio(ours, theirs),
            "asset_download_transfer_mb_s": round(median(transfer.values()), 1),
            "transfer_ratio": ratio(transfer, theirs),
            "curl_plus_sha256sum_mb_s": round(median(hashed.values()), 1),
            "ratio_vs_curl_plus_sha256sum": ratio(ours, hashed),
            "minimal_httpx_mb_s": round(median(minimal.values()), 1),
            "minimal_httpx_ratio_to_curl": ratio(minimal, theirs),
            "ratio_vs_minimal_httpx": ratio(ours, minimal),
            "asset_download_cpu_s_per_gb": median(cpu_ours.values()),
            "minimal_httpx_cpu_s_per_gb": median(cpu_minimal.values()),
            "curl_parallel_cpu_s_per_gb": median(cpu_curl.values()),
            "cpu_ratio_vs_minimal_httpx": ratio(cpu_ours, cpu_minimal),
            "transfer_ratio_vs_minimal_httpx": ratio(transfer, minimal),
            "throughput_files": files, "throughput_total_mb": round(total_mb, 1)}


def bench_big_video(tmp: Path) -> dict:
    from tests.meta_support import PeakRSS

    size = 1024 * MB
    sandbox = Sandbox(f"large_video_bytes={size}")
    worker = None
    try:
        worker = Worker(tmp / "home-big", sandbox)
        time.sleep(0.5)  # let the idle worker settle before reading its baseline
        import psutil

        idle = psutil.Process(worker.proc.pid).memory_info().rss
        with PeakRSS(worker.proc.pid) as rss:
            run = worker.run("asset_download", {"max_images": 0, "max_videos": 1})
        stored = worker.svc.database.query("SELECT size FROM assets")
        assert stored and stored[0]["size"] == size, stored
        took = run["finished_at"] - run["started_at"]
        print(f"  1 GiB video in {took:.1f}s ({size / MB / took:.0f} MB/s): worker RSS idle {idle / MB:.0f} MB, "
              f"peak {rss.peak / MB:.0f} MB ({rss.samples} samples)")
        return {"peak_rss_1gb_video_mb": round(rss.peak / MB, 1), "idle_rss_mb": round(idle / MB, 1)}
    finally:
        if worker:
            worker.stop()
        sandbox.stop()
        shutil.rmtree(tmp / "home-big", ignore_errors=True)


def insight_rows(days: int = 180) -> list[dict]:
    import datetime as dt

    from pipedeck.sandbox import graph, graph_data
    from pipedeck.sandbox.server import SandboxState

    state = SandboxState()
    until = graph_data.today()
    q = graph.parse_insight_query({
        "level": "ad", "time_increment": "1",
        "fields": "ad_id,ad_name,adset_id,adset_name,campaign_id,campaign_name,spend,impressions,reach,clicks,"
                  "ctr,cpc,cpm,actions,action_values,purchase_roas,date_start,date_stop",
        "time_range": json.dumps({"since": (until - dt.timedelta(days=days - 1)).isoformat(),
                                  "until": until.isoformat()})}, "1001")
    # through JSON, as the handler receives them
    return json.loads(json.dumps([graph_data.insight_row(state, q, k) for k in graph_data.insight_keys(q)]))


def bench_storage(rounds: int, tmp: Path) -> dict:
    from pipedeck.storage import meta, schema
    from pipedeck.storage.catalog import Catalog
    from pipedeck.storage.db import Database

    rows = insight_rows()
    pages = [rows[i:i + 500] for i in range(0, len(rows), 500)]
    ours, raw = [], []
    for r in range(rounds):
        # raw sqlite3: already-converted tuples, plain INSERT, same schema and pragmas
        path = tmp / f"raw{r}.db"
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("BEGIN")
        schema.v1_core(conn)
        schema.v2_meta(conn)
        conn.execute("INSERT INTO brands (id, name, meta_ad_account_id, created_at, updated_at) "
                     "VALUES (1, 'Acme', '1001', 0, 0)")
        conn.execute("COMMIT")
        tuples = [[meta.insight_row(row, 1, 0.0) for row in page] for page in pages]
        sql = f"INSERT INTO meta_insights ({', '.join(meta.INSIGHT_COLUMNS)}) VALUES ({', '.join('?' * 14)})"
        started = time.perf_counter()
        for page in tuples:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, page)
            conn.execute("COMMIT")
        raw.append(len(rows) / (time.perf_counter() - started))
        assert conn.execute("SELECT count(*) FROM meta_insights").fetchone()[0] == len(rows)
        conn.close()

        database = Database(tmp / f"ours{r}.db")
        brand = Catalog(database).add_brand("Acme", meta_ad_account_id="1001")
        started = time.perf_counter()
        for page in pages:
            meta.store_insights_page(database, brand["id"], "1001", page)
        ours.append(len(rows) / (time.perf_counter() - started))
        assert database.scalar("SELECT count(*) FROM meta_insights") == len(rows)
        database.close()
        print(f"  round {r + 1}: store_insights_page {ours[-1]:8.0f} rows/s   raw executemany {raw[-1]:8.0f} rows/s"
              f"   ({len(rows)} rows)")
    return {"storage_rows_per_s": round(median(ours)), "raw_executemany_rows_per_s": round(median(raw)),
            "storage_ratio": round(median([o / r for o, r in zip(ours, raw)]), 3), "storage_rows": len(rows)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--only", action="append", choices=("throughput", "video", "storage"),
                   help="run only this part (repeatable; default: all)")
    args = p.parse_args()
    parts = set(args.only or ("throughput", "video", "storage"))
    if not shutil.which("curl"):
        raise SystemExit("bench: curl is not installed (it is the baseline downloader)")
    tmp = Path(tempfile.mkdtemp(prefix="pipedeck-bench-meta-"))
    try:
        result: dict = {}
        if "throughput" in parts:
            print("asset_download throughput vs curl --parallel (same files, same sandbox, 127.0.0.1):")
            result.update(bench_throughput(args.rounds, tmp))
            print(f"  median: pipedeck {result['asset_download_mb_s']} MB/s, curl {result['curl_parallel_mb_s']} MB/s,"
                  f" ratio {result['throughput_ratio']} (aim >= 0.8); transfer phase only {result['transfer_ratio']};"
                  f" vs curl + sha256sum {result['ratio_vs_curl_plus_sha256sum']}")
            print(f"  a minimal httpx downloader doing the same hashing reaches {result['minimal_httpx_ratio_to_curl']}"
                  f" of curl; pipedeck reaches {result['ratio_vs_minimal_httpx']} of it (aim >= 0.9;"
                  f" transfer phase {result['transfer_ratio_vs_minimal_httpx']})")
            print(f"  CPU-seconds per GB: pipedeck {result['asset_download_cpu_s_per_gb']}, minimal httpx"
                  f" {result['minimal_httpx_cpu_s_per_gb']}, curl {result['curl_parallel_cpu_s_per_gb']}"
                  f" (pipedeck / minimal {result['cpu_ratio_vs_minimal_httpx']})")
        if "video" in parts:
            print("peak worker RSS while downloading one 1 GiB video:")
            result.update(bench_big_video(tmp))
            print(f"  peak {result['peak_rss_1gb_video_mb']} MB (aim <= 150)")
        if "storage" in parts:
            print("meta_sync storage rate vs raw sqlite3 executemany:")
            result.update(bench_storage(args.rounds, tmp))
            print(f"  median ratio {result['storage_ratio']} (aim >= 0.5)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result["rounds"] = args.rounds
    emit(result)


if __name__ == "__main__":
    main()
