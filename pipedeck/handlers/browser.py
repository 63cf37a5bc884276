"""Finding and launching headless Chromium for the Ad Library scrapers.

Which browser (DESIGN.md): ``PIPEDECK_CHROMIUM`` if set; else Playwright's own
Chromium if ``playwright install chromium`` put one on this machine; else a
system Chromium or Chrome on PATH. For headless scrapes a headless shell comes
first in each place (Playwright's ``chromium_headless_shell``, Debian's
``chromium-headless-shell``), as Playwright itself does: Chromium's "old
headless" has no browser UI (no omnibox popup page, no spare windows) and uses
about 40 % less memory for the same search than the full browser's headless mode.

:func:`launched_browser` guarantees the browser is gone when the block ends,
however it ends (success, error, cancellation): it closes the browser, stops
Playwright's driver and, should Chromium outlive both, kills it by pid.

The browser renders third-party ads, so it gets as little as possible: a
minimal environment (:func:`browser_env`: no token, no passwords, no database
URL) and Chromium's own sandbox wherever it can run (not as root; where it
cannot start, pipedeck says so once in its log and runs without). Every
process of the browser carries ``PIPEDECK_BROWSER_RUN=<run id>`` in its
environment, so an operator (or a test) can tell which run a Chromium belongs to.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import logging
import os
import re
import shutil
import signal
import sys
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, AsyncIterator

from pipedeck.errors import PermanentError

if TYPE_CHECKING:
    from playwright.async_api import Browser

    from pipedeck.config import Settings

log = logging.getLogger("pipedeck.browser")

# Flags for headless Chromium in containers and CI: no GPU (and its process folded into the
# browser's: one process and ~30 MB less), nothing phoning home, /tmp instead of a small /dev/shm.
# Chromium's own sandbox is decided per launch (see launched_browser).
CHROMIUM_ARGS = ("--disable-gpu", "--in-process-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage")
# Without Chromium's sandbox (root, or where it cannot start) two processes that only serve it
# go: the zygote (children are started directly) and the separate network service (it runs in
# the browser process instead; out of process it is a sandbox boundary, here there is none).
# Chromium reads only the last --enable-features, so this one repeats Playwright's own
# (PLAYWRIGHT_ENABLED_FEATURES; tests/test_scrape_browser.py checks it still covers them).
PLAYWRIGHT_ENABLED_FEATURES = ("CDPScreenshotNewSurface", "SkipListAccountsWithoutGaiaCookies")
UNSANDBOXED_ARGS = ("--no-zygote", "--enable-features=" + ",".join(PLAYWRIGHT_ENABLED_FEATURES
                                                                  + ("NetworkServiceInProcess2",)))
# The only variables the browser (which renders third-party ads) gets from pipedeck's environment:
# what Chromium needs to run, find fonts, a temp dir and a locale. Never the token, passwords or
# database URLs. PIPEDECK_HOME only says which data dir the browser belongs to.
BROWSER_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TMP", "TEMP", "DISPLAY",
               "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME",
               "XDG_DATA_DIRS", "FONTCONFIG_FILE", "FONTCONFIG_PATH", "LD_LIBRARY_PATH", "SYSTEMROOT", "WINDIR",
               "LOCALAPPDATA", "APPDATA", "PROGRAMFILES", "PIPEDECK_HOME")
# Proxies the browser may need to reach the Ad Library; passed without any user:password part.
PROXY_ENV = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
             "NO_PROXY")
SYSTEM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
SYSTEM_SHELL_NAMES = ("chromium-headless-shell", "chrome-headless-shell")
PLAYWRIGHT_FULL = ("chromium-*/chrome-linux*/chrome", "chromium-*/chrome-mac*/Chromium.app/Contents/MacOS/Chromium",
                   "chromium-*/chrome-mac*/Google Chrome for Testing.app/Contents/MacOS/Google Chrome for Testing",
                   "chromium-*/chrome-win*/chrome.exe")
PLAYWRIGHT_SHELL = ("chromium_headless_shell-*/chrome-*/headless_shell",
                    "chromium_headless_shell-*/chrome-*/chrome-headless-shell",
                    "chromium_headless_shell-*/chrome-*/headless_shell.exe",
                    "chromium_headless_shell-*/chrome-*/chrome-headless-shell.exe")
RUN_MARKER_ENV = "PIPEDECK_BROWSER_RUN"
NO_CHROMIUM = ("no Chromium found: install it (e.g. `apt install chromium` or `playwright install chromium`) "
               "or set PIPEDECK_CHROMIUM to a Chromium executable")


class NoChromium(PermanentError):
    """No usable browser; the message tells the user how to provide one."""

    def __init__(self, message: str = NO_CHROMIUM) -> None:
        super().__init__(message, error_type="NoChromium")


def _playwright_browsers_dir() -> Path | None:
    env = os.environ.get("PLAYWRIGHT_BROWSERS_PATH")
    if env == "0":  # browsers installed inside the playwright package
        try:
            import playwright

            return Path(playwright.__file__).parent / "driver" / "package" / ".local-browsers"
        except ImportError:
            return None
    if env:
        return Path(env).expanduser()
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "ms-playwright"
    if sys.platform.startswith("win"):
        return Path(os.environ.get("LOCALAPPDATA", home / "AppData" / "Local")) / "ms-playwright"
    return Path(os.environ.get("XDG_CACHE_HOME", home / ".cache")) / "ms-playwright"


def playwright_chromium(headless: bool = True) -> str | None:
    """The newest Chromium that ``playwright install`` downloaded, if any (its headless shell first
    when ``headless``)."""
    root = _playwright_browsers_dir()
    if root is None or not root.is_dir():
        return None

    def revision(path: str) -> int:
        name = Path(path).relative_to(root).parts[0]
        digits = name.rsplit("-", 1)[-1]
        return int(digits) if digits.isdigit() else 0

    for patterns in ((PLAYWRIGHT_SHELL, PLAYWRIGHT_FULL) if headless else (PLAYWRIGHT_FULL,)):
        found = [p for pattern in patterns for p in glob.glob(str(root / pattern)) if os.access(p, os.X_OK)]
        if found:
            return max(found, key=revision)
    return None


def find_chromium(settings: "Settings", headless: bool = True) -> str | None:
    """The browser to launch, or None when there is none (a headless shell first when ``headless``).

    Raises :class:`NoChromium` when ``PIPEDECK_CHROMIUM`` names something that is
    not an executable file (a typo should not silently fall back to another browser).
    """
    if settings.chromium:
        path = Path(settings.chromium).expanduser()
        if not path.is_file():
            resolved = shutil.which(settings.chromium)
            if resolved:
                return resolved
            raise NoChromium(f"PIPEDECK_CHROMIUM={settings.chromium} does not exist; point it at a Chromium "
                             "executable (e.g. /usr/bin/chromium) or unset it to use the one found on PATH")
        if not os.access(path, os.X_OK):
            raise NoChromium(f"PIPEDECK_CHROMIUM={settings.chromium} is not executable; point it at a "
                             "Chromium executable or unset it")
        return str(path)
    found = playwright_chromium(headless)
    if found:
        return found
    for name in (SYSTEM_SHELL_NAMES + SYSTEM_NAMES) if headless else SYSTEM_NAMES:
        found = shutil.which(name)
        if found:
            return _unwrapped(found) if name in SYSTEM_SHELL_NAMES else found
    return None


_PASS_THROUGH = re.compile(r'(?:exec\s+)?(/\S+)\s+"\$@"')


def _unwrapped(path: str) -> str:
    """The binary a wrapper script only passes its arguments to (Debian's chromium-headless-shell
    is ``#!/bin/sh`` + ``/usr/lib/chromium/chromium-headless-shell "$@"``, without exec: launched
    as is, a shell would sit between Playwright and the browser). Anything else: ``path`` itself."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return path
    if not head.startswith(b"#!"):
        return path
    lines = [line.strip() for line in head.decode("utf-8", "replace").splitlines()[1:]]
    lines = [line for line in lines if line and not line.startswith("#")]
    match = _PASS_THROUGH.fullmatch(lines[0]) if len(lines) == 1 else None
    if match and os.path.isfile(match.group(1)) and os.access(match.group(1), os.X_OK):
        return match.group(1)
    return path


