"""What a database holds, at a glance: engine, file, schema version, rows per table."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from pipedeck.storage.migrations import LATEST, current_version

if TYPE_CHECKING:
    from pipedeck.storage.db import Database


def database_status(database: "Database") -> dict:
    conn = database.conn
    tables = [name for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    counts = {}
    for name in tables:
        quoted = '"' + name.replace('"', '""') + '"'
        counts[name] = conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0]
    try:
        size = database.path.stat().st_size
    except OSError:
        size = None
    return {"engine": "sqlite", "engine_version": sqlite3.sqlite_version, "path": str(database.path),
            "schema_version": current_version(conn), "latest_schema_version": LATEST,
            "journal_mode": conn.execute("PRAGMA journal_mode").fetchone()[0], "size_bytes": size,
            "tables": counts}
