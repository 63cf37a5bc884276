"""Graph API half of the sandbox: a local stand-in for the Meta Marketing API and its media CDN.

Serves the real paths under ``/v25.0/`` (``PIPEDECK_GRAPH_URL=http://127.0.0.1:N/v25.0``)
and signed media URLs under ``/cdn/v/...`` on the same origin, behaving as
DOMAIN.md describes: token checked on every call (``access_token`` query
parameter, or ``Authorization: Bearer|OAuth``), numbers as strings,
``actions`` lists, cursor paging with absolute ``next`` URLs, asynchronous
insight reports, throttle headers on every Graph response, and
``{"error": {message, type, code, error_subcode, fbtrace_id}}`` bodies.

This module answers and routes the Graph API calls; the generated accounts,
ads and insights live in :mod:`~pipedeck.sandbox.graph_data`, the media bytes,
signed links and CDN in :mod:`~pipedeck.sandbox.graph_media`, and the fault and
throttle state in :mod:`~pipedeck.sandbox.graph_faults`.

Endpoints
---------
- ``GET /me``, ``GET /me/adaccounts`` (paged; ``fields=`` honoured)
- ``GET /act_{id}`` — the account
- ``GET /act_{id}/insights`` — ``level=ad`` (or ``account``: the account's totals),
  ``time_increment=1|all_days``,
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
- ``GET /{video_id}?fields=source,picture,length``, ``GET /{ad_id}``, and several at once:
  ``GET /?ids={id},{id}...&fields=...`` (at most 50) answers ``{id: object}``
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
``no_delivery``          ``A-B``: no ad delivered on the days A to B days ago (``3``: that day);
                         every insights answer has no rows for them, at any level
``insights_left_out``    ``A-B``: ad-level insights answers leave out the days A to B days ago
                         although the account delivered on them (``level=account`` shows them)
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
import hmac
import json
import re
import time
from urllib.parse import urlencode

from pipedeck.sandbox.graph_data import (ACCOUNT_TIMEZONE, ACCOUNTS, AD_BASE, BUSINESS_ID, CREATIVE_BASE, PER_ACCOUNT,
                                         PRODUCTS, USER_ID, VIDEO_BASE, InsightQuery, ad_id, ad_name, ad_status,
                                         adset_of, campaign_of, created_date, decode_id, hash_index, image_dims,
                                         image_hash, image_index, insight_keys, insight_row, is_video_ad, today,
                                         video_id)
from pipedeck.sandbox.graph_faults import graph_state, take, throttle_headers, trace_id, usage
from pipedeck.sandbox.graph_media import image_file, serve_media, signed_url, thumb_file, video_file

VERSION = "v25.0"
REPORT_BASE = 1_087_000_000_000_000
DEFAULT_SYNC_ROW_LIMIT = 20000
MAX_LIMIT = 5000
# Meta keeps insights for 37 months.
MAX_HISTORY_DAYS = 1125

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
  /act_ID/ads?fields=...creative{...}, /act_ID/adimages?hashes=[...], /VIDEO_ID?fields=source,
  /?ids=ID,ID...&fields=... (several videos or ads at once, at most 50)
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
    no_delivery=A-B       no ad delivered on the days A to B days ago: Meta answers them with no
                          rows, at ad and account level
    insights_left_out=A-B ad-level insights leave out the days A to B days ago, though the
                          account delivered (its level=account rows still show them)
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
        if token and (in_query or self.state.fault("next_with_token")):
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
    elif call.state.fault("ads_archived_hidden"):
        indexes = [i for i in indexes if ad_status(i) != "ARCHIVED"]  # what Meta leaves out unless asked
    return call.page(indexes, lambda i: _ad_obj(call, account, i, fields))


def adimages(call: Call, account: str) -> dict:
    raw = call.params.get("hashes")
    fields = parse_fields(call.params.get("fields")) or {"hash": None, "url": None}
    _check_fields(fields, ADIMAGE_FIELDS, "AdImage")
    index = hash_index(account)
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



DATE_PRESETS = {"today": (0, 0), "yesterday": (1, 1), "last_3d": (3, 1), "last_7d": (7, 1), "last_14d": (14, 1),
                "last_28d": (28, 1), "last_30d": (30, 1), "last_90d": (90, 1), "maximum": (MAX_HISTORY_DAYS, 0)}


def days_ago(value, now: dt.date) -> frozenset[dt.date]:
    """A day-range fault's days: ``"A-B"`` (the days A to B days before today) or ``A``."""
    if value is None or value is False:
        return frozenset()
    low, _, high = str(value).partition("-")
    try:
        a, b = int(low), int(high or low)
    except ValueError:
        return frozenset()
    return frozenset(now - dt.timedelta(days=k) for k in range(min(a, b), max(a, b) + 1))


def parse_insight_query(params: dict, account: str, state=None) -> InsightQuery:
    level = params.get("level", "ad")
    if level not in ("ad", "account"):
        raise _bad_param(f"(#100) level={level} is not supported by the sandbox (use level=ad or level=account)")
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
    fault = state.fault if state is not None else (lambda name: None)
    return InsightQuery(account, since, until, increment == "1", tuple(fields) or DEFAULT_INSIGHT_FIELDS, level,
                        no_delivery=days_ago(fault("no_delivery"), now),
                        left_out=days_ago(fault("insights_left_out"), now))

