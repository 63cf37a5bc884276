"""`pipedeck templates`: the template review queue (scraped Ad Library ads): list, approve, reject."""

from __future__ import annotations

import click

from pipedeck.cli.base import Command, Count, Group, Id, pass_service, state
from pipedeck.cli.output import Column, Output, iso, output_options
from pipedeck.errors import UserError

COLUMNS = [Column("ID", justify="right"), Column("STATUS"), Column("BRAND", max_width=20, shrink_to=8, drop=3),
           Column("PAGE", max_width=24, shrink_to=8, drop=2), Column("FORMAT", drop=4), Column("CTA", max_width=16, drop=1),
           Column("TEXT", flex=True), Column("PREVIEW", drop=5)]
STATUSES = ("pending", "approved", "rejected", "all")


def listing_options(f):
    f = click.option("--limit", type=Count(1, 10_000), default=500, show_default=True)(f)
    f = click.option("--status", type=click.Choice(STATUSES), default="pending", show_default=True)(f)
    f = click.option("--brand", metavar="BRAND", help="only this brand's templates.")(f)
    return f


def show_templates(svc, brand, status, limit, output: Output) -> None:
    status = None if status == "all" else status
    rows = svc.templates(brand=brand, status=status, limit=limit)
    paths = {sha: str(path) for sha, path in svc.asset_paths([r["preview_sha256"] for r in rows]).items()}
    what = f"{status} templates" if status else "templates"
    output.listing(
        [{"id": r["id"], "brand": r["brand"], "status": r["status"], "ad_archive_id": r["ad_archive_id"],
          "page_name": r["page_name"], "display_format": r["display_format"], "title": r["title"],
          "body": r["body"], "cta_text": r["cta_text"], "link_url": r["link_url"], "image_url": r["image_url"],
          "preview_path": paths.get(r["preview_sha256"]), "first_seen_at": iso(r["first_seen_at"]),
          "last_seen_at": iso(r["last_seen_at"]), "reviewed_at": iso(r["reviewed_at"])} for r in rows],
        COLUMNS,
        lambda: [[r["id"], r["status"], r["brand"], r["page_name"] or "", r["display_format"] or "", r["cta_text"] or "",
                  " ".join((r["body"] or r["title"] or "").split()), "yes" if r["preview_sha256"] else "-"]
                 for r in rows],
        empty=f"no {what} (queue template_scrape to fill the review queue)")


@click.group("templates", cls=Group, invoke_without_command=True)
@listing_options
@output_options
@click.pass_context
def templates(ctx: click.Context, brand, status, limit, output: Output) -> None:
    """List templates (the default: pending ones), approve or reject them."""
    if ctx.invoked_subcommand is None:
        show_templates(state().service, brand, status, limit, output)


@templates.command("list", cls=Command)
@listing_options
@output_options
@pass_service
def list_(svc, brand, status, limit, output: Output) -> None:
    """List templates (default: pending ones)."""
    show_templates(svc, brand, status, limit, output)


def _review(svc, ids: tuple[int, ...], status: str) -> None:
    known = {t["id"] for t in svc.templates(status=None, limit=None)}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise UserError(f"no template with id {', '.join(map(str, unknown))}; nothing was changed"
                        " (see `pipedeck templates list --status all`)")
    changed = svc.review_templates(list(ids), status)
    click.echo(f"{status} {changed} template(s)" + (f"; {len(ids) - changed} already {status}"
                                                   if changed < len(ids) else ""))


@templates.command("approve", cls=Command)
@click.argument("ids", nargs=-1, required=True, type=Id("template"), metavar="ID...")
@pass_service
def approve(svc, ids: tuple[int, ...]) -> None:
    """Approve templates by id."""
    _review(svc, ids, "approved")


@templates.command("reject", cls=Command)
@click.argument("ids", nargs=-1, required=True, type=Id("template"), metavar="ID...")
@pass_service
def reject(svc, ids: tuple[int, ...]) -> None:
    """Reject templates by id."""
    _review(svc, ids, "rejected")
