"""`pipedeck export insights`: a brand's synced performance rows, for a spreadsheet."""

from __future__ import annotations

import sys

import click

from pipedeck.cli.base import Command, Group, pass_service


@click.group("export", cls=Group)
def export() -> None:
    """Take data out of pipedeck (CSV or JSON on stdout)."""


@export.command("insights", cls=Command)
@click.option("--brand", metavar="BRAND", required=True, help="the brand whose insights to export.")
@click.option("--since", metavar="YYYY-MM-DD", help="only days from this date on.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header row (the default).")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of objects.")
@pass_service
def insights(svc, brand: str, since: str | None, as_csv: bool, as_json: bool) -> None:
    """The brand's daily ad performance rows (spend, impressions, reach, clicks, ctr, cpc, cpm, actions,
    ROAS) with each ad's, ad set's and campaign's name, by date then ad."""
    from pipedeck.concepts import export as rows_out

    if as_json and as_csv:
        raise click.UsageError("--json and --csv exclude each other")
    from pipedeck.concepts.text import visible
    from pipedeck.storage.meta import INSIGHT_EXPORT_COLUMNS

    rows = svc.insight_rows(brand, since)
    if sys.stdout.isatty():  # outside text (ad names) reaches a terminal: control characters made visible
        rows = ({k: visible(v) if isinstance(v, str) else v for k, v in row.items()} for row in rows)
    rows_out.write(rows, sys.stdout, "json" if as_json else "csv", fields=INSIGHT_EXPORT_COLUMNS)
