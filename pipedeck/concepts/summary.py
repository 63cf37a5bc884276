"""The one-line summary of a run: how it is doing, or how it ended."""

from __future__ import annotations

from pipedeck.concepts.statuses import FAILED, RETRYING, RUNNING, SUCCEEDED


def log_summary(run: dict) -> str:
    status = run["status"]
    if status == FAILED and run.get("error_message"):
        return f"{run.get('error_type') or 'Error'}: {run['error_message']}"
    if status == RETRYING and run.get("error_message"):
        return f"retry {run['failures'] + 1}/{run['max_attempts']} pending after {run['error_message']}"
    if status == RUNNING and run.get("progress_total"):
        msg = f" {run['progress_message']}" if run.get("progress_message") else ""
        return f"{run['progress_current']:.0f}/{run['progress_total']:.0f}{msg}"
    warning = result_warning(run.get("result"))
    if status == SUCCEEDED and warning:
        return f"⚠ {warning}"
    return run.get("summary") or run.get("progress_message") or ""


def result_warning(result) -> str | None:
    """The one-line warning a handler put in a run's result (e.g. files it could not fetch)."""
    if isinstance(result, dict) and isinstance(result.get("warning"), str):
        return result["warning"]
    return None


def with_summary(runs: list[dict]) -> list[dict]:
    """The rows, each given its ``log_summary``."""
    for run in runs:
        run["log_summary"] = log_summary(run)
    return runs
