"""`pipedeck tui` (what bare `pipedeck` runs): the terminal app on the configured data dir."""

from __future__ import annotations

import click

from pipedeck.cli.base import Command, pass_settings, release_collector


@click.command("tui", cls=Command)
@click.pass_context
@pass_settings
def tui(settings, ctx: click.Context) -> None:
    """Open the terminal app (what bare `pipedeck` does)."""
    from pipedeck.tui.app import run_tui

    release_collector()  # the app's modules are in: start-up is over (see pipedeck.__main__)
    ctx.exit(run_tui(settings))
