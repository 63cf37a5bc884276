"""Start-up of a listing (issue 15 point 5, the handler side): what a fresh process pays to list runs.

    .venv/bin/python bench/imports.py              # 15 rounds (~10 s)
    .venv/bin/python bench/imports.py --rounds 5

`pipedeck runs`, `status` and `freshness` each start a new Python process, so their
start-up is mostly imports. Each round runs, in a fresh interpreter on a small data dir
(2 brands, 40 runs):

- baseline: bare start-up, ``python -c pass`` (what no program can go below);
- listing: import ``pipedeck.queue.service``, build the Service, ``list_runs()``;
- freshness: the same, then ``freshness()`` and ``worker_health()`` (what ``status`` reads).

Wall time of each process, medians over the rounds; the listing process also reports how
long importing the job-type registry took once the service's other imports (settings,
storage, shared concepts) are loaded, and which heavy modules (httpx, Playwright, handler
modules) it imported. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, bench_env, emit, median  # noqa: E402

LISTING = """
import sys, time
import pipedeck.config, pipedeck.concepts.summary, pipedeck.storage.catalog, pipedeck.storage.runs
t0 = time.perf_counter()
import pipedeck.handlers.registry
registry_ms = (time.perf_counter() - t0) * 1000
from pipedeck.config import load_settings
from pipedeck.queue.service import Service
svc = Service(load_settings())
runs = svc.list_runs()
if {freshness}:
    svc.freshness()
    svc.worker_health()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("httpx", "httpcore", "playwright")
               or (m.startswith("pipedeck.handlers.") and m not in ("pipedeck.handlers.registry",
                                                                      "pipedeck.handlers.params")))
print(len(runs), round(registry_ms, 1), ",".join(heavy))
"""


def seed(home: Path) -> None:
    env = bench_env(home)
    code = """
from pipedeck.config import load_settings
from pipedeck.queue.service import Service
svc = Service(load_settings())
for name, account in (("Acme", "1001"), ("Brightside", "1002")):
    svc.catalog.add_brand(name, meta_ad_account_id=account, ad_library_page_id="5001")
    for i in range(20):
        svc.queue_one_time_job(name, ("meta_sync", "asset_download")[i % 2], {}, direct=True)
svc.close()
"""
    subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, check=True)


def timed(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    out = subprocess.run(args, env=env, cwd=REPO, check=True, capture_output=True, text=True)
    return (time.perf_counter() - started) * 1000, out.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="pipedeck-bench-imports-")) / "home"
    seed(home)
    env = bench_env(home)
    bare, listing, fresh, registry_ms = [], [], [], []
    heavy = ""
    for _ in range(args.rounds):
        bare.append(timed([sys.executable, "-c", "pass"], env)[0])
        ms, out = timed([sys.executable, "-c", LISTING.format(freshness=False)], env)
        listing.append(ms)
        count, reg, heavy = (out.split(" ", 2) + [""])[:3]
        assert int(count) == 40, out
        registry_ms.append(float(reg))
        fresh.append(timed([sys.executable, "-c", LISTING.format(freshness=True)], env)[0])
    result = {"bench": "imports", "rounds": args.rounds, "bare_python_ms": round(median(bare), 1),
              "list_runs_ms": round(median(listing), 1), "freshness_and_status_ms": round(median(fresh), 1),
              "registry_import_ms": round(median(registry_ms), 1),
              "list_runs_over_bare_ms": round(median(listing) - median(bare), 1),
              "ratio_list_runs_to_bare": round(median(listing) / median(bare), 2),
              "heavy_modules_imported": [m for m in heavy.split(",") if m]}
    print(f"bare python {result['bare_python_ms']} ms; import service + list_runs {result['list_runs_ms']} ms "
          f"(+{result['list_runs_over_bare_ms']} ms, registry {result['registry_import_ms']} ms); "
          f"+ freshness and worker health {result['freshness_and_status_ms']} ms; heavy modules imported: "
          f"{', '.join(result['heavy_modules_imported']) or 'none'}")
    emit(result)


if __name__ == "__main__":
    main()
