"""One Settings object, read from the environment (and the data dir), on pydantic-settings.

Every variable is a typed, bounded field of :class:`Settings`; its description
and what it takes are written once, on the field, and ``pipedeck --help`` and
the one-line errors are generated from them (:func:`variables`). A bad value
stops the program at start with one line naming the variable and what it
takes, never a traceback::

    pipedeck: PIPEDECK_STALE_AFTER must be a number of seconds >= 3 x PIPEDECK_HEARTBEAT_INTERVAL (1.5), got '1'

The Meta token comes from ``META_ACCESS_TOKEN``, else from
``<home>/credentials.json`` (written owner-only by ``pipedeck token set``); it
is a ``SecretStr``, never shown in repr, str or logs.
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_serializer, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict

from pipedeck.concepts import database_urls
from pipedeck.errors import UserError, shown

GRAPH_API_VERSION = "v25.0"
DEFAULT_GRAPH_URL = f"https://graph.facebook.com/{GRAPH_API_VERSION}"
DEFAULT_AD_LIBRARY_URL = "https://www.facebook.com"
CREDENTIALS_FILE = "credentials.json"
ENV_PREFIX = "PIPEDECK_"
# A live worker heartbeats every PIPEDECK_HEARTBEAT_INTERVAL; it is presumed dead only after
# missing this many, so one slow beat (a GC pause, a busy disk) never gets a live run recovered.
HEARTBEATS_BEFORE_STALE = 3


@dataclass(frozen=True)
class Takes:
    """What a variable takes, in words, for its one-line error and ``pipedeck --help``.

    ``default`` says how a computed default is shown; ``secret`` keeps the value out of errors.
    """

    what: str
    default: str | None = None
    secret: bool = False


def _seconds(low: float, high: float, *, above: bool = False) -> Any:
    """A float field of seconds between ``low`` (exclusive when ``above``) and ``high``, finite."""
    bound = {"gt": low} if above else {"ge": low}
    words = f"above {low:g} and at most {high:g}" if above else f"from {low:g} to {high:g}"
    return Annotated[float, Field(allow_inf_nan=False, le=high, **bound), Takes(f"a number of seconds {words}")]


HeartbeatSeconds = _seconds(0.1, 60)
BusySeconds = _seconds(0.01, 3600)
AlertSeconds = _seconds(0.5, 3600)


def default_home() -> Path:
    import platformdirs  # only when PIPEDECK_HOME is unset: a few ms of start-up otherwise

    return Path(platformdirs.user_data_dir("pipedeck", appauthor=False))


_MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_HOST = re.compile(r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")
_TOKEN = re.compile(r"^[\x21-\x7e]{1,4096}$")
_HOST_ID = re.compile(r"^[\x21-\x7e]{1,100}$")
_ALERT_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[\x21-\x7e]+$", re.I)
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("pipedeck_environ", default=None)


def _media_origin_ok(entry: str) -> bool:
    """``scheme://host[:port]`` (that origin exactly) or a bare host (https on 443, and its subdomains)."""
    if "://" not in entry:
        return bool(_HOST.match(entry)) and ":" not in entry.strip("[]")
    try:
        parts = urlsplit(entry)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return False
    return (parts.scheme in ("http", "https") and bool(parts.hostname) and parts.path in ("", "/")
            and not parts.query and not parts.fragment and parts.username is None)


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _fail(what: str) -> PydanticCustomError:
    return PydanticCustomError("pipedeck", "{takes}", {"takes": what})


def _http_url(value: str, *, origin_only: bool) -> str:
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    if (parts.scheme not in ("http", "https") or not _hostname(parts)
            or parts.username is not None or any(c.isspace() or ord(c) < 32 for c in value)
            or (origin_only and (parts.path or parts.query or parts.fragment))):
        raise ValueError(value)
    return value


def _hostname(parts) -> str | None:
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None
    return parts.hostname


