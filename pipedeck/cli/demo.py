"""`pipedeck demo`: the app on seeded demo data, with the sandbox and a worker running."""

from __future__ import annotations

from types import SimpleNamespace

import click

from pipedeck.cli.base import Command


@click.command("demo", cls=Command)
@click.option("--home", metavar="DIR", help="demo data dir (default: <data dir>-demo).")
@click.option("--reset", is_flag=True, help="Start from fresh demo data.")
@click.option("--no-tui", is_flag=True, help="Seed and serve, but do not open the app.")
@click.pass_context
def demo(ctx: click.Context, home: str | None, reset: bool, no_tui: bool) -> None:
    """Open the app on demo data (a separate data dir), with the sandbox and a worker running."""
    from pipedeck.demo import run_demo

    ctx.exit(run_demo(SimpleNamespace(home=home, reset=reset, no_tui=no_tui)))
