#!/usr/bin/env python3
"""Drive `pipedeck demo` in tmux as a person would, and check it end to end.

1. start `pipedeck demo` in a detached tmux session (its own demo data dir);
2. wait for the brand list;
3. open the first brand, queue meta_sync with the keyboard (m, enter);
4. wait until that run shows ✔ succeeded on screen (no further keys);
5. quit with ctrl+q and check the exit status is 0, and that the sandbox and
   worker the demo started are gone and the real data dir was never touched.

Then the same demo at 80×24: the brand list, the runs table and the footer fit;
a freshness policy typed into the policy form (warn after 20 s) makes Acme's
performance age turn from green ● to yellow ◐ while the app stays open, with
no key pressed in between; ctrl+q quits (the time it takes is reported).

Then the crash check: a `pipedeck` whose screen raises on a key must show the
error, log it in the data dir and exit non-zero.

Prints progress; the last line is one JSON object. Exit status 0 when all passed.
    python scripts/demo_tmux_check.py [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT = 160, 45


class Tmux:
    def __init__(self, name: str, command: str, env: dict[str, str], size: tuple[int, int] = (WIDTH, HEIGHT)) -> None:
        self.name = name
        env_args = []
        for key, value in env.items():
            env_args += ["-e", f"{key}={value}"]
        subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", str(size[0]), "-y", str(size[1]), *env_args,
                        command], check=True, cwd=REPO)

    def screen(self, colours: bool = False) -> str:
        """The pane's text; with ``colours``, with its SGR escape sequences (to see what colour a cell is)."""
        out = subprocess.run(["tmux", "capture-pane", "-p", *(["-e"] if colours else []), "-t", self.name],
                             capture_output=True, text=True)
        return out.stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def alive(self) -> bool:
        return subprocess.run(["tmux", "has-session", "-t", self.name], capture_output=True).returncode == 0

    def kill(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)

    def wait_for(self, what: str, check, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            result = check(text)
            if result:
                print(f"  ok: {what}", flush=True)
                return result
            if time.monotonic() > deadline:
                raise CheckFailed(f"timed out after {timeout:.0f}s waiting for {what}; screen was:\n{text}")
            time.sleep(0.2)


class CheckFailed(Exception):
    pass


def processes_using(home: Path) -> list[int]:
    """Pids whose environment names this data dir (the demo's sandbox and worker)."""
    needle = f"PIPEDECK_HOME={home}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0") and b"pipedeck" in cmdline:
            pids.append(int(entry.name))
    return pids


