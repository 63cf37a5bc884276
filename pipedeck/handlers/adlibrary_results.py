"""One Ad Library search result as the flat record both Ad Library jobs store.

Pure data code, no browser: Meta's result shape (DOMAIN.md) in, a record out.
Text is cleaned as people read it, ``snapshot.body`` is read whether it comes
as ``{"text": ...}`` or JSON-encoded, and a dynamic creative ad's template
placeholders (``{{product.name}}``) are never stored: its copy comes from its cards.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any


def clean_text(value: Any) -> str | None:
    """Text as people read it: newlines unified, trailing spaces and runs of blank lines gone."""
    if value is None:
        return None
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text or None


def body_text(body: Any, _depth: int = 0) -> str | None:
    """The ad's text from ``snapshot.body``: ``{"text": ...}``, or that as a JSON-encoded string."""
    if body is None or _depth > 4:
        return None
    if isinstance(body, dict):
        text = body.get("text")
        if text is None and isinstance(body.get("markup"), dict):
            text = html.unescape(re.sub(r"<br\s*/?>", "\n", body["markup"].get("__html") or ""))
            text = re.sub(r"<[^>]+>", "", text)
        return body_text(text, _depth + 1)
    if isinstance(body, str):
        stripped = body.strip()
        if stripped[:1] in ("{", '"'):
            try:
                decoded = json.loads(stripped)
            except ValueError:
                return clean_text(body)
            if isinstance(decoded, (dict, str)):
                return body_text(decoded, _depth + 1)
        return clean_text(body)
    return clean_text(body)


def _unix(value: Any) -> float | None:
    if value in (None, "", 0):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _unique(values) -> list[str]:
    out: list[str] = []
    for v in values:
        if v and isinstance(v, str) and v not in out:
            out.append(v)
    return out


# Dynamic creative (DCO) ads carry templates such as {{product.name}} in their own fields.
_PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}")


def has_placeholder(text: str | None) -> bool:
    return bool(text) and bool(_PLACEHOLDER.search(text))


def _copy(value: Any) -> str | None:
    """Cleaned text, or None when it is (or holds) a template placeholder: never stored as copy."""
    text = clean_text(value)
    return None if has_placeholder(text) else text


def card_copy(card: dict) -> dict:
    """The copy of one card (carousel or dynamic creative), placeholders dropped."""
    return {"title": _copy(card.get("title")), "body": _copy(body_text(card.get("body"))),
            "link_description": _copy(card.get("link_description")), "caption": _copy(card.get("caption")),
            "cta_text": _copy(card.get("cta_text")),
            "link_url": None if has_placeholder(card.get("link_url")) else (card.get("link_url") or None)}


def normalise_ad(raw: dict) -> dict:
    """One Ad Library result as the flat record both jobs store.

    A dynamic creative ad's own body, title and link are templates
    (``{{product.name}}``); its real copy is in its cards. Every card's copy is
    kept (``cards``, in order); a templated field takes the cards' copy instead
    (the body: every card's body, in order; the others: the first card's), and
    no placeholder is ever stored.
    """
    snap = raw.get("snapshot") or {}
    cards = [c for c in (snap.get("cards") or []) if isinstance(c, dict)]
    images = [i for i in (snap.get("images") or []) if isinstance(i, dict)]
    videos = [v for v in (snap.get("videos") or []) if isinstance(v, dict)]
    copies = [card_copy(c) for c in cards]
    first_card = copies[0] if copies else {}
    image_urls = _unique([i.get("original_image_url") or i.get("resized_image_url") for i in images]
                         + [c.get("original_image_url") or c.get("resized_image_url") for c in cards])
    video_urls = _unique([v.get("video_hd_url") or v.get("video_sd_url") for v in videos]
                         + [c.get("video_hd_url") or c.get("video_sd_url") for c in cards])
    previews = _unique([v.get("video_preview_image_url") for v in videos]
                       + [c.get("video_preview_image_url") for c in cards])
    branded = snap.get("branded_content")
    platforms = raw.get("publisher_platform") or raw.get("publisher_platforms") or []
    if isinstance(platforms, str):
        platforms = [platforms]
    end_date = _unix(raw.get("end_date"))
    is_active = bool(raw.get("is_active"))
    body = body_text(snap.get("body"))
    if has_placeholder(body):  # a dynamic creative's template: its copy is every card's
        body = "\n\n".join(_unique([c["body"] for c in copies])) or None
    elif body is None:
        body = first_card.get("body")
    link_url = snap.get("link_url")
    if has_placeholder(link_url):
        link_url = None
    return {
        "ad_archive_id": str(raw["ad_archive_id"]),
        "page_id": str(raw.get("page_id") or snap.get("page_id") or "") or None,
        "page_name": clean_text(raw.get("page_name") or snap.get("page_name")),
        "is_active": is_active,
        "start_date": _unix(raw.get("start_date")),
        "end_date": None if is_active else end_date,
        "body": body,
        "title": _copy(snap.get("title")) or first_card.get("title"),
        "caption": _copy(snap.get("caption")) or first_card.get("caption"),
        "cta_text": _copy(snap.get("cta_text")) or first_card.get("cta_text"),
        "cta_type": snap.get("cta_type") or (cards[0].get("cta_type") if cards else None),
        "link_url": link_url or first_card.get("link_url") or None,
        "display_format": snap.get("display_format"),
        "platforms": [str(p).upper() for p in platforms],
        "image_urls": image_urls,
        "video_urls": video_urls,
        "preview_image_url": (image_urls or previews or [None])[0],
        "card_count": len(cards),
        "cards": copies,
        "branded_content": bool(branded),
        "branded_partner": clean_text(branded.get("page_name")) if isinstance(branded, dict) else None,
        "collation_id": str(raw["collation_id"]) if raw.get("collation_id") else None,
        "collation_count": raw.get("collation_count"),
    }
