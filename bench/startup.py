"""Start-up (issue 15 point 5): the short verbs, the app's first paint, and ctrl+q, each against a baseline.

    .venv/bin/python bench/startup.py                  # 15 rounds of the verbs, 5 app launches (~30 s)
    .venv/bin/python bench/startup.py --rounds 5 --app-rounds 3
    .venv/bin/python bench/startup.py --against /tmp/before   # the same, also from another checkout

1. ``pipedeck runs``, ``pipedeck status`` and ``pipedeck freshness``: wall time of a fresh
   ``python -m pipedeck VERB`` process (output piped) on a small data dir (2 brands, 40 runs),
   the default one (PIPEDECK_HOME unset, the platform's user data dir moved under a temporary
   XDG_DATA_HOME), median over the rounds. Baselines in the same rounds: ``python -c pass`` (the interpreter's
   own start-up), ``python -c 'import click'`` (a click CLI that does nothing) and
   ``python -c 'import pydantic_settings'`` (the floor of any program whose settings are on
   pydantic-settings) and ``python -c 'import rich_click, pydantic_settings'`` (the floor of this
   stack: a rich-click CLI with pydantic-settings, before any of pipedeck). Aim: each verb <= 150 ms.
2. First paint of the app: bare ``python -m pipedeck`` on the demo data (``pipedeck.demo.seed``:
   3 brands, 5 competitors, 5 schedules, 5 queued runs), in a real process on a pseudo-terminal
   of 160x45; the time from spawn until the terminal has been sent every demo brand's name (the
   brands table with its rows; names matched on their first 9 characters). Aim <= 0.5 s.
3. ctrl+q with nothing running: once the app has painted and gone quiet, the time from writing
   ctrl+q to the pty until the process has exited (terminal restored, children none). Aim <= 0.5 s.

The app's baseline is a bare Textual app under the same pty that shows a DataTable of the same
three names (Textual's own start-up and quit). Each verb's and baseline's CPU time (user + system,
median) is reported too: on a machine shared with other work it moves much less than wall time. Bytecode is cached as in an installed copy (a
temporary ``PYTHONPYCACHEPREFIX``, warmed once), even when the caller's environment sets
``PYTHONDONTWRITEBYTECODE`` (which would compile pipedeck's own modules on every start).
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import re
import resource
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, bench_env, emit, median  # noqa: E402

VERBS = ("runs", "status", "freshness")
BASELINES = {"python -c pass": "pass", "import click": "import click",
             "import pydantic_settings": "import pydantic_settings",
             "import rich_click, pydantic_settings": "import rich_click, pydantic_settings"}
AIM_VERB_MS, AIM_PAINT_S, AIM_QUIT_S = 150, 0.5, 0.5
SIZE = (45, 160)  # rows, columns
QUIET_S = 0.4  # the app counts as settled after this long without output
ANSI = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|[@-Z\\-_])")

BASELINE_APP = """
from textual.app import App
from textual.widgets import DataTable

class Baseline(App):
    BINDINGS = [("ctrl+q", "quit", "Quit")]

    def compose(self):
        yield DataTable()

    def on_mount(self):
        table = self.query_one(DataTable)
        table.add_columns("brand", "ad account")
        for name in {names!r}:
            table.add_row(name, "-")

Baseline().run()
"""


def env_for(home: Path, pycache: Path, tree: Path = REPO, *, default_home: bool = False) -> dict[str, str]:
    """The environment of a pipedeck process on ``home``; with ``default_home`` PIPEDECK_HOME is left
    unset and ``home`` is where the platform's user data dir points (a user who never set it)."""
    env = bench_env(home, PYTHONPYCACHEPREFIX=str(pycache), PYTHONPATH=str(tree))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if default_home:
        del env["PIPEDECK_HOME"]
        env["XDG_DATA_HOME"] = str(home.parent)
        if home.name != "pipedeck":
            raise ValueError(f"a default home is named pipedeck, not {home.name}")
    return env


def seed_small(home: Path, pycache: Path) -> None:
    code = """
from pipedeck.config import load_settings
from pipedeck.queue.service import Service
svc = Service(load_settings())
for name, account in (("Acme", "1001"), ("Brightside", "1002")):
    svc.add_brand(name, account, "5001")
    for i in range(20):
        svc.queue_one_time_job(name, ("meta_sync", "asset_download")[i % 2], {})
svc.close()
"""
    subprocess.run([sys.executable, "-c", code], env=env_for(home, pycache, default_home=True), cwd=REPO, check=True)


