"""Rows taken out of pipedeck: a run as a record (``runs --json``/``--csv``, the runs table's export) and
CSV / JSON writers that stream, so an export of a long history never holds it all."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from typing import IO, Iterable

FORMATS = ("csv", "json")


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def run_record(run: dict) -> dict:
    """A run as listings print it (the interface contract's fields first)."""
    return {
        "id": run["id"], "job_type": run["job_type"], "brand": run["brand"], "competitor": run["competitor"],
        "status": run["status"], "attempts": run["attempts"], "max_attempts": run["max_attempts"],
        "created_at": iso(run["created_at"]), "started_at": iso(run["started_at"]),
        "finished_at": iso(run["finished_at"]), "next_attempt_at": iso(run["next_attempt_at"]),
        "error": (f"{run['error_type']}: {run['error_message']}" if run.get("error_message") else None),
        "error_type": run["error_type"], "params": run["params"], "direct": bool(run["direct"]),
        "progress": ({"current": run["progress_current"], "total": run["progress_total"],
                      "message": run["progress_message"]} if run["progress_current"] is not None else None),
        "summary": run.get("log_summary") or run.get("summary"), "result": run["result"],
        "schedule_id": run["schedule_id"], "retry_of": run["retry_of"], "retried_by": run["retried_by"],
        "worker_id": run["worker_id"],
    }


def csv_cell(value):
    """Nested values as JSON, none as empty; text as it is (a spreadsheet shows it, not a terminal)."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str, sort_keys=True)
    return "" if value is None else value


def write(records: Iterable[dict], out: IO[str], fmt: str, fields: Iterable[str] | None = None) -> int:
    """Write ``records`` to ``out`` as CSV (a header from the first record, or ``fields`` when there is
    none) or a JSON array; returns how many."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    count = 0
    if fmt == "json":
        out.write("[")
        for record in records:
            out.write(("," if count else "") + "\n  " + json.dumps(record, default=str, ensure_ascii=False))
            count += 1
        out.write("\n]\n" if count else "]\n")
        return count
    writer = None
    for record in records:
        if writer is None:
            writer = csv.DictWriter(out, fieldnames=list(record), lineterminator="\n", extrasaction="ignore")
            writer.writeheader()
        writer.writerow({k: csv_cell(v) for k, v in record.items()})
        count += 1
    if writer is None and fields is not None:
        csv.writer(out, lineterminator="\n").writerow(list(fields))
    return count


def stamped(stem: str, fmt: str, now: float) -> str:
    """``runs-20261201-142233.csv``"""
    return f"{stem}-{datetime.fromtimestamp(now):%Y%m%d-%H%M%S}.{fmt}"

