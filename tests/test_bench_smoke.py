"""The bench scripts keep running (tiny sizes; the figures themselves are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.helpers import REPO


def test_schedules_bench_runs_as_a_script_and_ends_with_json():
    proc = subprocess.run([sys.executable, "bench/schedules.py", "--schedules", "200", "--minutes", "2"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["bench"] == "schedules" and result["schedules"] == 200
    assert {"tick_ratio", "idle_tick_ratio", "select_us"} <= set(result)



def test_no_bench_script_is_named_like_a_standard_library_module():
    """Running ``python bench/x.py`` puts bench/ first on sys.path: a bench/queue.py there would be
    imported as the standard library's queue by logging, asyncio and concurrent.futures."""
    shadowing = sorted(p.name for p in (REPO / "bench").glob("*.py") if p.stem in sys.stdlib_module_names)
    assert shadowing == []


def test_the_meta_bench_baselines_fetch_every_image_pipedeck_fetches_not_the_first_page():
    sys.path.insert(0, str(REPO))
    from bench.meta import Sandbox, resolve_urls

    sandbox = Sandbox()
    try:
        ads = sandbox.get("act_1001/ads", {"fields": "creative{image_hash}", "limit": 500})["data"]
        hashes = list(dict.fromkeys(a["creative"]["image_hash"] for a in ads if a["creative"].get("image_hash")))[:40]
        urls = resolve_urls(sandbox, hashes, [])
        one_by_one = [sandbox.get("act_1001/adimages", {"hashes": json.dumps([h]), "fields": "url"})["data"][0]["url"]
                      for h in hashes]
    finally:
        sandbox.stop()
    assert len(hashes) == 40  # more than one page of /adimages (25)
    path = lambda url: url.split("?")[0]  # noqa: E731 (links are signed afresh on every answer)
    assert [path(u) for u in urls] == [path(u) for u in one_by_one]  # every image, in the order asked


def test_startup_bench_runs_as_a_script_and_ends_with_json():
    proc = subprocess.run([sys.executable, "bench/startup.py", "--rounds", "1", "--app-rounds", "1"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["bench"] == "startup"
    assert {"runs_ms", "status_ms", "freshness_ms", "bare_python_ms", "import_pydantic_settings_ms",
            "first_paint_s", "quit_s", "textual_baseline_first_paint_s", "textual_baseline_quit_s"} <= set(result)