def seed_demo(home: Path, pycache: Path) -> list[str]:
    code = """
from pipedeck.config import load_settings
from pipedeck.demo import DEMO_BRANDS, seed
seed(load_settings())
print("|".join(b[0] for b in DEMO_BRANDS))
"""
    out = subprocess.run([sys.executable, "-c", code], env=env_for(home, pycache), cwd=REPO, check=True,
                         capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1].split("|")


CPU_MS: dict[tuple[str, ...], list[float]] = {}  # CPU time (user + system) of each timed process, by command


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_ms(args: list[str], env: dict[str, str], cwd: Path = REPO) -> float:
    """Wall ms of one process; its CPU ms (less sensitive to a busy machine) go to CPU_MS."""
    cpu = _children_cpu_s()
    started = time.perf_counter()
    proc = subprocess.run(args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    took = (time.perf_counter() - started) * 1000
    CPU_MS.setdefault((str(cwd), *args), []).append((_children_cpu_s() - cpu) * 1000)
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(args)} failed: {proc.stderr.decode(errors='replace')[-800:]}")
    return took


# -- the app under a pseudo-terminal ----------------------------------------------------------------
def _read(fd: int, timeout: float) -> bytes | None:
    """What the pty has within ``timeout`` s: bytes, b"" when nothing came, None once it is closed."""
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return b""
    try:
        return os.read(fd, 1 << 16) or None
    except OSError:  # EIO: every slave end is closed
        return None


