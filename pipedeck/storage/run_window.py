"""Windows of a run listing: the runs at positions [offset, offset + n) of a filtered, sorted history.

The runs table shows a million runs by asking for the few on screen. Every
sort is a list of *segments*, each one index-ordered: newest first is one
segment (``id DESC``); by status it is one segment per status, in lifecycle
order, each ``id DESC`` (the index ``(status, id)``); by brand one per brand,
in name order. A segment's count comes from one GROUP BY, and a window is an
OFFSET into the segments it overlaps, read backwards from a segment's end
when that is nearer, so no read skips more than half a segment. Only ids are
read that way (an index walk); the window's rows are then read by id.

Text search (``RunFilter.text``) matches names and job types through the
small catalog tables, and summaries and errors through the trigram index
``runs_text`` (see ``run_search``) for runs indexed, and by a scan of the
few runs changed since the index was last brought up to date.

A text search is the one filter no index answers cheaply when it matches
much of the history (``503`` over a million runs: every failed run), and a
window, a count and a position would each evaluate it again. So for a text
search sorted by id or by a group column, the matching ids are read once per
(filter, sort), one sorted id array per group (``_Matches``), and count,
windows and positions are answered from them. When runs change the arrays
are brought up to date from the runs changed since (an index range on
``rev``: revs are handed out in commit order), so they stay exact.

Portable SQL only: the same statements run on PostgreSQL, where the text
index is a pg_trgm GIN index over the runs' own columns instead.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left, insort
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from pipedeck.concepts.run_query import NEWEST_FIRST, RunFilter, RunOrder
from pipedeck.concepts.statuses import ACTIVE, STATUSES
from pipedeck.storage import run_search
from pipedeck.storage.db import Database
from pipedeck.storage.runs import RUN_COLUMNS, RUN_FROM, _decode

# A run's summary as the table shows it, near enough to sort by (failed runs show their error).
SUMMARY_SQL = "lower(coalesce(r.error_type || ': ' || r.error_message, r.summary, r.progress_message, ''))"
TOOK_SQL = "(r.finished_at - r.started_at)"
_BY_ID = (("r.id", "DESC"),)


@dataclass(frozen=True)
class Segment:
    """Runs of one sort group, in one index order: ``where`` picks them, ``keys`` order them."""

    where: str
    args: tuple
    keys: tuple[tuple[str, str], ...]  # (expression, ASC|DESC), the last one unique (r.id)
    count: int = 0

    def order_sql(self, backwards: bool = False) -> str:
        return ", ".join(f"{expr} {_flip(way) if backwards else way}" for expr, way in self.keys)


def _flip(way: str) -> str:
    return "ASC" if way == "DESC" else "DESC"


@dataclass
class Window:
    total: int
    offset: int
    rows: list[dict]
    anchor: int | None = None  # the position of the run asked for, when it is in the listing


_GROUP_COLUMNS = {"status": "r.status", "job_type": "r.job_type", "brand": "r.brand_id",
                  "competitor": "r.competitor_id", "attempts": "r.attempts", "direct": "r.direct"}
MATCHES_HELD = 4  # text searches whose matching ids are held
REBUILD_AFTER = 20_000  # runs changed since a search's ids were read: beyond this, read them afresh


@dataclass
class _Matches:
    """A text search's matching ids as of ``rev``: per group value (one group, None, when the sort has
    none), an ascending id array."""

    rev: int
    groups: dict = field(default_factory=dict)


class RunWindows:
    """Counts, windows, positions and exports of filtered, sorted run listings."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._lock = threading.Lock()
        self._segments: dict[tuple, tuple[int, list[Segment]]] = {}  # (filter, order, named) -> (rev, segments)
        self._matches: dict[tuple, _Matches] = {}  # (filter, group column) -> matching ids
        self.match_reads = 0  # times a search's matches were read in full (tests read it)

    def forget(self) -> None:
        """Drop what is held (counts, matching ids): the next answers come from the database."""
        with self._lock:
            self._segments.clear()
            self._matches.clear()

    # -- the filter in SQL ---------------------------------------------------------
    def filter_sql(self, f: RunFilter) -> tuple[str, list]:
        where, args = ["1 = 1"], []
        if f.brand_id is not None:
            where.append("r.brand_id = ?")
            args.append(f.brand_id)
        if f.job_type is not None:
            where.append("r.job_type = ?")
            args.append(f.job_type)
        if f.competitor_id is not None:
            where.append("r.competitor_id = ?")
            args.append(f.competitor_id)
        statuses = f.statuses
        if statuses:
            where.append(f"r.status IN ({','.join('?' * len(statuses))})")
            args.extend(statuses)
        if f.needle:
            text_sql, text_args = self._text_sql(f.needle)
            where.append(text_sql)
            args.extend(text_args)
        return " AND ".join(where), args

    def _text_sql(self, needle: str) -> tuple[str, list]:
        """Any of: a job type, brand or competitor whose name holds the needle (resolved here, over the
        small tables, so each term is an index lookup); the run id; the summary or error."""
        terms, args = [], []
        job_types, brands, rivals = self._named(needle)
        if job_types:
            terms.append(f"r.job_type IN ({','.join('?' * len(job_types))})")
            args += job_types
        if brands:
            terms.append(f"r.brand_id IN ({','.join('?' * len(brands))})")
            args += brands
        if rivals:
            terms.append(f"r.competitor_id IN ({','.join('?' * len(rivals))})")
            args += rivals
        if needle.isdigit() and len(needle) < 19:
            terms.append("r.id = ?")
            args.append(int(needle))
        text_sql, text_args = run_search.condition(self.database, needle)
        terms.append(text_sql)
        args += text_args
        return "(" + " OR ".join(terms) + ")", args

    def _named(self, needle: str) -> tuple[tuple, tuple, tuple]:
        """(job types, brand ids, competitor ids) whose names hold the needle."""
        return (tuple(t for t in self.job_types() if needle in t.lower()),
                tuple(r["id"] for r in self.database.query("SELECT id, name FROM brands") if needle in r["name"].lower()),
                tuple(r["id"] for r in self.database.query("SELECT id, name FROM competitors")
                      if needle in r["name"].lower()))

    def job_types(self) -> list[str]:
        """The job types runs have, by a loose index scan of ``(job_type, id)``: one seek per type."""
        rows = self.database.query(
            "WITH RECURSIVE types (job_type) AS ("
            " SELECT min(job_type) FROM runs"
            " UNION ALL SELECT (SELECT min(r.job_type) FROM runs r WHERE r.job_type > types.job_type)"
            " FROM types WHERE types.job_type IS NOT NULL)"
            " SELECT job_type FROM types WHERE job_type IS NOT NULL")
        return [r["job_type"] for r in rows]

    # -- segments ------------------------------------------------------------------
    def segments(self, f: RunFilter, order: RunOrder = NEWEST_FIRST) -> list[Segment]:
        """The listing's segments in order, each with its count (cached until a run changes)."""
        rev = self.database.scalar("SELECT coalesce(max(rev), 0) FROM runs")
        if self._holds_matches(f, order):
            return self._matched_segments(f, order, rev)[0]
        key = (f, order, self._named(f.needle) if f.needle else None)  # a brand named anew: other counts
        with self._lock:
            cached = self._segments.get(key)
        if cached is not None and cached[0] == rev:
            return cached[1]
        segments = self._count_segments(f, order)
        with self._lock:
            if len(self._segments) > 32:
                self._segments.clear()
            self._segments[key] = (rev, segments)
        return segments

    # -- a text search's matching ids, read once -------------------------------------------
    @staticmethod
    def _holds_matches(f: RunFilter, order: RunOrder) -> bool:
        return bool(f.needle) and (order.key in (None, "id") or order.key in _GROUP_COLUMNS)

    def _matched_segments(self, f: RunFilter, order: RunOrder, rev: int) -> tuple[list[Segment], list[array]]:
        """(the listing's segments, each segment's ascending matching ids) from the held matches."""
        column = _GROUP_COLUMNS.get(order.key)
        matches = self._matches_as_of(f, column, rev)
        if column is None:
            ids = matches.groups.get(None, array("q"))
            way = "ASC" if order.key == "id" and not order.reverse else "DESC"
            return [Segment("1 = 1", (), (("r.id", way),), len(ids))], [ids]
        values = sorted((v for v, ids in matches.groups.items() if ids), key=self._ranker(order.key))
        if order.reverse:
            values.reverse()
        segments = [Segment(f"{column} IS NULL" if v is None else f"{column} = ?", () if v is None else (v,),
                            _BY_ID, len(matches.groups[v])) for v in values]
        return segments, [matches.groups[v] for v in values]

    def _matches_as_of(self, f: RunFilter, column: str | None, rev: int) -> _Matches:
        key = (f, column, self._named(f.needle))  # a brand named anew: another set of matches
        with self._lock:
            held = self._matches.get(key)
        if held is not None and held.rev == rev:
            return held
        where, args = self.filter_sql(f)
        picked = f"r.id, {column}" if column else "r.id, NULL"
        changed = None
        if held is not None and held.rev < rev:
            changed = [row[0] for row in self.database._run("SELECT id FROM runs WHERE rev > ?", (held.rev,)).fetchall()]
            if len(changed) > REBUILD_AFTER:
                changed = None
        if changed is None:
            self.match_reads += 1
            text_only = self._text_only_ids(f) if column is None else None
            if text_only is not None:
                return self._hold_matches(key, _Matches(rev, {None: array("q", text_only)}))
            groups: dict = {}
            for run_id, value in self.database._run(f"SELECT {picked} FROM runs r WHERE {where}", args).fetchall():
                groups.setdefault(value, []).append(run_id)
            matches = _Matches(rev, {v: array("q", sorted(ids)) for v, ids in groups.items()})
        else:
            # Runs changed since: out of every group, then back into the one they match now (if any).
            # Arrays are copied before they change: another thread may be reading the held ones.
            groups = {v: _without(ids, changed) for v, ids in held.groups.items()}
            for run_id, value in self.database._run(
                    f"SELECT {picked} FROM runs r WHERE r.rev > ? AND {where}", [held.rev, *args]).fetchall():
                ids = groups.get(value)
                if ids is None or ids is held.groups.get(value):
                    ids = groups[value] = array("q") if ids is None else ids[:]
                insort(ids, run_id)
            matches = _Matches(rev, groups)
        return self._hold_matches(key, matches)

    def _hold_matches(self, key: tuple, matches: _Matches) -> _Matches:
        with self._lock:
            if key not in self._matches and len(self._matches) >= MATCHES_HELD:
                self._matches.pop(next(iter(self._matches)))
            self._matches[key] = matches
        return matches

    def _text_only_ids(self, f: RunFilter) -> list[int] | None:
        """A search and nothing else, where the text index answers: its matches from index reads alone
        (the text index's ids, and those of the named job types, brands and competitors by their indexes)."""
        if RunFilter(text=f.text) != f:
            return None
        needle = f.needle
        found = run_search.matching_ids(self.database, needle)
        if found is None:
            return None
        job_types, brands, rivals = self._named(needle)
        extra: set[int] = set()
        for column, values in (("job_type", job_types), ("brand_id", brands), ("competitor_id", rivals)):
            if values:
                extra.update(row[0] for row in self.database._run(
                    f"SELECT id FROM runs WHERE {column} IN ({','.join('?' * len(values))})", values).fetchall())
        if needle.isdigit() and len(needle) < 19:
            extra.update(row[0] for row in self.database._run("SELECT id FROM runs WHERE id = ?", (int(needle),)))
        if len(extra) > 1000:
            return sorted(extra.union(found))
        for run_id in extra:
            at = bisect_left(found, run_id)
            if at == len(found) or found[at] != run_id:
                found.insert(at, run_id)
        return found

    def _count_segments(self, f: RunFilter, order: RunOrder) -> list[Segment]:
        where, args = self.filter_sql(f)
        key, reverse = order.key, order.reverse
        if key is None or key in ("id", "created", "summary"):
            if key is None:
                keys = _BY_ID
            elif key == "id":
                keys = (("r.id", "DESC" if reverse else "ASC"),)
            elif key == "created":
                way = "DESC" if reverse else "ASC"
                keys = (("r.created_at", way), ("r.id", way))
            else:
                way = "DESC" if reverse else "ASC"
                keys = ((SUMMARY_SQL, way), ("r.id", way))
            count = self._count(where, args)
            return [Segment("1 = 1", (), keys, count)]
        if key == "took":
            return self._took_segments(where, args, reverse)
        column = {"status": "r.status", "job_type": "r.job_type", "brand": "r.brand_id",
                  "competitor": "r.competitor_id", "attempts": "r.attempts", "direct": "r.direct"}[key]
        if key == "competitor":
            # Most runs have no competitor, and the index on it leaves those out: count them as the rest.
            counts = {row["v"]: row["n"] for row in self.database.query(
                f"SELECT {column} AS v, count(*) AS n FROM runs r WHERE {where} AND {column} IS NOT NULL"
                f" GROUP BY {column}", args)}
            rest = self._count(where, args) - sum(counts.values())
            if rest:
                counts[None] = rest
        else:
            counts = {row["v"]: row["n"] for row in self.database.query(
                f"SELECT {column} AS v, count(*) AS n FROM runs r WHERE {where} GROUP BY {column}", args)}
        values = sorted(counts, key=self._ranker(key))
        if reverse:
            values.reverse()
        return [Segment(f"{column} IS NULL" if value is None else f"{column} = ?",
                        () if value is None else (value,), _BY_ID, counts[value]) for value in values]

    def _ranker(self, key: str):
        """How a sort column's values rank: statuses in lifecycle order, names alphabetically, none last."""
        if key == "status":
            return lambda v: (STATUSES.index(v) if v in STATUSES else len(STATUSES), str(v))
        if key in ("brand", "competitor"):
            table = "brands" if key == "brand" else "competitors"
            names = {r["id"]: r["name"] for r in self.database.query(f"SELECT id, name FROM {table}")}
            return lambda v: (v is None, (names.get(v) or "").lower(), v or 0)
        if key == "job_type":
            return lambda v: (v or "").lower()
        return lambda v: (v is None, v or 0)

    def _count(self, where: str, args: list) -> int:
        """The runs matching ``where``. Unfiltered, without a WHERE: SQLite then counts the entries of
        its smallest index without stepping through them (a million runs: 3 ms instead of 12)."""
        if where == "1 = 1" and not args:
            return self.database.scalar("SELECT count(*) FROM runs")
        return self.database.scalar(f"SELECT count(*) FROM runs r WHERE {where}", args)

    def _took_segments(self, where: str, args: list, reverse: bool) -> list[Segment]:
        """Finished runs by duration (an index on it), then running ones (the longest last), then
        those not started; reversed, the other way round."""
        # Three counts by index: all, finished (the duration index), and started but unfinished, which
        # only runs not yet ended are (an ended run has finished_at); the rest were never started.
        total = self._count(where, args)
        finished = self.database.scalar(
            f"SELECT count(*) FROM runs r WHERE {where} AND r.finished_at IS NOT NULL AND r.started_at IS NOT NULL",
            args)
        active = ",".join("?" * len(ACTIVE))
        running = self.database.scalar(
            f"SELECT count(*) FROM runs r WHERE {where} AND r.status IN ({active})"
            " AND r.started_at IS NOT NULL AND r.finished_at IS NULL", [*args, *ACTIVE])
        counts = {0: finished, 1: running, 2: total - finished - running}
        way = "DESC" if reverse else "ASC"
        segments = [
            Segment("r.finished_at IS NOT NULL AND r.started_at IS NOT NULL", (), ((TOOK_SQL, way), ("r.id", way)),
                    counts.get(0, 0)),
            Segment("r.started_at IS NOT NULL AND r.finished_at IS NULL", (),
                    (("r.started_at", "ASC" if reverse else "DESC"), ("r.id", way)), counts.get(1, 0)),
            Segment("r.started_at IS NULL", (), _BY_ID, counts.get(2, 0)),
        ]
        return segments[::-1] if reverse else segments

    # -- reading windows -------------------------------------------------------------
    def count(self, f: RunFilter) -> int:
        if f.needle:  # a search's matches held for any sort count it
            with self._lock:
                column = next((key[1] for key in self._matches if key[0] == f), None)
            rev = self.database.scalar("SELECT coalesce(max(rev), 0) FROM runs")
            return sum(len(ids) for ids in self._matches_as_of(f, column, rev).groups.values())
        return sum(s.count for s in self.segments(f))

    def ids(self, f: RunFilter, order: RunOrder, offset: int, limit: int) -> tuple[int, list[int]]:
        """(how many runs the listing has, the ids at positions [offset, offset + limit))."""
        if self._holds_matches(f, order):
            rev = self.database.scalar("SELECT coalesce(max(rev), 0) FROM runs")
            segments, held = self._matched_segments(f, order, rev)
            out = []
            start = 0
            for segment, ids in zip(segments, held):
                end = start + segment.count
                if offset + limit <= start:
                    break
                if offset < end:
                    lo, hi = max(offset, start) - start, min(offset + limit, end) - start
                    if segment.keys[0][1] == "ASC":
                        out += ids[lo:hi]
                    else:
                        n = len(ids)
                        out += reversed(ids[n - hi:n - lo])
                start = end
            return sum(s.count for s in segments), out
        segments = self.segments(f, order)
        total = sum(s.count for s in segments)
        where, args = self.filter_sql(f)
        out: list[int] = []
        start = 0
        for segment in segments:
            end = start + segment.count
            if offset + limit <= start:
                break
            if offset < end and segment.count:
                lo, hi = max(offset, start) - start, min(offset + limit, end) - start
                out += self._segment_ids(where, args, segment, lo, hi - lo)
            start = end
        return total, out

    def _dense_ids(self, where: str, segment: Segment) -> tuple[int, int, str] | None:
        """(lowest id, highest id, ASC|DESC) when the listing is every run by id and no id is missing in
        between (count = span): then position and id are one subtraction apart, no OFFSET walk needed."""
        if where != "1 = 1" or segment.where != "1 = 1" or len(segment.keys) != 1 or segment.keys[0][0] != "r.id":
            return None
        # Two statements: SQLite answers a lone min() or max() from the ends of the index, both together by a scan.
        lo = self.database.scalar("SELECT min(id) FROM runs")
        hi = self.database.scalar("SELECT max(id) FROM runs")
        if lo is None or hi - lo + 1 != segment.count:
            return None
        return lo, hi, segment.keys[0][1]

    def _segment_ids(self, where: str, args: list, segment: Segment, offset: int, limit: int) -> list[int]:
        dense = self._dense_ids(where, segment)
        if dense is not None:
            lo, hi, way = dense
            end = min(offset + limit, segment.count)
            return [hi - n for n in range(offset, end)] if way == "DESC" else [lo + n for n in range(offset, end)]
        backwards = offset > segment.count - offset - limit  # nearer the segment's end: read from there
        skip = segment.count - offset - limit if backwards else offset
        if skip < 0:
            limit, skip = limit + skip, 0
        rows = self.database.query(
            f"SELECT r.id FROM runs r WHERE {where} AND {segment.where}"
            f" ORDER BY {segment.order_sql(backwards)} LIMIT ? OFFSET ?", [*args, *segment.args, limit, skip])
        ids = [r["id"] for r in rows]
        return ids[::-1] if backwards else ids

    def rows(self, ids: Sequence[int]) -> list[dict]:
        """The runs with these ids, in this order (those that no longer exist left out)."""
        if not ids:
            return []
        found = {}
        for chunk in _chunks(list(ids), 500):
            for row in self.database.query(
                    f"SELECT {RUN_COLUMNS}{RUN_FROM} WHERE r.id IN ({','.join('?' * len(chunk))})", chunk):
                found[row["id"]] = _decode(row)
        return [found[i] for i in ids if i in found]

    def window(self, f: RunFilter, order: RunOrder, offset: int, limit: int,
               anchor_id: int | None = None, anchor_line: int = 0) -> Window:
        """The runs at [offset, offset + limit). With ``anchor_id``: if that run is in the listing,
        the window is placed so that it is ``anchor_line`` rows into it, and its position is returned."""
        anchor = None
        if anchor_id is not None:
            anchor = self.position(f, order, anchor_id)
            if anchor is not None:
                offset = max(0, anchor - anchor_line)
        total, ids = self.ids(f, order, max(0, offset), limit)
        return Window(total, max(0, offset), self.rows(ids), anchor)

    def position(self, f: RunFilter, order: RunOrder, run_id: int) -> int | None:
        """Where a run is in the listing (0 = first), or None when the filter leaves it out."""
        if not f.is_empty:
            # RunFilter.matches says in Python what the filter's SQL says: a run left out costs one read by id,
            # not a pass of the filter (a text search's index lookup) over the whole listing.
            found = self.rows([run_id])
            if not found or not f.matches(found[0]):
                return None
        if self._holds_matches(f, order):
            rev = self.database.scalar("SELECT coalesce(max(rev), 0) FROM runs")
            start = 0
            for segment, ids in zip(*self._matched_segments(f, order, rev)):
                at = bisect_left(ids, run_id)
                if at < len(ids) and ids[at] == run_id:
                    return start + (at if segment.keys[0][1] == "ASC" else len(ids) - 1 - at)
                start += segment.count
            return None
        segments = self.segments(f, order)
        where, args = self.filter_sql(f)
        start = 0
        if len(segments) == 1:
            dense = self._dense_ids(where, segments[0])
            if dense is not None:
                lo, hi, way = dense
                if not lo <= run_id <= hi:
                    return None
                return hi - run_id if way == "DESC" else run_id - lo
        for segment in segments:
            exprs = [expr for expr, _ in segment.keys]
            row = self.database.query_one(
                f"SELECT {', '.join(f'{e} AS k{n}' for n, e in enumerate(exprs))} FROM runs r"
                f" WHERE {where} AND {segment.where} AND r.id = ?", [*args, *segment.args, run_id])
            if row is not None:
                values = [row[f"k{n}"] for n in range(len(exprs))]
                before_sql, before_args = _before(segment.keys, values)
                ahead = self.database.scalar(
                    f"SELECT count(*) FROM runs r WHERE {where} AND {segment.where} AND {before_sql}",
                    [*args, *segment.args, *before_args])
                return start + ahead
            start += segment.count
        return None

    def iter_runs(self, f: RunFilter, order: RunOrder = NEWEST_FIRST, chunk: int = 1000) -> Iterator[dict]:
        """Every run of the listing in order, read ``chunk`` at a time (keyset, not OFFSET: an export of a
        long history reads each run once)."""
        where, args = self.filter_sql(f)
        for segment in self._count_segments(f, order):
            after: list | None = None
            while True:
                keyset_sql, keyset_args = ("1 = 1", []) if after is None else _after(segment.keys, after)
                exprs = [expr for expr, _ in segment.keys]
                picked = self.database.query(
                    f"SELECT r.id, {', '.join(f'{e} AS k{n}' for n, e in enumerate(exprs))} FROM runs r"
                    f" WHERE {where} AND {segment.where} AND {keyset_sql} ORDER BY {segment.order_sql()} LIMIT ?",
                    [*args, *segment.args, *keyset_args, chunk])
                if not picked:
                    break
                yield from self.rows([r["id"] for r in picked])
                if len(picked) < chunk:
                    break
                after = [picked[-1][f"k{n}"] for n in range(len(exprs))]


