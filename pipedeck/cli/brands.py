"""`pipedeck brands`: list, add or edit brands."""

from __future__ import annotations

import click

from pipedeck.cli.base import Command, Group, pass_service, state
from pipedeck.cli.output import Column, Output, output_options
from pipedeck.errors import UserError

COLUMNS = [Column("ID", justify="right"), Column("NAME", flex=True), Column("META AD ACCOUNT"),
           Column("AD LIBRARY PAGE")]


def show_brands(svc, output: Output) -> None:
    brands = svc.brands()
    output.listing([{k: b[k] for k in ("id", "name", "meta_ad_account_id", "ad_library_page_id")} for b in brands],
                   COLUMNS, lambda: [[b["id"], b["name"], b["meta_ad_account_id"] or "-", b["ad_library_page_id"] or "-"]
                                     for b in brands],
                   empty="no brands yet: pipedeck brands add NAME --meta-ad-account ID")


@click.group("brands", cls=Group, invoke_without_command=True)
@output_options
@click.pass_context
def brands(ctx: click.Context, output: Output) -> None:
    """List brands (the default), add or edit one."""
    if ctx.invoked_subcommand is None:
        show_brands(state().service, output)


@brands.command("list", cls=Command)
@output_options
@pass_service
def list_(svc, output: Output) -> None:
    """List brands."""
    show_brands(svc, output)


@brands.command("add", cls=Command)
@click.argument("name")
@click.option("--meta-ad-account", metavar="ID", help="Meta ad account id (act_ prefix optional).")
@click.option("--ad-library-page-id", metavar="ID", help="the brand's Facebook page id in the Ad Library.")
@pass_service
def add(svc, name: str, meta_ad_account: str | None, ad_library_page_id: str | None) -> None:
    """Add a brand; prints its id."""
    click.echo(svc.add_brand(name, meta_ad_account, ad_library_page_id)["id"])


@brands.command("edit", cls=Command)
@click.argument("name")
@click.option("--name", "rename", metavar="NEW", help="a new name.")
@click.option("--meta-ad-account", metavar="ID")
@click.option("--ad-library-page-id", metavar="ID")
@pass_service
def edit(svc, name: str, rename: str | None, meta_ad_account: str | None, ad_library_page_id: str | None) -> None:
    """Rename a brand or change its Meta ids."""
    changes = {}
    if rename is not None:
        changes["name"] = rename
    if meta_ad_account is not None:
        changes["meta_ad_account_id"] = meta_ad_account
    if ad_library_page_id is not None:
        changes["ad_library_page_id"] = ad_library_page_id
    if not changes:
        raise UserError("nothing to change: pass --name, --meta-ad-account or --ad-library-page-id")
    svc.edit_brand(name, **changes)