def launch_and_quit(args: list[str], env: dict[str, str], names: list[str], cwd: Path = REPO,
                    timeout: float = 30) -> tuple[float, float]:
    """(seconds from spawn to every name painted, seconds from ctrl+q to exit) of one real launch."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[0], SIZE[1], 0, 0))
    env = {**env, "TERM": "xterm-256color", "COLUMNS": str(SIZE[1]), "LINES": str(SIZE[0])}
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, close_fds=True,
                            start_new_session=True)
    os.close(slave)
    wanted = [n[:9].encode() for n in names]  # a narrow column may cut a name short: "Acme Outd…"
    screen = b""
    try:
        deadline = started + timeout
        while True:
            chunk = _read(master, 0.05)
            if chunk is None or time.perf_counter() > deadline:
                raise SystemExit(f"bench: {' '.join(args)} never painted {names}: "
                                 f"{ANSI.sub(b'', screen)[-600:].decode(errors='replace')}")
            screen += chunk
            if chunk and all(w in ANSI.sub(b"", screen) or w in screen for w in wanted):
                painted = time.perf_counter() - started
                break
        quiet_since = time.perf_counter()
        while time.perf_counter() - quiet_since < QUIET_S:  # let the first refresh ticks settle
            if _read(master, 0.05):
                quiet_since = time.perf_counter()
            if time.perf_counter() > deadline:
                raise SystemExit(f"bench: {' '.join(args)} never went quiet")
        pressed = time.perf_counter()
        os.write(master, b"\x11")  # ctrl+q
        while proc.poll() is None:
            _read(master, 0.005)  # keep draining, or the app blocks writing its last frames
            if time.perf_counter() - pressed > timeout:
                raise SystemExit(f"bench: {' '.join(args)} did not exit on ctrl+q")
        quit_s = time.perf_counter() - pressed
        if proc.returncode != 0:
            raise SystemExit(f"bench: {' '.join(args)} exited {proc.returncode}")
        return painted, quit_s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="pipedeck-bench-startup-"))
    try:
        measure(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def measure(tmp: Path) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15, help="rounds of the verbs and their baselines (median)")
    ap.add_argument("--app-rounds", type=int, default=5, help="launches of the app and of its baseline (median)")
    ap.add_argument("--against", type=Path, help="another checkout to time the same verbs and app from")
    args = ap.parse_args()
    pycache, small, demo = tmp / "pyc", tmp / "xdg" / "pipedeck", tmp / "demo"
    seed_small(small, pycache)
    names = seed_demo(demo, pycache)
    py = sys.executable
    trees = {"this": REPO, **({"against": args.against.resolve()} if args.against else {})}

    def verb(tree: Path, name: str) -> float:
        return timed_ms([py, "-m", "pipedeck", name], env_for(small, pycache, tree, default_home=True), tree)

    for tree in trees.values():  # write the bytecode once, warm the file cache
        for name in VERBS:
            verb(tree, name)
    for code in BASELINES.values():
        timed_ms([py, "-c", code], env_for(small, pycache))

    base = {label: [] for label in BASELINES}
    verbs = {(t, name): [] for t in trees for name in VERBS}
    for _ in range(args.rounds):
        for label, code in BASELINES.items():
            base[label].append(timed_ms([py, "-c", code], env_for(small, pycache)))
        for t, tree in trees.items():
            for name in VERBS:
                verbs[(t, name)].append(verb(tree, name))

    app = {t: ([], []) for t in [*trees, "textual"]}
    launch_and_quit([py, "-c", BASELINE_APP.format(names=names)], env_for(demo, pycache), names)  # warm
    for t, tree in trees.items():
        launch_and_quit([py, "-m", "pipedeck"], env_for(demo, pycache, tree), names, tree)
    for _ in range(args.app_rounds):
        for t in app:
            if t == "textual":
                painted, quit_s = launch_and_quit([py, "-c", BASELINE_APP.format(names=names)],
                                                  env_for(demo, pycache), names)
            else:
                painted, quit_s = launch_and_quit([py, "-m", "pipedeck"], env_for(demo, pycache, trees[t]), names,
                                                  trees[t])
            app[t][0].append(painted)
            app[t][1].append(quit_s)

    bare, click_ms, floor, stack = (round(median(base[k]), 1) for k in BASELINES)
    result = {"bench": "startup", "rounds": args.rounds, "app_rounds": args.app_rounds,
              "bare_python_ms": bare, "import_click_ms": click_ms, "import_pydantic_settings_ms": floor,
              "import_rich_click_and_pydantic_settings_ms": stack,
              "aims": {"verb_ms": AIM_VERB_MS, "first_paint_s": AIM_PAINT_S, "quit_s": AIM_QUIT_S}}
    print(f"baselines: python -c pass {bare} ms; import click {click_ms} ms; import pydantic_settings {floor} ms; "
          f"import rich_click, pydantic_settings {stack} ms")
    def cpu(cwd: Path, *args: str) -> float:
        return round(median(CPU_MS[(str(cwd), *args)][1:]), 1)  # the first was the warm-up

    base_cpu = {label: cpu(REPO, py, "-c", code) for label, code in BASELINES.items()}
    result["cpu_ms"] = {label: value for label, value in base_cpu.items()}
    print("CPU (user + system) of the baselines: " + "; ".join(f"{k} {v} ms" for k, v in base_cpu.items()))
    for t in trees:
        prefix = "" if t == "this" else "against_"
        where = "" if t == "this" else f" [{trees[t]}]"
        for name in VERBS:
            ms = round(median(verbs[(t, name)]), 1)
            result[f"{prefix}{name}_ms"] = ms
            result["cpu_ms"][f"{prefix}{name}"] = cpu_ms = cpu(trees[t], py, "-m", "pipedeck", name)
            if t == "this":
                result[f"{name}_over_bare"] = round(ms / bare, 2)
                result[f"{name}_over_click"] = round(ms / click_ms, 2)
                result[f"{name}_over_stack"] = round(ms / stack, 2)
            print(f"pipedeck {name}{where}: {ms} ms ({ms / bare:.1f} x python -c pass, "
                  f"{ms / click_ms:.1f} x import click, {ms / stack:.2f} x import rich_click, pydantic_settings); "
                  f"CPU {cpu_ms} ms")
    for t in app:
        paint_s, quit_s = round(median(app[t][0]), 3), round(median(app[t][1]), 3)
        key = {"this": "", "against": "against_", "textual": "textual_baseline_"}[t]
        result[f"{key}first_paint_s"], result[f"{key}quit_s"] = paint_s, quit_s
        label = {"this": "pipedeck (app)", "against": f"pipedeck (app) [{trees.get('against')}]",
                 "textual": "bare Textual app"}[t]
        print(f"{label}: first paint {paint_s:.3f} s, ctrl+q to exit {quit_s:.3f} s "
              f"(launches: {[round(x, 3) for x in app[t][0]]}, quits: {[round(x, 3) for x in app[t][1]]})")
    result["first_paint_ratio"] = round(result["first_paint_s"] / result["textual_baseline_first_paint_s"], 2)
    result["quit_ratio"] = round(result["quit_s"] / result["textual_baseline_quit_s"], 2)
    if args.against:
        for name in VERBS:
            result[f"{name}_over_against"] = round(result[f"{name}_ms"] / result[f"against_{name}_ms"], 2)
        result["against"] = str(trees["against"])
    emit(result)


if __name__ == "__main__":
    main()
