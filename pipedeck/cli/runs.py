"""`pipedeck runs`: list runs, or show, retry or cancel one."""

from __future__ import annotations

import json
import time

import click

from pipedeck.cli.base import Command, Count, Group, Id, pass_service, set_option, state
from pipedeck.cli.output import Cell, Column, Output, echo, emit_json, iso, json_option, output_options
from pipedeck.concepts import durations
from pipedeck.concepts.statuses import TERMINAL, status_label, status_mark
from pipedeck.concepts.export import run_record
from pipedeck.concepts.summary import result_warning

RUN_ID = click.argument("run_id", type=Id("run"), metavar="RUN_ID")
FOLLOW_INTERVAL = 0.5

COLUMNS = [Column("ID", justify="right"), Column("STATUS"), Column("TYPE", shrink_to=10),
           Column("BRAND", max_width=20, shrink_to=8), Column("COMPETITOR", max_width=20, shrink_to=8, drop=4),
           Column("TRIES", drop=2), Column("CREATED", drop=3), Column("TOOK", drop=1),
           Column("SUMMARY", flex=True, min_flex=20)]


def run_json(run: dict) -> dict:
    return run_record(run)


def run_rows(runs: list[dict], now: float) -> list[list]:
    rows = []
    for r in runs:
        rows.append([r["id"], Cell(status_label(r["status"]), status_mark(r["status"])[1]), r["job_type"], r["brand"],
                     r["competitor"] or "", f"{r['attempts']}/{r['max_attempts']}", durations.ago(r["created_at"], now),
                     durations.took(r["started_at"], r["finished_at"], now), r["log_summary"]])
    return rows


def show_runs(svc, *, brand, job_type, competitor, status, search, limit, output: Output) -> None:
    statuses = [s.strip() for s in status.split(",") if s.strip()] if status else None
    runs = svc.list_runs(brand=brand, job_type=job_type, competitor=competitor, statuses=statuses, text=search,
                         limit=limit)
    output.listing([run_json(r) for r in runs], COLUMNS, lambda: run_rows(runs, time.time()), empty="no runs match")


@click.group("runs", cls=Group, invoke_without_command=True)
@click.option("--brand", metavar="BRAND", help="only this brand's runs.")
@click.option("--type", "job_type", metavar="JOB_TYPE", help="only runs of this job type.")
@click.option("--competitor", metavar="NAME", help="only runs for this competitor.")
@click.option("--status", metavar="STATUS[,STATUS]", help="comma-separated statuses, e.g. failed,running.")
@click.option("--search", metavar="TEXT", help="free text over type, brand, competitor, summary and error.")
@click.option("--limit", type=Count(1, 10_000), default=50, show_default=True, help="at most this many, newest first.")
@output_options
@click.pass_context
def runs(ctx: click.Context, output: Output, **filters) -> None:
    """List runs, newest first (the default), or show, retry or cancel one."""
    if ctx.invoked_subcommand is None:
        show_runs(state().service, output=output, **filters)


@runs.command("show", cls=Command)
@RUN_ID
@click.option("--follow", "-f", is_flag=True, help="Keep printing log lines (and progress) until the run ends.")
@json_option
@click.pass_context
@pass_service
def show(svc, ctx: click.Context, run_id: int, follow: bool, as_json: bool) -> None:
    """A run's params, attempts and log; `--follow` tails it until it ends (exit status 1 unless it succeeded)."""
    from pipedeck.cli.live import LiveRun, log_line

    detail = svc.run_detail(run_id, log_tail=None if as_json else 50)
    run = detail["run"]
    if as_json and not follow:
        out = run_json(run)
        out["attempt_history"] = [{**a, "started_at": iso(a["started_at"]), "finished_at": iso(a["finished_at"])}
                                  for a in detail["attempts"]]
        out["logs"] = [{"ts": iso(line["ts"]), "level": line["level"], "message": line["message"]}
                       for line in detail["logs"]]
        emit_json(out)
        return
    echo(f"run {run['id']}  {run['job_type']}  brand={run['brand']}"
         + (f"  competitor={run['competitor']}" if run["competitor"] else "")
         + f"  status={run['status']}  attempts={run['attempts']}/{run['max_attempts']}")
    echo(f"params: {json.dumps(run['params'], sort_keys=True)}")
    if run["error_message"]:
        echo(f"error: {run['error_type']}: {run['error_message']}")
    if run["result"]:
        echo(f"result: {json.dumps(run['result'], sort_keys=True)}")
        warning = result_warning(run["result"])
        if warning:
            echo(f"warning: {warning}")
    now = time.time()
    for a in detail["attempts"]:
        echo(f"  attempt {a['number']}: {a['status']} after {durations.took(a['started_at'], a['finished_at'], now)}"
             + (f" - {a['error_type']}: {a['error_message']}" if a["error_message"] else ""))
    last_id = 0
    if not follow:
        for line in detail["logs"]:
            echo(log_line(line))
        return
    with LiveRun(run_id) as live:
        for line in detail["logs"]:
            live.line(log_line(line))
            last_id = line["id"]
        while True:
            run = svc.run(run_id)
            for line in svc.run_logs(run_id, after_id=last_id):
                live.line(log_line(line))
                last_id = line["id"]
            live.update(run)
            if run["status"] in TERMINAL:
                break
            time.sleep(FOLLOW_INTERVAL)
    echo(f"run {run['id']} {run['status']}"
         + (f": {run['error_type']}: {run['error_message']}" if run["error_message"] else ""))
    if run["status"] != "succeeded":
        ctx.exit(1)


@runs.command("retry", cls=Command)
@RUN_ID
@set_option("change a parameter for the retry (repeatable)")
@pass_service
def retry(svc, run_id: int, params: dict) -> None:
    """Queue a run again (same params, or changed with --set); prints the new run id."""
    click.echo(svc.retry(run_id, params or None))


@runs.command("cancel", cls=Command)
@RUN_ID
@pass_service
def cancel(svc, run_id: int) -> None:
    """Cancel a queued run at once, a running one cooperatively (it shows `cancelling` until it stops)."""
    click.echo(f"run {run_id} {svc.cancel(run_id)}")
