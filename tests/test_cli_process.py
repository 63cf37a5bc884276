"""The entry point as a real process: the console script, `python -m pipedeck`, signals, and
settings refused before a worker starts."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from pipedeck import __version__
from tests.helpers import REPO, run_cli


def one_line(proc) -> str:
    assert proc.returncode != 0, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pipedeck: ") and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_the_console_script_and_python_m_run_the_same_command(env):
    script = Path(sys.executable).parent / "pipedeck"
    for argv in ([str(script)], [sys.executable, "-m", "pipedeck"]):
        proc = subprocess.run([*argv, "--version"], env=env, capture_output=True, text=True, timeout=60, cwd=REPO)
        assert (proc.returncode, proc.stdout.strip()) == (0, f"pipedeck {__version__}"), proc.stderr
        proc = subprocess.run([*argv, "runs", "show", str(2**70)], env=env, capture_output=True, text=True,
                              timeout=60, cwd=REPO)
        assert proc.returncode == 2 and "is not a run id" in one_line(proc)


def test_usage_errors_of_a_real_process_are_one_line(env):
    assert "did you mean 'runs'" in one_line(run_cli(env, "rnus"))
    assert "missing option '--brand'" in one_line(run_cli(env, "queue", "test_echo"))


def test_a_bad_url_setting_stops_the_worker_at_start_in_one_line(env, home):
    proc = run_cli({**env, "PIPEDECK_GRAPH_URL": "notaurl"}, "worker", timeout=30)
    assert proc.returncode == 2
    assert one_line(proc) == ("pipedeck: PIPEDECK_GRAPH_URL must be an http(s) URL such as "
                              "https://graph.facebook.com/v25.0, got 'notaurl'")
    assert not home.exists()
    proc = run_cli({**env, "PIPEDECK_GRAPH_URL": "notaurl"}, "queue", "meta_sync", "--brand", "Acme", "--direct",
                   timeout=30)
    assert "PIPEDECK_GRAPH_URL must be" in one_line(proc)


def test_ctrl_c_while_following_is_one_line(env):
    assert run_cli(env, "brands", "add", "Acme").returncode == 0
    run_id = run_cli(env, "queue", "test_echo", "--brand", "Acme").stdout.strip()  # no worker: it stays queued
    proc = subprocess.Popen([sys.executable, "-m", "pipedeck", "runs", "show", run_id, "--follow"], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith(f"run {run_id} ")  # it is following now
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert err.strip().splitlines() == ["pipedeck: interrupted"]
