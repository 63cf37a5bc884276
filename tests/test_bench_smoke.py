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


def test_bench_folder_does_not_shadow_the_standard_queue_module():
    code = "import bench, queue; print(queue.__file__)"
    proc = subprocess.run([sys.executable, "-c", f"import sys; sys.path[:0] = [{str(REPO / 'bench')!r}, {str(REPO)!r}]; {code}"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "bench" not in proc.stdout


def test_startup_bench_runs_as_a_script_and_ends_with_json():
    proc = subprocess.run([sys.executable, "bench/startup.py", "--rounds", "1", "--app-rounds", "1"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["bench"] == "startup"
    assert {"runs_ms", "status_ms", "freshness_ms", "bare_python_ms", "import_pydantic_settings_ms",
            "first_paint_s", "quit_s", "textual_baseline_first_paint_s", "textual_baseline_quit_s"} <= set(result)
