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
