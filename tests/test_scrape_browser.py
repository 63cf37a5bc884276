"""The Chromium a scrape starts: a minimal environment with no secrets, and its own sandbox on
wherever it can run. Real Chromium, the sandbox's Ad Library over 127.0.0.1."""

from __future__ import annotations

import json
import logging
import os
import shutil
import site
import subprocess
import sys
import tempfile

import psutil
import pytest

from pipedeck.handlers.browser import RUN_MARKER_ENV, browser_env
from tests.helpers import REPO
from tests.test_scrape_competitor import _wait_mid_scrape, lib  # noqa: F401  (fixture)

SECRETS = {"META_ACCESS_TOKEN": None,  # the sandbox's token, from lib.env
           "SHOPIFY_API_TOKEN": "shpat_0123456789abcdef", "SMTP_PASSWORD": "hunter2-smtp",
           "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}


def test_browser_env_keeps_what_chromium_needs_and_no_secret():
    environ = {"PATH": "/usr/bin", "HOME": "/home/a", "LANG": "en_US.UTF-8", "LC_ALL": "C", "TZ": "UTC",
               "PIPEDECK_HOME": "/data", "META_ACCESS_TOKEN": "EAAB-secret", "GITHUB_TOKEN": "ghp_x",
               "PGPASSWORD": "pw", "PIPEDECK_DATABASE_URL": "postgresql://u:pw@db/pipedeck",
               "PIPEDECK_ALERT_URLS": "slack://token@channel", "https_proxy": "http://user:secret@proxy:3128",
               "NO_PROXY": "localhost"}
    env = browser_env(environ, run_id=7)
    assert env == {"PATH": "/usr/bin", "HOME": "/home/a", "LANG": "en_US.UTF-8", "LC_ALL": "C", "TZ": "UTC",
                   "PIPEDECK_HOME": "/data", "https_proxy": "http://proxy:3128", "NO_PROXY": "localhost",
                   RUN_MARKER_ENV: "7"}


def test_chromium_of_a_scrape_gets_no_secrets(lib, worker_factory):
    secrets = {k: v or lib.env[k] for k, v in SECRETS.items()}
    lib.sandbox.set_faults(adlib_slow=0.3)
    worker_factory(extra_env={**lib.env, **secrets})
    run_id = lib.queue()
    seen = _wait_mid_scrape(lib, run_id)
    environs = []
    for proc in seen:
        try:
            environs.append(proc.environ())
        except psutil.Error:
            pass
    assert environs, "no Chromium process could be read"
    for env in environs:
        assert env[RUN_MARKER_ENV] == str(run_id)
        leaked = [k for k, v in secrets.items() if k in env or v in "\0".join(f"{a}={b}" for a, b in env.items())]
        assert not leaked, f"Chromium {env.get('PIPEDECK_BROWSER_RUN')} got {leaked}"
        assert not [k for k in env if k.endswith(("_TOKEN", "PASSWORD")) or k == "PIPEDECK_DATABASE_URL"]
    lib.wait(run_id)


PROBE = r"""
import asyncio, json, os, sys
import psutil
from pipedeck.config import load_settings
from pipedeck.handlers.browser import launched_browser

async def main():
    async with launched_browser(load_settings(), run_id=4242) as browser:
        page = await (await browser.new_context()).new_page()
        await page.goto("data:text/html,<p>probe</p>")
        me = psutil.Process()
        chromes = [p for p in me.children(recursive=True) if "chrom" in p.name().lower()]
        out = {"euid": os.geteuid(), "args": [], "seccomp": []}
        for p in chromes:
            cmd = p.cmdline()
            out["args"].append(cmd)
            if "--type=renderer" in cmd:
                with open(f"/proc/{p.pid}/status") as f:
                    out["seccomp"] += [line.split()[1] for line in f if line.startswith("Seccomp:")]
        print(json.dumps(out))

asyncio.run(main())
"""


def _python_for(user: str | None) -> str:
    """This Python, or the same minor version elsewhere on the machine when ``user`` may not run
    it (a pyenv under /root); the venv's packages come in through PYTHONPATH."""
    if user is None:
        return sys.executable
    minor = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (sys.executable, shutil.which(minor) or "", f"/usr/bin/{minor}"):
        if candidate and subprocess.run(["runuser", "-u", user, "--", "test", "-x", candidate]).returncode == 0:
            return candidate
    pytest.fail(f"no {minor} that {user} may run, to start Chromium as an ordinary user")


def _probe(chromium_path: str, as_user: str | None) -> tuple[dict, str]:
    home = tempfile.mkdtemp(prefix="pipedeck-probe-")
    try:
        if as_user:
            shutil.chown(home, user=as_user)
        env = {"PATH": os.environ["PATH"], "HOME": home, "PIPEDECK_HOME": os.path.join(home, "data"),
               "PIPEDECK_CHROMIUM": chromium_path, "PYTHONPATH": os.pathsep.join([str(REPO), *site.getsitepackages()])}
        cmd = [_python_for(as_user), "-c", PROBE]
        if as_user:
            cmd = ["runuser", "-u", as_user, "--", "env", *(f"{k}={v}" for k, v in env.items()), *cmd]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=90, cwd=home)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_chromium_keeps_its_sandbox_when_not_root(chromium_path):
    """As an ordinary user Chromium starts with its sandbox: no --no-sandbox, renderers under seccomp."""
    as_user = None
    if os.geteuid() == 0:
        if not shutil.which("runuser"):
            pytest.fail("tests run as root need runuser to try Chromium as an ordinary user")
        as_user = "nobody"
    out, stderr = _probe(chromium_path, as_user)
    assert out["euid"] != 0
    browser = next(a for a in out["args"] if not any(x.startswith("--type=") for x in a))
    assert "--no-sandbox" not in browser, browser
    assert out["seccomp"] and all(mode == "2" for mode in out["seccomp"]), out
    assert "without its sandbox" not in stderr


