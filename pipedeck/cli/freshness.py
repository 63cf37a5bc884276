"""`pipedeck freshness`: when each dataset last refreshed, and whether that is stale; and its policies."""

from __future__ import annotations

import click

from pipedeck.cli.base import Command, Group, pass_service, state
from pipedeck.cli.output import Cell, Column, Output, echo, iso, output_options
from pipedeck.concepts.datasets import FRESHNESS_MARKS
from pipedeck.concepts.durations import parse as parse_span, words
from pipedeck.errors import UserError

COLUMNS = [Column("BRAND", max_width=20, shrink_to=8), Column("COMPETITOR", max_width=20, shrink_to=8, drop=1),
           Column("DATASET", shrink_to=10), Column("STATE"), Column("COMPLETE", max_width=36, shrink_to=12, drop=2),
           Column("WHY", flex=True, min_flex=24)]
POLICY_COLUMNS = [Column("BRAND", max_width=24, shrink_to=8), Column("DATASET"), Column("WARN AFTER"),
                  Column("STALE AFTER"), Column("SOURCE", flex=True)]


def state_cell(value: str) -> Cell:
    mark, style = FRESHNESS_MARKS.get(value, ("?", ""))
    return Cell(f"{mark} {value}", style)


def show_freshness(svc, brand, output: Output) -> None:
    rows = svc.freshness(brand=brand)
    output.listing([{k: (iso(v) if k.endswith("_at") else v) for k, v in r.items()} for r in rows], COLUMNS,
                   lambda: [[r["brand"], r["competitor"] or "", r["dataset"], state_cell(r["state"]),
                             (r.get("completeness") or {}).get("text", ""), r["reason"]] for r in rows],
                   empty="no brands yet")


@click.group("freshness", cls=Group, invoke_without_command=True)
@click.option("--brand", metavar="BRAND", help="only this brand.")
@output_options
@click.pass_context
def freshness(ctx: click.Context, brand: str | None, output: Output) -> None:
    """Each dataset of each brand: fresh, warning, stale or never, and why (the default); or its policies."""
    if ctx.invoked_subcommand is None:
        show_freshness(state().service, brand, output)


def show_policies(svc, output: Output) -> None:
    rows = svc.freshness_policies()
    output.listing(rows, POLICY_COLUMNS,
                   lambda: [[r["brand"] or "(all)", r["dataset"], words(r["warn_after"]), words(r["stale_after"]),
                             r["source"]] for r in rows],
                   empty="no datasets registered")


@freshness.group("policy", cls=Group, invoke_without_command=True)
@output_options
@click.pass_context
def policy(ctx: click.Context, output: Output) -> None:
    """When datasets turn warning and stale: list (the default), set, clear."""
    if ctx.invoked_subcommand is None:
        show_policies(state().service, output)


@policy.command("list", cls=Command)
@output_options
@pass_service
def list_(svc, output: Output) -> None:
    """Built-in policies and stored overrides, each with where it comes from."""
    show_policies(svc, output)


@policy.command("set", cls=Command)
@click.argument("dataset")
@click.option("--warn", required=True, metavar="SPAN", help="warning after this long, e.g. 26h.")
@click.option("--stale", required=True, metavar="SPAN", help="stale after this long, e.g. 50h.")
@click.option("--brand", metavar="BRAND", help="for one brand (default: for all brands).")
@pass_service
def set_(svc, dataset: str, warn: str, stale: str, brand: str | None) -> None:
    """Set when a dataset turns warning and stale (units s, m, h, d, w)."""
    svc.set_freshness_policy(dataset, parse_span(warn), parse_span(stale), brand=brand)
    echo(f"policy for {dataset}{' of ' + brand if brand else ''}: warn after {warn}, stale after {stale}")


@policy.command("clear", cls=Command)
@click.argument("dataset")
@click.option("--brand", metavar="BRAND")
@pass_service
def clear(svc, dataset: str, brand: str | None) -> None:
    """Remove a stored policy (the built-in one applies again)."""
    if not svc.clear_freshness_policy(dataset, brand=brand):
        raise UserError(f"no stored policy for {dataset}{' of brand ' + brand if brand else ''}")
    echo(f"policy for {dataset} cleared")
