"""`pipedeck worker install`: the unit it writes, where, and what stays secret."""

from __future__ import annotations

import os
import plistlib
import shlex
import shutil
import stat
import subprocess

import pytest

from pipedeck.errors import UserError
from pipedeck.queue import unit as units

SECRET_URL = "postgresql://team:s3cret-pw@db.example:5432/pipedeck"


@pytest.fixture
def env(tmp_path):
    return {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "PIPEDECK_HOME": str(tmp_path / "data"), "PIPEDECK_DATABASE_URL": SECRET_URL,
            "PIPEDECK_PLUGINS": "site.jobs", "META_ACCESS_TOKEN": "EAAB-token-value", "UNRELATED": "x"}


def test_systemd_unit_carries_the_settings_but_no_secret(env, tmp_path):
    unit = units.build(env, tmp_path / "data", platform="linux", python="/opt/venv/bin/python")
    assert unit.path == tmp_path / "config" / "systemd" / "user" / "pipedeck-worker.service"
    assert 'ExecStart="/opt/venv/bin/python" "-m" "pipedeck" "worker"' in unit.text
    assert f'Environment="PIPEDECK_HOME={tmp_path / "data"}"' in unit.text
    assert 'Environment="PIPEDECK_PLUGINS=site.jobs"' in unit.text
    assert "Restart=on-failure" in unit.text and "StandardOutput=journal" in unit.text
    assert f"EnvironmentFile=-{tmp_path / 'config' / 'pipedeck' / 'worker.env'}" in unit.text
    for secret in ("s3cret-pw", "EAAB-token-value"):
        assert secret not in unit.text and secret not in unit.shown()
    assert "UNRELATED" not in unit.text
    assert "META_ACCESS_TOKEN, PIPEDECK_DATABASE_URL" in unit.shown()


def systemd_verify(path, tmp_path) -> list[str]:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    result = subprocess.run(["systemd-analyze", "--user", "verify", str(path)], capture_output=True, text=True,
                            env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"),
                                 "XDG_RUNTIME_DIR": str(runtime)})
    return [line for line in (result.stderr + result.stdout).splitlines() if line.strip()] + \
        ([f"exit {result.returncode}"] if result.returncode else [])


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_unit_is_valid(env, tmp_path):
    python = shutil.which("python3") or "/usr/bin/python3"
    unit = units.build(env, tmp_path / "data", platform="linux", python=python)
    path = tmp_path / units.UNIT_NAME
    path.write_text(unit.text.replace("Restart=on-failure", "Restart=sometimes"))
    assert any("restart specifier" in line for line in systemd_verify(path, tmp_path))  # the check checks
    path.write_text(unit.text)
    assert systemd_verify(path, tmp_path) == []


def test_launchd_agent_is_a_valid_plist(env, tmp_path):
    unit = units.build(env, tmp_path / "data", platform="darwin", python="/opt/venv/bin/python")
    agent = plistlib.loads(unit.text.encode())
    assert agent["Label"] == "com.pipedeck.worker" and agent["KeepAlive"] == {"SuccessfulExit": False}
    assert agent["EnvironmentVariables"]["PIPEDECK_HOME"] == str(tmp_path / "data")
    assert "s3cret-pw" not in unit.text and agent["ProgramArguments"][-1].endswith("-m pipedeck worker")
    assert unit.path == tmp_path / "home" / "Library" / "LaunchAgents" / "com.pipedeck.worker.plist"


def test_install_and_uninstall_touch_only_the_given_config_home(env, tmp_path):
    calls = []

    def runner(args):
        calls.append(args)
        return subprocess.CompletedProcess(args, 0, "", "")

    unit = units.build(env, tmp_path / "data", platform="linux")
    said = units.install(unit, runner=runner)
    assert unit.path.read_text() == unit.text
    mode = stat.S_IMODE(unit.env_path.stat().st_mode)
    assert mode == 0o600
    stored = dict(line.split("=", 1) for line in unit.env_path.read_text().splitlines() if not line.startswith("#"))
    assert shlex.split(stored["PIPEDECK_DATABASE_URL"]) == [SECRET_URL]
    if shutil.which("systemctl"):
        assert calls == [["systemctl", "--user", "daemon-reload"],
                         ["systemctl", "--user", "enable", "--now", "pipedeck-worker.service"]]
        assert said[-1] == "worker service enabled and started"
    assert all(str(tmp_path) in str(p) for p in (unit.path, unit.env_path))
    said = units.uninstall(unit, runner=runner)
    assert not unit.path.exists() and not unit.env_path.exists()
    assert said[-1].startswith("removed")
    with pytest.raises(UserError, match="no worker service installed"):
        units.uninstall(unit, runner=runner)


def test_a_failing_service_manager_is_one_line_with_what_to_run(env, tmp_path):
    def runner(args):
        return subprocess.CompletedProcess(args, 1, "", "Failed to connect to bus: No medium found\n")

    unit = units.build(env, tmp_path / "data", platform="linux")
    said = units.install(unit, runner=runner)
    if shutil.which("systemctl"):
        assert "failed (Failed to connect to bus: No medium found)" in said[-1]
        assert "systemctl --user enable --now pipedeck-worker.service" in said[-1]
    assert unit.path.exists()  # written all the same: the person can enable it by hand


def test_unknown_platforms_are_refused_in_one_line():
    with pytest.raises(UserError, match="knows systemd .* and launchd"):
        units.platform_kind("win32")


def test_the_cli_prints_installs_and_removes_the_unit(home, tmp_path, monkeypatch):
    from tests.clirunner import invoke

    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.setenv("META_ACCESS_TOKEN", "EAAB-token-value")
    shown = invoke("worker", "install", "--print")
    assert shown.returncode == 0 and "[Service]" in shown.stdout and "EAAB-token-value" not in shown.stdout
    assert not (config / "systemd").exists()  # --print installs nothing
    done = invoke("worker", "install", "--no-start")
    unit_path = config / "systemd" / "user" / units.UNIT_NAME
    assert done.returncode == 0 and unit_path.exists() and f"wrote {unit_path}" in done.stdout
    assert "not started; run: systemctl --user daemon-reload" in done.stdout
    gone = invoke("worker", "uninstall", "--no-stop")
    assert gone.returncode == 0 and not unit_path.exists()
    again = invoke("worker", "uninstall", "--no-stop")
    assert again.returncode != 0 and again.stderr.strip().startswith("pipedeck: no worker service installed")
