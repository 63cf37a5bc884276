"""Searching runs' summaries and errors over a long history: a trigram index kept off the write path.

A trigger-kept full-text index would cost every progress flush of every run a
second index write (measured: 8 µs -> 190 µs a transaction). Instead
``runs_text`` follows the run store by rev, as the live feed does: ``sync``
indexes the runs changed since ``runs_text_state.indexed_rev`` in batches (the
app's live feed calls it when idle), and a search asks the index only about
runs at or below that rev, and scans the runs changed after it (an index
range on ``rev``). So a search is exact however far the index lags; the lag
only costs the scan.

The trigram tokenizer matches any substring of three characters or more,
ignoring case; a shorter needle is matched by a scan.

On PostgreSQL there is no side table: pg_trgm GIN indexes on the runs' own
columns (schema step 12) serve the same LIKE, and ``sync`` has nothing to do.
Where the extension could not be added, a search there scans the runs.
"""

from __future__ import annotations

from pipedeck.storage.db import Database

MIN_INDEXED = 3  # trigrams: a shorter needle cannot use the index
# The index's tables (runs_text, FTS5's own runs_text_* and runs_text_state): derived from the runs,
# so never copied between databases; a database rebuilds its own.
TABLE_PREFIX = "runs_text"
BATCH = 5000


def escape_like(needle: str) -> str:
    return "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _scan_sql() -> str:
    return ("(lower(r.summary) LIKE ? ESCAPE '\\' OR lower(r.error_message) LIKE ? ESCAPE '\\')")


def indexed_rev(database: Database) -> int:
    if not database.dialect.text_index:
        return 0
    return database.scalar("SELECT indexed_rev FROM runs_text_state WHERE id = 1") or 0


def condition(database: Database, needle: str) -> tuple[str, list]:
    """SQL (over ``runs r``) true for the runs whose summary or error holds ``needle`` (lower case)."""
    like = escape_like(needle)
    if len(needle) < MIN_INDEXED or not database.dialect.text_index:
        return _scan_sql(), [like, like]
    upto = indexed_rev(database)
    phrase = '"' + needle.replace('"', '""') + '"'
    return (f"((r.rev <= ? AND r.id IN (SELECT rowid FROM runs_text WHERE runs_text MATCH ?))"
            f" OR (r.rev > ? AND {_scan_sql()}))", [upto, phrase, upto, like, like])


def matching_ids(database: Database, needle: str) -> list[int] | None:
    """The ascending ids of the runs whose summary or error holds ``needle`` (lower case), read from the
    index alone (no run row read, which is most of a broad match's cost): the index's ids, less the runs
    changed after it, plus those of them that match now. None when the index cannot answer."""
    if len(needle) < MIN_INDEXED or not database.dialect.text_index:
        return None
    like = escape_like(needle)
    upto = indexed_rev(database)
    phrase = '"' + needle.replace('"', '""') + '"'
    found = [row[0] for row in database._run(
        "SELECT rowid FROM runs_text WHERE runs_text MATCH ? ORDER BY rowid", (phrase,)).fetchall()]
    changed = database._run(f"SELECT r.id, {_scan_sql()} FROM runs r WHERE r.rev > ?", (like, like, upto)).fetchall()
    if not changed:
        return found
    stale = {row[0] for row in changed}
    return sorted({i for i in found if i not in stale} | {row[0] for row in changed if row[1]})


POSTGRES_INDEXES = ("runs_summary_trgm", "runs_error_trgm")  # schema_postgres.v12_text_search


def describe(database: Database) -> dict:
    """How a search is answered here: ``index`` (what serves it, or None: a scan) and ``lag`` (runs
    changed since the side index was brought up to date; 0 where the index is the runs' own)."""
    if database.dialect.text_index:
        return {"index": "runs_text (FTS5 trigram)", "lag": lag(database)}
    found = {row[0] for row in database._run(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'runs'", ()).fetchall()}
    if found.issuperset(POSTGRES_INDEXES):
        return {"index": "runs_summary_trgm, runs_error_trgm (pg_trgm)", "lag": 0}
    return {"index": None, "lag": 0}


def lag(database: Database) -> int:
    """How many runs changed since the index was last brought up to date."""
    if not database.dialect.text_index:
        return 0
    return database.scalar("SELECT count(*) FROM runs WHERE rev > ?", (indexed_rev(database),))


def sync(database: Database, batch: int = BATCH) -> int:
    """Index the next ``batch`` or so of runs changed since the last sync; returns how many (0: up to date).

    Whole revs at a time (a transaction can give several runs one rev), in one short write transaction,
    taken only when there is something to index (an idle app must not take the write lock each tick).
    """
    if not database.dialect.text_index or indexed_rev(database) >= (database.scalar("SELECT max(rev) FROM runs") or 0):
        return 0
    with database.write() as db:
        conn = db.conn
        upto = conn.execute("SELECT indexed_rev FROM runs_text_state WHERE id = 1").fetchone()[0]
        last = conn.execute("SELECT rev FROM runs WHERE rev > ? ORDER BY rev LIMIT 1 OFFSET ?",
                            (upto, batch - 1)).fetchone()
        if last is None:
            last = conn.execute("SELECT max(rev) FROM runs WHERE rev > ?", (upto,)).fetchone()
        if last is None or last[0] is None:
            return 0
        rows = conn.execute("SELECT id, summary, error_message FROM runs WHERE rev > ? AND rev <= ?",
                            (upto, last[0])).fetchall()
        ids = [(row[0],) for row in rows]
        conn.executemany("DELETE FROM runs_text WHERE rowid = ?", ids)
        conn.executemany("INSERT INTO runs_text (rowid, summary, error_message) VALUES (?, ?, ?)",
                         [row for row in rows if row[1] or row[2]])
        conn.execute("UPDATE runs_text_state SET indexed_rev = ? WHERE id = 1", (last[0],))
        return len(rows)


def forget_all(conn, dialect) -> None:
    """Inside a write transaction that replaced the runs: the index starts again from nothing."""
    if dialect.text_index:
        conn.execute("DELETE FROM runs_text")
        conn.execute("UPDATE runs_text_state SET indexed_rev = 0 WHERE id = 1")


def sync_all(database: Database, batch: int = BATCH) -> int:
    total = 0
    while True:
        done = sync(database, batch)
        if not done:
            return total
        total += done
