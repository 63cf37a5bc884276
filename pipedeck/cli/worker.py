"""`pipedeck worker` (the queue worker in the foreground) and `pipedeck status` (worker health, queue depth)."""

from __future__ import annotations

import click

from click_default_group import DefaultGroup

from pipedeck.cli.base import Command, Count, Group, Seconds, pass_service, pass_settings
from pipedeck.cli.output import echo, emit_json, iso, json_option
from pipedeck.concepts import durations
from pipedeck.concepts.text import visible


class WorkerGroup(DefaultGroup, Group):
    """``pipedeck worker`` runs the worker; ``worker install|uninstall`` make it a system service."""


@click.group("worker", cls=WorkerGroup, default="run", default_if_no_args=True)
def worker() -> None:
    """Run the queue worker in the foreground (the default), or install it as a system service."""


@worker.command("run", cls=Command)
@click.option("-w", "--threads", type=Count(1, 64), default=2, show_default=True, help="jobs run at once.")
@click.option("--grace", type=Seconds(0, 3600), default=10.0, show_default=True,
              help="seconds to let running jobs finish on stop.")
@click.option("-v", "--verbose", is_flag=True, help="Log debug lines too.")
@click.pass_context
@pass_settings
def run(settings, ctx: click.Context, threads: int, grace: float, verbose: bool) -> None:
    """Run the queue worker (huey consumer) in the foreground; SIGTERM or ctrl+c stops it cleanly."""
    from pipedeck.queue.worker import WorkerDaemon, configure_logging

    configure_logging(settings, verbose=verbose)
    # Its lines carry brand names and handlers' log lines (Meta's words): shown, never obeyed.
    daemon = WorkerDaemon(settings, threads=threads, grace=grace, echo=lambda line: echo(line))
    ctx.exit(daemon.run())


def _unit(settings):
    import os

    from pipedeck.queue import unit

    return unit.build(os.environ, settings.home)


@worker.command("install", cls=Command)
@click.option("--print", "print_only", is_flag=True, help="Show the unit; install nothing.")
@click.option("--no-start", is_flag=True, help="Write the unit but do not enable or start it.")
@pass_settings
def install(settings, print_only: bool, no_start: bool) -> None:
    """Install the worker as a service (systemd user unit; launchd agent on macOS), with this shell's settings."""
    from pipedeck.queue import unit as units

    unit = _unit(settings)
    if print_only:
        click.echo(unit.shown(), nl=False)
        return
    for line in units.install(unit, start=not no_start):
        echo(line)


@worker.command("uninstall", cls=Command)
@click.option("--no-stop", is_flag=True, help="Remove the unit without stopping the service first.")
@pass_settings
def uninstall(settings, no_stop: bool) -> None:
    """Stop the worker service and remove its unit."""
    from pipedeck.queue import unit as units

    for line in units.uninstall(_unit(settings), stop=not no_stop):
        echo(line)



def one_line(text: str, limit: int = 200) -> str:
    text = visible(" ".join(str(text).split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


@click.command("status", cls=Command)
@json_option
@pass_service
def status(svc, as_json: bool) -> None:
    """The database (its password masked), worker health, what each worker is doing, alert delivery and queue depth."""
    depth = svc.queue_depth()
    workers = svc.worker_details()
    alert_error = svc.alert_delivery_error()
    database = svc.settings.database.shown
    if as_json:
        emit_json({"database": database, "queue": depth, "workers": [
            {"id": w["id"], "alive": w["alive"], "heartbeat_age": round(w["heartbeat_age"], 1), "pid": w["pid"],
             "host": w["host"], "threads": w["threads"], "started_at": iso(w["started_at"]),
             "uptime": round(w["uptime"], 1), "runs_done": w["runs_done"],
             "current_runs": [{"id": r["id"], "job_type": r["job_type"], "brand": r["brand"]} for r in w["current"]],
             "last_error": w["last_error"], "last_error_run": w["last_error_run"],
             "last_error_at": iso(w["last_error_at"])} for w in workers],
            "alert_delivery_error": None if alert_error is None else {
                "alert_id": alert_error["id"], "error": alert_error["last_error"]}})
        return
    echo(f"database: {database}")
    echo("queue: " + ", ".join(f"{k} {v}" for k, v in depth.items()))
    if not workers:
        echo("workers: none running (start one with `pipedeck worker`)")
    for w in workers:
        current = ", ".join(f"run {r['id']} ({r['job_type']}, {r['brand']})" for r in w["current"]) or "idle"
        echo(f"worker {w['id']}: {'alive' if w['alive'] else 'NOT RESPONDING'}, host {w['host']}, pid {w['pid']},"
             f" up {durations.compact(w['uptime'])}, {w['runs_done']} run(s) done, now: {current},"
             f" heartbeat {durations.compact(w['heartbeat_age'])} ago, {w['threads']} thread(s)")
        if w["last_error"]:
            echo(f"  last error (run {w['last_error_run']}): {one_line(w['last_error'])}")
    if alert_error is not None:
        echo(f"alerts: NOT DELIVERED (alert {alert_error['id']}): {one_line(alert_error['last_error'] or '')}")
