"""`pipedeck demo` end to end in tmux, driven by keys like a person (scripts/demo_tmux_check.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.helpers import REPO


@pytest.mark.slow
def test_demo_in_tmux_queues_a_job_by_keys_and_quits_cleanly():
    if shutil.which("tmux") is None:
        pytest.fail("tmux is needed for this test (.ci/run installs it)")
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "demo_tmux_check.py")], capture_output=True,
                          text=True, timeout=280, cwd=REPO)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 0 and summary["ok"], proc.stdout[-4000:] + proc.stderr[-2000:]
