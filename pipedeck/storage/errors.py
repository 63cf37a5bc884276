"""Driver errors turned into pipedeck's own: locked, unwritable, corrupt, conflict, unreachable.

Nothing in storage lets a raw ``sqlite3`` or ``psycopg`` error out; each becomes one of the
StorageError family, with a message a person can act on (one line, never a password: a
PostgreSQL database is named by its masked URL) and the driver's error kept as ``__cause__``.
"""

from __future__ import annotations

import shlex
import sqlite3
from pathlib import Path

from pipedeck.errors import (DatabaseCorrupt, DatabaseLocked, DatabaseUnreachable, DatabaseUnwritable, StorageConflict,
                             StorageError)

_CODE_CLASSES: dict[int, type[StorageError]] = {
    5: DatabaseLocked,        # SQLITE_BUSY
    6: DatabaseLocked,        # SQLITE_LOCKED
    11: DatabaseCorrupt,      # SQLITE_CORRUPT
    26: DatabaseCorrupt,      # SQLITE_NOTADB
    3: DatabaseUnwritable,    # SQLITE_PERM
    8: DatabaseUnwritable,    # SQLITE_READONLY
    10: DatabaseUnwritable,   # SQLITE_IOERR
    13: DatabaseUnwritable,   # SQLITE_FULL
    14: DatabaseUnwritable,   # SQLITE_CANTOPEN
    19: StorageConflict,      # SQLITE_CONSTRAINT
}


def _error_class(exc: sqlite3.Error) -> type[StorageError]:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and (code & 0xFF) in _CODE_CLASSES:
        return _CODE_CLASSES[code & 0xFF]
    if isinstance(exc, sqlite3.IntegrityError):
        return StorageConflict
    text = str(exc)
    if "locked" in text or "busy" in text:
        return DatabaseLocked
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return DatabaseCorrupt
    if "readonly" in text or "unable to open" in text or "disk I/O" in text or "full" in text:
        return DatabaseUnwritable
    return StorageError


def recover_hint(path: Path | str) -> str:
    """What to run to rescue what is readable from a damaged file."""
    path = Path(path)
    rescued = path.with_name(path.stem + "-recovered" + path.suffix)
    return (f"stop every pipedeck process, then run `sqlite3 {shlex.quote(str(path))} .recover"
            f" | sqlite3 {shlex.quote(str(rescued))}` and move {rescued.name} into place (or restore a backup)")


def storage_error(path: Path | str, exc: sqlite3.Error) -> StorageError:
    """The StorageError for a driver error on ``path``, with the driver's error as its cause."""
    cls = _error_class(exc)
    text = " ".join(str(exc).split())
    if cls is DatabaseLocked:
        message = (f"database {path} is locked by another process ({text}); try again, "
                   "or stop the process holding it")
    elif cls is DatabaseCorrupt:
        message = f"database {path} is corrupt ({text}); it was left untouched - {recover_hint(path)}"
    elif cls is DatabaseUnwritable:
        message = f"database {path} cannot be written ({text}); check the data dir's permissions and free space"
    else:
        message = f"database {path}: {text}"
    error = cls(message)
    error.__cause__ = exc
    return error


def describe_db_error(path: Path | str, exc: sqlite3.Error) -> str:
    return str(storage_error(path, exc))


# -- PostgreSQL ---------------------------------------------------------------------------------
_GONE = ("server closed the connection", "terminating connection", "connection is lost", "connection is closed",
         "the database system is shutting down", "the database system is starting up",
         "the database system is in recovery mode", "consuming input failed", "ssl syscall", "connection reset",
         "broken pipe", "timeout expired", "could not receive data", "could not send data", "no connection to the server",
         "connection timed out", "server conn crashed", "canceling statement due to conflict with recovery")


def _pg_text(exc: BaseException) -> str:
    """The server's or libpq's words, without the 'connection to server at ... failed: FATAL:' preamble."""
    text = " ".join(str(exc).split())
    for marker in ("FATAL:", "failed:"):
        if marker in text:
            text = text.rsplit(marker, 1)[1].strip() or text
            break
    return text.removesuffix(" Is the server running on that host and accepting TCP/IP connections?")


def postgres_error(where: str, exc: BaseException) -> StorageError:
    """The StorageError for a psycopg error on the database shown as ``where`` (a masked URL)."""
    import psycopg

    sqlstate = getattr(exc, "sqlstate", None) or ""
    text = _pg_text(exc)
    lowered = str(exc).lower()
    cls: type[StorageError] = StorageError
    if "password authentication failed" in lowered or sqlstate.startswith("28") or "no pg_hba.conf entry" in lowered \
            or ("role" in lowered and "does not exist" in lowered):
        message = (f"database {where} refused the credentials ({text}); check the user and password in "
                   "PIPEDECK_DATABASE_URL")
    elif sqlstate == "3D000" or ("database" in lowered and "does not exist" in lowered):
        message = (f"database {where} does not exist on that server ({text}); create it (createdb) or fix "
                   "PIPEDECK_DATABASE_URL")
    elif (sqlstate.startswith("08") or sqlstate in ("57P01", "57P02", "57P03")
          or isinstance(exc, psycopg.InterfaceError) or "connection refused" in lowered
          or "failed to resolve host" in lowered or "could not translate host name" in lowered
          or any(marker in lowered for marker in _GONE)
          or (isinstance(exc, psycopg.OperationalError) and not sqlstate)):
        cls = DatabaseUnreachable
        if "connection refused" in lowered:
            text = "connection refused; is the server running and accepting TCP connections?"
        message = f"database {where} is unreachable ({text})"
    elif sqlstate.startswith("23"):
        cls, message = StorageConflict, f"database {where}: {text}"
    elif sqlstate in ("40P01", "40001", "55P03"):
        cls = DatabaseLocked
        message = f"database {where}: a row is locked by another session ({text}); try again"
    elif sqlstate.startswith("53") or sqlstate == "25006":
        cls = DatabaseUnwritable
        message = f"database {where} cannot be written ({text}); check the server's disk and settings"
    elif sqlstate in ("XX001", "XX002"):
        cls = DatabaseCorrupt
        message = f"database {where} is damaged ({text}); restore it from a backup"
    else:
        message = f"database {where}: {text}"
    error = cls(message)
    error.__cause__ = exc
    return error