async def test_as_root_chromium_runs_without_its_sandbox_and_says_so_once(chromium_path, settings, caplog):
    if os.geteuid() != 0:
        pytest.skip("only root cannot have Chromium's sandbox; the test above covers ordinary users")
    from pipedeck.handlers import browser as browser_module

    browser_module._said_no_sandbox = False
    settings = settings.with_(chromium=chromium_path)
    caplog.set_level(logging.WARNING, logger="pipedeck.browser")
    for _ in range(2):
        async with browser_module.launched_browser(settings, run_id=4343) as browser:
            assert browser.is_connected()
    said = [r for r in caplog.records if "without its sandbox" in r.getMessage()]
    assert len(said) == 1 and "root" in said[0].getMessage()


def test_without_its_sandbox_chromium_runs_in_fewer_processes_keeping_playwrights_features(chromium_path):
    """Where Chromium has no sandbox (root) the zygote and the separate network service only cost
    memory: neither runs. Chromium reads only the last --enable-features, so pipedeck's repeats
    every feature Playwright's own (earlier) one enables."""
    if os.geteuid() != 0:
        pytest.skip("as an ordinary user Chromium keeps its sandbox, and with it the zygote")
    out, _ = _probe(chromium_path, None)
    browser = next(a for a in out["args"] if not any(x.startswith("--type=") for x in a))
    assert "--no-sandbox" in browser and "--no-zygote" in browser
    types = [next((x for x in a if x.startswith("--type=")), "browser") for a in out["args"]]
    assert "--type=zygote" not in types and types.count("browser") == 1, types
    assert not [a for a in out["args"] if any("NetworkService" in x and "utility-sub-type" in x for x in a)]
    enabled = [set(x.split("=", 1)[1].split(",")) for x in browser if x.startswith("--enable-features=")]
    assert len(enabled) == 2, "Playwright's --enable-features, then pipedeck's"
    assert enabled[0] <= enabled[-1], f"Playwright enables {enabled[0] - enabled[-1]} too: update " \
                                      "PLAYWRIGHT_ENABLED_FEATURES in pipedeck/handlers/browser.py"
    assert "NetworkServiceInProcess2" in enabled[-1]
