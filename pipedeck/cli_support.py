"""What the CLI's verb modules share: one-line usage errors, output (tables, JSON, times), --set parsing."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from typing import Any, Sequence

from pipedeck.errors import UserError


class UsageError(UserError):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        raise UsageError(f"{message} (see `{self.prog} --help`)")


# -- formatting ----------------------------------------------------------------
def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, v in enumerate(row):
            widths[i] = min(max(widths[i], len(v)), 60)
    def fmt(row):
        return "  ".join((v if len(v) <= widths[i] else v[: widths[i] - 1] + "…").ljust(widths[i])
                         for i, v in enumerate(row)).rstrip()
    return "\n".join([fmt(headers), *(fmt(r) for r in cells)])


def run_json(run: dict) -> dict:
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


def parse_sets(pairs: Sequence[str] | None) -> dict:
    params: dict = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key or not key.replace("_", "").isalnum():
            raise UsageError(f"malformed --set {pair!r}: expected key=value")
        value = value.strip()
        if value[:1] in "[{":
            try:
                value = json.loads(value)
            except ValueError:
                raise UsageError(f"malformed --set {pair!r}: value is not valid JSON") from None
        elif value.lower() == "null":
            value = None
        params[key] = value
    return params


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def service(settings):
    from pipedeck.queue.service import Service

    return Service(settings)
