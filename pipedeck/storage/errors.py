"""Driver errors turned into pipedeck's own: locked, unwritable, corrupt, conflict.

Nothing in storage lets a raw ``sqlite3`` error out; each becomes one of the
StorageError family, with a message a person can act on and the driver's
error kept as ``__cause__``.
"""

from __future__ import annotations

import shlex
import sqlite3
from pathlib import Path

from pipedeck.errors import DatabaseCorrupt, DatabaseLocked, DatabaseUnwritable, StorageConflict, StorageError

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
