"""`pipedeck competitors`: list, add or edit a brand's competitors."""

from __future__ import annotations

import click

from pipedeck.cli.base import Command, Group, pass_service, state
from pipedeck.cli.output import Column, Output, output_options
from pipedeck.errors import UserError

COLUMNS = [Column("ID", justify="right"), Column("BRAND", max_width=24, shrink_to=10),
           Column("NAME", max_width=30, shrink_to=10), Column("AD LIBRARY URL", flex=True)]
brand_filter = click.option("--brand", metavar="BRAND", help="only this brand's competitors.")


def show_competitors(svc, brand: str | None, output: Output) -> None:
    rows = svc.competitors(brand)
    output.listing([{"id": r["id"], "name": r["name"], "brand": r["brand_name"], "ad_library_url": r["ad_library_url"]}
                    for r in rows], COLUMNS,
                   lambda: [[r["id"], r["brand_name"], r["name"], r["ad_library_url"]] for r in rows],
                   empty="no competitors yet: pipedeck competitors add NAME --brand BRAND --ad-library-url URL")


@click.group("competitors", cls=Group, invoke_without_command=True)
@brand_filter
@output_options
@click.pass_context
def competitors(ctx: click.Context, brand: str | None, output: Output) -> None:
    """List competitors (the default), add or edit one."""
    if ctx.invoked_subcommand is None:
        show_competitors(state().service, brand, output)


@competitors.command("list", cls=Command)
@brand_filter
@output_options
@pass_service
def list_(svc, brand: str | None, output: Output) -> None:
    """List competitors."""
    show_competitors(svc, brand, output)


@competitors.command("add", cls=Command)
@click.argument("name")
@click.option("--brand", required=True, metavar="BRAND", help="the brand it competes with.")
@click.option("--ad-library-url", required=True, metavar="URL", help="its Ad Library page or keyword search.")
@pass_service
def add(svc, name: str, brand: str, ad_library_url: str) -> None:
    """Add a competitor to a brand; prints its id."""
    click.echo(svc.add_competitor(brand, name, ad_library_url)["id"])


@competitors.command("edit", cls=Command)
@click.argument("name")
@click.option("--brand", metavar="BRAND", help="the competitor's brand (when the name is not unique).")
@click.option("--name", "rename", metavar="NEW", help="a new name.")
@click.option("--ad-library-url", metavar="URL")
@pass_service
def edit(svc, name: str, brand: str | None, rename: str | None, ad_library_url: str | None) -> None:
    """Rename a competitor or change its Ad Library URL."""
    if rename is None and ad_library_url is None:
        raise UserError("nothing to change: pass --name or --ad-library-url")
    row = svc.competitor(name, brand)
    svc.edit_competitor(row["id"], name=rename, ad_library_url=ad_library_url)