def _before(keys: Sequence[tuple[str, str]], values: Sequence) -> tuple[str, list]:
    """The rows ordered before the row with ``values`` of ``keys``: (k1 < v1) OR (k1 = v1 AND k2 < v2)..."""
    return _keyset(keys, values, forward=False)


def _after(keys: Sequence[tuple[str, str]], values: Sequence) -> tuple[str, list]:
    return _keyset(keys, values, forward=True)


def _keyset(keys: Sequence[tuple[str, str]], values: Sequence, forward: bool) -> tuple[str, list]:
    terms, args = [], []
    for n, (expr, way) in enumerate(keys):
        op = ">" if (way == "ASC") == forward else "<"
        same = [f"{e} = ?" for e, _ in keys[:n]]
        terms.append("(" + " AND ".join(same + [f"{expr} {op} ?"]) + ")")
        args += list(values[:n]) + [values[n]]
    return "(" + " OR ".join(terms) + ")", args


def _without(ids: array, gone: list[int]) -> array:
    """``ids`` less those of ``gone`` (found by bisection: a few changed runs, a long array); ``ids`` itself
    when it holds none of them."""
    out = ids
    for run_id in gone:
        at = bisect_left(out, run_id)
        if at < len(out) and out[at] == run_id:
            if out is ids:
                out = ids[:]
            del out[at]
    return out


def _chunks(items: list, size: int):
    for n in range(0, len(items), size):
        yield items[n:n + size]
