"""Database URLs: which engine, where, and how one is shown without its password.

``sqlite:///absolute/path`` names a SQLite file (one machine); ``postgresql://user:pass@host:port/dbname``
(or ``postgres://``) a PostgreSQL database (a team). A URL may carry a password, so it is a secret:
wherever one is shown (logs, errors, ``pipedeck status``, ``db status``) it goes through :func:`masked`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import re
from urllib.parse import unquote, urlsplit

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
POSTGRES_SCHEMES = ("postgresql", "postgres")
SQLITE_PREFIX = "sqlite:///"


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed database URL. ``url`` keeps the password (pass it to the driver only); ``shown`` does not."""

    engine: str
    url: str
    path: Path | None = None

    @property
    def shown(self) -> str:
        return masked(self.url)

    def __repr__(self) -> str:  # never the password, even in a traceback's locals
        return f"DatabaseURL({self.shown!r})"

    __str__ = __repr__


def masked(url: str) -> str:
    """``url`` with its password (``user:password@``, and ``password=`` in the query) replaced by ``***``.

    Done on the text, not on a parse: a malformed URL (the kind an error message shows) is masked too.
    """
    text = _USERINFO_PASSWORD.sub(":***@", url.strip())
    return _QUERY_PASSWORD.sub(r"\1***", text)


_USERINFO_PASSWORD = re.compile(r":[^:@/?#\s]*@")
_QUERY_PASSWORD = re.compile(r"(?i)([?&]password=)[^&#]*")


def parse(url: str) -> DatabaseURL:
    """Parse a database URL, or raise ValueError with a one-line reason (the password never in it)."""
    url = (url or "").strip()
    if any(ord(c) < 32 for c in url):
        raise ValueError("it contains control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(f"{masked(url)} is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme == SQLITE:
        if not url.startswith(SQLITE_PREFIX) or len(url) == len(SQLITE_PREFIX) or parts.query:
            raise ValueError("a SQLite URL is sqlite:///absolute/path/to/file.db")
        return DatabaseURL(SQLITE, url, Path(unquote(url[len("sqlite://"):])))
    if scheme in POSTGRES_SCHEMES:
        if not parts.hostname:
            raise ValueError("a PostgreSQL URL names its host: postgresql://user:pass@host:port/dbname")
        if not parts.path.strip("/"):
            raise ValueError("a PostgreSQL URL names its database: postgresql://user:pass@host:port/dbname")
        if port == 0:
            raise ValueError("port 0 is not a port")
        return DatabaseURL(POSTGRESQL, url)
    raise ValueError("the scheme must be sqlite:/// or postgresql://")


def sqlite_url(path: Path | str) -> str:
    return SQLITE_PREFIX + str(Path(path)).lstrip("/")
