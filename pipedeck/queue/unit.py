"""The worker as a system service: a systemd user unit on Linux, a launchd agent on macOS.

``pipedeck worker install`` writes the unit for the current environment (data
dir, database and queue settings, plugins), restarting on failure and logging
to the journal (launchd: to a file in the data dir's logs), and enables it.
Settings that hold secrets (a database URL with a password, the Meta token
when it comes from the environment) go to an owner-only environment file
beside the unit, never into the unit itself or onto the screen.
"""

from __future__ import annotations

import os
import plistlib
import shlex
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from pipedeck.errors import UserError

UNIT_NAME = "pipedeck-worker.service"
AGENT_LABEL = "com.pipedeck.worker"
# Environment a worker needs to find the same data as this shell; the rest of the environment stays out.
PASSED_VARIABLES = ("PIPEDECK_HOME", "PIPEDECK_DATABASE_URL", "PIPEDECK_QUEUE_URL", "PIPEDECK_MEDIA_DIR",
                    "PIPEDECK_HOST_ID", "PIPEDECK_GRAPH_URL", "PIPEDECK_AD_LIBRARY_URL", "PIPEDECK_CHROMIUM", "PIPEDECK_PLUGINS",
                    "PIPEDECK_MEDIA_HOSTS", "PIPEDECK_ALERT_URLS", "PIPEDECK_STALE_AFTER",
                    "PIPEDECK_HEARTBEAT_INTERVAL", "PIPEDECK_BUSY_TIMEOUT", "META_ACCESS_TOKEN", "PYTHONPATH")
SECRET_VARIABLES = ("PIPEDECK_DATABASE_URL", "PIPEDECK_QUEUE_URL", "PIPEDECK_ALERT_URLS", "META_ACCESS_TOKEN")

Runner = Callable[[list[str]], subprocess.CompletedProcess]


@dataclass
class Unit:
    """What install writes: the unit file, and the owner-only environment file it reads."""

    kind: str  # "systemd" or "launchd"
    path: Path
    text: str
    env_path: Path | None = None
    secrets: dict[str, str] = field(default_factory=dict, repr=False)

    def shown(self) -> str:
        """The unit as ``--print`` shows it: secrets named, never their values."""
        out = self.text
        if self.env_path is not None:
            names = ", ".join(sorted(self.secrets)) or "nothing"
            out += f"\n# {self.env_path} (mode 0600) holds: {names}\n"
        return out


def platform_kind(platform: str | None = None) -> str:
    platform = platform or sys.platform
    if platform.startswith("linux"):
        return "systemd"
    if platform == "darwin":
        return "launchd"
    raise UserError(f"`pipedeck worker install` knows systemd (Linux) and launchd (macOS), not {platform}; "
                    "run `pipedeck worker` under your system's service manager instead")


def config_home(env: Mapping[str, str]) -> Path:
    return Path(env.get("XDG_CONFIG_HOME") or Path(env.get("HOME") or Path.home()) / ".config")


def _command(python: str) -> list[str]:
    return [python, "-m", "pipedeck", "worker"]


def _split_env(env: Mapping[str, str], home: Path) -> tuple[dict[str, str], dict[str, str]]:
    plain = {"PIPEDECK_HOME": str(home)}
    secrets = {}
    for name in PASSED_VARIABLES:
        value = env.get(name)
        if not value or name == "PIPEDECK_HOME":
            continue
        if name in SECRET_VARIABLES:
            secrets[name] = value
        else:
            plain[name] = value
    return plain, secrets


def _systemd_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%") + '"'


