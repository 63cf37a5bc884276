"""`pipedeck queue JOB_TYPE ...` (prints the new run id) and `pipedeck job-types`."""

from __future__ import annotations

import click

from pipedeck.cli.base import Command, pass_service, set_option
from pipedeck.cli.output import Column, Output, note, output_options
from pipedeck.concepts.text import visible


@click.command("queue", cls=Command)
@click.argument("job_type")
@click.option("--brand", required=True, metavar="BRAND", help="the brand (name or id).")
@click.option("--competitor", metavar="NAME", help="the competitor, for competitor jobs.")
@set_option()
@click.option("--direct", is_flag=True, help="Run here and now instead of on a worker (still recorded as a run).")
@click.pass_context
@pass_service
def queue(svc, ctx: click.Context, job_type: str, brand: str, competitor: str | None, params: dict,
          direct: bool) -> None:
    """Queue a job; prints the new run id. `pipedeck job-types` lists the types and their params."""
    run_id = svc.queue_one_time_job(brand, job_type, params, competitor=competitor, direct=direct)
    click.echo(run_id)
    if direct:
        status = run_direct(svc, run_id)
        if status != "succeeded":
            run = svc.run(run_id)
            error = f": {run['error_type']}: {run['error_message']}" if run["error_message"] else ""
            note(f"pipedeck: run {run_id} {status}{error}")
            ctx.exit(1)
        return
    if not svc.live_workers():
        note(f"pipedeck: warning: no worker is running; run {run_id} waits until you start `pipedeck worker`"
             " (or queue with --direct)")


def run_direct(svc, run_id: int) -> str:
    """Run it in this process; its lines (and on a terminal a progress bar) go to stderr."""
    from pipedeck.cli.live import LiveRun, Poller

    with LiveRun(run_id, stderr=True) as live:
        if not live.terminal:
            return svc.execute_direct(run_id, echo=live.line)
        with Poller(lambda: live.update(svc.run(run_id))):
            return svc.execute_direct(run_id, echo=live.line)


@click.command("job-types", cls=Command)
@output_options
@pass_service
def job_types(svc, output: Output) -> None:
    """The job types: key, label, scope, datasets and default params (`--json` adds the params schema)."""
    types = svc.job_types()
    output.listing(
        [{"key": t.key, "emoji": t.emoji, "label": t.label, "scope": t.scope, "datasets": list(t.datasets),
          "defaults": t.defaults(), "max_attempts": t.max_attempts,
          "params_schema": t.params_model.model_json_schema()} for t in types],
        [Column(""), Column("KEY"), Column("LABEL", max_width=30, shrink_to=12), Column("SCOPE", drop=2),
         Column("DATASETS", drop=1, max_width=30, shrink_to=10), Column("DEFAULTS", flex=True)],
        lambda: [[t.emoji, t.key, t.label, t.scope, ",".join(t.datasets),
                  " ".join(f"{k}={visible(v)}" for k, v in t.defaults().items() if v is not None)] for t in types],
        empty="no job types registered")