TOO_MUCH_DATA = "Please reduce the amount of data you're asking for, then retry your request"
TOO_MUCH_DATA_SUBCODE = 1487534


def insights_sync(call: Call, account: str) -> dict:
    q = parse_insight_query(call.params, account, call.state)
    keys = insight_keys(q)
    limit = int(call.state.fault("sync_row_limit") or DEFAULT_SYNC_ROW_LIMIT)
    if len(keys) > limit:
        raise GraphError(500, 1, TOO_MUCH_DATA, "OAuthException", 99, transient=False)
    days_limit = call.state.fault("sync_days_limit")
    if days_limit and (q.until - q.since).days + 1 > int(days_limit):
        raise GraphError(400, 100, TOO_MUCH_DATA, "OAuthException", TOO_MUCH_DATA_SUBCODE)
    return call.page(keys, lambda k: insight_row(call.state, q, k))


def insights_async(call: Call, account: str) -> dict:
    q = parse_insight_query(call.params, account, call.state)
    with call.state.lock:
        g = graph_state(call.state)
        g["next_report"] += 1
        report_id = str(REPORT_BASE + int(account) * 1000 + g["next_report"])
        duration = float(call.state.fault("report_seconds") or 1.0)
        g["reports"][report_id] = {"query": q, "created": time.time(), "duration": duration,
                                   "fail": bool(call.state.fault("report_fail")),
                                   "params": {k: v for k, v in call.params.items() if k != "access_token"}}
    return {"report_run_id": report_id}


def _report(call: Call, report_id: str) -> dict | None:
    with call.state.lock:
        return graph_state(call.state)["reports"].get(report_id)


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
        if take(req.state, "server_error"):
            req.state.count("graph:server_error")
            raise GraphError(500, 2, "An unexpected error has occurred. Please retry your request later.",
                             "OAuthException", transient=True)
        if take(req.state, "rate_limit"):
            req.state.count("graph:rate_limited")
            raise GraphError(400, 17, "(#17) User request limit reached", "OAuthException", 2446079,
                             regain=int(req.state.fault("regain_minutes") or 0))
        if route.endswith("insights") and take(req.state, "insights_rate_limit"):
            req.state.count("graph:rate_limited")
            raise GraphError(400, 80000, "(#80000) There have been too many calls from this ad-account. Wait a bit "
                             "and try again. For more info, please refer to "
                             "https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
                             "OAuthException", 2446079, regain=int(req.state.fault("regain_minutes") or 0))
        util = usage(req.state, account)
        if util >= 100:
            req.state.count("graph:blocked")
            raise GraphError(400, 80000, "(#80000) There have been too many calls from this ad-account. Wait a bit "
                             "and try again.", "OAuthException", 2446079,
                             regain=int(req.state.fault("regain_minutes") or 0), headers={"util": util})
        body = _answer(call, req.method, parts, account)
    except GraphError as err:
        util = err.headers.get("util") if isinstance(err.headers.get("util"), float) else usage(req.state, account, False)
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
    if state.fault("expired_token"):
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


# Meta's multiple-ID read: GET /?ids=a,b,c answers {id: object} for at most 50 ids.
MAX_IDS = 50


def _answer(call: Call, method: str, parts: list[str], account: str | None) -> dict:
    if not parts and method == "GET" and call.params.get("ids"):
        return _many(call)
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
        found = _object(call, head)
        if found is not None:
            return found
    raise _no_object(head, method.lower())


def _object(call: Call, object_id: str) -> dict | None:
    """A video or an ad by id (with the call's fields), or None."""
    found = decode_id(VIDEO_BASE, object_id)
    if found and is_video_ad(found[1]):
        return video(call, *found)
    found = decode_id(AD_BASE, object_id)
    if found:
        fields = parse_fields(call.params.get("fields"))
        _check_fields(fields, AD_FIELDS, "Ad")
        return _ad_obj(call, found[0], found[1], fields)
    return None


def _many(call: Call) -> dict:
    ids = [i.strip() for i in call.params["ids"].split(",") if i.strip()]
    if len(ids) > MAX_IDS:
        raise _bad_param(f"(#100) Too many IDs. Maximum: {MAX_IDS}. Provided: {len(ids)}.")
    found = {i: _object(call, i) for i in dict.fromkeys(ids)}
    missing = [i for i, obj in found.items() if obj is None]
    if missing:
        raise GraphError(404, 803, f"(#803) Some of the aliases you requested do not exist: {','.join(missing)}",
                         "OAuthException")
    return found


def _send_error(req, err: GraphError, account: str | None, util: float) -> None:
    body: dict = {"message": err.message, "type": err.type, "code": err.code}
    if err.subcode is not None:
        body["error_subcode"] = err.subcode
    if err.transient is not None:
        body["is_transient"] = err.transient
    if err.code in (17, 80000):
        body["error_user_title"] = "Ad Account Has Too Many API Calls" if err.code == 80000 else "Too Many Calls"
        body["error_user_msg"] = "There have been too many calls. Please wait a bit and try again."
    body["fbtrace_id"] = trace_id(req.state)
    headers = throttle_headers(req.state, account, util, regain=err.regain)
    if err.code == 190:
        headers["WWW-Authenticate"] = f'OAuth "Facebook Platform" "invalid_token" "{err.message[:80]}"'
    req.send_json(err.status, {"error": body}, headers=headers)

