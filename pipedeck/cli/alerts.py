"""`pipedeck alerts`: what was alerted (the default), a test message, a one-off check."""

from __future__ import annotations

import click

from pipedeck.cli.base import Command, Count, Group, pass_service, state
from pipedeck.errors import UserError
from pipedeck.cli.output import Column, Output, echo, iso, output_options

COLUMNS = [Column("ID", justify="right"), Column("WHEN"), Column("KIND", drop=2), Column("SENT", drop=1),
           Column("ALERT", flex=True, min_flex=24)]


def show_alerts(svc, output: Output, limit: int = 50) -> None:
    rows = svc.recent_alerts(limit)

    def sent(r: dict) -> str:
        if r["sent_at"]:
            return "sent"
        if r["last_error"]:
            return f"failed x{r['attempts']}"
        return "not sent" if svc.settings.alert_targets() else "recorded"

    output.listing([{**r, "created_at": iso(r["created_at"]), "sent_at": iso(r["sent_at"]),
                     "claimed_at": iso(r["claimed_at"])} for r in rows], COLUMNS,
                   lambda: [[r["id"], iso(r["created_at"]), r["kind"], sent(r), f"{r['subject']}: {r['body']}"]
                            for r in rows],
                   empty="no alerts yet" + ("" if svc.settings.alert_targets() else
                                            " (set PIPEDECK_ALERT_URLS to have them sent)"))


@click.group("alerts", cls=Group, invoke_without_command=True)
@output_options
@click.option("--limit", type=Count(1, 10_000), default=50, show_default=True)
@click.pass_context
def alerts(ctx: click.Context, output: Output, limit: int) -> None:
    """Recent alerts: failed runs, stale datasets, dead workers, incomplete runs (the default), or `test`, `check`."""
    if ctx.invoked_subcommand is None:
        show_alerts(state().service, output, limit)


@alerts.command("test", cls=Command)
@pass_service
def test(svc) -> None:
    """Send a test message to every PIPEDECK_ALERT_URLS target."""
    error = svc.send_test_alert()
    if error:
        raise UserError(f"the test alert was not delivered: {error}")
    echo(f"test alert sent to {len(svc.settings.alert_targets())} target(s)")


@alerts.command("check", cls=Command)
@pass_service
def check(svc) -> None:
    """Look for alert-worthy events now and send what is new (for a machine where no worker runs)."""
    import os
    import socket

    pump = svc.alert_pump(f"cli-{socket.gethostname()}-{os.getpid()}", desktop=False)
    new = pump.check()
    pump.wait(30)
    echo(f"{new} new alert(s)" + (f"; delivery failed: {pump.last_error}" if pump.last_error else ""))
