"""Graph API half of the sandbox: a local stand-in for the Meta Marketing API and its media CDN.

Serves the real paths under ``/v25.0/`` (``PIPEDECK_GRAPH_URL=http://127.0.0.1:N/v25.0``)
and signed media URLs under ``/cdn/v/...`` on the same origin, behaving as
DOMAIN.md describes: token checked on every call (``access_token`` query
parameter, or ``Authorization: Bearer|OAuth``), numbers as strings,
``actions`` lists, cursor paging with absolute ``next`` URLs, asynchronous
insight reports, throttle headers on every Graph response, and
``{"error": {message, type, code, error_subcode, fbtrace_id}}`` bodies.

Endpoints
---------
- ``GET /me``, ``GET /me/adaccounts`` (paged; ``fields=`` honoured)
- ``GET /act_{id}`` — the account
- ``GET /act_{id}/insights`` — ``level=ad``, ``time_increment=1|all_days``,
  ``time_range={"since","until"}`` or ``date_preset``, ``fields``, ``limit``, ``after``.
  Synchronous requests over ``sync_row_limit`` rows fail like Meta's
  "Please reduce the amount of data" (code 1, HTTP 500); with ``sync_days_limit``,
  those spanning more days fail the way Meta more often says it (HTTP 400, code 100,
  subcode 1487534).
- ``POST /act_{id}/insights`` — same parameters, returns ``{"report_run_id"}``;
  ``GET /{report_run_id}`` — ``async_status`` ("Job Not Started", "Job Running",
  "Job Completed", "Job Failed") and ``async_percent_completion``;
  ``GET /{report_run_id}/insights`` — the rows, paged.
- ``GET /act_{id}/ads?fields=id,name,status,creative{id,image_url,image_hash,thumbnail_url,video_id,object_type}``
- ``GET /act_{id}/adimages?hashes=["..."]&fields=hash,url,width,height``
- ``GET /{video_id}?fields=source,picture,length``, ``GET /{ad_id}``
- ``GET|HEAD /cdn/v/...?...&oh=<signature>&oe=<hex expiry>`` — media bytes generated on
  the fly and streamed (never held in memory), with ``Content-Type`` and
  ``Content-Length``; a bad signature or an expired link is ``403``
  ("URL signature expired") as on Meta's CDN.

Ad accounts (deterministic data; the demo seeds brands with 1001-1003)
----------------------------------------------------------------------
==========  ======================  =====
account     name                    ads
==========  ======================  =====
1001        Acme Outdoor            200
1002        Brightside Home          60
1003        Cedar & Co               25
1004        Dormant Test Account      0
==========  ======================  =====

Ad ``i`` of account ``A`` has id ``120200000000000000 + A*1_000_000 + i``. Three
ads in ten are videos (``i % 10`` in 3, 7, 9), the rest images; ads with ``i % 9 == 4``
reuse the image hash of the image ad before them, and every twentieth video is a
re-upload (new video id, same bytes) of an earlier one, so downloads have
duplicates by hash and by content. Every ad started at least 100 days ago
and delivers every day, so ``N ads x D days`` rows for any window inside
the last 100 days. Images are 60-600 kB JPEGs, videos 1.5-12 MB MP4s.

Faults and knobs (``POST /__sandbox/faults`` JSON, or ``--fault name=value``)
-----------------------------------------------------------------------------
Counted faults take an integer N (the next N matching requests) or ``true`` (all).

=======================  ==========================================================
``expired_token``        every Graph call fails: 190 / subcode 463, session expired
``rate_limit``           N Graph calls fail with code 17 "User request limit reached"
``insights_rate_limit``  N insights calls fail with code 80000 (ad account too many calls)
``regain_minutes``       ``estimated_time_to_regain_access`` reported while blocked (default 0)
``usage_climb``          each call adds this many points to the account usage headers;
                         usage decays by ``usage_decay`` points/s (default 25); at 100
                         calls are blocked with code 80000
``server_error``         N Graph calls fail with HTTP 500 code 2 (transient)
``sync_row_limit``       rows a synchronous insights call may return (default 20000)
``sync_days_limit``      days a synchronous insights call may span; longer ranges fail with
                         HTTP 400, code 100, subcode 1487534 "Please reduce the amount of data"
``report_seconds``       how long an async report takes (default 1.0)
``report_fail``          async reports end "Job Failed"
``insights_revision``    changes the numbers of the last 3 days (Meta revising recent data)
``next_with_token``      put ``access_token`` into ``next`` URLs even if it came in a header
``ads_archived_hidden``  ``/act_{id}/ads`` leaves ARCHIVED ads out unless ``effective_status``
                         asks for them, as Meta does (``effective_status`` is always honoured)
``media_slow``           media sent at this many bytes per second
``media_truncate``       N media responses close the connection halfway through
``media_expired``        the links of N files have expired: each answers 403 "URL signature expired" once
``media_url_ttl``        seconds media URLs stay valid (default 3 days)
``media_html``           N image requests get an HTML login page (``text/html``)
``media_html_disguised`` N image requests get that HTML labelled ``image/jpeg``
``media_interstitial``   N image files get a "Security Check Required" page (200 ``text/html``)
                         on every request (``media_interstitial_tries=K``: on their first K)
``media_flaky``          N files answer HTTP 503 to their first 3 requests
                         (``media_flaky_tries=K``: K), then are served
``media_truncate_expire`` N files are cut halfway through on their first 2 transfers
                         (``media_truncate_expire_tries=K``: K), and the link each cut
                         transfer used expires at that moment
``media_error``          N media requests answered HTTP 503
``media_origin``         media links in Graph replies point at this origin (e.g.
                         ``http://127.0.0.1:8799``) instead of the sandbox: a poisoned reply
``media_redirect``       every media request is answered 302 to this URL (e.g. ``ftp://...``
                         or another host)
``large_video_bytes``    the first video of every account is this large (e.g. 314572800)
``video_bytes``          every other video is this large
=======================  ==========================================================

Counters (``GET /__sandbox/stats``): ``graph <route>``, ``graph:rate_limited``,
``graph:blocked``, ``graph:server_error``, ``graph:token_rejected``, ``cdn:ok``,
``cdn:truncated``, ``cdn:expired``, ``cdn:html``, ``cdn:error``, ``cdn:redirect``, ``cdn:bytes``
(not a request count).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import itertools
import json
import math
import re
import struct
import time
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlencode

VERSION = "v25.0"
ACCOUNTS: dict[str, tuple[str, int]] = {
    "1001": ("Acme Outdoor", 200),
    "1002": ("Brightside Home", 60),
    "1003": ("Cedar & Co", 25),
    "1004": ("Dormant Test Account", 0),
}
BUSINESS_ID = "880011223344"
USER_ID = "100000000000001"
APP_ID = "1234567890"

AD_BASE = 120_200_000_000_000_000
ADSET_BASE = 120_210_000_000_000_000
CAMPAIGN_BASE = 120_220_000_000_000_000
CREATIVE_BASE = 120_230_000_000_000_000
VIDEO_BASE = 120_240_000_000_000_000
REPORT_BASE = 1_087_000_000_000_000
PER_ACCOUNT = 1_000_000

PRODUCTS = ("Trail Runner", "Cloud Hoodie", "Everyday Tote", "Summit Jacket", "Ridge Boot", "Canyon Cap",
            "Harbor Bottle", "Lumen Lamp")
CAMPAIGNS = ("Spring Sale 2026", "Evergreen Prospecting", "Retargeting 30d", "Holiday Gifting", "Brand Awareness")
DEFAULT_MEDIA_TTL = 3 * 86400
DEFAULT_SYNC_ROW_LIMIT = 20000
MAX_LIMIT = 5000
# Meta keeps insights for 37 months.
MAX_HISTORY_DAYS = 1125
_SECRET = b"pipedeck-sandbox-cdn"
_BLOCK_SIZE = 1 << 20

INSIGHT_FIELDS = {"account_id", "account_name", "ad_id", "ad_name", "adset_id", "adset_name", "campaign_id",
                  "campaign_name", "spend", "impressions", "reach", "clicks", "ctr", "cpc", "cpm", "frequency",
                  "actions", "action_values", "purchase_roas", "date_start", "date_stop", "objective",
                  "unique_clicks", "inline_link_clicks", "cost_per_action_type"}
DEFAULT_INSIGHT_FIELDS = ("spend", "impressions", "date_start", "date_stop")
AD_FIELDS = {"id", "name", "status", "effective_status", "configured_status", "adset_id", "campaign_id",
             "account_id", "created_time", "updated_time", "creative", "adset", "campaign"}
CREATIVE_FIELDS = {"id", "name", "image_url", "image_hash", "thumbnail_url", "video_id", "object_type", "body",
                   "title", "call_to_action_type", "effective_object_story_id"}
VIDEO_FIELDS = {"id", "source", "picture", "length", "title", "created_time", "updated_time", "format"}
ADIMAGE_FIELDS = {"hash", "url", "width", "height", "name", "permalink_url", "original_width",
                  "original_height", "url_128", "status", "id", "account_id", "created_time"}
ACCOUNT_FIELDS = {"id", "account_id", "name", "account_status", "currency", "timezone_name", "business",
                  "amount_spent", "age"}


HELP = """\
Graph API half (PIPEDECK_GRAPH_URL=http://HOST:PORT/v25.0, token: see META_ACCESS_TOKEN printed at start):
  ad accounts  1001 (200 ads), 1002 (60), 1003 (25), 1004 (none); 3 ads in 10 are videos
  /me/adaccounts, /act_ID/insights (GET paged; POST = async report), /REPORT_ID[/insights],
  /act_ID/ads?fields=...creative{...}, /act_ID/adimages?hashes=[...], /VIDEO_ID?fields=source
  media under /cdn/v/... with signed, expiring links; images 60-600 kB, videos 1.5-12 MB
  Graph faults (--fault NAME=VALUE, or POST /__sandbox/faults; N = next N requests, true = all):
    expired_token         every call fails with 190/463 (session expired)
    rate_limit=N          code 17 "User request limit reached"
    insights_rate_limit=N code 80000 on insights calls
    regain_minutes=M      estimated_time_to_regain_access while blocked
    usage_climb=P         usage headers climb P points a call (usage_decay=P/s, default 25);
                          blocked with 80000 at 100 %
    server_error=N        HTTP 500, code 2 (transient)
    sync_row_limit=R      synchronous insights over R rows: code 1 "reduce the amount of data"
    sync_days_limit=D     synchronous insights over D days: HTTP 400, code 100, subcode 1487534
                          "Please reduce the amount of data" (what Meta usually answers)
    report_seconds=S      async reports take S seconds (default 1); report_fail: they fail
    insights_revision=K   the last 3 days' numbers change (Meta revising recent data)
    next_with_token       next links carry access_token even when it came in a header
    ads_archived_hidden   /act_ID/ads leaves ARCHIVED ads out unless effective_status=[...]
                          asks for them, as Meta does (1 ad in 17 is archived)
    media_slow=B          media at B bytes/s     media_truncate=N  connection closed halfway
    media_expired=N       links of N files expired (403 once)   media_url_ttl=S  links valid S seconds
    media_html=N          an HTML page where an image is expected (media_html_disguised=N:
                          labelled image/jpeg)   media_error=N  HTTP 503
    media_interstitial=N  N image files get a "Security Check Required" HTML page on every
                          request (media_interstitial_tries=K: on their first K only)
    media_flaky=N         N files answer HTTP 503 to their first 3 requests (media_flaky_tries=K)
    media_truncate_expire=N  N files are cut halfway on their first 2 transfers
                          (media_truncate_expire_tries=K), and each cut link expires at once
    media_origin=URL      media links in replies point at URL's origin (a poisoned reply)
    media_redirect=URL    every media request is redirected (302) to URL (ftp://..., another host)
    large_video_bytes=B   the first video of each account is B bytes; video_bytes=B all others"""


# -- ids and generated data ---------------------------------------------------
def ad_id(account: str, i: int) -> str:
    return str(AD_BASE + int(account) * PER_ACCOUNT + i)


def _decode(base: int, object_id: str) -> tuple[str, int] | None:
    if not object_id.isdigit():
        return None
    n = int(object_id) - base
    if n < 0 or n >= 10_000 * PER_ACCOUNT:
        return None
    account, i = str(n // PER_ACCOUNT), n % PER_ACCOUNT
    if account not in ACCOUNTS or i >= ACCOUNTS[account][1]:
        return None
    return account, i


def is_video_ad(i: int) -> bool:
    return i % 10 in (3, 7, 9)


def image_index(i: int) -> int:
    """Ads with ``i % 9 == 4`` reuse the image of the image ad before them."""
    if i % 9 != 4 or i < 1:
        return i
    j = i - 1
    while j > 0 and is_video_ad(j):
        j -= 1
    return j


def video_seed(i: int) -> int:
    """Every twentieth video is a re-upload of the video ten ads earlier (same bytes)."""
    return i - 10 if (i % 20 == 19 and i >= 10) else i


def image_hash(account: str, img: int) -> str:
    return hashlib.md5(f"img:{account}:{img}".encode()).hexdigest()


@lru_cache(maxsize=16)
def _hash_index(account: str) -> dict[str, int]:
    n = ACCOUNTS[account][1]
    return {image_hash(account, image_index(i)): image_index(i) for i in range(n) if not is_video_ad(i)}


def _u(*parts) -> list[float]:
    """Deterministic uniform numbers in [0, 1) from the parts."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=32).digest()
    return [v / 2 ** 32 for v in struct.unpack("<8I", digest)]


def image_size(account: str, img: int) -> int:
    return 60_000 + int(_u("isz", account, img)[0] * 540_000)


def image_dims(account: str, img: int) -> tuple[int, int]:
    return ((1080, 1080), (1200, 628), (1080, 1350))[img % 3]


def video_size(state, account: str, i: int) -> int:
    big = _fault_value(state, "large_video_bytes")
    if big and i == first_video_index(account):
        return int(big)
    fixed = _fault_value(state, "video_bytes")
    if fixed:
        return int(fixed)
    return 1_500_000 + int(_u("vsz", account, video_seed(i))[0] * 10_500_000)


def first_video_index(account: str) -> int | None:
    n = ACCOUNTS[account][1]
    return next((i for i in range(n) if is_video_ad(i)), None)


def created_date(account: str, i: int) -> dt.date:
    return today() - dt.timedelta(days=100 + (i * 37 + int(account)) % 500)


ACCOUNT_TIMEZONE = "America/Los_Angeles"


def today() -> dt.date:
    """Today in the accounts' time zone: Meta reports days in the ad account's time zone."""
    try:
        from zoneinfo import ZoneInfo

        return dt.datetime.now(ZoneInfo(ACCOUNT_TIMEZONE)).date()
    except Exception:  # no time zone database: UTC
        return dt.datetime.now(dt.timezone.utc).date()


def ad_name(account: str, i: int) -> str:
    return (f"{CAMPAIGNS[(i // 40) % len(CAMPAIGNS)]} | {PRODUCTS[i % len(PRODUCTS)]} | "
            f"{'Video' if is_video_ad(i) else 'Image'} {i + 1:03d}")


def adset_of(account: str, i: int) -> tuple[str, str]:
    k = i // 8
    return str(ADSET_BASE + int(account) * PER_ACCOUNT + k), f"{CAMPAIGNS[(i // 40) % len(CAMPAIGNS)]} - Ad set {k + 1}"


def campaign_of(account: str, i: int) -> tuple[str, str]:
    k = i // 40
    return str(CAMPAIGN_BASE + int(account) * PER_ACCOUNT + k), CAMPAIGNS[k % len(CAMPAIGNS)]


def ad_status(i: int) -> str:
    if i % 17 == 16:
        return "ARCHIVED"
    if i % 6 == 5:
        return "PAUSED"
    return "ACTIVE"


def _fmt(x: float, places: int = 6) -> str:
    text = f"{x:.{places}f}".rstrip("0").rstrip(".")
    return text or "0"


def insight_values(account: str, i: int, day: dt.date, revision) -> dict:
    """One ad-day of performance, numbers as strings the way the Graph API sends them."""
    recent = (today() - day).days < 3
    u = _u("ins", account, i, day.toordinal(), revision if recent else 0)
    budget = 20 + (i * 13) % 180
    weekend = 0.8 if day.weekday() >= 5 else 1.0
    spend = round(budget * (0.6 + 0.8 * u[0]) * weekend, 2)
    cpm = 6 + 14 * u[1]
    impressions = max(1, int(spend / cpm * 1000))
    reach = int(impressions * (0.55 + 0.35 * u[2]))
    ctr = 0.6 + 2.4 * u[3]
    clicks = int(impressions * ctr / 100)
    link_clicks = int(clicks * 0.8)
    landing = int(link_clicks * 0.85)
    carts = int(landing * (0.05 + 0.1 * u[4]))
    purchases = int(carts * (0.2 + 0.3 * u[5]))
    value = round(purchases * (35 + 60 * u[6]), 2)
    out = {
        "spend": _fmt(spend, 2), "impressions": str(impressions), "reach": str(reach), "clicks": str(clicks),
        "ctr": _fmt(clicks / impressions * 100), "cpm": _fmt(spend / impressions * 1000),
        "frequency": _fmt(impressions / reach if reach else 1), "unique_clicks": str(int(clicks * 0.9)),
        "inline_link_clicks": str(link_clicks),
    }
    if clicks:
        out["cpc"] = _fmt(spend / clicks)
    actions = [(t, v) for t, v in (("link_click", link_clicks), ("landing_page_view", landing),
                                   ("add_to_cart", carts), ("purchase", purchases),
                                   ("omni_purchase", purchases)) if v]
    if actions:
        out["actions"] = [{"action_type": t, "value": str(v)} for t, v in actions]
        out["cost_per_action_type"] = [{"action_type": t, "value": _fmt(spend / v)} for t, v in actions]
    if purchases:
        out["action_values"] = [{"action_type": "purchase", "value": _fmt(value, 2)},
                                {"action_type": "omni_purchase", "value": _fmt(value, 2)}]
        out["purchase_roas"] = [{"action_type": "omni_purchase", "value": _fmt(value / spend)}]
    return out


# -- media files ---------------------------------------------------------------
@lru_cache(maxsize=1)
def _block() -> bytes:
    import random

    return random.Random(20260101).randbytes(_BLOCK_SIZE)


@lru_cache(maxsize=8)
def _rotated(seed: int) -> bytes:
    r = (seed * 7919) % _BLOCK_SIZE
    block = _block()
    return block[r:] + block[:r]


def _jpeg_parts(seed: int, size: int, width: int = 1080, height: int = 1080) -> tuple[bytes, bytes]:
    comment = f"pipedeck sandbox image {seed}".encode()
    header = (b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
              + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment
              + b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
              + b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00\x00\x3f\x00")
    return header, b"\xff\xd9"


def _mp4_parts(seed: int, size: int) -> tuple[bytes, bytes]:
    ftyp = struct.pack(">I", 32) + b"ftypisom" + struct.pack(">I", 0x200) + b"isomiso2avc1mp41"
    note = f"pipedeck sandbox video {seed}".encode()
    free = struct.pack(">I", 8 + len(note)) + b"free" + note
    mdat_len = size - len(ftyp) - len(free)
    mdat = struct.pack(">I", max(8, mdat_len)) + b"mdat"
    return ftyp + free + mdat, b""


@dataclass(frozen=True)
class MediaFile:
    kind: str  # image | thumb | video
    account: str
    index: int
    seed: int
    size: int

    @property
    def content_type(self) -> str:
        return "video/mp4" if self.kind == "video" else "image/jpeg"

    @property
    def path(self) -> str:
        prefix = {"image": "t45.1600-4", "thumb": "t15.5256-10", "video": "o1/t42.1790-2"}[self.kind]
        ext = "mp4" if self.kind == "video" else "jpg"
        return f"/cdn/v/{prefix}/{self.account}_{self.kind}_{self.index}_{self.seed}_{self.size}_n.{ext}"

    def parts(self) -> tuple[bytes, bytes]:
        if self.kind == "video":
            return _mp4_parts(self.seed, self.size)
        w, h = image_dims(self.account, self.index)
        return _jpeg_parts(self.seed * 31 + (self.kind == "thumb"), self.size, w, h)


_MEDIA_PATH = re.compile(r"^/cdn/v/(?:o1/)?t[\d.\-]+/(\d+)_(image|thumb|video)_(\d+)_(\d+)_(\d+)_n\.(?:jpg|mp4)$")


def parse_media_path(path: str) -> MediaFile | None:
    m = _MEDIA_PATH.match(path)
    if not m:
        return None
    account, kind, index, seed, size = m.groups()
    return MediaFile(kind, account, int(index), int(seed), int(size))


def _sign(path: str, oe: str) -> str:
    return "00_" + hmac.new(_SECRET, f"{path}|{oe}".encode(), hashlib.sha256).hexdigest()[:40]


_link_numbers = itertools.count(1)  # never reset, so links stay distinct across sandbox resets


def signed_url(req, media: MediaFile) -> str:
    ttl = _fault_value(req.state, "media_url_ttl")
    expires = int(time.time() + (float(ttl) if ttl is not None else DEFAULT_MEDIA_TTL))
    oe = f"{expires:X}"
    gid = f"{next(_link_numbers):x}"  # each link handed out is distinct: one can expire while a fresh one works
    query = urlencode({"_nc_cat": 1 + media.index % 3, "ccb": "1-7", "_nc_sid": "8bfeb9", "_nc_gid": gid,
                       "_nc_ht": "scontent.sandbox", "oh": _sign(media.path, oe), "oe": oe})
    origin = _fault_value(req.state, "media_origin")  # a poisoned reply: links to somewhere else
    return f"{str(origin).rstrip('/') if origin else req.base_url}{media.path}?{query}"


def image_file(account: str, img: int) -> MediaFile:
    return MediaFile("image", account, img, int(account) * 10_000 + img, image_size(account, img))


def thumb_file(account: str, i: int) -> MediaFile:
    return MediaFile("thumb", account, i, int(account) * 10_000 + video_seed(i),
                     18_000 + int(_u("tsz", account, video_seed(i))[0] * 20_000))


def video_file(state, account: str, i: int) -> MediaFile:
    seed = int(account) * 10_000 + video_seed(i)
    if _fault_value(state, "large_video_bytes") and i == first_video_index(account):
        seed += 5_000  # the big one has its own content
    return MediaFile("video", account, i, seed, video_size(state, account, i))


def video_id(account: str, i: int) -> str:
    return str(VIDEO_BASE + int(account) * PER_ACCOUNT + i)


# -- fault helpers ---------------------------------------------------------------
def _fault_value(state, name: str):
    return state.fault(name)


def _expire_link(state, path: str) -> bool:
    """The ``media_expired`` fault: the links of N different files have expired.

    Each such file answers 403 to its first request; fetched again (with the
    fresh link a client asks the Graph API for), it is served. Counting files,
    not requests, keeps the fault deterministic with concurrent downloads: a
    refreshed link can never take the second of two faults meant for two files.
    """
    with state.lock:
        done = state.data.setdefault("cdn:expired_paths", set())
        if path in done or not _take(state, "media_expired"):
            return False
        done.add(path)
        return True


def _link_is_dead(state, link: tuple) -> bool:
    with state.lock:
        return link in state.data.get("cdn:dead_links", ())


def _file_fault(state, name: str, path: str, default_tries: int | None = None) -> bool:
    """A fault that picks files, not requests: ``name=N`` affects the first N files requested
    (``true``: every file), each for its first ``<name>_tries`` requests (default
    ``default_tries``; None: every request). Deterministic with concurrent downloads."""
    with state.lock:
        value = state.faults.get(name)
        if value is None or value is False or value == 0:
            return False
        tries = state.faults.get(f"{name}_tries", default_tries)
        hits = state.data.setdefault(f"cdn:{name}", {})
        if path not in hits:
            if value is not True and len(hits) >= int(value):
                return False
            hits[path] = 0
        if tries is not None and hits[path] >= int(tries):
            return False
        hits[path] += 1
        return True


def _take(state, name: str) -> bool:
    """Consume one unit of a counted fault: N (next N requests) or true (always)."""
    with state.lock:
        value = state.faults.get(name)
        if value is None or value is False or value == 0:
            return False
        if value is True or not isinstance(value, (int, float)):
            return True
        if value <= 1:
            state.faults.pop(name, None)
        else:
            state.faults[name] = value - 1
        return True


def _gdata(state) -> dict:
    with state.lock:
        return state.data.setdefault("graph", {"reports": {}, "usage": {}, "next_report": 0, "trace": 0})


def _trace_id(state) -> str:
    with state.lock:
        g = _gdata(state)
        g["trace"] += 1
        n = g["trace"]
    return "A" + base64.b64encode(hashlib.sha1(f"trace{n}".encode()).digest()).decode()[:22]


# -- usage and throttle headers ----------------------------------------------------
def _usage(state, account: str | None, climb: bool = True) -> float:
    """The account's usage in percent after this call (climbs with ``usage_climb``, decays over time)."""
    step = float(_fault_value(state, "usage_climb") or 0)
    decay = float(_fault_value(state, "usage_decay") or 25)
    key = account or "app"
    now = time.monotonic()
    with state.lock:
        usage = _gdata(state)["usage"]
        value, last = usage.get(key, (0.0, now))
        value = max(0.0, value - decay * (now - last))
        if climb:
            value = min(100.0, value + step)
        usage[key] = (value, now)
    return value


def throttle_headers(state, account: str | None, util: float, regain: int = 0) -> dict[str, str]:
    base = 1.0 + (int(account) % 7 if account else 0) * 0.37
    pct = max(util, base)
    buc = {BUSINESS_ID: [{"type": "ads_insights", "call_count": int(pct), "total_cputime": int(pct * 0.6),
                          "total_time": int(pct * 0.8), "estimated_time_to_regain_access": regain,
                          "ads_api_access_tier": "standard_access"},
                         {"type": "ads_management", "call_count": int(pct * 0.5), "total_cputime": int(pct * 0.3),
                          "total_time": int(pct * 0.4), "estimated_time_to_regain_access": regain,
                          "ads_api_access_tier": "standard_access"}]}
    return {
        "X-Business-Use-Case-Usage": json.dumps(buc, separators=(",", ":")),
        "X-Ad-Account-Usage": json.dumps({"acc_id_util_pct": round(pct, 2),
                                          "reset_time_duration": int(math.ceil(pct / 25.0 * 60)) if util else 0,
                                          "ads_api_access_tier": "standard_access"}, separators=(",", ":")),
        "X-FB-Ads-Insights-Throttle": json.dumps({"app_id_util_pct": round(pct * 0.5, 2),
                                                  "acc_id_util_pct": round(pct, 2),
                                                  "ads_api_access_tier": "standard_access"}, separators=(",", ":")),
        "X-App-Usage": json.dumps({"call_count": int(pct * 0.3), "total_cputime": int(pct * 0.2),
                                   "total_time": int(pct * 0.25)}, separators=(",", ":")),
        "x-fb-rev": "1012345678",
        "Cache-Control": "private, no-cache, no-store, must-revalidate",
    }


class GraphError(Exception):
    def __init__(self, status: int, code: int, message: str, type_: str = "OAuthException",
                 subcode: int | None = None, transient: bool | None = None, regain: int = 0,
                 headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.type = status, code, message, type_
        self.subcode, self.transient, self.regain, self.headers = subcode, transient, regain, headers or {}


def _bad_param(message: str, subcode: int | None = None) -> GraphError:
    return GraphError(400, 100, message, "OAuthException", subcode)


def _no_object(object_id: str, method: str = "get") -> GraphError:
    return GraphError(400, 100, f"Unsupported {method} request. Object with ID '{object_id}' does not exist, "
                      "cannot be loaded due to missing permissions, or does not support this operation. "
                      "Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
                      "GraphMethodException", 33)


# -- request plumbing ----------------------------------------------------------------
class Call:
    """One Graph API call being answered."""

    def __init__(self, req) -> None:
        self.req = req
        self.state = req.state
        self.params = dict(req.query)
        if req.method == "POST":
            self.params.update({k: str(v) for k, v in req.form().items()})
        self.account: str | None = None

    def token(self) -> tuple[str | None, bool]:
        auth = self.req.headers.get("Authorization") or ""
        scheme, _, value = auth.partition(" ")
        if scheme.lower() in ("bearer", "oauth") and value.strip():
            return value.strip(), False
        return self.params.get("access_token"), "access_token" in self.req.query

    def page(self, items: list, make, default_limit: int = 25) -> dict:
        """A cursor-paged answer with an absolute ``next`` URL, like the Graph API."""
        limit = _int_param(self.params, "limit", default_limit, 1, MAX_LIMIT)
        offset = 0
        if self.params.get("after"):
            offset = _cursor_offset(self.params["after"])
        elif self.params.get("offset"):
            offset = _int_param(self.params, "offset", 0, 0, 10 ** 9)
        chunk = items[offset:offset + limit]
        out: dict = {"data": [make(x) for x in chunk]}
        if chunk or offset:
            paging: dict = {"cursors": {"before": _cursor(offset), "after": _cursor(offset + max(0, len(chunk) - 1))}}
            if offset + limit < len(items):
                paging["cursors"]["after"] = _cursor(offset + len(chunk))
                paging["next"] = self.link(after=_cursor(offset + len(chunk)))
            if offset > 0:
                paging["previous"] = self.link(before=_cursor(offset), after=None)
            out["paging"] = paging
        return out

    def link(self, **changes) -> str:
        query = {k: v for k, v in self.req.query.items() if k not in ("after", "before", "offset")}
        if self.req.method == "POST":
            query.update({k: v for k, v in self.params.items() if k not in ("after", "before", "offset")})
        query.pop("access_token", None)
        token, in_query = self.token()
        if token and (in_query or _fault_value(self.state, "next_with_token")):
            query["access_token"] = token
        for k, v in changes.items():
            if v is not None:
                query[k] = v
        return f"{self.req.base_url}{self.req.path}?{urlencode(query)}"


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _cursor_offset(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw.startswith("o:"):
            return max(0, int(raw[2:]))
    except (ValueError, UnicodeDecodeError):
        pass
    raise _bad_param(f"(#100) Invalid cursor: {cursor[:40]}")


def _int_param(params: dict, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad_param(f"(#100) Param {name} must be an integer") from None
    if value < low:
        raise _bad_param(f"(#100) Param {name} must be at least {low}")
    return min(value, high)


def parse_fields(text: str | None) -> dict[str, dict | None]:
    """``id,name,creative{id,image_url}`` -> {"id": None, "name": None, "creative": {"id": None, ...}}."""
    if not text:
        return {}
    pos = 0

    def parse_list() -> dict:
        nonlocal pos
        out: dict = {}
        while pos < len(text):
            m = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)((?:\.[a-z_]+\([^)]*\))*)\s*").match(text, pos)
            if not m:
                raise _bad_param(f"(#100) Syntax error in fields near {text[pos:pos + 20]!r}")
            pos = m.end()
            name = m.group(1)
            sub = None
            if pos < len(text) and text[pos] == "{":
                pos += 1
                sub = parse_list()
                if pos >= len(text) or text[pos] != "}":
                    raise _bad_param("(#100) Syntax error in fields: missing '}'")
                pos += 1
            out[name] = sub
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            break
        return out

    result = parse_list()
    if pos != len(text):
        raise _bad_param(f"(#100) Syntax error in fields near {text[pos:pos + 20]!r}")
    return result


def _check_fields(fields: dict, known: set[str], node: str) -> None:
    for name in fields:
        if name not in known:
            raise _bad_param(f"(#100) Tried accessing nonexisting field ({name}) on node type ({node})")


# -- the endpoints -----------------------------------------------------------------
def _account_obj(account: str, fields: dict) -> dict:
    name, n = ACCOUNTS[account]
    full = {"id": f"act_{account}", "account_id": account, "name": name, "account_status": 1, "currency": "USD",
            "timezone_name": ACCOUNT_TIMEZONE, "business": {"id": BUSINESS_ID, "name": "Sandbox Business"},
            "amount_spent": str(n * 412_345), "age": 1234.5}
    wanted = fields or {"id": None, "account_id": None}
    return {k: full[k] for k in ("id", *wanted) if k in full}


def me_adaccounts(call: Call) -> dict:
    fields = parse_fields(call.params.get("fields"))
    _check_fields(fields, ACCOUNT_FIELDS, "AdAccount")
    return call.page(sorted(ACCOUNTS), lambda a: _account_obj(a, fields))


def _creative(call: Call, account: str, i: int, fields: dict) -> dict:
    creative_id = str(CREATIVE_BASE + int(account) * PER_ACCOUNT + i)
    full: dict = {"id": creative_id, "name": f"{ad_name(account, i)} creative", "body": f"Meet the {PRODUCTS[i % len(PRODUCTS)]}.",
                  "title": PRODUCTS[i % len(PRODUCTS)], "call_to_action_type": "SHOP_NOW",
                  "effective_object_story_id": f"{BUSINESS_ID}_{creative_id}"}
    if is_video_ad(i):
        full.update(object_type="VIDEO", video_id=video_id(account, i),
                    thumbnail_url=signed_url(call.req, thumb_file(account, i)),
                    image_url=signed_url(call.req, thumb_file(account, i)))
    else:
        img = image_index(i)
        full.update(object_type="SHARE" if i % 10 == 5 else "PHOTO", image_hash=image_hash(account, img),
                    image_url=signed_url(call.req, image_file(account, img)),
                    thumbnail_url=signed_url(call.req, image_file(account, img)))
    wanted = fields or {"id": None}
    return {k: full[k] for k in ("id", *wanted) if k in full}


def _ad_obj(call: Call, account: str, i: int, fields: dict) -> dict:
    adset, _ = adset_of(account, i)
    campaign, _ = campaign_of(account, i)
    created = dt.datetime.combine(created_date(account, i), dt.time(9, 30), dt.timezone.utc)
    full = {"id": ad_id(account, i), "name": ad_name(account, i), "status": ad_status(i),
            "effective_status": ad_status(i), "configured_status": ad_status(i), "adset_id": adset,
            "campaign_id": campaign, "account_id": account, "created_time": created.strftime("%Y-%m-%dT%H:%M:%S+0000"),
            "updated_time": created.strftime("%Y-%m-%dT%H:%M:%S+0000"), "adset": {"id": adset},
            "campaign": {"id": campaign}}
    out = {"id": full["id"]}
    for name, sub in (fields or {"id": None}).items():
        if name == "creative":
            _check_fields(sub or {}, CREATIVE_FIELDS, "AdCreative")
            out["creative"] = _creative(call, account, i, sub or {})
        elif name in full:
            out[name] = full[name]
    return out


EFFECTIVE_STATUSES = ("ACTIVE", "PAUSED", "DELETED", "PENDING_REVIEW", "DISAPPROVED", "PREAPPROVED",
                      "PENDING_BILLING_INFO", "CAMPAIGN_PAUSED", "ARCHIVED", "ADSET_PAUSED", "IN_PROCESS",
                      "WITH_ISSUES")


def ads(call: Call, account: str) -> dict:
    fields = parse_fields(call.params.get("fields"))
    _check_fields(fields, AD_FIELDS, "Ad")
    indexes = list(range(ACCOUNTS[account][1]))
    raw = call.params.get("effective_status")
    if raw:
        try:
            wanted = json.loads(raw)
        except ValueError:
            wanted = None
        if not isinstance(wanted, list) or not all(w in EFFECTIVE_STATUSES for w in wanted):
            raise _bad_param(f"(#100) Param effective_status[0] must be one of {{{', '.join(EFFECTIVE_STATUSES)}}}")
        indexes = [i for i in indexes if ad_status(i) in wanted]
    elif _fault_value(call.state, "ads_archived_hidden"):
        indexes = [i for i in indexes if ad_status(i) != "ARCHIVED"]  # what Meta leaves out unless asked
    return call.page(indexes, lambda i: _ad_obj(call, account, i, fields))


def adimages(call: Call, account: str) -> dict:
    raw = call.params.get("hashes")
    fields = parse_fields(call.params.get("fields")) or {"hash": None, "url": None}
    _check_fields(fields, ADIMAGE_FIELDS, "AdImage")
    index = _hash_index(account)
    if raw:
        try:
            hashes = json.loads(raw)
            if isinstance(hashes, str):
                hashes = [hashes]
        except ValueError:
            hashes = [h.strip().strip("'\"") for h in raw.strip("[]").split(",") if h.strip()]
        if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
            raise _bad_param("(#100) Param hashes must be an array of strings")
    else:
        hashes = sorted(index, key=index.get)
    found = [h for h in dict.fromkeys(hashes) if h in index]

    def make(h: str) -> dict:
        img = index[h]
        f = image_file(account, img)
        w, hgt = image_dims(account, img)
        full = {"hash": h, "url": signed_url(call.req, f), "width": w, "height": hgt, "original_width": w,
                "original_height": hgt, "name": f"{ad_name(account, img)}.jpg", "status": "ACTIVE",
                "id": f"{account}:{h}", "account_id": account, "url_128": signed_url(call.req, f),
                "permalink_url": f"{call.req.base_url}/adimages/{h}.jpg",
                "created_time": f"{created_date(account, img)}T09:30:00+0000"}
        return {k: full[k] for k in fields if k in full}

    return call.page(found, make)


def video(call: Call, account: str, i: int) -> dict:
    fields = parse_fields(call.params.get("fields")) or {"id": None, "title": None}
    _check_fields(fields, VIDEO_FIELDS, "AdVideo")
    f = video_file(call.state, account, i)
    full = {"id": video_id(account, i), "source": signed_url(call.req, f),
            "picture": signed_url(call.req, thumb_file(account, i)), "length": round(6 + (i * 7) % 55 + 0.48, 2),
            "title": ad_name(account, i), "format": [{"filter": "native", "width": 1080, "height": 1920}],
            "created_time": f"{created_date(account, i)}T09:30:00+0000",
            "updated_time": f"{created_date(account, i)}T09:30:00+0000"}
    return {k: full[k] for k in ("id", *fields) if k in full}


# insights ------------------------------------------------------------------
@dataclass(frozen=True)
class InsightQuery:
    account: str
    since: dt.date
    until: dt.date
    daily: bool
    fields: tuple[str, ...]


DATE_PRESETS = {"today": (0, 0), "yesterday": (1, 1), "last_3d": (3, 1), "last_7d": (7, 1), "last_14d": (14, 1),
                "last_28d": (28, 1), "last_30d": (30, 1), "last_90d": (90, 1), "maximum": (MAX_HISTORY_DAYS, 0)}


def parse_insight_query(params: dict, account: str) -> InsightQuery:
    level = params.get("level", "ad")
    if level != "ad":
        raise _bad_param(f"(#100) level={level} is not supported by the sandbox (use level=ad)")
    increment = params.get("time_increment", "all_days")
    if increment not in ("1", "all_days"):
        raise _bad_param("(#100) time_increment must be 1 or all_days in the sandbox")
    now = today()
    if params.get("time_range"):
        try:
            tr = json.loads(params["time_range"])
            since = dt.date.fromisoformat(tr["since"])
            until = dt.date.fromisoformat(tr["until"])
        except (ValueError, KeyError, TypeError):
            raise _bad_param('(#100) param time_range must be a JSON object {"since":"YYYY-MM-DD","until":"YYYY-MM-DD"}'
                             ) from None
    else:
        preset = params.get("date_preset", "last_30d")
        if preset not in DATE_PRESETS:
            raise _bad_param(f"(#100) date_preset must be one of {', '.join(DATE_PRESETS)}")
        back, end = DATE_PRESETS[preset]
        since, until = now - dt.timedelta(days=back), now - dt.timedelta(days=end)
    if since > until:
        raise _bad_param("(#100) time_range: since must be on or before until")
    if (now - since).days > MAX_HISTORY_DAYS:
        raise GraphError(400, 3018, "(#3018) The start date of the time range cannot be beyond 37 months from "
                         "the current date", "OAuthException")
    until = min(until, now)
    fields = parse_fields(params.get("fields"))
    for name in fields:
        if name not in INSIGHT_FIELDS:
            raise _bad_param(f"(#100) {name} is not valid for fields param. please check "
                             "https://developers.facebook.com/docs/marketing-api/reference/ads-insights/ for all valid values")
    return InsightQuery(account, since, until, increment == "1", tuple(fields) or DEFAULT_INSIGHT_FIELDS)


@lru_cache(maxsize=8)
def insight_keys(q: InsightQuery) -> list[tuple]:
    """(ad index, day) pairs with delivery, ordered by day then ad."""
    n = ACCOUNTS[q.account][1]
    starts = [created_date(q.account, i) for i in range(n)]
    if not q.daily:
        return [(i, None) for i in range(n) if starts[i] <= q.until]
    keys = []
    day = q.since
    while day <= q.until:
        keys.extend((i, day) for i in range(n) if starts[i] <= day)
        day += dt.timedelta(days=1)
    return keys


def insight_row(state, q: InsightQuery, key: tuple) -> dict:
    i, day = key
    account = q.account
    revision = _fault_value(state, "insights_revision") or 0
    if day is not None:
        values = insight_values(account, i, day, revision)
        start, stop = day, day
    else:  # all_days: sum the daily rows
        start = max(q.since, created_date(account, i))
        stop = q.until
        totals: dict = {}
        d = start
        while d <= stop:
            for k, v in insight_values(account, i, d, revision).items():
                if k in ("spend", "impressions", "reach", "clicks", "unique_clicks", "inline_link_clicks"):
                    totals[k] = totals.get(k, 0) + float(v)
            d += dt.timedelta(days=1)
        values = {k: (_fmt(v, 2) if k == "spend" else str(int(v))) for k, v in totals.items()}
    adset, adset_name = adset_of(account, i)
    campaign, campaign_name = campaign_of(account, i)
    ids = {"account_id": account, "account_name": ACCOUNTS[account][0], "ad_id": ad_id(account, i),
           "ad_name": ad_name(account, i), "adset_id": adset, "adset_name": adset_name, "campaign_id": campaign,
           "campaign_name": campaign_name, "objective": "OUTCOME_SALES"}
    row = {}
    for f in q.fields:
        if f in ids:
            row[f] = ids[f]
        elif f in values:
            row[f] = values[f]
    row["date_start"], row["date_stop"] = start.isoformat(), stop.isoformat()
    return row


TOO_MUCH_DATA = "Please reduce the amount of data you're asking for, then retry your request"
TOO_MUCH_DATA_SUBCODE = 1487534


def insights_sync(call: Call, account: str) -> dict:
    q = parse_insight_query(call.params, account)
    keys = insight_keys(q)
    limit = int(_fault_value(call.state, "sync_row_limit") or DEFAULT_SYNC_ROW_LIMIT)
    if len(keys) > limit:
        raise GraphError(500, 1, TOO_MUCH_DATA, "OAuthException", 99, transient=False)
    days_limit = _fault_value(call.state, "sync_days_limit")
    if days_limit and (q.until - q.since).days + 1 > int(days_limit):
        raise GraphError(400, 100, TOO_MUCH_DATA, "OAuthException", TOO_MUCH_DATA_SUBCODE)
    return call.page(keys, lambda k: insight_row(call.state, q, k))


def insights_async(call: Call, account: str) -> dict:
    q = parse_insight_query(call.params, account)
    with call.state.lock:
        g = _gdata(call.state)
        g["next_report"] += 1
        report_id = str(REPORT_BASE + int(account) * 1000 + g["next_report"])
        duration = float(_fault_value(call.state, "report_seconds") or 1.0)
        g["reports"][report_id] = {"query": q, "created": time.time(), "duration": duration,
                                   "fail": bool(_fault_value(call.state, "report_fail")),
                                   "params": {k: v for k, v in call.params.items() if k != "access_token"}}
    return {"report_run_id": report_id}


def _report(call: Call, report_id: str) -> dict | None:
    with call.state.lock:
        return _gdata(call.state)["reports"].get(report_id)


def report_status(call: Call, report_id: str, report: dict) -> dict:
    elapsed = time.time() - report["created"]
    frac = 1.0 if report["duration"] <= 0 else min(1.0, elapsed / report["duration"])
    if frac < 0.1:
        status, pct = "Job Not Started", 0
    elif frac < 1.0:
        status, pct = "Job Running", int(frac * 100)
    elif report["fail"]:
        status, pct = "Job Failed", int(0.9 * 100)
    else:
        status, pct = "Job Completed", 100
    q: InsightQuery = report["query"]
    return {"id": report_id, "account_id": q.account, "time_ref": int(report["created"]),
            "time_completed": int(report["created"] + report["duration"]) if status == "Job Completed" else 0,
            "async_status": status, "async_percent_completion": pct, "date_start": q.since.isoformat(),
            "date_stop": q.until.isoformat(), "is_running": status in ("Job Not Started", "Job Running")}


def report_insights(call: Call, report_id: str, report: dict) -> dict:
    status = report_status(call, report_id, report)["async_status"]
    if status != "Job Completed":
        raise _bad_param(f"(#100) The report {report_id} is not ready: {status}")
    q: InsightQuery = report["query"]
    return call.page(insight_keys(q), lambda k: insight_row(call.state, q, k))


# -- dispatch ----------------------------------------------------------------------
_ACT = re.compile(r"^act_(\d+)$")


def handle(req) -> bool:
    path = req.path
    if path.startswith("/cdn/v/"):
        serve_media(req)
        return True
    m = re.match(r"^/(v\d+\.\d+)(/.*)?$", path)
    if not m:
        return False
    version, rest = m.group(1), (m.group(2) or "/").rstrip("/") or "/"
    call = Call(req)
    parts = [p for p in rest.split("/") if p]
    account = None
    if parts and _ACT.match(parts[0]):
        account = _ACT.match(parts[0]).group(1)
    try:
        route = _route_name(req.method, parts)
        req.state.count(f"graph {route}")
        if version != VERSION:
            raise GraphError(400, 2635, f"(#2635) You are calling a deprecated or unknown version of the Ads API "
                             f"({version}). Please update to the latest version: {VERSION}.")
        _check_token(call)
        if _take(req.state, "server_error"):
            req.state.count("graph:server_error")
            raise GraphError(500, 2, "An unexpected error has occurred. Please retry your request later.",
                             "OAuthException", transient=True)
        if _take(req.state, "rate_limit"):
            req.state.count("graph:rate_limited")
            raise GraphError(400, 17, "(#17) User request limit reached", "OAuthException", 2446079,
                             regain=int(_fault_value(req.state, "regain_minutes") or 0))
        if route.endswith("insights") and _take(req.state, "insights_rate_limit"):
            req.state.count("graph:rate_limited")
            raise GraphError(400, 80000, "(#80000) There have been too many calls from this ad-account. Wait a bit "
                             "and try again. For more info, please refer to "
                             "https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
                             "OAuthException", 2446079, regain=int(_fault_value(req.state, "regain_minutes") or 0))
        util = _usage(req.state, account)
        if util >= 100:
            req.state.count("graph:blocked")
            raise GraphError(400, 80000, "(#80000) There have been too many calls from this ad-account. Wait a bit "
                             "and try again.", "OAuthException", 2446079,
                             regain=int(_fault_value(req.state, "regain_minutes") or 0), headers={"util": util})
        body = _answer(call, req.method, parts, account)
    except GraphError as err:
        util = err.headers.get("util") if isinstance(err.headers.get("util"), float) else _usage(req.state, account, False)
        if err.code in (17, 80000):
            util = max(util, 100.0)
        _send_error(req, err, account, util)
        return True
    req.send_json(200, body, headers=throttle_headers(req.state, account, util))
    return True


def _route_name(method: str, parts: list[str]) -> str:
    shape = []
    for p in parts:
        if _ACT.match(p):
            shape.append("act_{id}")
        elif p.isdigit():
            shape.append("{id}")
        else:
            shape.append(p)
    return f"{method} /" + "/".join(shape)


def _check_token(call: Call) -> None:
    state = call.state
    if _fault_value(state, "expired_token"):
        state.count("graph:token_rejected")
        raise GraphError(400, 190, "Error validating access token: Session has expired on Tuesday, 03-Mar-26 "
                         "04:00:00 PST. The current time is Wednesday, 04-Mar-26 09:12:44 PST.", "OAuthException",
                         463)
    token, _ = call.token()
    if not token:
        state.count("graph:token_rejected")
        raise GraphError(400, 190, "An active access token must be used to query information about the current "
                         "user.", "OAuthException")
    if not hmac.compare_digest(token.encode(), state.token.encode()):
        state.count("graph:token_rejected")
        raise GraphError(400, 190, "Invalid OAuth access token - Cannot parse access token", "OAuthException")


def _answer(call: Call, method: str, parts: list[str], account: str | None) -> dict:
    if not parts:
        raise _bad_param("(#100) Missing object id in path")
    head = parts[0]
    if account is not None:
        if account not in ACCOUNTS:
            raise _no_object(head, method.lower())
        call.account = account
        tail = parts[1:]
        if not tail and method == "GET":
            fields = parse_fields(call.params.get("fields"))
            _check_fields(fields, ACCOUNT_FIELDS, "AdAccount")
            return _account_obj(account, fields)
        if tail == ["insights"] and method == "GET":
            return insights_sync(call, account)
        if tail == ["insights"] and method == "POST":
            return insights_async(call, account)
        if tail == ["ads"] and method == "GET":
            return ads(call, account)
        if tail == ["adimages"] and method == "GET":
            return adimages(call, account)
        raise _no_object(head, method.lower())
    if head == "me":
        if parts == ["me"] and method == "GET":
            return {"id": USER_ID, "name": "Sandbox User"}
        if parts == ["me", "adaccounts"] and method == "GET":
            return me_adaccounts(call)
        raise _no_object("me", method.lower())
    report = _report(call, head)
    if report is not None and method == "GET":
        if len(parts) == 1:
            return report_status(call, head, report)
        if parts[1:] == ["insights"]:
            return report_insights(call, head, report)
    if method == "GET" and len(parts) == 1:
        found = _decode(VIDEO_BASE, head)
        if found and is_video_ad(found[1]):
            return video(call, *found)
        found = _decode(AD_BASE, head)
        if found:
            fields = parse_fields(call.params.get("fields"))
            _check_fields(fields, AD_FIELDS, "Ad")
            return _ad_obj(call, found[0], found[1], fields)
    raise _no_object(head, method.lower())


def _send_error(req, err: GraphError, account: str | None, util: float) -> None:
    body: dict = {"message": err.message, "type": err.type, "code": err.code}
    if err.subcode is not None:
        body["error_subcode"] = err.subcode
    if err.transient is not None:
        body["is_transient"] = err.transient
    if err.code in (17, 80000):
        body["error_user_title"] = "Ad Account Has Too Many API Calls" if err.code == 80000 else "Too Many Calls"
        body["error_user_msg"] = "There have been too many calls. Please wait a bit and try again."
    body["fbtrace_id"] = _trace_id(req.state)
    headers = throttle_headers(req.state, account, util, regain=err.regain)
    if err.code == 190:
        headers["WWW-Authenticate"] = f'OAuth "Facebook Platform" "invalid_token" "{err.message[:80]}"'
    req.send_json(err.status, {"error": body}, headers=headers)


# -- the CDN -----------------------------------------------------------------------
HTML_LOGIN_PAGE = (b"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Log in to Facebook"
                   b"</title></head><body><div id=\"login_form\"><p>You must log in to continue.</p></div>"
                   b"</body></html>\n")


HTML_SECURITY_CHECK = (b"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Security Check "
                       b"Required</title></head><body><h1>Security Check Required</h1><p>We suspect automated "
                       b"behavior on your account. Please complete the security check to continue.</p>"
                       b"</body></html>\n")


def serve_media(req) -> None:
    state = req.state
    media = parse_media_path(req.path)
    if media is None or req.method not in ("GET", "HEAD"):
        req.send(404, b"Not Found", "text/plain")
        return
    redirect = _fault_value(state, "media_redirect")
    if redirect:
        state.count("cdn:redirect")
        req.send(302, b"", "text/plain", {"Location": str(redirect)})
        return
    oh, oe = req.query.get("oh", ""), req.query.get("oe", "")
    if not oh or not oe or not hmac.compare_digest(oh, _sign(req.path, oe)):
        req.send(403, b"Bad URL hash", "text/plain")
        return
    try:
        expires = int(oe, 16)
    except ValueError:
        req.send(403, b"Bad URL timestamp", "text/plain")
        return
    link = (req.path, oe, req.query.get("_nc_gid", ""))
    if expires < time.time() or _expire_link(state, req.path) or _link_is_dead(state, link):
        state.count("cdn:expired")
        req.send(403, b"URL signature expired", "text/plain")
        return
    if _take(state, "media_error") or _file_fault(state, "media_flaky", req.path, default_tries=3):
        state.count("cdn:error")
        req.send(503, b"Service Unavailable", "text/plain")
        return
    if media.kind == "image":
        disguised = _take(state, "media_html_disguised")
        if disguised or _take(state, "media_html"):
            state.count("cdn:html")
            req.send(200, HTML_LOGIN_PAGE, "image/jpeg" if disguised else "text/html; charset=utf-8")
            return
        if _file_fault(state, "media_interstitial", req.path):
            state.count("cdn:html")
            req.send(200, HTML_SECURITY_CHECK, "text/html; charset=utf-8")
            return
    headers = {"Cache-Control": "max-age=1209600, no-transform", "Accept-Ranges": "none",
               "Last-Modified": "Wed, 01 Jan 2026 00:00:00 GMT", "timing-allow-origin": "*"}
    req.start_stream(200, media.content_type, media.size, headers)
    if req.method == "HEAD":
        return
    cut_and_expire = _file_fault(state, "media_truncate_expire", req.path, default_tries=2)
    truncate = _take(state, "media_truncate") or cut_and_expire
    rate = _fault_value(state, "media_slow")
    sent = _stream(req, media, media.size // 2 if truncate else media.size, float(rate) if rate else None)
    with state.lock:
        state.stats["cdn:bytes"] += sent
        if cut_and_expire:
            state.data.setdefault("cdn:dead_links", set()).add(link)
    if truncate:
        state.count("cdn:truncated")
        req.close_connection()
    else:
        state.count("cdn:ok")


def _stream(req, media: MediaFile, upto: int, rate: float | None) -> int:
    """Write the first ``upto`` bytes of the file, generated on the fly."""
    header, trailer = media.parts()
    block = _rotated(media.seed)
    body_len = media.size - len(header) - len(trailer)
    sent = 0
    step = _BLOCK_SIZE if rate is None else max(1024, int(rate / 20))

    def emit(data) -> None:
        nonlocal sent
        req.write(data)
        sent += len(data)

    def segments():
        yield memoryview(header)
        remaining = body_len
        while remaining > 0:
            n = min(remaining, _BLOCK_SIZE)
            yield memoryview(block)[:n]
            remaining -= n
        yield memoryview(trailer)

    for seg in segments():
        pos = 0
        while pos < len(seg) and sent < upto:
            n = min(len(seg) - pos, step, upto - sent)
            emit(seg[pos:pos + n])
            pos += n
            if rate is not None:
                time.sleep(n / rate)
        if sent >= upto:
            break
    return sent
