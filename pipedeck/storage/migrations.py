"""Versioned schema migrations, on both engines.

SQLite: the version is ``PRAGMA user_version`` and our mark ``PRAGMA application_id``. An
older file is upgraded in place, one step at a time, each step in its own transaction. A file
written by a newer pipedeck is refused (never modified), and so is any non-empty file that is
not a pipedeck database: it is checked before the first connection that could change it
(switch it to WAL, migrate it).

PostgreSQL: the version and our mark are the ``pipedeck_schema`` table. Every pending step
runs in one transaction under an advisory lock, so when several processes start together one
migrates and the others wait and find it done. A database with a newer schema, or one holding
another application's tables, is refused untouched.

To change the schema: append a step here (SQLite DDL in ``schema.py``) and the same step for
PostgreSQL in ``schema_postgres.py``; never edit a released one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from pipedeck.errors import NotOurDatabase, StorageError
from pipedeck.storage import schema
from pipedeck.storage.dialect import APPLICATION_ID, SQLITE  # noqa: F401 - APPLICATION_ID: tests
from pipedeck.storage.errors import storage_error

if TYPE_CHECKING:
    from pipedeck.storage.db import Database

Step = Callable[[sqlite3.Connection], None]

MIGRATIONS: list[tuple[int, str, Step]] = [
    (1, "core: brands, competitors, runs, attempts, logs, freshness, workers, schedules", schema.v1_core),
    (2, "meta: ads, daily insights, assets", schema.v2_meta),
    (3, "ad library: competitor ads, templates", schema.v3_ad_library),
    (4, "schedules history and freshness policies", schema.v4_schedules),
    (5, "media by run, Ad Library card copy", schema.v5_run_media_and_cards),
    (6, "run leases: attempt token and expiry", schema.v6_leases),
    (7, "the days Meta answered insights for (completeness)", schema.v7_answered_days),
    (8, "the change feed's counter", schema.v8_change_feed),
    (10, "runs table windows and search: sort indexes, trigram text index; attempts by worker", schema.v10_run_windows),
    (11, "alerts, recorded once per event", schema.v11_alerts),
    (12, "search on PostgreSQL: trigram indexes of the runs' summaries and errors", schema.v12_text_search),
]
LATEST = MIGRATIONS[-1][0]

# Tables every pipedeck file has had since version 1: how a file from before the mark is told apart.
CORE_TABLES = frozenset({"brands", "competitors", "schedules", "runs", "attempts", "run_logs", "freshness",
                         "workers"})
# Tables of a PostgreSQL database that are not ours but may share it: huey's queue (PostgresHuey).
QUEUE_TABLE_PREFIX = "huey_"


def current_version(conn) -> int:
    return conn.dialect.schema_version(conn) if hasattr(conn, "dialect") else \
        conn.execute("PRAGMA user_version").fetchone()[0]


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
            version = conn.execute("PRAGMA user_version").fetchone()[0]
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
    dialect = database.dialect
    try:
        if dialect is SQLITE:
            return _migrate_sqlite(database)
        return _migrate_server(database)
    except dialect.driver_errors as exc:
        raise database.error(exc) from exc


def _newer(database: "Database", version: int) -> StorageError:
    what = "the file" if database.path is not None else "the database"
    return StorageError(f"database {database.where} has schema version {version}, newer than this pipedeck "
                        f"understands ({LATEST}); upgrade pipedeck - {what} was not changed")


def _migrate_sqlite(database: "Database") -> int:
    conn = database.conn
    dialect = database.dialect
    version = dialect.schema_version(conn)  # also proves the file is a database
    if version > LATEST:
        raise _newer(database, version)
    marked = dialect.marked(conn)
    if version == LATEST and marked:
        return version
    if not marked:
        with database.write():
            dialect.mark(conn)
    for number, _name, step in MIGRATIONS:
        if number <= version:
            continue
        with database.write():
            # Another process may have migrated while we waited for the lock.
            if dialect.schema_version(conn) >= number:
                continue
            step(conn)
            dialect.set_schema_version(conn, number)
    return dialect.schema_version(conn)


def _check_ours(database: "Database", conn) -> None:
    tables = database.dialect.tables(conn)  # one statement: the mark and the tables from one snapshot
    if "pipedeck_schema" in tables:
        return
    foreign = [t for t in tables if not t.startswith(QUEUE_TABLE_PREFIX)]
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise NotOurDatabase(f"database {database.where} is not a pipedeck database (no pipedeck_schema table;"
                             f" tables: {shown}); it was left untouched - point PIPEDECK_DATABASE_URL at an empty"
                             " database or a pipedeck one")


def _migrate_server(database: "Database") -> int:
    conn = database.conn
    dialect = database.dialect
    _check_ours(database, conn)
    version = dialect.schema_version(conn)
    if version > LATEST:
        raise _newer(database, version)
    if version == LATEST:
        return version
    with database.write():
        dialect.lock_schema(conn)  # the others wait here, then find the work done
        _check_ours(database, conn)
        if not dialect.marked(conn):
            dialect.mark(conn)
        version = dialect.schema_version(conn)
        if version > LATEST:
            raise _newer(database, version)
        for number, _name, _step in MIGRATIONS:
            if number > version:
                dialect.step(number)(conn)
                dialect.set_schema_version(conn, number)
    return dialect.schema_version(conn)