# Playwright's driver (Node) with a 1 MB young generation instead of 16: ~10 MB less, and the
# driver only relays messages. It inherits this process's environment when a scrape starts it.
DRIVER_NODE_OPTIONS = "--max-semi-space-size=1"


def prepare() -> None:
    """For a worker to do at start, before its threads: import Playwright (~80 ms) now rather than
    in a run, and give the Node driver each scrape starts its memory option (unless NODE_OPTIONS
    is set already)."""
    import playwright.async_api  # noqa: F401

    os.environ.setdefault("NODE_OPTIONS", DRIVER_NODE_OPTIONS)


def require_chromium(settings: "Settings", headless: bool = True) -> str:
    path = find_chromium(settings, headless)
    if path is None:
        raise NoChromium()
    return path


def browser_env(environ: dict[str, str] | None = None, run_id: int | None = None) -> dict[str, str]:
    """The minimal environment Chromium is started with (see BROWSER_ENV): no secrets."""
    environ = os.environ if environ is None else environ
    env = {k: v for k, v in environ.items() if k in BROWSER_ENV or k.startswith("LC_")}
    for name in PROXY_ENV:
        if environ.get(name):
            env[name] = _without_userinfo(environ[name])
    if run_id is not None:
        env[RUN_MARKER_ENV] = str(run_id)
    return env


