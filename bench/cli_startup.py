"""Start-up time of `pipedeck runs` (a listing on a small database), against bare Python start-up.

    .venv/bin/python bench/cli_startup.py [--runs 20] [--command runs] [--against DIR]

Each round runs, one after the other, the baseline (``python -c pass``, the
interpreter's own start-up) and ``python -m pipedeck <command>`` on a data dir
holding one brand and a few runs, output piped. Reported: the median wall time
of each in ms, and their ratio. ``--against DIR`` also times the same command
from another checkout (e.g. ``git worktree add /tmp/before main``) in the same
rounds, so a change is measured against what it replaces under the same load.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, bench_env, emit, median  # noqa: E402


def timed(args: list[str], env: dict[str, str], tree: Path = REPO) -> float:
    env = {**env, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    proc = subprocess.run(args, env=env, cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(args)} failed: {proc.stderr.decode()[-500:]}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--command", default="runs", help="the pipedeck verb to time (split on spaces)")
    ap.add_argument("--against", type=Path, help="another checkout to time the same command from")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="pipedeck-bench-cli-"))
    env = bench_env(home)
    python = sys.executable
    subprocess.run([python, "-m", "pipedeck", "brands", "add", "Bench"], env=env, cwd=REPO, check=True,
                   capture_output=True)
    for _ in range(5):
        subprocess.run([python, "-m", "pipedeck", "queue", "meta_sync", "--brand", "Bench", "--set", "days_back=3"],
                       env=env, cwd=REPO, capture_output=True)
    command = [python, "-m", "pipedeck", *args.command.split()]
    timed(command, env)  # warm the file cache and the byte-code
    if args.against:
        timed(command, env, args.against)
    baseline, cli, other = [], [], []
    for _ in range(args.runs):
        baseline.append(timed([python, "-c", "pass"], env))
        cli.append(timed(command, env))
        if args.against:
            other.append(timed(command, env, args.against))
    base_ms, cli_ms = median(baseline) * 1000, median(cli) * 1000
    result = {"bench": "cli_startup", "command": args.command, "runs": args.runs, "baseline_ms": round(base_ms, 1),
              "cli_ms": round(cli_ms, 1), "ratio": round(cli_ms / base_ms, 2)}
    print(f"python -c pass: {base_ms:.0f} ms   pipedeck {args.command}: {cli_ms:.0f} ms   "
          f"ratio {cli_ms / base_ms:.1f}", flush=True)
    if args.against:
        other_ms = median(other) * 1000
        result.update(against=str(args.against), against_ms=round(other_ms, 1),
                      against_ratio=round(cli_ms / other_ms, 2))
        print(f"{args.against}: {other_ms:.0f} ms   this tree / that one: {cli_ms / other_ms:.2f}", flush=True)
    emit(result)


if __name__ == "__main__":
    main()
