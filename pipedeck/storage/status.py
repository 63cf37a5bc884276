"""What a database holds, at a glance: engine, where (the file, or the masked URL), schema version,
rows and size per table."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from pipedeck.storage import run_search
from pipedeck.storage.dialect import SQLITE
from pipedeck.storage.migrations import LATEST

if TYPE_CHECKING:
    from pipedeck.storage.db import Database


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def database_status(database: "Database") -> dict:
    try:
        return _status(database)
    except database.dialect.driver_errors as exc:
        raise database.error(exc) from exc


def _status(database: "Database") -> dict:
    conn = database.conn
    dialect = database.dialect
    tables: dict[str, dict] = {}
    for name in dialect.tables(conn):
        rows = conn.execute(f"SELECT count(*) FROM {_ident(name)}").fetchone()[0]
        tables[name] = {"rows": rows, "bytes": dialect.table_bytes(conn, name)}
    info = {"engine": dialect.name, "url": database.target.shown, "schema_version": dialect.schema_version(conn),
            "latest_schema_version": LATEST, "tables": tables, "search": run_search.describe(database)}
    if dialect is SQLITE:
        try:
            size = database.path.stat().st_size
        except OSError:
            size = None
        info.update(engine_version=sqlite3.sqlite_version, path=str(database.path), size_bytes=size,
                    journal_mode=conn.execute("PRAGMA journal_mode").fetchone()[0])
    else:
        info.update(engine_version=conn.execute("SHOW server_version").fetchone()[0], path=None,
                    size_bytes=conn.execute("SELECT pg_database_size(current_database())").fetchone()[0],
                    journal_mode=None)
    return info
