"""One competitor ad as the Ad Library showed it: text, dates, platforms, media, active state.

Everything here was written by others (the competitor, Meta): each string is
shown with its control characters made visible.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from pipedeck.concepts import durations
from pipedeck.concepts.text import visible
from pipedeck.tui.widgets.key_footer import KeyFooter


def json_list(value) -> list:
    """A list column as stored (JSON text), or already a list; [] for anything else."""
    if isinstance(value, list):
        return value
    try:
        parsed = json.loads(value) if value else []
    except (TypeError, ValueError):
        return [value]
    return parsed if isinstance(parsed, list) else [parsed]


def day(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d") if ts else ""


def active_text(ad: dict) -> Text:
    if ad.get("is_active"):
        return Text("● active", style="green")
    text = Text("○ ended", style="dim")
    if ad.get("end_date"):
        text.append(f" {day(ad['end_date'])}", style="dim")
    elif ad.get("missing_since"):
        text.append(f" (gone from the library since {day(ad['missing_since'])})", style="dim")
    return text


class AdDetailScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, ad: dict, *, competitor: str = "", now: float | None = None,
                 ad_library_origin: str = "") -> None:
        super().__init__()
        self.ad = ad
        self.competitor = competitor
        self.now = now
        self.origin = ad_library_origin

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog ad", id="ad-detail"):
            yield Static(self.header(), classes="dialog-title", id="ad-header")
            yield Static(self.facts(), classes="dialog-detail", id="ad-facts")
            yield Static(self.copy(), classes="dialog-detail", id="ad-copy")
            yield Static(self.media(), id="ad-media")
        yield KeyFooter()

    def header(self) -> Text:
        ad = self.ad
        text = Text.assemble((f"Ad {visible(ad['ad_archive_id'])}", "bold"), "  ")
        text.append(visible(ad.get("page_name") or self.competitor or "unknown page"), style="bold cyan")
        text.append("   ")
        text.append_text(active_text(ad))
        return text

    def facts(self) -> Table:
        ad = self.ad
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", justify="right", no_wrap=True)
        grid.add_column(overflow="fold")
        ran = day(ad.get("start_date")) or "start not known"
        ran += f" → {day(ad['end_date'])}" if ad.get("end_date") else (" → still running" if ad.get("is_active")
                                                                       else " → ended")
        seen = f"{day(ad.get('first_seen_at'))} … {day(ad.get('last_seen_at'))}"
        if self.now and ad.get("last_seen_at"):
            seen += f" (last seen {durations.roughly(self.now - ad['last_seen_at'])} ago)"
        platforms = ", ".join(visible(p) for p in json_list(ad.get("platforms"))) or "–"
        rows = [("ran", ran), ("seen by us", seen), ("platforms", platforms),
                ("format", visible(ad.get("display_format") or "–")
                 + (f", {ad['card_count']} cards" if ad.get("card_count") else "")),
                ("paid partnership", visible(ad.get("branded_partner") or "yes") if ad.get("branded_content") else None),
                ("page id", visible(ad.get("page_id")) if ad.get("page_id") else None),
                ("in the library", f"{self.origin}/ads/library/?id={visible(ad['ad_archive_id'])}"
                 if self.origin else None)]
        for label, value in rows:
            if value:
                grid.add_row(label, Text(value))
        return grid

    def copy(self) -> Text:
        ad = self.ad
        text = Text()
        if ad.get("title"):
            text.append(visible(ad["title"]) + "\n", style="bold")
        if ad.get("body"):
            text.append(visible(ad["body"], keep_newlines=True) + "\n")
        if ad.get("caption"):
            text.append(visible(ad["caption"]) + "\n", style="dim")
        if ad.get("cta_text"):
            text.append(f"[ {visible(ad['cta_text'])} ]", style="reverse")
        if ad.get("link_url"):
            text.append(f"  {visible(ad['link_url'])}", style="underline")
        return text if text.plain else Text("(no text)", style="dim")

    def media(self) -> Text:
        ad = self.ad
        images, videos = json_list(ad.get("image_urls")), json_list(ad.get("video_urls"))
        text = Text.assemble(("Media", "bold"), f"  {len(images)} image(s), {len(videos)} video(s)\n")
        for kind, urls in (("image", images), ("video", videos)):
            for url in urls:
                text.append(f"  {kind}  ", style="dim")
                text.append(visible(url) + "\n")
        if ad.get("preview_image_url") and not images:
            text.append("  preview  ", style="dim")
            text.append(visible(ad["preview_image_url"]) + "\n")
        return text

    def action_close(self) -> None:
        self.dismiss(None)
