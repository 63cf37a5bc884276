"""One Settings object, read from the environment (and the data dir).

Environment variables (the interface contract of DESIGN.md):

- ``PIPEDECK_HOME``: data dir; default the platform's user data dir.
- ``PIPEDECK_QUEUE_URL``: ``sqlite:///path`` (default ``<home>/queue.db``) or
  ``redis://host:port/db``.
- ``META_ACCESS_TOKEN``: the Meta token; else ``<home>/credentials.json``
  (written owner-only by ``pipedeck token set``).
- ``PIPEDECK_GRAPH_URL``: Graph API base incl. version.
- ``PIPEDECK_AD_LIBRARY_URL``: the only origin whose Ad Library URLs are accepted.
- ``PIPEDECK_CHROMIUM``: browser executable.
- ``PIPEDECK_PLUGINS``: comma-separated modules that register extra job types
  (tests and benchmarks use it; the worker imports them at start).
- ``PIPEDECK_MEDIA_HOSTS``: extra hosts media may be downloaded from, besides
  Meta's CDNs and the Graph / Ad Library hosts.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path

import platformdirs

from pipedeck.errors import UserError

GRAPH_API_VERSION = "v25.0"
DEFAULT_GRAPH_URL = f"https://graph.facebook.com/{GRAPH_API_VERSION}"
DEFAULT_AD_LIBRARY_URL = "https://www.facebook.com"
CREDENTIALS_FILE = "credentials.json"


class Secret:
    """A string that never shows itself in repr, str or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "**********"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("secret", self._value))


@dataclass(frozen=True)
class Settings:
    home: Path
    queue_url: str
    graph_url: str = DEFAULT_GRAPH_URL
    ad_library_url: str = DEFAULT_AD_LIBRARY_URL
    chromium: str | None = None
    plugins: tuple[str, ...] = ()
    meta_access_token: Secret | None = field(default=None, repr=False)
    # Seconds without a heartbeat after which a running run's worker is presumed dead.
    stale_after: float = 15.0
    heartbeat_interval: float = 2.0
    # Seconds a write waits for another process's write lock before giving up.
    busy_timeout: float = 30.0
    # Extra hosts (and their subdomains) media may be downloaded from, besides Meta's CDNs.
    media_hosts: tuple[str, ...] = ()

    @property
    def db_path(self) -> Path:
        return self.home / "pipedeck.db"

    @property
    def media_dir(self) -> Path:
        return self.home / "media"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def queue_is_sqlite(self) -> bool:
        return self.queue_url.startswith("sqlite:")

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)

    def token(self) -> str:
        """The Meta token, or a clear error telling the user how to provide one."""
        if self.meta_access_token is None or not self.meta_access_token:
            raise UserError(
                "no Meta access token: set META_ACCESS_TOKEN or run "
                "`pipedeck token set` (stored owner-only in the data dir)"
            )
        return self.meta_access_token.reveal()

    def secrets(self) -> list[str]:
        return [self.meta_access_token.reveal()] if self.meta_access_token else []


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("pipedeck", appauthor=False))


def _read_credentials(home: Path) -> Secret | None:
    path = home / CREDENTIALS_FILE
    try:
        raw = path.read_text()
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None
    try:
        token = json.loads(raw).get("meta_access_token")
    except (ValueError, AttributeError):
        raise UserError(f"{path} is not valid JSON; fix or delete it") from None
    return Secret(token) if token else None


def write_credentials(home: Path, token: str) -> Path:
    """Store the token owner-only (0600), never world- or group-readable."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / CREDENTIALS_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as f:
        json.dump({"meta_access_token": token}, f)
    os.chmod(tmp, stat.S_IRUSR | stat.S_IWUSR)
    os.replace(tmp, path)
    return path


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    home = Path(env.get("PIPEDECK_HOME") or default_home()).expanduser()
    queue_url = env.get("PIPEDECK_QUEUE_URL") or f"sqlite:///{home / 'queue.db'}"
    if not (queue_url.startswith("sqlite:///") or queue_url.startswith(("redis://", "rediss://", "unix://"))):
        raise UserError(
            f"PIPEDECK_QUEUE_URL must be sqlite:///path or redis://host:port/db, got {queue_url.split('@')[-1]!r}"
        )
    token = env.get("META_ACCESS_TOKEN")
    plugins = tuple(p.strip() for p in env.get("PIPEDECK_PLUGINS", "").split(",") if p.strip())
    return Settings(
        home=home,
        queue_url=queue_url,
        graph_url=(env.get("PIPEDECK_GRAPH_URL") or DEFAULT_GRAPH_URL).rstrip("/"),
        ad_library_url=(env.get("PIPEDECK_AD_LIBRARY_URL") or DEFAULT_AD_LIBRARY_URL).rstrip("/"),
        chromium=env.get("PIPEDECK_CHROMIUM") or None,
        plugins=plugins,
        meta_access_token=Secret(token) if token else _read_credentials(home),
        stale_after=float(env.get("PIPEDECK_STALE_AFTER", 15.0)),
        heartbeat_interval=float(env.get("PIPEDECK_HEARTBEAT_INTERVAL", 2.0)),
        busy_timeout=float(env.get("PIPEDECK_BUSY_TIMEOUT", 30.0)),
        media_hosts=tuple(h.strip() for h in env.get("PIPEDECK_MEDIA_HOSTS", "").split(",") if h.strip()),
    )


def ensure_home(settings: Settings) -> Path:
    """Create the data dir, or fail with one line saying why it cannot be used."""
    home = settings.home
    try:
        home.mkdir(parents=True, exist_ok=True)
        probe = home / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UserError(f"data dir {home} is not writable: {reason}") from None
    return home
