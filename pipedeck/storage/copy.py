"""Copy every pipedeck table from one database to another, either engine to either engine.

What moving a one-machine install to team mode (SQLite -> PostgreSQL) and back takes:

- both databases are opened (and so migrated) by this pipedeck: same schema on both sides;
- the source is read from one snapshot (a transaction of its own), table by table in batches;
- the target is written in one transaction: all of it lands, or none; a target that holds
  anything is refused unless ``force`` (then what it held is replaced);
- ids are kept, and identity sequences continue after the largest copied id;
- the change feed's counter continues after the copied revs;
- afterwards every table's row count is read back from the target and compared.

Not copied: huey's queue (its messages are only wake-ups; a worker on the target re-sends
whatever is waiting), the schema bookkeeping (each side has its own) and SQLite's run search
index (derived from the runs; the target's catches up by itself). Media files live
in the media dir, not the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pipedeck.errors import StorageError, UserError
from pipedeck.storage.db import Database
from pipedeck.storage import run_search
from pipedeck.storage.migrations import QUEUE_TABLE_PREFIX

# Parents before children (foreign keys); a table not named here (a newer step's) comes after these.
ORDER = ("brands", "competitors", "schedules", "runs", "attempts", "run_logs", "freshness", "workers",
         "schedule_events", "freshness_policies", "meta_ads", "meta_insights", "meta_answered_days", "assets", "ad_assets",
         "competitor_ads", "templates", "alerts", "run_feed")
BOOKKEEPING = ("pipedeck_schema", "sqlite_sequence", "sqlite_stat1")
BATCH = 1000


@dataclass(frozen=True)
class TableCopy:
    table: str
    source_rows: int
    target_rows: int

    @property
    def verified(self) -> bool:
        return self.source_rows == self.target_rows


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def tables_of(database: Database) -> list[str]:
    """The pipedeck tables of ``database``, parents first."""
    names = [t for t in database.dialect.tables(database.conn)
             if t not in BOOKKEEPING and not t.startswith((QUEUE_TABLE_PREFIX, run_search.TABLE_PREFIX))]
    known = [t for t in ORDER if t in names]
    return known + sorted(t for t in names if t not in ORDER)


def _counts(database: Database, tables: list[str]) -> dict[str, int]:
    return {t: database.scalar(f"SELECT count(*) FROM {_ident(t)}") for t in tables}


def copy_database(source: Database, target: Database, *, force: bool = False,
                  progress: Callable[[str, int], None] | None = None) -> list[TableCopy]:
    """Copy every table of ``source`` into ``target``; returns each table's rows on both sides (verified)."""
    if source.target.url == target.target.url or (source.path is not None and source.path == target.path):
        raise UserError(f"--from and --to are the same database ({source.target.shown})")
    try:
        return _copy(source, target, force=force, progress=progress)
    except (source.dialect.driver_errors + target.dialect.driver_errors) as exc:
        raise StorageError(f"copy from {source.target.shown} to {target.target.shown} failed: {exc}") from exc


def _copy(source: Database, target: Database, *, force: bool, progress) -> list[TableCopy]:
    tables = tables_of(source)
    missing = [t for t in tables if t not in set(tables_of(target))]
    if missing:
        raise UserError(f"{target.target.shown} has no table {missing[0]}: is it the same pipedeck version?")
    held = {t: n for t, n in _counts(target, tables).items() if n and t != "run_feed"}
    if held and not force:
        shown = ", ".join(f"{t} {n:,}" for t, n in list(held.items())[:4])
        raise UserError(f"{target.target.shown} is not empty ({shown}{', ...' if len(held) > 4 else ''});"
                        " nothing was copied - pass --force to replace what it holds")
    copied: dict[str, int] = {}
    with source.snapshot() as read, target.write() as tx:
        conn = tx.conn
        if force:
            for table in reversed(tables):
                conn.execute(f"DELETE FROM {_ident(table)}")
            run_search.forget_all(conn, target.dialect)
        for table in tables:
            columns = [c for c in read.columns(table) if c in set(target.dialect.columns(conn, table))]
            names = ", ".join(_ident(c) for c in columns)
            marks = ", ".join("?" * len(columns))
            insert = f"INSERT INTO {_ident(table)} ({names}) VALUES ({marks})"
            if table == "run_feed":  # one row on both sides already
                insert += " ON CONFLICT (id) DO UPDATE SET rev = excluded.rev"
            count = 0
            for rows in read.batches(f"SELECT {names} FROM {_ident(table)}", BATCH):
                conn.executemany(insert, rows)
                count += len(rows)
                if progress:
                    progress(table, count)
            copied[table] = count
            if "id" in columns and table != "run_feed":
                target.dialect.reset_identity(conn, table)
        if "run_feed" in tables and "runs" in tables:  # the feed counts on after every copied rev
            conn.execute("UPDATE run_feed SET rev = (SELECT coalesce(max(rev), 0) FROM runs)"
                         " WHERE rev < (SELECT coalesce(max(rev), 0) FROM runs)")
    target.dialect.after_bulk_load(target.conn, tables)
    after = _counts(target, tables)
    result = [TableCopy(t, copied[t], after[t]) for t in tables]
    wrong = [r for r in result if not r.verified]
    if wrong:
        raise StorageError(f"copy to {target.target.shown} did not verify: table {wrong[0].table} has "
                           f"{wrong[0].target_rows} rows, the source {wrong[0].source_rows}")
    return result
