"""`pipedeck db`: the database itself."""

from __future__ import annotations

import click

from pipedeck.cli.base import Command, Group, pass_service, state
from pipedeck.cli.output import Column, echo, emit_json, json_option, print_table


@click.group("db", cls=Group, invoke_without_command=True)
@click.pass_context
def db(ctx: click.Context) -> None:
    """The database: engine, where, schema version and table sizes (`db status`, the default)."""
    if ctx.invoked_subcommand is None:
        show_status(state().service, as_json=False)


@db.command("status", cls=Command)
@json_option
@pass_service
def status(svc, as_json: bool) -> None:
    """Engine, where (file or masked URL), schema version, rows and size per table."""
    show_status(svc, as_json)


def show_status(svc, as_json: bool) -> None:
    info = svc.database_status()
    if as_json:
        emit_json(info)
        return
    size = f"{info['size_bytes'] / 1e6:.1f} MB" if info["size_bytes"] is not None else "?"
    journal = f" ({info['journal_mode']} journal)" if info.get("journal_mode") else ""
    echo(f"engine: {info['engine']} {info['engine_version']}{journal}")
    echo(f"database: {info['url']} ({size})")
    if info.get("path"):
        echo(f"path: {info['path']}")
    echo(f"schema version: {info['schema_version']} (this pipedeck: {info['latest_schema_version']})")
    print_table([Column("TABLE"), Column("ROWS", justify="right"), Column("SIZE", justify="right")],
                [[name, f"{t['rows']:,}", _size(t["bytes"])] for name, t in info["tables"].items()])


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return "-"
