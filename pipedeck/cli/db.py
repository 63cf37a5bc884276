"""`pipedeck db`: the database itself."""

from __future__ import annotations

import click

from pipedeck.cli.base import Command, Group, pass_service, pass_settings, state
from pipedeck.cli.output import Column, echo, emit_json, json_option, print_table


@click.group("db", cls=Group, invoke_without_command=True)
@click.pass_context
def db(ctx: click.Context) -> None:
    """The database: engine, where, schema version and table sizes (`db status`, the default); `db copy`."""
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
    echo(f"search: {_search(info['search'])}")
    print_table([Column("TABLE"), Column("ROWS", justify="right"), Column("SIZE", justify="right")],
                [[name, f"{t['rows']:,}", _size(t["bytes"])] for name, t in info["tables"].items()])


def _search(search: dict) -> str:
    if search["index"] is None:
        return ("scans the runs (pg_trgm could not be added when the schema was upgraded;"
                " see README 'More than one machine' for adding it by hand)")
    behind = f", {search['lag']:,} runs not yet indexed (scanned meanwhile)" if search["lag"] else ""
    return f"by {search['index']}{behind}"


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return "-"


@db.command("copy", cls=Command)
@click.option("--to", "to", metavar="URL", required=True,
              help="the database to copy into: postgresql://user:pass@host:port/dbname or sqlite:///path "
                   "(a password may come from PGPASSWORD instead of the URL).")
@click.option("--from", "source", metavar="URL", default=None,
              help="the database to copy from (default: this pipedeck's, PIPEDECK_DATABASE_URL).")
@click.option("--force", is_flag=True, help="Replace what the target holds (else a non-empty target is refused).")
@json_option
@pass_settings
def copy(settings, to: str, source: str | None, force: bool, as_json: bool) -> None:
    """Copy every table to another database (SQLite <-> PostgreSQL), ids kept, counts verified on the target."""
    from pipedeck.queue.service import copy_database

    info = copy_database(settings, to=to, source=source, force=force)
    if as_json:
        emit_json(info)
        return
    print_table([Column("TABLE"), Column("ROWS", justify="right"), Column("ON TARGET", justify="right")],
                [[name, f"{t['source_rows']:,}", f"{t['target_rows']:,}"] for name, t in info["tables"].items()])
    total = sum(t["source_rows"] for t in info["tables"].values())
    echo(f"copied {total:,} rows in {len(info['tables'])} tables from {info['from']} to {info['to']};"
         " every count verified on the target")
    echo("not copied: the queue (a worker on the target re-sends waiting runs) and media files "
         "(copy the media dir to PIPEDECK_MEDIA_DIR)")