class _Environment(EnvSettingsSource):
    """The process environment, or the mapping :func:`load_settings` was given."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _ENVIRON.get()
        environ = os.environ if environ is None else environ
        return {(key if self.case_sensitive else key.lower()): value for key, value in environ.items()
                if not (self.env_ignore_empty and value == "")}


class Settings(BaseSettings):
    """pipedeck's configuration: one field per environment variable (``PIPEDECK_<FIELD>``)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True, extra="ignore",
                                      validate_by_name=True, validate_by_alias=True)

    home: Annotated[Path, Takes("a directory path", default="the platform's user data dir")] = Field(
        default_factory=default_home, description="data dir (database, queue, media, logs)")
    database_url: Annotated[SecretStr | None, Takes("sqlite:///path or postgresql://user:pass@host:port/dbname",
                                                    default="sqlite:///$PIPEDECK_HOME/pipedeck.db")] = Field(
        None, validate_default=True, repr=False,
        description="where runs, schedules, brands and their data live (PostgreSQL: a team's shared database)")
    queue_url: Annotated[str | None, Takes("sqlite:///path or postgresql://user:pass@host:port/dbname",
                                           default="the database's own: sqlite:///$PIPEDECK_HOME/queue.db, "
                                                   "or the PostgreSQL database itself")] = Field(
        None, validate_default=True, repr=False, description="where the job queue (huey's wake-ups) lives")
    media_dir: Annotated[Path | None, Takes("a directory path", default="$PIPEDECK_HOME/media")] = Field(
        None, validate_default=True,
        description="where downloaded images and videos go (a team: a path every worker shares)")
    host_id: Annotated[str, Takes("a name of printable characters without spaces, at most 100",
                                  default="this machine's host name")] = Field(
        default_factory=socket.gethostname,
        description="this machine's name among the workers of one database (unique per machine or container)")
    graph_url: Annotated[str, Takes(f"an http(s) URL such as {DEFAULT_GRAPH_URL}")] = Field(
        DEFAULT_GRAPH_URL, description="Graph API base, version pinned")
    ad_library_url: Annotated[str, Takes(f"an http(s) origin such as {DEFAULT_AD_LIBRARY_URL} (no path)")] = Field(
        DEFAULT_AD_LIBRARY_URL, description="the only origin whose Ad Library URLs are accepted")
    chromium: Annotated[str | None, Takes("a browser executable path",
                                          default="Playwright's Chromium if installed, else chromium on PATH")] = Field(
        None, description="browser executable for the Ad Library scrapes")
    plugins: Annotated[tuple[str, ...], NoDecode, Takes("comma-separated module names such as mypkg.jobtypes")] = Field(
        (), description="modules that register extra job types")
    meta_access_token: Annotated[SecretStr | None, Takes("a Meta access token: printable characters, no spaces",
                                                         default="the credentials file of `pipedeck token set`",
                                                         secret=True)] = Field(
        None, validation_alias="META_ACCESS_TOKEN", repr=False, description="the Meta access token")
    heartbeat_interval: HeartbeatSeconds = Field(2.0, description="seconds between a worker's heartbeats")
    stale_after: Annotated[float, Field(allow_inf_nan=False, gt=0, le=86400),
                           Takes(f"a number of seconds >= {HEARTBEATS_BEFORE_STALE} x PIPEDECK_HEARTBEAT_INTERVAL"
                                 ", at most 86400")] = Field(
        15.0, description="seconds without a heartbeat before a running run's worker counts as dead")
    busy_timeout: BusySeconds = Field(
        30.0, description="seconds a write waits for another process's lock")
    media_hosts: Annotated[tuple[str, ...], NoDecode,
                           Takes("comma-separated media origins (scheme://host[:port], or a bare host for https)",
                                 default="Meta's CDNs and the Graph / Ad Library origins")] = Field(
        (), description="extra origins media may be downloaded from")

    alert_urls: Annotated[SecretStr | None,
                          Takes("comma-separated apprise URLs (slack://..., discord://..., msteams://..., mailto://..., "
                                "ntfy://..., json://host/path)", default="none: alerts are only recorded",
                                secret=True)] = Field(None, description="where alerts are sent, through apprise")
    alert_interval: AlertSeconds = Field(
        30.0, description="seconds between a worker's checks for things to alert about")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        # Arguments, then the environment; no .env file or secrets dir is read behind the user's back.
        return init_settings, _Environment(settings_cls)

    # -- validation: each failure names what the variable takes --------------------------------
    @field_validator("home")
    @classmethod
    def _home(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None:
            home = info.data.get("home")
            return SecretStr(database_urls.sqlite_url(home / "pipedeck.db")) if home is not None else None
        try:
            return SecretStr(database_urls.parse(value.get_secret_value()).url)
        except ValueError as exc:
            raise _fail(f"sqlite:///path or postgresql://user:pass@host:port/dbname ({exc})") from None

    @field_validator("queue_url")
    @classmethod
    def _queue_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            home, database = info.data.get("home"), info.data.get("database_url")
            if database is not None and not database.get_secret_value().startswith("sqlite:"):
                return database.get_secret_value()  # PostgresHuey in the same database
            return f"sqlite:///{home / 'queue.db'}" if home is not None else None
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme in ("redis", "rediss", "unix"):
            raise _fail("sqlite:///path or postgresql://user:pass@host:port/dbname (Redis is no longer supported: "
                        "for more than one machine use PostgreSQL, see README 'More than one machine')")
        try:
            return database_urls.parse(value).url
        except ValueError as exc:
            raise _fail(f"sqlite:///path or postgresql://user:pass@host:port/dbname ({exc})") from None

    @field_serializer("queue_url")
    def _queue_url_shown(self, value: str | None) -> str | None:
        return database_urls.masked(value) if value else value  # a PostgreSQL queue's URL holds a password

    @field_validator("media_dir")
    @classmethod
    def _media_dir(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            home = info.data.get("home")
            return home / "media" if home is not None else None
        if any(ord(c) < 32 for c in str(value)):
            raise ValueError(value)
        return value.expanduser().absolute()

    @field_validator("host_id")
    @classmethod
    def _host_id(cls, value: str) -> str:
        value = value.strip()
        if not _HOST_ID.match(value):
            raise ValueError(value)
        return value

    @field_validator("graph_url")
    @classmethod
    def _graph_url(cls, value: str) -> str:
        return _http_url(value, origin_only=False)

    @field_validator("ad_library_url")
    @classmethod
    def _ad_library_url(cls, value: str) -> str:
        return _http_url(value, origin_only=True)

    @field_validator("chromium")
    @classmethod
    def _chromium(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if any(ord(c) < 32 for c in value):
            raise ValueError(value)
        return value.strip() or None

    @field_validator("plugins", mode="before")
    @classmethod
    def _plugins(cls, value: Any) -> Any:
        value = _split(value)
        if isinstance(value, tuple) and not all(_MODULE.match(name) for name in value):
            raise ValueError(value)
        return value

    @field_validator("media_hosts", mode="before")
    @classmethod
    def _media_hosts(cls, value: Any) -> Any:
        value = _split(value)
        if isinstance(value, tuple) and not all(_media_origin_ok(entry) for entry in value):
            raise ValueError(value)
        return value

    @field_validator("meta_access_token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _TOKEN.match(value.get_secret_value()):
            raise ValueError("not a token")
        return value

    @field_validator("alert_urls")
    @classmethod
    def _alert_urls(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        urls = [u.strip() for u in value.get_secret_value().split(",") if u.strip()]
        if not urls or not all(_ALERT_URL.match(u) for u in urls):
            raise ValueError("not apprise URLs")
        return SecretStr(",".join(urls))

    @field_validator("stale_after")
    @classmethod
    def _stale_after(cls, value: float, info: ValidationInfo) -> float:
        heartbeat = info.data.get("heartbeat_interval")
        if heartbeat is not None and value < HEARTBEATS_BEFORE_STALE * heartbeat:
            raise _fail(f"a number of seconds >= {HEARTBEATS_BEFORE_STALE} x PIPEDECK_HEARTBEAT_INTERVAL "
                        f"({HEARTBEATS_BEFORE_STALE * heartbeat:g})")
        return value

    # -- what other code reads ----------------------------------------------------------------
    @property
    def database(self) -> database_urls.DatabaseURL:
        """The database PIPEDECK_DATABASE_URL names (its ``shown`` form hides the password)."""
        return database_urls.parse(self.database_url.get_secret_value())

    @property
    def db_path(self) -> Path | None:
        """The SQLite file, or None when the database is PostgreSQL."""
        return self.database.path

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def queue_is_sqlite(self) -> bool:
        return self.queue_url.startswith("sqlite:")

    def with_(self, **changes: Any) -> "Settings":
        """A copy with some fields changed, validated like the environment is."""
        values = {name: getattr(self, name) for name in type(self).model_fields}
        values.update(changes)
        try:
            return type(self).model_validate(values)
        except ValidationError as exc:
            raise UserError(describe_error(exc, values)) from None

    def token(self) -> str:
        """The Meta token, or a clear error telling the user how to provide one."""
        if self.meta_access_token is None or not self.meta_access_token.get_secret_value():
            raise UserError(
                "no Meta access token: set META_ACCESS_TOKEN or run "
                "`pipedeck token set` (stored owner-only in the data dir)"
            )
        return self.meta_access_token.get_secret_value()

    def secrets(self) -> list[str]:
        out = [self.meta_access_token.get_secret_value()] if self.meta_access_token else []
        return out + self.alert_targets()

    def alert_targets(self) -> list[str]:
        """The apprise URLs of PIPEDECK_ALERT_URLS (they carry webhook tokens: never print them)."""
        return self.alert_urls.get_secret_value().split(",") if self.alert_urls else []


# -- the variables, for help and errors ----------------------------------------------------------
@dataclass(frozen=True)
class Variable:
    name: str
    field: str
    description: str
    default: str
    takes: Takes


def variables() -> list[Variable]:
    """Every environment variable of :class:`Settings`, in field order."""
    out = []
    for name, info in Settings.model_fields.items():
        takes = next((m for m in info.metadata if isinstance(m, Takes)), Takes("a value"))
        env = info.validation_alias if isinstance(info.validation_alias, str) else ENV_PREFIX + name.upper()
        if takes.default is not None:
            default = takes.default
        else:
            value = info.get_default(call_default_factory=True)
            default = ",".join(value) if isinstance(value, tuple) else ("-" if value in (None, ()) else f"{value:g}"
                                                                        if isinstance(value, float) else str(value))
        out.append(Variable(env, name, info.description or "", default or "-", takes))
    return out


def describe_error(exc: ValidationError, given: Mapping[str, Any] | None = None) -> str:
    """The first error of a settings validation as one line: the variable, what it takes, what it got."""
    by_field = {v.field: v for v in variables()}
    by_env = {v.name.lower(): v for v in variables()}
    error = exc.errors(include_url=False)[0]
    key = str(error["loc"][0]) if error["loc"] else ""
    var = by_field.get(key) or by_env.get(key.lower())
    if var is None:
        return f"invalid settings: {error['msg']}"
    what = (error.get("ctx") or {}).get("takes") if error["type"] == "pipedeck" else None
    what = what or var.takes.what
    if var.takes.secret:
        return f"{var.name} must be {what} (the value is not shown)"
    raw = error.get("input")
    if raw is None and given is not None:
        raw = given.get(var.field)
    if isinstance(raw, tuple):
        raw = ",".join(raw)
    if var.field in ("queue_url", "database_url") and raw is not None:
        raw = database_urls.masked(raw.get_secret_value() if isinstance(raw, SecretStr) else str(raw))
    return f"{var.name} must be {what}, got {shown(raw)}"


def check_token(token: str) -> str:
    """A Meta token is printable ASCII without spaces; anything else would break the HTTP header it travels in."""
    if not _TOKEN.match(token):
        raise UserError("a Meta access token is printable characters without spaces (the value is not shown)")
    return token


def _read_credentials(home: Path) -> SecretStr | None:
    path = home / CREDENTIALS_FILE
    try:
        raw = path.read_text()
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None
    try:
        token = json.loads(raw).get("meta_access_token")
    except (ValueError, AttributeError):
        raise UserError(f"{path} is not valid JSON; fix or delete it") from None
    if not token:
        return None
    if not isinstance(token, str) or not _TOKEN.match(token):
        raise UserError(f"{path} holds a token that is not printable characters without spaces;"
                        " store it again with `pipedeck token set`")
    return SecretStr(token)


def write_credentials(home: Path, token: str) -> Path:
    """Store the token owner-only (0600), never world- or group-readable."""
    check_token(token)
    make_home(home)
    path = home / CREDENTIALS_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as f:
        json.dump({"meta_access_token": token}, f)
    os.chmod(tmp, stat.S_IRUSR | stat.S_IWUSR)
    os.replace(tmp, path)
    return path


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``env`` (default: the process environment), or a one-line UserError."""
    token = _ENVIRON.set(env)
    try:
        settings = Settings()
    except ValidationError as exc:
        raise UserError(describe_error(exc)) from None
    finally:
        _ENVIRON.reset(token)
    if settings.meta_access_token is None:
        stored = _read_credentials(settings.home)
        if stored is not None:
            settings = settings.with_(meta_access_token=stored)
    return settings


# -- the data dir --------------------------------------------------------------------------------
# What pipedeck writes holds ad data and a token: owner-only, directory and files alike.
PRIVATE_DIR = 0o700
PRIVATE_UMASK = 0o077


def make_home(home: Path) -> None:
    """Create the data dir owner-only (0700); an existing one is left as it is."""
    if not home.is_dir():
        home.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        os.chmod(home, PRIVATE_DIR)  # mkdir's mode is masked by the umask; say it exactly


def ensure_home(settings: Settings) -> Path:
    """Create the data dir, or fail with one line saying why it cannot be used."""
    home = settings.home
    try:
        make_home(home)
        probe = home / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UserError(f"data dir {home} is not writable: {reason} (PIPEDECK_HOME names the data dir)") from None
    return home


def loose_permissions(home: Path) -> str | None:
    """A one-line warning when an existing data dir can be read or entered by others, else None."""
    try:
        mode = stat.S_IMODE(home.stat().st_mode)
    except OSError:
        return None
    if not home.is_dir() or not mode & 0o077:
        return None
    return (f"warning: data dir {home} is open to other users (mode {mode:o}); "
            f"`chmod 700 {home}` keeps its data and token yours")
