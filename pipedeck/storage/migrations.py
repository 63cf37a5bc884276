"""Versioned schema migrations, tracked in ``PRAGMA user_version``; our mark in ``PRAGMA application_id``.

An older file is upgraded in place, one step at a time, each step in its own
transaction. A file written by a newer pipedeck is refused (never modified),
and so is any non-empty file that is not a pipedeck database: it is checked
before the first connection that could change it (switch it to WAL, migrate
it). To change the schema: append a step; never edit a released one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from pipedeck.errors import NotOurDatabase, StorageError
from pipedeck.storage import schema
from pipedeck.storage.errors import storage_error

if TYPE_CHECKING:
    from pipedeck.storage.db import Database

Step = Callable[[sqlite3.Connection], None]

# "pdk1": written into every pipedeck database file's header.
APPLICATION_ID = 0x70646B31

MIGRATIONS: list[tuple[int, str, Step]] = [
    (1, "core: brands, competitors, runs, attempts, logs, freshness, workers, schedules", schema.v1_core),
    (2, "meta: ads, daily insights, assets", schema.v2_meta),
    (3, "ad library: competitor ads, templates", schema.v3_ad_library),
    (4, "schedules history and freshness policies", schema.v4_schedules),
    (5, "media by run, Ad Library card copy", schema.v5_run_media_and_cards),
    (6, "run leases: attempt token and expiry", schema.v6_leases),
    (7, "the days Meta answered insights for (completeness)", schema.v7_answered_days),
    # 8 and 9 are taken by the PostgreSQL seam; the steps run in the order of their numbers.
    (10, "runs table windows and search: sort indexes, trigram text index; attempts by worker", schema.v10_run_windows),
    (11, "alerts, recorded once per event", schema.v11_alerts),
]
LATEST = MIGRATIONS[-1][0]

# Tables every pipedeck file has had since version 1: how a file from before the mark is told apart.
CORE_TABLES = frozenset({"brands", "competitors", "schedules", "runs", "attempts", "run_logs", "freshness",
                         "workers"})


def current_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def check_file(path: Path) -> None:
    """Refuse, without changing it, a file at ``path`` that is not a pipedeck database.

    Accepted: no file or an empty one (it becomes ours), a file with our
    application id, and a pipedeck file from before the mark (user_version
    1..LATEST with our core tables; it is marked by :func:`migrate`).
    """

    try:
        if path.stat().st_size == 0:
            return
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StorageError(f"database {path} cannot be read: {exc.strerror or exc}") from exc
    # Read-only, and immutable when there is no WAL to read: opening must not
    # create side files next to somebody else's database.
    wal = Path(f"{path}-wal").exists()
    uri = path.resolve().as_uri() + ("?mode=ro" if wal else "?immutable=1")
    try:
        conn = sqlite3.connect(uri, uri=True)
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            if app_id == APPLICATION_ID:
                return
            version = current_version(conn)
            objects = conn.execute("SELECT type, name FROM sqlite_master").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise storage_error(path, exc) from exc
    tables = sorted(name for kind, name in objects if kind == "table" and not name.startswith("sqlite_"))
    if app_id == 0 and version == 0 and not objects:
        return  # a database with nothing in it: nothing of anybody's to lose
    if app_id == 0 and 1 <= version <= LATEST and CORE_TABLES <= set(tables):
        return
    found = f"application id {app_id:#x}" if app_id else "no pipedeck mark"
    shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
    raise NotOurDatabase(
        f"{path} is not a pipedeck database ({found}, schema version {version}, tables: {shown or 'none'});"
        " it was left untouched - move it away, or set PIPEDECK_HOME to another data dir")


def migrate(database: "Database") -> int:

    try:
        return _migrate(database)
    except sqlite3.Error as exc:
        raise storage_error(database.path, exc) from exc


def _migrate(database: "Database") -> int:
    conn = database.conn
    version = current_version(conn)  # also proves the file is a database
    if version > LATEST:
        raise StorageError(
            f"database {database.path} has schema version {version}, newer than this pipedeck "
            f"understands ({LATEST}); upgrade pipedeck - the file was not changed"
        )
    marked = conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    if version == LATEST and marked:
        return version
    if not marked:
        with database.write():
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    for number, _name, step in MIGRATIONS:
        if number <= version:
            continue
        with database.write():
            # Another process may have migrated while we waited for the lock.
            if current_version(conn) >= number:
                continue
            step(conn)
            conn.execute(f"PRAGMA user_version = {number}")
    return current_version(conn)