def systemd_unit(env: Mapping[str, str], home: Path, *, python: str = sys.executable) -> Unit:
    plain, secrets = _split_env(env, home)
    unit_dir = config_home(env) / "systemd" / "user"
    env_path = config_home(env) / "pipedeck" / "worker.env"
    lines = [
        "[Unit]",
        "Description=pipedeck worker (runs queued Meta and Ad Library jobs)",
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        "ExecStart=" + " ".join(_systemd_quote(part) for part in _command(python)),
        *(f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in sorted(plain.items())),
        f"EnvironmentFile=-{env_path}",
        f"WorkingDirectory={home}",
        "Restart=on-failure",
        "RestartSec=5",
        # SIGTERM lets running jobs finish (the worker's --grace) before their runs are handed back.
        "KillSignal=SIGTERM",
        "TimeoutStopSec=30",
        "StandardOutput=journal",
        "StandardError=journal",
        "SyslogIdentifier=pipedeck-worker",
        "UMask=0077",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return Unit("systemd", unit_dir / UNIT_NAME, "\n".join(lines), env_path=env_path, secrets=secrets)


def launchd_agent(env: Mapping[str, str], home: Path, *, python: str = sys.executable) -> Unit:
    plain, secrets = _split_env(env, home)
    agents = Path(env.get("HOME") or Path.home()) / "Library" / "LaunchAgents"
    env_path = config_home(env) / "pipedeck" / "worker.env"
    # launchd has no environment file: the agent runs a shell that reads it, then execs the worker.
    script = f"set -a; [ -r {shlex.quote(str(env_path))} ] && . {shlex.quote(str(env_path))}; set +a; exec " + \
        " ".join(shlex.quote(p) for p in _command(python))
    logs = home / "logs"
    plist = {
        "Label": AGENT_LABEL,
        "ProgramArguments": ["/bin/sh", "-c", script],
        "EnvironmentVariables": plain,
        "WorkingDirectory": str(home),
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": 5,
        "StandardOutPath": str(logs / "worker-service.log"),
        "StandardErrorPath": str(logs / "worker-service.log"),
        "Umask": 0o077,
    }
    text = plistlib.dumps(plist).decode()
    return Unit("launchd", agents / f"{AGENT_LABEL}.plist", text, env_path=env_path, secrets=secrets)


def build(env: Mapping[str, str], home: Path, *, platform: str | None = None,
          python: str = sys.executable) -> Unit:
    kind = platform_kind(platform)
    return systemd_unit(env, home, python=python) if kind == "systemd" else launchd_agent(env, home, python=python)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _env_file(secrets: Mapping[str, str]) -> str:
    lines = ["# pipedeck worker: settings that hold secrets (read by the service, owner-only)"]
    for name, value in sorted(secrets.items()):
        lines.append(f"{name}={shlex.quote(value)}")
    return "\n".join(lines) + "\n"


def _default_runner(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=30)


def _manager_commands(unit: Unit, action: str) -> list[list[str]]:
    if unit.kind == "systemd":
        if action == "install":
            return [["systemctl", "--user", "daemon-reload"], ["systemctl", "--user", "enable", "--now", UNIT_NAME]]
        return [["systemctl", "--user", "disable", "--now", UNIT_NAME], ["systemctl", "--user", "daemon-reload"]]
    if action == "install":
        return [["launchctl", "load", "-w", str(unit.path)]]
    return [["launchctl", "unload", "-w", str(unit.path)]]


def install(unit: Unit, *, start: bool = True, runner: Runner | None = None) -> list[str]:
    """Write the unit (and its environment file) and enable it. Returns lines to tell the person."""
    unit.path.parent.mkdir(parents=True, exist_ok=True)
    unit.path.write_text(unit.text)
    said = [f"wrote {unit.path}"]
    if unit.env_path is not None:
        _write_private(unit.env_path, _env_file(unit.secrets))
        said.append(f"wrote {unit.env_path} (owner-only)")
    said += _run_manager(unit, "install", start=start, runner=runner)
    return said


def uninstall(unit: Unit, *, stop: bool = True, runner: Runner | None = None) -> list[str]:
    if not unit.path.exists():
        raise UserError(f"no worker service installed ({unit.path} does not exist)")
    said = _run_manager(unit, "uninstall", start=stop, runner=runner)
    unit.path.unlink()
    said.append(f"removed {unit.path}")
    if unit.env_path is not None and unit.env_path.exists():
        unit.env_path.unlink()
        said.append(f"removed {unit.env_path}")
    return said


def _run_manager(unit: Unit, action: str, *, start: bool, runner: Runner | None) -> list[str]:
    commands = _manager_commands(unit, action)
    manual = "; ".join(" ".join(c) for c in commands)
    if not start:
        return [f"not {'started' if action == 'install' else 'stopped'}; run: {manual}"]
    if shutil.which(commands[0][0]) is None:
        return [f"{commands[0][0]} not found; run: {manual}"]
    run = runner or _default_runner
    for args in commands:
        result = run(args)
        if result.returncode != 0:
            reason = " ".join((result.stderr or result.stdout or "").split())[:200]
            return [f"`{' '.join(args)}` failed ({reason}); run: {manual}"]
    return ["worker service " + ("enabled and started" if action == "install" else "stopped and disabled")]