def _without_userinfo(value: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(value)
    except ValueError:
        return ""
    if "@" not in parts.netloc:
        return value
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def sandbox_blocker() -> str | None:
    """Why Chromium's own sandbox cannot run here, or None when it can be tried."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "pipedeck runs as root, and Chromium refuses its sandbox to root"
    return None


_said_no_sandbox = False
_said_lock = threading.Lock()


def _say_no_sandbox(why: str) -> None:
    """Log, once per process, that Chromium runs without its sandbox and why."""
    global _said_no_sandbox
    with _said_lock:
        first, _said_no_sandbox = not _said_no_sandbox, True
    if first:
        log.warning("Chromium runs without its sandbox: %s; run pipedeck as an ordinary user (with user namespaces "
                    "or Chromium's setuid sandbox available) to keep it on", why)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes (its parent reaps it)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def _kill(pid: int | None) -> None:
    if pid and _pid_alive(pid):
        log.warning("Chromium %s outlived its browser session; killing it", pid)
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


async def _browser_pid(browser: "Browser") -> int | None:
    """The browser process id, through the DevTools protocol (Playwright does not expose it)."""
    try:
        session = await browser.new_browser_cdp_session()
        info = await session.send("SystemInfo.getProcessInfo")
        await session.detach()
        for proc in info.get("processInfo", []):
            if proc.get("type") == "browser":
                return int(proc["id"])
    except Exception:  # noqa: BLE001 - the pid is only a safety net
        log.debug("could not read Chromium's pid", exc_info=True)
    return None


@asynccontextmanager
async def launched_browser(settings: "Settings", *, run_id: int | None = None, headless: bool = True,
                           launch_timeout: float = 30.0, close_timeout: float = 10.0) -> AsyncIterator["Browser"]:
    """Headless Chromium for one scrape; closed (or killed) when the block exits, whatever happens."""
    executable = require_chromium(settings, headless)
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    env = browser_env(run_id=run_id)
    blocker = sandbox_blocker()
    if blocker:
        _say_no_sandbox(blocker)
    manager = async_playwright()
    playwright = await manager.__aenter__()
    browser = None
    pid = None
    pid_lookup = None

    async def launch(sandboxed: bool):
        args = list(CHROMIUM_ARGS) + ([] if sandboxed else list(UNSANDBOXED_ARGS))
        return await playwright.chromium.launch(executable_path=executable, headless=headless, args=args, env=env,
                                                chromium_sandbox=sandboxed, timeout=launch_timeout * 1000)

    try:
        try:
            try:
                browser = await launch(sandboxed=blocker is None)
            except PlaywrightError as exc:
                if blocker is not None or "sandbox" not in str(exc).lower():
                    raise
                # No user namespaces and no setuid helper here: the sandbox cannot start.
                _say_no_sandbox(f"it could not start here ({_first_line(exc)})")
                browser = await launch(sandboxed=False)
        except PlaywrightError as exc:
            raise NoChromium(f"Chromium at {executable} did not start ({_first_line(exc)}); install a working "
                             "Chromium or set PIPEDECK_CHROMIUM to one") from None
        pid_lookup = asyncio.ensure_future(_browser_pid(browser))  # meanwhile the scrape starts
        yield browser
    finally:
        # A cancelled task still runs this to the end (the scraper cancels it once, then waits).
        if pid_lookup is not None:
            with contextlib.suppress(BaseException):
                pid = await asyncio.wait_for(pid_lookup, close_timeout)
        await _shutdown(manager, browser, pid, close_timeout)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


async def _shutdown(manager, browser, pid: int | None, close_timeout: float) -> None:
    if browser is not None:
        try:
            await asyncio.wait_for(browser.close(), close_timeout)
        except Exception:  # noqa: BLE001 - fall through to stopping the driver and killing
            log.warning("closing Chromium failed; stopping it by force", exc_info=True)
    try:
        await asyncio.wait_for(manager.__aexit__(None, None, None), close_timeout)
    except Exception:  # noqa: BLE001
        log.warning("stopping the Playwright driver failed", exc_info=True)
    if pid is not None:
        # browser.close() returns once the process is on its way out: give it up to a second.
        deadline, delay = time.monotonic() + 1.0, 0.002
        while _pid_alive(pid) and time.monotonic() < deadline:
            await asyncio.sleep(delay)
            delay = min(0.05, delay * 2)
        _kill(pid)
