"""`pipedeck schedules`: recurring jobs. Next occurrences are shown in the local time zone and
relative ("in 3 h"); `--json` keeps ISO UTC."""

from __future__ import annotations

import time

import click

from pipedeck.cli.base import Command, Count, Group, Id, pass_service, set_option, state
from pipedeck.cli.output import Column, Output, iso, local_time, note, output_options
from pipedeck.errors import UserError

SCHEDULE_ID = click.argument("schedule_id", type=Id("schedule"), metavar="SCHEDULE_ID")
COLUMNS = [Column("ID", justify="right"), Column("STATE"), Column("TYPE", shrink_to=10),
           Column("BRAND", max_width=20, shrink_to=8), Column("COMPETITOR", max_width=20, shrink_to=8, drop=3),
           Column("CRON", drop=4), Column("WHEN", flex=True), Column("NEXT"), Column("MISSED", drop=2),
           Column("LAST RUN", drop=1)]
HISTORY_COLUMNS = [Column("OCCURRENCE"), Column("ACTION"), Column("RUN", justify="right"), Column("WHY", flex=True)]
filters = [click.option("--brand", metavar="BRAND", help="only this brand's schedules."),
           click.option("--competitor", metavar="NAME", help="only this competitor's schedules.")]


def with_filters(f):
    for option in reversed(filters):
        f = option(f)
    return f


def schedule_json(r: dict) -> dict:
    return {"id": r["id"], "job_type": r["job_type"], "brand": r["brand"], "competitor": r["competitor"],
            "params": r["params"], "cron": r["cron"], "tz": r["tz"], "explain": r.get("explain"),
            "active": bool(r["active"]), "missed_policy": r["missed_policy"],
            "next_run_at": iso(r["next_run_at"]), "last_run_id": r["last_run_id"],
            "last_run_status": r["last_run_status"], "last_fired_at": iso(r["last_fired_at"])}


def schedule_rows(rows: list[dict], now: float) -> list[list]:
    return [[r["id"], "active" if r["active"] else "paused", r["job_type"], r["brand"], r["competitor"] or "",
             f"{r['cron']} ({r['tz']})", r["explain"], local_time(r["next_run_at"], now) if r["active"] else "paused",
             r["missed_policy"], f"#{r['last_run_id']} {r['last_run_status']}" if r["last_run_id"] else "-"]
            for r in rows]


def next_words(row: dict) -> str:
    return local_time(row["next_run_at"], time.time()) if row["next_run_at"] else "paused"


def show_schedules(svc, brand, competitor, output: Output) -> None:
    rows = svc.schedules(brand=brand, competitor=competitor)
    output.listing([schedule_json(r) for r in rows], COLUMNS, lambda: schedule_rows(rows, time.time()),
                   empty="no schedules: pipedeck schedules add JOB_TYPE --brand NAME --cron '0 7 * * *'")


@click.group("schedules", cls=Group, invoke_without_command=True)
@with_filters
@output_options
@click.pass_context
def schedules(ctx: click.Context, brand, competitor, output: Output) -> None:
    """List recurring jobs (the default): cron in plain English, next occurrence, last run."""
    if ctx.invoked_subcommand is None:
        show_schedules(state().service, brand, competitor, output)


@schedules.command("list", cls=Command)
@with_filters
@output_options
@pass_service
def list_(svc, brand, competitor, output: Output) -> None:
    """List recurring jobs."""
    show_schedules(svc, brand, competitor, output)


@schedules.command("add", cls=Command)
@click.argument("job_type")
@click.option("--brand", required=True, metavar="BRAND")
@click.option("--competitor", metavar="NAME", help="the competitor, for competitor jobs.")
@click.option("--cron", required=True, metavar="EXPR", help="five-field cron expression, e.g. '0 7 * * 1-5'.")
@click.option("--tz", default="UTC", show_default=True, metavar="ZONE", help="IANA time zone of the cron expression.")
@set_option()
@click.option("--missed", default="skip", show_default=True, metavar="POLICY",
              help="after an outage: skip, or run_once (queue one run for the missed occurrences).")
@click.option("--paused", is_flag=True, help="Save it paused.")
@pass_service
def add(svc, job_type, brand, competitor, cron, tz, params, missed, paused) -> None:
    """Schedule a job; prints its id (and, on stderr, when it runs next)."""
    row = svc.add_schedule(job_type, brand, cron=cron, tz=tz, competitor=competitor, params=params,
                           missed_policy=missed, active=not paused)
    click.echo(row["id"])
    note(f"{row['explain']} ({row['tz']}); next {next_words(row)}")


@schedules.command("pause", cls=Command)
@SCHEDULE_ID
@pass_service
def pause(svc, schedule_id: int) -> None:
    """Pause a schedule (its occurrences are not queued until resumed)."""
    svc.pause_schedule(schedule_id)
    click.echo(f"schedule {schedule_id} paused")


@schedules.command("resume", cls=Command)
@SCHEDULE_ID
@pass_service
def resume(svc, schedule_id: int) -> None:
    """Resume a schedule from its next occurrence (those while paused are not made up)."""
    row = svc.resume_schedule(schedule_id)
    click.echo(f"schedule {schedule_id} resumed; next {next_words(row)}")


@schedules.command("edit", cls=Command)
@SCHEDULE_ID
@click.option("--cron", metavar="EXPR")
@click.option("--tz", metavar="ZONE")
@set_option("change a parameter; KEY=null removes it (repeatable)")
@click.option("--missed", metavar="POLICY")
@pass_service
def edit(svc, schedule_id: int, cron, tz, params, missed) -> None:
    """Change a schedule's cron, zone, params or missed-run policy."""
    if cron is None and tz is None and not params and missed is None:
        raise UserError("nothing to change: pass --cron, --tz, --set or --missed")
    row = svc.edit_schedule(schedule_id, cron=cron, tz=tz, params=params or None, missed_policy=missed)
    click.echo(f"schedule {row['id']}: {row['explain']} ({row['tz']}); next {next_words(row)}")


@schedules.command("remove", cls=Command)
@SCHEDULE_ID
@pass_service
def remove(svc, schedule_id: int) -> None:
    """Remove a schedule (its past runs stay)."""
    svc.remove_schedule(schedule_id)
    click.echo(f"schedule {schedule_id} removed")


@schedules.command("history", cls=Command)
@SCHEDULE_ID
@click.option("--limit", type=Count(1, 10_000), default=50, show_default=True)
@output_options
@pass_service
def history(svc, schedule_id: int, limit: int, output: Output) -> None:
    """What happened at each occurrence: queued, skipped (previous run still going), missed, error."""
    events = svc.schedule_history(schedule_id, limit)
    now = time.time()
    output.listing([{**e, "occurrence_at": iso(e["occurrence_at"]), "ts": iso(e["ts"])} for e in events],
                   HISTORY_COLUMNS,
                   lambda: [[local_time(e["occurrence_at"], now), e["action"], e["run_id"] or "", e["reason"] or ""]
                            for e in events],
                   empty=f"schedule {schedule_id} has no history yet")
