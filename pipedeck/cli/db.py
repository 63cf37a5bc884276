"""`pipedeck db`: the database itself."""

from __future__ import annotations

import click

from pipedeck.cli.base import Command, Group, pass_service, state
from pipedeck.cli.output import Column, echo, emit_json, json_option, print_table


@click.group("db", cls=Group, invoke_without_command=True)
@click.pass_context
def db(ctx: click.Context) -> None:
    """The database: engine, file, schema version and rows per table (`db status`, the default)."""
    if ctx.invoked_subcommand is None:
        show_status(state().service, as_json=False)


@db.command("status", cls=Command)
@json_option
@pass_service
def status(svc, as_json: bool) -> None:
    """Engine, file, schema version and rows per table."""
    show_status(svc, as_json)


def show_status(svc, as_json: bool) -> None:
    info = svc.database_status()
    if as_json:
        emit_json(info)
        return
    size = f"{info['size_bytes'] / 1e6:.1f} MB" if info["size_bytes"] is not None else "?"
    echo(f"engine: {info['engine']} {info['engine_version']} ({info['journal_mode']} journal)")
    echo(f"path: {info['path']} ({size})")
    echo(f"schema version: {info['schema_version']} (this pipedeck: {info['latest_schema_version']})")
    print_table([Column("TABLE"), Column("ROWS", justify="right")],
                [[name, f"{count:,}"] for name, count in info["tables"].items()])
