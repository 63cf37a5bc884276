"""`pipedeck worker` (the queue worker in the foreground) and `pipedeck status` (worker health, queue depth)."""

from __future__ import annotations

import click

from pipedeck.cli.base import Command, Count, Seconds, pass_service, pass_settings
from pipedeck.cli.output import echo, emit_json, iso, json_option
from pipedeck.concepts import durations


@click.command("worker", cls=Command)
@click.option("-w", "--threads", type=Count(1, 64), default=2, show_default=True, help="jobs run at once.")
@click.option("--grace", type=Seconds(0, 3600), default=10.0, show_default=True,
              help="seconds to let running jobs finish on stop.")
@click.option("-v", "--verbose", is_flag=True, help="Log debug lines too.")
@click.pass_context
@pass_settings
def worker(settings, ctx: click.Context, threads: int, grace: float, verbose: bool) -> None:
    """Run the queue worker (huey consumer) in the foreground; SIGTERM or ctrl+c stops it cleanly."""
    from pipedeck.queue.worker import WorkerDaemon, configure_logging

    configure_logging(settings, verbose=verbose)
    # Its lines carry brand names and handlers' log lines (Meta's words): shown, never obeyed.
    daemon = WorkerDaemon(settings, threads=threads, grace=grace, echo=lambda line: echo(line))
    ctx.exit(daemon.run())


@click.command("status", cls=Command)
@json_option
@pass_service
def status(svc, as_json: bool) -> None:
    """Worker health and queue depth."""
    depth = svc.queue_depth()
    workers = svc.worker_health()
    if as_json:
        emit_json({"queue": depth, "workers": [
            {"id": w["id"], "alive": w["alive"], "heartbeat_age": round(w["heartbeat_age"], 1), "pid": w["pid"],
             "host": w["host"], "threads": w["threads"], "started_at": iso(w["started_at"])} for w in workers]})
        return
    echo("queue: " + ", ".join(f"{k} {v}" for k, v in depth.items()))
    if not workers:
        echo("workers: none running (start one with `pipedeck worker`)")
    for w in workers:
        echo(f"worker {w['id']}: {'alive' if w['alive'] else 'NOT RESPONDING'},"
             f" heartbeat {durations.compact(w['heartbeat_age'])} ago, {w['threads']} thread(s)")