def wait_file(path: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text().strip():
        if time.monotonic() > deadline:
            raise CheckFailed(f"{path.name} not written within {timeout:.0f}s (app did not exit?)")
        time.sleep(0.02)
    return path.read_text().strip()


def base_env(real_home: Path) -> dict[str, str]:
    env = {"PIPEDECK_HOME": str(real_home), "PYTHONPATH": str(REPO), "TERM": "xterm-256color",
           "COLORTERM": "truecolor"}
    if os.environ.get("PIPEDECK_PLUGINS"):
        env["PIPEDECK_PLUGINS"] = os.environ["PIPEDECK_PLUGINS"]
    return env


def check_demo(tmp: Path, python: str, timings: dict) -> None:
    real_home, demo_home = tmp / "real-home", tmp / "demo-home"
    exit_file = tmp / "demo.exit"
    command = f"{python} -m pipedeck demo --home {demo_home}; echo $? > {exit_file}"
    session = Tmux(f"pipedeck-demo-check-{os.getpid()}", command, base_env(real_home))
    started = time.monotonic()
    try:
        print("demo: waiting for the brand list", flush=True)
        session.wait_for("brand list with the demo brands",
                         lambda s: "Brands" in s and "Acme Outdoor" in s and "Cobalt Coffee" in s, 60)
        session.wait_for("a live worker in the status bar", lambda s: "worker alive" in s or "workers alive" in s, 30)
        timings["brand_list_s"] = round(time.monotonic() - started, 2)
        session.keys("Enter")
        session.wait_for("brand screen of Acme Outdoor", lambda s: "Meta ad account 1001" in s and "Freshness" in s, 20)
        before = {int(m) for m in re.findall(r"meta_sync\s+(\d+)\s", session.screen())}
        session.keys("m")
        session.wait_for("the meta_sync form", lambda s: "Queue: " in s and "days_back" in s, 20)
        queued_at = time.monotonic()
        session.keys("Enter")

        def new_run_succeeded(screen: str):
            for run_id, status in re.findall(r"meta_sync\s+(\d+)\s+(\S+ \w+)", screen):
                if int(run_id) not in before and int(run_id) > max(before, default=0):
                    if "failed" in status:
                        raise CheckFailed(f"run {run_id} failed on screen:\n{screen}")
                    if status == "✔ succeeded":
                        return run_id
            return None

        run_id = session.wait_for("the queued meta_sync run to show ✔ succeeded", new_run_succeeded, 90)
        timings["queue_to_succeeded_s"] = round(time.monotonic() - queued_at, 2)
        print(f"  run {run_id} succeeded on screen", flush=True)
        pids = processes_using(demo_home)
        if not pids:
            raise CheckFailed("no sandbox/worker child processes found while the demo runs")
        quit_started = time.monotonic()
        session.keys("C-q")
        code = wait_file(exit_file, 40)
        timings["quit_s"] = round(time.monotonic() - quit_started, 2)
        if code != "0":
            raise CheckFailed(f"pipedeck demo exited with {code}")
        print("  ok: exit status 0", flush=True)
        deadline = time.monotonic() + 10
        while processes_using(demo_home) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = processes_using(demo_home)
        if left:
            raise CheckFailed(f"demo children still running after exit: pids {left}")
        print(f"  ok: sandbox and worker stopped (were pids {pids})", flush=True)
        if (real_home / "pipedeck.db").exists():
            raise CheckFailed(f"the demo wrote to the real data dir {real_home}")
        print("  ok: real data dir untouched", flush=True)
    finally:
        session.kill()


SGR = re.compile(r"\x1b\[([0-9;]*)m")


def freshness_mark(screen_with_colours: str, brand: str) -> tuple[str, str] | None:
    """(mark, its foreground colour as SGR parameters) of the first freshness cell on ``brand``'s row."""
    for line in screen_with_colours.splitlines():
        if brand not in SGR.sub("", line):
            continue
        colour = ""
        for match in re.finditer(r"\x1b\[([0-9;]*)m|([●◐○])", line):
            if match.group(1) is not None:
                params = match.group(1)
                if re.search(r"(^|;)(3[0-7]|9[0-7]|38;[25];)", params):
                    colour = params
            else:
                return match.group(2), colour
    return None


def check_small_terminal(tmp: Path, python: str, timings: dict) -> None:
    """The demo at 80×24: what matters fits, and a freshness age changes colour on its own."""
    real_home, demo_home = tmp / "real-home-80", tmp / "demo-home-80"
    exit_file = tmp / "demo80.exit"
    command = f"{python} -m pipedeck demo --home {demo_home}; echo $? > {exit_file}"
    session = Tmux(f"pipedeck-demo80-check-{os.getpid()}", command, base_env(real_home), size=(80, 24))
    try:
        print("demo at 80x24: waiting for the brand list", flush=True)
        session.wait_for("brand list at 80x24", lambda s: "Acme Outdoor" in s and "PERFORMANCE" in s, 60)
        session.wait_for("a live worker", lambda s: "worker alive" in s or "workers alive" in s, 30)
        lines = session.screen().splitlines()
        footer = [line for line in lines[-2:] if line.strip()]
        if not ("? Help" in " ".join(footer) and "Quit" in " ".join(footer)):
            raise CheckFailed("the footer's last two lines lack help and quit at 80x24:\n" + "\n".join(lines))
        print("  ok: footer in two lines with help and quit", flush=True)
        session.keys("2")
        session.wait_for("the runs table with its summary column at 80 columns",
                         lambda s: "SUMMARY" in s and "STATUS" in s and "TYPE" in s, 20)
        # A policy typed into the form, as a person would: Acme's performance warns after 20 s.
        session.keys("4")
        session.wait_for("the freshness matrix", lambda s: "BRAND / COMPETITOR" in s and "Acme Outdoor" in s, 20)
        session.keys("Right")
        session.keys("e")
        session.wait_for("the freshness policy form", lambda s: "Freshness policy" in s and "Warn after" in s, 20)
        # Each field edited once the previous edit shows (keys sent faster than that can land in the
        # field that had the focus a moment earlier).
        session.keys("Tab", "Tab", "C-u")
        session.wait_for("warn after emptied", lambda s: "e.g. 26h" in s, 10)
        session.keys("-l", "20s")
        session.wait_for("warn after typed", lambda s: "20s" in s and "stale after 40 s" not in s, 10)
        session.keys("Tab", "C-u")
        session.wait_for("stale after emptied", lambda s: "e.g. 50h" in s, 10)
        session.keys("-l", "40s")
        session.wait_for("stale after typed", lambda s: "40s" in s, 10)
        session.keys("C-s")
        session.wait_for("the policy saved", lambda s: "freshness policy saved" in s, 20)
        # A fresh sync, queued by keys; then the brand list, where the age is watched with no key pressed.
        session.keys("1")
        session.wait_for("brand list", lambda s: "PERFORMANCE" in s and "Acme Outdoor" in s, 20)
        session.keys("Enter")
        session.wait_for("brand screen", lambda s: "Meta ad account 1001" in s, 20)
        session.keys("m")
        session.wait_for("the meta_sync form", lambda s: "Queue: " in s and "days_back" in s, 20)
        session.keys("Enter")
        session.wait_for("the run queued", lambda s: "Queue: " not in s, 20)
        session.keys("1")

        def fresh(screen: str):
            mark = freshness_mark(session.screen(colours=True), "Acme Outdoor")
            return mark if mark and mark[0] == "●" else None

        green = session.wait_for("Acme's performance ● fresh after the sync", fresh, 90)
        seen_at = time.monotonic()

        def warning(screen: str):
            mark = freshness_mark(session.screen(colours=True), "Acme Outdoor")
            return mark if mark and mark[0] == "◐" else None

        yellow = session.wait_for("the same age turning ◐ warning on its own", warning, 60)
        timings["fresh_to_warning_s"] = round(time.monotonic() - seen_at, 1)
        if green[1] == yellow[1]:
            raise CheckFailed(f"the mark changed but not its colour (SGR {green[1]!r})")
        print(f"  ok: colour changed (SGR {green[1]} -> {yellow[1]}) while the app stayed open", flush=True)
        started = time.monotonic()
        session.keys("C-q")
        deadline = time.monotonic() + 40
        while not (exit_file.exists() and exit_file.read_text().strip()):
            if "Quitting" in session.screen():
                timings["quit_waited_for_a_run"] = True
                session.keys("C-q")  # a run in progress: the second ctrl+q hands it back and stops now
            if time.monotonic() > deadline:
                raise CheckFailed("the app did not exit after ctrl+q at 80x24")
            time.sleep(0.02)
        timings["quit_80x24_s"] = round(time.monotonic() - started, 2)
        code = exit_file.read_text().strip()
        if code != "0":
            raise CheckFailed(f"pipedeck demo at 80x24 exited with {code}")
        print(f"  ok: quit in {timings['quit_80x24_s']} s, exit status 0", flush=True)
    finally:
        session.kill()


def check_crash(tmp: Path, python: str) -> None:
    home = tmp / "crash-home"
    env = {**base_env(home), "PIPEDECK_PLUGINS": "tests.tui.crash_plugin"}
    subprocess.run([python, "-m", "pipedeck", "brands", "add", "Acme"], env={**os.environ, **env}, check=True,
                   cwd=REPO, capture_output=True)
    exit_file = tmp / "crash.exit"
    # Textual draws on stderr, so the error line is read off the screen after the app leaves it.
    command = f"{python} -m pipedeck; echo $? > {exit_file}; sleep 60"
    session = Tmux(f"pipedeck-crash-check-{os.getpid()}", command, env)
    try:
        print("crash: a screen that raises on `e`", flush=True)
        session.wait_for("brand list", lambda s: "Acme" in s and "Brands" in s, 30)
        session.keys("e")
        code = wait_file(exit_file, 30)
        if code == "0":
            raise CheckFailed("the app exited 0 after an unexpected exception")
        session.wait_for("the error line after exit",
                         lambda s: "pipedeck: unexpected error in the app: RuntimeError: crash check" in s
                         and "tui-errors.log" in s.replace("\n", ""), 10)
        log = home / "logs" / "tui-errors.log"
        if "crash check: deliberate failure" not in log.read_text():
            raise CheckFailed(f"{log} does not hold the traceback")
        print(f"  ok: exit status {code}, error shown, traceback in {log.name}", flush=True)
    finally:
        session.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temp dir for inspection")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--skip-crash", action="store_true")
    parser.add_argument("--skip-small", action="store_true", help="skip the 80x24 check")
    args = parser.parse_args()
    if not shutil.which("tmux"):
        print(json.dumps({"ok": False, "error": "tmux is not installed"}))
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="pipedeck-tmux-check-"))
    timings: dict = {}
    try:
        check_demo(tmp, args.python, timings)
        if not args.skip_small:
            check_small_terminal(tmp, args.python, timings)
        if not args.skip_crash:
            check_crash(tmp, args.python)
    except CheckFailed as exc:
        print(f"FAILED: {exc}", flush=True)
        print(json.dumps({"ok": False, "error": str(exc).splitlines()[0], **timings}))
        return 1
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"ok": True, **timings}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
