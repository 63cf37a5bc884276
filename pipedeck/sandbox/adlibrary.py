"""Ad Library half of the sandbox: search pages, their GraphQL paging, and the media CDN.

Paths (the real ones, on the sandbox's single origin):

- ``GET /ads/library/?view_all_page_id=N&...`` (page search) or ``?q=WORDS&...``
  (keyword search): an HTML page. Without the ``rd_challenge`` cookie (any
  client that does not run JavaScript) it is HTTP 403 and an anti-bot page
  whose script sets that cookie and reloads. With it, the first page of
  results is server-rendered as JSON in ``<script type="application/json"
  data-sjs>`` blocks under ``ad_library_main.search_results_connection``
  (``count``, ``edges[].node.collated_results[]``, ``page_info``), and the
  page's own script POSTs to ``/api/graphql/`` (``AdLibrarySearchPaginationQuery``,
  ``variables`` with the ``cursor``) when the user scrolls near the end,
  appending the results. Replies start with ``for (;;);`` (``adlib_graphql_no_guard``:
  not) and hold one JSON value (``adlib_graphql_lines``: several, one per line, the
  data first). About 30 ads a page.
- ``/adlib-cdn/...``: images (PNG) and videos (MP4 bytes) the results point at,
  with signed, expiring query strings like Meta's CDN.
- ``/rsrc.php/v4/...``: the page's script (which pages through results), its
  stylesheet and its web font, as separate requests like Meta's static files.
  Counters ``adlib_static:js``, ``adlib_static:css``, ``adlib_static:font`` and
  ``adlib_media`` say what a browser fetched.

What a search returns is deterministic (see :data:`HELP`): the last four
digits of ``view_all_page_id`` are the number of ads, and faults pick variants.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import struct
import threading
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from urllib.parse import parse_qs

PAGE_SIZE = 30
# The sandbox Ad Library's "today": ads start before it; ads stopped in generation g end g days after it.
BASE_TIME = 1767225600  # 2026-01-01T00:00:00Z
CHALLENGE_COOKIE = "rd_challenge"
DOC_ID = "24394279933540792"
FRIENDLY_NAME = "AdLibrarySearchPaginationQuery"
GUARD = "for (;;);"
_SECRET = b"pipedeck-sandbox-adlibrary"
_NONCE = "b3f1c9a2"

HELP = """\
Ad Library half (PIPEDECK_AD_LIBRARY_URL=http://HOST:PORT):
  /ads/library/?view_all_page_id=N   page search: N's last four digits are the number of
                                      ads (212 -> 212 ads, 1000 -> 1000, 5001 -> 5001,
                                      10000 -> none); the other digits only change content
  /ads/library/?q=WORDS               keyword search: 40-160 ads from several advertisers
  active_status=active|inactive|all   honoured; non-browser clients get a 403 challenge
  Ad Library faults (--fault NAME=VALUE, or POST /__sandbox/faults):
    adlib_generation=G    a later crawl of the same page: some ads that were active have
                          stopped (is_active false, end_date set); G=1,2,... stops more
    adlib_count_extra=K   Meta's count says K more ads than paging returns
    adlib_limit=N         the library holds only the first N ads of each search (the
                          rest were removed); count agrees
    adlib_json_body       every ad's snapshot.body is a JSON-encoded string
    adlib_format=F        every ad is IMAGE, VIDEO, CAROUSEL (cards) or DCO
    adlib_dco_placeholders  dynamic creative (DCO) ads as Meta shows them: snapshot.body,
                          title and link_description are templates ({{product.name}}),
                          the real copy is in snapshot.cards[] (body, title, link_description)
    adlib_branded         every ad is branded content (a paid partnership)
    adlib_slow=S          each Ad Library page and GraphQL reply waits S seconds
    adlib_stall_after=P   the page's own script stops loading more after P pages
                          (the "false plateau" scrollers hit); the cursor still works
    adlib_eager=1         once asked for more, the page's own script keeps loading every
                          further page by itself (an eager infinite scroll)
    adlib_page_size=N     results per page (default 30)
    adlib_graphql_error=N the next N GraphQL replies are errors (HTTP 500)
    adlib_graphql_lines   GraphQL replies hold several JSON values, one per line: the
                          data, then more (e.g. {"extensions":{"is_final":true}})
    adlib_graphql_no_guard  GraphQL replies come without the "for (;;);" guard
  Default content mixes images, videos, carousels, DCO, branded content and some
  bodies as JSON-encoded strings."""

DCO_BODY = "{{product.name}}"
DCO_TITLE = "{{product.brand}} | {{product.name}}"
DCO_LINK_DESCRIPTION = "{{product.description}}"
PLATFORMS = ("FACEBOOK", "INSTAGRAM", "AUDIENCE_NETWORK", "MESSENGER", "THREADS")
FORMATS = ("IMAGE", "VIDEO", "CAROUSEL", "DCO")
CTAS = (("Shop Now", "SHOP_NOW"), ("Learn More", "LEARN_MORE"), ("Sign Up", "SIGN_UP"),
        ("Get Offer", "GET_OFFER"), ("Order Now", "ORDER_NOW"), ("Download", "DOWNLOAD"))
BRAND_WORDS = ("Acme", "Northwind", "Lumen", "Brightside", "Fable", "Kettle", "Orbit", "Juniper", "Mosaic",
               "Harbor", "Quill", "Verdant", "Copper", "Nimbus", "Sable", "Tandem")
BRAND_SUFFIX = ("Goods", "Labs", "Co.", "Studio", "Outfitters", "Skincare", "Coffee", "Fitness", "Home", "Pets")
HOOKS = ("Meet the {p} everyone is talking about.", "Your mornings, upgraded: the new {p}.",
         "Why 40,000 customers switched to {p}.", "Last chance: {pct}% off {p} ends Sunday.",
         "We spent 2 years designing the {p}. Here's why.", "The {p} that pays for itself.",
         "Stop scrolling. Start {verb}.", "POV: you finally found a {p} that works.",
         "Free shipping on every {p} this week only.", "Made for real life: {p}, now in {color}.")
DETAILS = ("Rated 4.8/5 by 12,000+ reviewers.", "30-day money-back guarantee.", "Ships in 24 hours.",
           "Designed in Portland. Built to last.", "No subscriptions. No nonsense.",
           "Tap to see why it sold out twice.", "Bundle and save up to {pct}%.", "Dermatologist tested.")
PRODUCTS = ("cold brew kit", "running shoe", "face serum", "standing desk", "dog harness", "travel mug",
            "linen shirt", "protein bar", "smart lamp", "yoga mat", "backpack", "sleep mask")
VERBS = ("saving", "brewing", "running", "glowing", "sleeping better", "training")
COLORS = ("sage", "sand", "midnight", "coral", "oat", "forest")


# -- deterministic data ------------------------------------------------------------
def _h(*parts) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "big")


def page_name_for(page_id: int) -> str:
    rng = random.Random(_h("page", page_id))
    return f"{rng.choice(BRAND_WORDS)} {rng.choice(BRAND_SUFFIX)}"


@dataclass(frozen=True)
class Spec:
    """What a search asks for, plus the variant knobs in force (hashable: it keys the cache)."""

    page_id: int | None
    q: str | None
    active_status: str = "all"
    generation: int = 0
    count_extra: int = 0
    limit: int | None = None
    json_body: bool = False
    dco_placeholders: bool = False
    format: str | None = None
    branded: bool = False
    page_size: int = PAGE_SIZE

    @classmethod
    def build(cls, *, page_id: int | None, q: str | None, active_status: str, faults: dict) -> "Spec":
        fmt = str(faults.get("adlib_format") or "").upper() or None
        limit = faults.get("adlib_limit")
        return cls(
            page_id=page_id, q=(q or "").strip() or None,
            active_status=active_status if active_status in ("active", "inactive", "all") else "all",
            generation=int(faults.get("adlib_generation") or 0),
            count_extra=int(faults.get("adlib_count_extra") or 0),
            limit=int(limit) if limit not in (None, False) else None,
            json_body=bool(faults.get("adlib_json_body")),
            dco_placeholders=bool(faults.get("adlib_dco_placeholders")),
            format=fmt if fmt in FORMATS else None,
            branded=bool(faults.get("adlib_branded")),
            page_size=max(1, int(faults.get("adlib_page_size") or PAGE_SIZE)))

    @property
    def search_key(self) -> str:
        return f"page:{self.page_id}" if self.page_id is not None else f"q:{self.q}"


def _size_for(spec: Spec) -> int:
    if spec.page_id is not None:
        return spec.page_id % 10000
    return 40 + _h("qsize", spec.q.lower()) % 121


def _media_url(base: str, ad_id: str, slot: str, ext: str, size: str = "") -> str:
    path = f"/adlib-cdn/v/t39.35426-6/{ad_id}_{slot}_n.{ext}"
    oe = format(int(time.time() // 86400 + 3) * 86400, "x")  # expires in 2-3 days, stable within a day
    sig = _sign(path, oe)
    stp = f"stp=dst-{ext}_{size}&" if size else ""
    return f"{base}{path}?{stp}_nc_cat=10{len(slot)}&ccb=1-7&_nc_sid=c53f8f&oh=00_{sig}&oe={oe}"


def _sign(path: str, oe: str) -> str:
    return hmac.new(_SECRET, f"{path}|{oe}".encode(), hashlib.sha256).hexdigest()[:24]


def _text(rng: random.Random, product: str) -> str:
    hook = rng.choice(HOOKS).format(p=product, pct=rng.choice((15, 20, 25, 30, 40)), verb=rng.choice(VERBS),
                                    color=rng.choice(COLORS))
    lines = [hook, rng.choice(DETAILS).format(pct=rng.choice((10, 15, 20)))]
    if rng.random() < 0.3:
        lines.append("✨ " + rng.choice(DETAILS).format(pct=25))
    return "\n\n".join(lines)


def _make_ad(spec: Spec, index: int, page_id: int, base: str) -> dict:
    key = spec.search_key
    rng = random.Random(_h("ad", key, index))
    ad_id = str(1_000_000_000_000_000 + _h("id", key, index) % 8_000_000_000_000_000)
    page_name = page_name_for(page_id)
    domain = page_name.split()[0].lower() + ".example"
    product = rng.choice(PRODUCTS)
    start = BASE_TIME - rng.randint(2, 420) * 86400 - rng.randint(0, 86399)
    active = rng.random() < 0.78
    end = None
    if not active:
        end = min(BASE_TIME - 86400, start + rng.randint(3, 90) * 86400)
    else:
        stops_in_generation = rng.randint(1, 10)
        if spec.generation >= stops_in_generation:
            active = False
            end = BASE_TIME + stops_in_generation * 86400 - rng.randint(60, 3600)
    fmt = spec.format or rng.choices(FORMATS, weights=(55, 25, 12, 8))[0]
    cta_text, cta_type = rng.choice(CTAS)
    text = _text(rng, product)
    link = f"https://www.{domain}/{product.replace(' ', '-')}?utm_source=facebook&utm_campaign={rng.randint(100, 999)}"
    title = f"{product.title()} | {page_name}"
    images, videos, cards = [], [], []
    if fmt == "IMAGE":
        images = [{"original_image_url": _media_url(base, ad_id, "0", "png"),
                   "resized_image_url": _media_url(base, ad_id, "0r", "png", "s600x600"),
                   "watermarked_resized_image_url": "", "image_crops": []}]
    elif fmt == "VIDEO":
        videos = [{"video_hd_url": _media_url(base, ad_id, "hd", "mp4"),
                   "video_sd_url": _media_url(base, ad_id, "sd", "mp4"),
                   "video_preview_image_url": _media_url(base, ad_id, "vp", "png", "s600x600"),
                   "watermarked_video_hd_url": None, "watermarked_video_sd_url": None}]
    else:  # CAROUSEL and DCO carry cards
        for c in range(rng.randint(2, 5)):
            p2 = rng.choice(PRODUCTS)
            is_video = rng.random() < 0.2
            cards.append({
                "body": _text(rng, p2) if fmt == "DCO" else f"{p2.title()}: {rng.choice(DETAILS).format(pct=20)}",
                "title": p2.title(), "caption": domain.upper(), "cta_text": cta_text, "cta_type": cta_type,
                "link_url": f"https://www.{domain}/{p2.replace(' ', '-')}?card={c}",
                "link_description": None,
                "original_image_url": None if is_video else _media_url(base, ad_id, f"c{c}", "png"),
                "resized_image_url": None if is_video else _media_url(base, ad_id, f"c{c}r", "png", "s600x600"),
                "video_hd_url": _media_url(base, ad_id, f"c{c}hd", "mp4") if is_video else None,
                "video_sd_url": _media_url(base, ad_id, f"c{c}sd", "mp4") if is_video else None,
                "video_preview_image_url": _media_url(base, ad_id, f"c{c}vp", "png", "s600x600") if is_video else None,
            })
    body: object = {"text": text}
    if spec.json_body or rng.random() < 0.12:
        body = json.dumps({"text": text})  # Meta sometimes sends the body as a JSON-encoded string
    branded = None
    if spec.branded or rng.random() < 0.06:
        partner = 100000 + _h("partner", key, index) % 900000
        branded = {"page_id": str(partner), "page_name": f"{rng.choice(BRAND_WORDS)} Creator",
                   "page_profile_uri": f"https://www.facebook.com/{partner}", "is_paid_partnership": True}
    platforms = [p for p in PLATFORMS if rng.random() < (0.9 if p in ("FACEBOOK", "INSTAGRAM") else 0.35)]
    link_description = rng.choice(DETAILS).format(pct=10) if rng.random() < 0.5 else None
    if fmt == "DCO" and spec.dco_placeholders:
        # Dynamic creative as Meta shows it: the ad's own fields are the template, the cards the copy.
        text, title, link_description = DCO_BODY, DCO_TITLE, DCO_LINK_DESCRIPTION
        body = json.dumps({"text": text}) if isinstance(body, str) else {"text": text}
        for c, card in enumerate(cards):
            card["link_description"] = random.Random(_h("dco", key, index, c)).choice(DETAILS).format(pct=15)
    return {
        "ad_archive_id": ad_id,
        "ad_id": None,
        "archive_types": [],
        "categories": ["UNKNOWN"],
        "collation_count": 1,
        "collation_id": ad_id,
        "contains_digital_created_media": False,
        "contains_sensitive_content": False,
        "currency": "",
        "end_date": end,
        "entity_type": "PERSON_PROFILE",
        "gated_type": "ELIGIBLE",
        "has_user_reported": False,
        "hidden_safety_data": False,
        "is_aaa_eligible": True,
        "is_active": active,
        "is_profile_page": False,
        "page_id": str(page_id),
        "page_is_deleted": False,
        "page_name": page_name,
        "publisher_platform": platforms or ["FACEBOOK"],
        "reach_estimate": None,
        "spend": None,
        "start_date": start,
        "state_media_run_label": None,
        "snapshot": {
            "body": body,
            "branded_content": branded,
            "byline": None,
            "caption": domain.upper(),
            "cards": cards,
            "cta_text": cta_text,
            "cta_type": cta_type,
            "display_format": fmt,
            "extra_images": [], "extra_links": [], "extra_texts": [], "extra_videos": [],
            "images": images,
            "link_description": link_description,
            "link_url": link,
            "page_categories": ["Shopping & retail"],
            "page_id": str(page_id),
            "page_like_count": 1000 + _h("likes", page_id) % 900000,
            "page_name": page_name,
            "page_profile_picture_url": _media_url(base, f"p{page_id}", "pp", "png", "s60x60"),
            "page_profile_uri": f"https://www.facebook.com/{page_id}",
            "title": title,
            "videos": videos,
        },
    }


@lru_cache(maxsize=16)
def search_groups(spec: Spec, base: str) -> tuple[tuple[dict, ...], ...]:
    """The search's results in library order, grouped into collations (edges)."""
    n = _size_for(spec)
    if spec.limit is not None:
        n = min(n, spec.limit)
    if spec.page_id is not None:
        advertisers = [spec.page_id]
    else:
        advertisers = [1_000_000 + _h("adv", spec.q.lower(), k) % 9_000_000 for k in range(5)]
    ads = []
    for i in range(n):
        owner = advertisers[_h("owner", spec.search_key, i) % len(advertisers)]
        ads.append(_make_ad(spec, i, owner, base))
    groups: list[list[dict]] = []
    i = 0
    while i < len(ads):
        size = 1 + _h("collate", spec.search_key, i) % 3 if _h("c?", spec.search_key, i) % 5 == 0 else 1
        group = ads[i:i + size]
        for ad in group:
            ad["collation_id"] = group[0]["ad_archive_id"]
            ad["collation_count"] = len(group)
        groups.append(group)
        i += size
    if spec.active_status != "all":
        want = spec.active_status == "active"
        groups = [g2 for g2 in ([a for a in g if a["is_active"] == want] for g in groups) if g2]
    return tuple(tuple(g) for g in groups)


def _encode_cursor(spec: Spec, offset: int) -> str:
    raw = json.dumps({"k": spec.search_key, "o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(spec: Spec, cursor: str | None) -> int | None:
    if not cursor:
        return 0
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if raw["k"] != spec.search_key:
            return None
        return int(raw["o"])
    except (ValueError, KeyError, TypeError):
        return None


def connection(spec: Spec, base: str, offset: int) -> dict:
    """One page of results as Meta's search_results_connection."""
    groups = search_groups(spec, base)
    total = sum(len(g) for g in groups)
    edges, taken, i = [], 0, offset
    while i < len(groups) and (taken == 0 or taken + len(groups[i]) <= spec.page_size):
        group = groups[i]
        edges.append({"node": {"collated_results": list(group), "__typename": "AdArchiveCollatedResults"},
                      "cursor": None})
        taken += len(group)
        i += 1
    has_next = i < len(groups)
    return {
        "count": total + spec.count_extra,
        "edges": edges,
        "page_info": {"end_cursor": _encode_cursor(spec, i) if has_next else None, "has_next_page": has_next},
        "is_result_complete": not has_next,
    }


# -- media -------------------------------------------------------------------------
def _png(width: int, height: int, seed: int) -> bytes:
    rng = random.Random(seed)
    r0, g0, b0 = rng.randrange(256), rng.randrange(256), rng.randrange(256)
    noise_rows = height // 16
    rows = []
    for y in range(height):
        shade = (y * 255) // max(1, height - 1)
        row = bytes(((r0 + shade) % 256, (g0 + shade // 2) % 256, (b0 + 255 - shade) % 256)) * width
        if y < noise_rows:  # a band of photo-like noise so files have realistic sizes
            row = rng.randbytes(width * 3)
        rows.append(b"\x00" + row)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"".join(rows), 1))
            + chunk(b"IEND", b""))


class _MediaCache:
    def __init__(self, size: int = 64) -> None:
        self.size = size
        self.items: OrderedDict[str, bytes] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str, make) -> bytes:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = make()
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


_media = _MediaCache()


def _serve_media(req) -> None:
    req.state.count("adlib_media")
    path = req.path
    oe = req.query.get("oe", "")
    sig = req.query.get("oh", "").removeprefix("00_")
    if not hmac.compare_digest(sig, _sign(path, oe)):
        req.send(403, "Bad URL hash", "text/plain")
        return
    try:
        expired = int(oe, 16) < time.time()
    except ValueError:
        expired = True
    if expired:
        req.send(403, "URL signature expired", "text/plain")
        return
    name = path.rsplit("/", 1)[-1]
    seed = _h("media", name)
    if name.endswith(".png"):
        stp = req.query.get("stp", "")
        side = 60 if "s60x60" in stp else 600 if "s600x600" in stp else 1080
        body = _media.get(f"{name}:{side}", lambda: _png(side, side, seed))
        req.send(200, body, "image/png", {"Cache-Control": "max-age=1209600"})
    elif name.endswith(".mp4"):
        size = (256 + seed % 1792) * 1024 if "_hd_" in name or "hd_n" in name else (128 + seed % 512) * 1024
        req.start_stream(200, "video/mp4", size, {"Accept-Ranges": "none"})
        if req.method == "HEAD":
            return
        head = struct.pack(">I", 24) + b"ftypisom" + b"\x00\x00\x02\x00isomiso2"
        rng = random.Random(seed)
        req.write(head)
        left = size - len(head)
        while left > 0:
            n = min(65536, left)
            req.write(rng.randbytes(n))
            left -= n
    else:
        req.send(404, "Not found", "text/plain")


# -- the challenge -------------------------------------------------------------------
def _challenge_value() -> str:
    h = 0
    for ch in _NONCE:
        h = (h * 31 + ord(ch)) & 0xFFFFFFFF
    return f"{_NONCE}.{h:x}"


def _has_challenge_cookie(req) -> bool:
    raw = req.headers.get("Cookie", "")
    for part in raw.split(";"):
        name, _, value = part.strip().partition("=")
        if name == CHALLENGE_COOKIE and value == _challenge_value():
            return True
    return False


CHALLENGE_HTML = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Security check</title></head>
<body><p>Checking your browser before accessing the Ad Library&hellip;</p>
<noscript>Please enable JavaScript to continue.</noscript>
<script>(function(){var n="%s",h=0;for(var i=0;i<n.length;i++){h=(Math.imul(h,31)+n.charCodeAt(i))>>>0;}
document.cookie="%s="+n+"."+h.toString(16)+"; path=/; SameSite=Lax";location.reload();})();</script>
</body></html>""" % (_NONCE, CHALLENGE_COOKIE)


# -- the search page ---------------------------------------------------------------
def _lsd_token() -> str:
    return "AVq" + hashlib.sha256(_SECRET + b"lsd").hexdigest()[:8]


def _spec_from_query(query: dict, faults: dict) -> Spec | str:
    page = (query.get("view_all_page_id") or "").strip()
    q = (query.get("q") or "").strip()
    if page:
        if not page.isdigit():
            return "view_all_page_id must be numeric"
        return Spec.build(page_id=int(page), q=None, active_status=query.get("active_status", "all"), faults=faults)
    if q:
        return Spec.build(page_id=None, q=q, active_status=query.get("active_status", "all"), faults=faults)
    return "nothing to search: give view_all_page_id= or q="


def _json_block(obj) -> str:
    text = json.dumps(obj, separators=(",", ":")).replace("</", "<\\/")
    return f'<script type="application/json" data-content-len="{len(text)}" data-sjs>{text}</script>'


PAGE_SCRIPT = r"""
(function () {
  var CFG = JSON.parse(document.getElementById("adlib-config").textContent);
  function findMain(o) {
    if (!o || typeof o !== "object") return null;
    if (o.ad_library_main) return o.ad_library_main;
    for (var k in o) { var r = findMain(o[k]); if (r) return r; }
    return null;
  }
  var conn = null;
  document.querySelectorAll('script[type="application/json"][data-sjs]').forEach(function (s) {
    if (!conn) { var m = findMain(JSON.parse(s.textContent)); if (m) conn = m.search_results_connection; }
  });
  var results = document.getElementById("results"), sentinel = document.getElementById("sentinel"),
      status = document.getElementById("status");
  var cursor = conn.page_info.end_cursor, hasNext = conn.page_info.has_next_page, loading = false, loads = 0;
  document.getElementById("count").textContent = "~" + conn.count + " results";
  function bodyText(b) {
    if (typeof b === "string") { try { b = JSON.parse(b); } catch (e) { return b; } }
    return b && b.text ? b.text : "";
  }
  function render(edges) {
    var frag = document.createDocumentFragment();
    edges.forEach(function (edge) {
      edge.node.collated_results.forEach(function (ad) {
        var s = ad.snapshot, card = document.createElement("div");
        card.className = "ad"; card.dataset.adArchiveId = ad.ad_archive_id;
        var img = (s.images[0] && s.images[0].resized_image_url) ||
                  (s.videos[0] && s.videos[0].video_preview_image_url) ||
                  (s.cards[0] && (s.cards[0].resized_image_url || s.cards[0].video_preview_image_url)) || "";
        card.innerHTML = '<div class="meta"></div><b class="pn"></b><p class="body"></p>' +
                         (img ? '<img loading="lazy" width="300" height="300" alt="">' : '') +
                         '<a class="cta"></a>';
        card.querySelector(".meta").textContent = (ad.is_active ? "Active" : "Inactive") + " · Library ID: " + ad.ad_archive_id;
        card.querySelector(".pn").textContent = ad.page_name;
        card.querySelector(".body").textContent = bodyText(s.body);
        if (img) card.querySelector("img").src = img;
        var a = card.querySelector(".cta"); a.textContent = s.cta_text || ""; a.href = s.link_url || "#";
        frag.appendChild(card);
      });
    });
    results.appendChild(frag);
  }
  function visible(el) { var r = el.getBoundingClientRect(); return r.top < window.innerHeight + 400; }
  function loadMore() {
    if (loading || !hasNext) return;
    if (CFG.stallAfter !== null && loads >= CFG.stallAfter) return;
    loading = true; loads++;
    var vars = Object.assign({}, CFG.variables, {cursor: cursor});
    var body = new URLSearchParams({av: "0", __user: "0", __a: "1", __req: loads.toString(36), lsd: CFG.lsd,
      fb_api_caller_class: "RelayModern", fb_api_req_friendly_name: CFG.friendlyName,
      variables: JSON.stringify(vars), server_timestamps: "true", doc_id: CFG.docId});
    status.textContent = "Loading…";
    fetch("/api/graphql/", {method: "POST", credentials: "same-origin", body: body,
      headers: {"Content-Type": "application/x-www-form-urlencoded", "X-FB-LSD": CFG.lsd,
                "X-FB-Friendly-Name": CFG.friendlyName}})
      .then(function (r) { return r.text(); })
      .then(function (t) {
        if (t.indexOf(CFG.guard) === 0) t = t.slice(CFG.guard.length);
        var c = JSON.parse(t.split("\n")[0]).data.ad_library_main.search_results_connection;
        render(c.edges); cursor = c.page_info.end_cursor; hasNext = c.page_info.has_next_page;
        status.textContent = hasNext ? "" : "End of results";
      })
      .catch(function () { status.textContent = "Something went wrong. Scroll to try again."; })
      .then(function () { loading = false; if (hasNext && (CFG.eager || visible(sentinel))) setTimeout(loadMore, 0); });
  }
  render(conn.edges);
  if (!hasNext) status.textContent = "End of results";
  new IntersectionObserver(function (entries) {
    if (entries.some(function (e) { return e.isIntersecting; })) loadMore();
  }, {rootMargin: "400px"}).observe(sentinel);
  // The observer only reports changes: a scroll that lands before it noticed the sentinel
  // leave would go unanswered, so scrolling near the end asks too.
  window.addEventListener("scroll", function () { if (visible(sentinel)) loadMore(); }, {passive: true});
})();
"""

PAGE_STYLE = """
@font-face{font-family:Optimistic;src:url(/rsrc.php/v4/optimistic.woff2) format("woff2")}
body{font-family:Optimistic,Helvetica,Arial,sans-serif;background:#f0f2f5;margin:0}
header{background:#fff;padding:12px 24px;border-bottom:1px solid #ddd}
#results{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:12px;padding:16px}
.ad{background:#fff;border-radius:8px;padding:12px;min-height:420px}
.ad .body{white-space:pre-line;font-size:14px}.ad img{display:block;background:#ddd}
.meta{color:#65676b;font-size:12px}#status{text-align:center;padding:24px;color:#65676b}
"""


def _variables(spec: Spec, query: dict) -> dict:
    country = query.get("country", "ALL")
    return {
        "activeStatus": spec.active_status, "adType": query.get("ad_type", "all").upper(), "bylines": [],
        "collationToken": None, "contentLanguages": [], "countries": [country], "cursor": None,
        "excludedIDs": None, "first": spec.page_size, "isTargetedCountry": False, "location": None,
        "mediaType": query.get("media_type", "all"), "multiCountryFilterMode": None, "pageIDs": [],
        "potentialReachInput": None, "publisherPlatforms": [], "queryString": spec.q or "", "regions": None,
        "searchType": query.get("search_type", "page" if spec.page_id is not None else "keyword_unordered"),
        "sessionID": hashlib.sha256(f"{spec.search_key}".encode()).hexdigest()[:32], "sortData": None,
        "source": None, "startDate": None, "v": "a1b2c3",
        "viewAllPageID": str(spec.page_id) if spec.page_id is not None else "0",
    }


def _search_page(req, spec: Spec) -> None:
    conn = connection(spec, req.base_url, 0)
    defines = {"define": [["LSD", [], {"token": _lsd_token()}, 323],
                          ["SiteData", [], {"server_revision": 1019283746, "haste_session": "20450.HYP:comet_pkg"}, 317]]}
    # Meta nests the preloaded query result deep inside ScheduledServerJS payloads.
    preload = {"require": [["ScheduledServerJS", "handle", None, [{"__bbox": {"require": [
        ["RelayPrefetchedStreamCache", "next", [],
         ["adp_AdLibrarySearchResultsRootQueryRelayPreloader_" + spec.search_key.replace(":", "_"),
          {"__bbox": {"complete": True, "result": {"data": {"ad_library_main": {
              "search_results_connection": conn, "__typename": "AdLibraryMain"}}, "extensions": {"is_final": True}},
              "sequence_number": 0}}]]]}}]]]}
    cfg = {"lsd": _lsd_token(), "docId": DOC_ID, "friendlyName": FRIENDLY_NAME, "guard": GUARD,
           "variables": _variables(spec, req.query),
           "stallAfter": None, "eager": bool(req.state.fault("adlib_eager"))}
    stall = req.state.fault("adlib_stall_after")
    if stall not in (None, False):
        cfg["stallAfter"] = int(stall)
    title = escape(spec.q or page_name_for(spec.page_id))
    config = json.dumps(cfg).replace("</", "<\\/")
    # Like Meta's, the page's script, stylesheet and font come from static URLs (rsrc.php).
    html = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Ad Library - {title}</title><link rel=\"stylesheet\" href=\"{STATIC}/adlibrary.css\">"
            f"{_json_block(defines)}{_json_block(preload)}</head><body>"
            f"<header><b>Ad Library</b> · {title} · <span id=\"count\"></span></header>"
            "<main id=\"results\"></main><div id=\"status\" aria-live=\"polite\"></div>"
            "<div id=\"sentinel\" style=\"height:1px\"></div>"
            f"<script type=\"application/json\" id=\"adlib-config\">{config}</script>"
            f"<script src=\"{STATIC}/adlibrary.js\"></script>"
            "</body></html>")
    req.send(200, html, "text/html; charset=utf-8",
             {"Cache-Control": "private, no-cache, no-store, must-revalidate", "X-Frame-Options": "DENY"})


STATIC = "/rsrc.php/v4"
# A font's bytes only need to look like one: browsers fetch it when text uses its family.
FONT_BYTES = b"wOF2" + bytes(range(256)) * 16


def _serve_static(req) -> bool:
    """The page's script, stylesheet and web font (no challenge cookie needed, as on a CDN)."""
    name = req.path[len(STATIC) + 1:]
    kinds = {"adlibrary.js": ("js", PAGE_SCRIPT, "application/javascript; charset=utf-8"),
             "adlibrary.css": ("css", PAGE_STYLE, "text/css; charset=utf-8"),
             "optimistic.woff2": ("font", FONT_BYTES, "font/woff2")}
    if name not in kinds:
        return False
    kind, body, ctype = kinds[name]
    req.state.count(f"adlib_static:{kind}")
    req.send(200, body, ctype, {"Cache-Control": "no-store"})
    return True


def _graphql(req) -> None:
    state = req.state
    req.body()  # read before any delay so the connection stays in step
    if not _has_challenge_cookie(req):
        state.count("adlib_challenge")
        req.send(403, CHALLENGE_HTML, "text/html; charset=utf-8")
        return
    form = {k: v[-1] for k, v in parse_qs(req.body().decode("utf-8", "replace"), keep_blank_values=True).items()}
    state.count("adlib_graphql")
    _delay(state)
    if form.get("lsd") != _lsd_token() or req.headers.get("X-FB-LSD") not in (None, _lsd_token()):
        req.send(200, GUARD + json.dumps({"error": 1357001, "errorSummary": "Not logged in",
                                          "errorDescription": "Please refresh the page (lsd mismatch)."}),
                 "text/javascript; charset=utf-8")
        return
    if form.get("fb_api_req_friendly_name") != FRIENDLY_NAME or form.get("doc_id") != DOC_ID:
        req.send(200, GUARD + json.dumps({"errors": [{"message": "unknown query", "severity": "CRITICAL",
                                                      "code": 1675002}]}), "text/javascript; charset=utf-8")
        return
    with state.lock:
        left = int(state.faults.get("adlib_graphql_error") or 0)
        if left > 0:
            state.faults["adlib_graphql_error"] = left - 1
            if left - 1 == 0:
                state.faults.pop("adlib_graphql_error")
    if left > 0:
        req.send(500, GUARD + json.dumps({"errors": [{"message": "A server error occurred", "code": 1675004,
                                                      "severity": "CRITICAL"}]}), "text/javascript; charset=utf-8")
        return
    try:
        variables = json.loads(form.get("variables") or "{}")
    except ValueError:
        variables = {}
    page = str(variables.get("viewAllPageID") or "0")
    query = {"active_status": variables.get("activeStatus", "all")}
    if page not in ("", "0"):
        query["view_all_page_id"] = page
    else:
        query["q"] = variables.get("queryString") or ""
    spec = _spec_from_query(query, dict(state.faults))
    if isinstance(spec, str):
        req.send(200, GUARD + json.dumps({"errors": [{"message": spec, "code": 1675030}]}),
                 "text/javascript; charset=utf-8")
        return
    offset = _decode_cursor(spec, variables.get("cursor"))
    if offset is None:
        req.send(200, GUARD + json.dumps({"errors": [{"message": "invalid cursor", "code": 1675030}]}),
                 "text/javascript; charset=utf-8")
        return
    conn = connection(spec, req.base_url, offset)
    data = {"data": {"ad_library_main": {"search_results_connection": conn}}}
    if state.fault("adlib_graphql_lines"):
        # Meta streams a reply as several JSON values, one per line: the data, then its extensions.
        body = "\n".join(json.dumps(v, separators=(",", ":")) for v in (
            data, {"label": "AdLibrarySearchPaginationQuery$defer$ads", "path": ["ad_library_main"], "data": None},
            {"extensions": {"is_final": True}}))
    else:
        body = json.dumps({**data, "extensions": {"is_final": True}}, separators=(",", ":"))
    guard = "" if state.fault("adlib_graphql_no_guard") else GUARD
    req.send(200, guard + body, "text/javascript; charset=utf-8")


def _delay(state) -> None:
    slow = state.fault("adlib_slow")
    if slow not in (None, False):
        time.sleep(float(slow))


def handle(req) -> bool:
    path = req.path
    if path in ("/ads/library", "/ads/library/"):
        if req.method not in ("GET", "HEAD"):
            req.send(405, "Method not allowed", "text/plain")
            return True
        if not _has_challenge_cookie(req):
            req.state.count("adlib_challenge")
            req.send(403, CHALLENGE_HTML, "text/html; charset=utf-8", {"Cache-Control": "no-store"})
            return True
        req.state.count("adlib_html")
        spec = _spec_from_query(req.query, dict(req.state.faults))
        if isinstance(spec, str):
            req.send(400, f"<!DOCTYPE html><p>{escape(spec)}</p>", "text/html; charset=utf-8")
            return True
        _delay(req.state)
        _search_page(req, spec)
        return True
    if path == "/api/graphql/" or path == "/api/graphql":
        if req.method != "POST":
            req.send(405, "Method not allowed", "text/plain")
            return True
        _graphql(req)
        return True
    if path.startswith("/adlib-cdn/"):
        _serve_media(req)
        return True
    if path.startswith(STATIC + "/") and req.method in ("GET", "HEAD"):
        return _serve_static(req)
    return False
