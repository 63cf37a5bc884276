"""Versioned schema migrations, tracked in ``PRAGMA user_version``.

An older file is upgraded in place, one step at a time, each step in its own
transaction. A file written by a newer pipedeck is refused (never modified).
To change the schema: append a step; never edit a released one.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Callable

from pipedeck.errors import StorageError
from pipedeck.storage import schema

if TYPE_CHECKING:
    from pipedeck.storage.db import Database

Step = Callable[[sqlite3.Connection], None]

MIGRATIONS: list[tuple[int, str, Step]] = [
    (1, "core: brands, competitors, runs, attempts, logs, freshness, workers, schedules", schema.v1_core),
    (2, "meta: ads, daily insights, assets", schema.v2_meta),
    (3, "ad library: competitor ads, templates", schema.v3_ad_library),
    (4, "schedules history and freshness policies", schema.v4_schedules),
    (5, "media by run, Ad Library card copy", schema.v5_run_media_and_cards),
    # 6 is the run store's (on its own branch); numbers are kept in the order they were handed out.
    (7, "the days Meta answered insights for (completeness)", schema.v7_answered_days),
]
LATEST = MIGRATIONS[-1][0]


def current_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(database: "Database") -> int:
    conn = database.conn
    version = current_version(conn)  # also proves the file is a database
    if version > LATEST:
        raise StorageError(
            f"database {database.path} has schema version {version}, newer than this pipedeck "
            f"understands ({LATEST}); upgrade pipedeck - the file was not changed"
        )
    if version == LATEST:
        return version
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
