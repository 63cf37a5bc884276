"""A small Meta Graph API client for the handlers: auth, paging, throttling, error mapping.

- The token goes in an ``Authorization: Bearer`` header, only to the Graph API's
  own origin. It is never put in a URL we build; ``access_token`` is stripped
  from the ``next`` URLs Meta returns, and every message we raise or log is
  redacted.
- Paging follows ``paging.next`` (absolute URLs) until it is absent.
- Throttling: every response's usage headers (``X-Business-Use-Case-Usage``,
  ``X-Ad-Account-Usage``, ``X-FB-Ads-Insights-Throttle``, ``X-App-Usage``) are
  read; above ``SLOW_FROM`` percent the client pauses between calls, longer
  as usage climbs, so it slows down before Meta blocks it.
- Errors (``{"error": {message, type, code, error_subcode, fbtrace_id}}``):

  ========================================  ===========================================
  190 (and 102, 104, 463/467 subcodes)       :class:`TokenRejected` — permanent; tells the
                                             user to renew the token
  100, 3018, 200-299 (permissions), other    :class:`GraphPermanentError`
  4, 17, 32, 613, 80000-80014                 rate limit: wait (Meta's regain-access time, else
                                             1, 2, 4 ... s), log how long and why, retry; a
                                             wait over ``MAX_INLINE_WAIT`` hands the run back
                                             to the queue (:class:`GraphRateLimited`, retry_after)
  HTTP 5xx, code 1, 2, ``is_transient``      retried ``TRANSIENT_RETRIES`` times here, then
                                             :class:`GraphTransientError` (the queue retries)
  100/1487534, or code 1 "reduce the amount   :class:`TooMuchData` — ask with an async report
  of data"                                    or for a smaller time range
  network errors                              retried here, then :class:`GraphTransientError`
  ========================================  ===========================================
"""

from __future__ import annotations

import json
import threading
from typing import Any, Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from pipedeck.errors import PermanentError, RetryableError
from pipedeck.handlers.httpclient import ssl_context

RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
TOKEN_CODES = frozenset({190, 102, 104})
TRANSIENT_CODES = frozenset({1, 2})
# Meta's "Please reduce the amount of data you're asking for": code 100 with this subcode (or, older, code 1).
TOO_MUCH_DATA_SUBCODE = 1487534
TRANSIENT_RETRIES = 3
NETWORK_RETRIES = 2
# Longest rate-limit wait spent inside the run; longer waits go back to the queue.
MAX_INLINE_WAIT = 90.0
# Usage percent from which calls are spaced out, and the pause at 100 %.
SLOW_FROM = 60.0
MAX_PAUSE = 10.0
USAGE_HEADERS = ("X-Business-Use-Case-Usage", "X-Ad-Account-Usage", "X-FB-Ads-Insights-Throttle", "X-App-Usage")
TOKEN_HINT = ("renew the token (Meta Business Settings > System users > Generate token), then set "
              "META_ACCESS_TOKEN or run `pipedeck token set`")


class GraphPermanentError(PermanentError):
    def __init__(self, message: str, *, code: int | None = None, subcode: int | None = None,
                 status: int | None = None, error_type: str = "MetaAPIError") -> None:
        super().__init__(message, error_type=error_type)
        self.code, self.subcode, self.status = code, subcode, status


class TokenRejected(GraphPermanentError):
    pass


class TooMuchData(GraphPermanentError):
    pass


class GraphRateLimited(RetryableError):
    pass


class GraphTransientError(RetryableError):
    pass


def strip_token(url: str) -> str:
    """``url`` without any ``access_token`` query parameter."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "access_token"]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def parse_usage(headers: httpx.Headers) -> tuple[float, str, float]:
    """(highest usage percent, which header says so, estimated minutes until access is regained)."""
    best, source, regain = 0.0, "", 0.0

    def consider(value, where: str) -> None:
        nonlocal best, source
        try:
            value = float(value)
        except (TypeError, ValueError):
            return
        if value > best:
            best, source = value, where

    for name in USAGE_HEADERS:
        raw = headers.get(name)
        if not raw:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        if name == "X-Business-Use-Case-Usage" and isinstance(data, dict):
            for entries in data.values():
                for entry in entries if isinstance(entries, list) else []:
                    if not isinstance(entry, dict):
                        continue
                    for key in ("call_count", "total_cputime", "total_time"):
                        consider(entry.get(key), f"{name} {entry.get('type', '')} {key}".replace("  ", " "))
                    try:
                        regain = max(regain, float(entry.get("estimated_time_to_regain_access") or 0))
                    except (TypeError, ValueError):
                        pass
        elif isinstance(data, dict):
            for key in ("acc_id_util_pct", "app_id_util_pct", "call_count", "total_cputime", "total_time"):
                if key in data:
                    consider(data.get(key), f"{name} {key}")
    return best, source, regain


def pause_for(usage: float) -> float:
    """Seconds to wait before the next call at this usage percent."""
    if usage < SLOW_FROM:
        return 0.0
    return MAX_PAUSE * min(1.0, (usage - SLOW_FROM) / (100.0 - SLOW_FROM)) ** 2


class GraphClient:
    """Graph API calls for one run. Thread-safe; use as a context manager."""

    def __init__(self, ctx, *, timeout: float = 60.0, transport: httpx.BaseTransport | None = None) -> None:
        self.ctx = ctx
        self.base = ctx.settings.graph_url.rstrip("/")
        self._origin = _origin(self.base)
        token = ctx.settings.token()  # a clear UserError when there is none
        self._client = httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0), transport=transport,
                                    verify=ssl_context(),
                                    headers={"User-Agent": "pipedeck/0.1"}, follow_redirects=False)
        self._auth = {"Authorization": f"Bearer {token}"}
        self._lock = threading.Lock()
        self.usage = 0.0
        self.usage_source = ""
        self._logged_usage = 0.0
        self.calls = 0
        self.waited = 0.0  # seconds spent pausing or waiting out rate limits

    def __enter__(self) -> "GraphClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # -- public calls ------------------------------------------------------------
    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def get(self, path: str, params: dict | None = None) -> dict:
        return self.request("GET", self.url(path), params=params)

    def post(self, path: str, data: dict | None = None) -> dict:
        return self.request("POST", self.url(path), data=data)

    def pages(self, path: str, params: dict | None = None) -> Iterator[list[dict]]:
        """Each page's ``data``, following ``paging.next`` until it is absent."""
        body = self.get(path, params)
        while True:
            yield body.get("data") or []
            next_url = (body.get("paging") or {}).get("next")
            if not next_url:
                return
            self.ctx.check_cancelled()
            body = self.request("GET", strip_token(next_url))

    # -- the one request loop ----------------------------------------------------
    def request(self, method: str, url: str, *, params: dict | None = None, data: dict | None = None) -> dict:
        if _origin(url) != self._origin:
            raise GraphPermanentError(f"Meta returned a link to another host ({_origin(url)[1]}); "
                                      "not sending the token there", error_type="MetaAPIError")
        params = {k: _param(v) for k, v in (params or {}).items()}
        data = {k: _param(v) for k, v in (data or {}).items()} if data is not None else None
        rate_limited = transient = network = 0
        inline_waited = 0.0
        while True:
            self.ctx.check_cancelled()
            self._pace()
            try:
                response = self._client.request(method, url, params=params or None, data=data, headers=self._auth)
            except httpx.TransportError as exc:
                network += 1
                reason = f"{type(exc).__name__}: {self.ctx.redact(str(exc)) or 'no detail'}"
                if network > NETWORK_RETRIES:
                    raise GraphTransientError(f"network error talking to the Meta Graph API ({reason})",
                                              error_type="NetworkError") from None
                delay = 0.5 * 2 ** (network - 1)
                self._wait(delay, f"network error talking to Meta ({reason}); retrying in {delay:.1f}s")
                continue
            with self._lock:
                self.calls += 1
            usage, source, regain = parse_usage(response.headers)
            if response.status_code < 400:
                # Pace by what successful answers say; an error's 100 % is handled by the wait below.
                self._note_usage(usage, source)
                try:
                    body = response.json()
                except ValueError:
                    body = None
                if isinstance(body, dict) and "error" not in body:
                    return body
                if not isinstance(body, dict):
                    raise GraphTransientError(f"Meta Graph API answered HTTP {response.status_code} with a "
                                              "body that is not JSON", error_type="MetaServerError")
            err = _error_of(response)
            code, subcode = err.get("code"), err.get("error_subcode")
            summary = self._describe(response.status_code, err)
            if code in TOKEN_CODES or subcode in (463, 467):
                raise TokenRejected(f"Meta rejected the access token ({summary}); {TOKEN_HINT}",
                                    code=code, subcode=subcode, status=response.status_code,
                                    error_type="MetaTokenRejected")
            if code in RATE_LIMIT_CODES:
                rate_limited += 1
                if regain > 0:
                    wait, why = regain * 60.0, f"Meta says access returns in {regain:.0f} min"
                else:
                    wait, why = min(60.0, 2.0 ** (rate_limited - 1)), f"backing off, block {rate_limited}"
                if wait > MAX_INLINE_WAIT or inline_waited + wait > 2 * MAX_INLINE_WAIT:
                    msg = (f"rate limited by Meta ({summary}); {why}; handing the run back to the queue to "
                           f"retry in {wait:.0f}s")
                    self.ctx.log(msg, "warning")
                    raise GraphRateLimited(msg, retry_after=wait, error_type="MetaRateLimited")
                inline_waited += wait
                self._wait(wait, f"rate limited by Meta ({summary}); usage {usage:.0f}% "
                                 f"({source or 'no usage header'}); {why}; waiting {wait:.1f}s before retrying")
                continue
            if _is_too_much_data(code, subcode, err.get("message")):
                raise TooMuchData(f"Meta asks for less data per request ({summary})", code=code, subcode=subcode,
                                  status=response.status_code, error_type="MetaTooMuchData")
            if response.status_code >= 500 or code in TRANSIENT_CODES or err.get("is_transient"):
                transient += 1
                if transient > TRANSIENT_RETRIES:
                    raise GraphTransientError(f"Meta Graph API kept failing ({summary}) after "
                                              f"{TRANSIENT_RETRIES + 1} tries", error_type="MetaServerError")
                delay = 0.5 * 2 ** (transient - 1)
                self._wait(delay, f"Meta server error ({summary}); retrying in {delay:.1f}s "
                                  f"(try {transient + 1} of {TRANSIENT_RETRIES + 1})")
                continue
            raise GraphPermanentError(f"Meta Graph API refused the request ({summary})", code=code,
                                      subcode=subcode, status=response.status_code,
                                      error_type="MetaInvalidRequest" if code == 100 else "MetaAPIError")

    # -- helpers -------------------------------------------------------------------
    def _describe(self, status: int, err: dict) -> str:
        code, subcode = err.get("code"), err.get("error_subcode")
        code_text = f"code {code}" + (f"/{subcode}" if subcode else "") if code is not None else "no error code"
        message = self.ctx.redact(" ".join(str(err.get("message") or "no message").split()))[:300]
        trace = f", fbtrace_id {err['fbtrace_id']}" if err.get("fbtrace_id") else ""
        return f"HTTP {status}, {err.get('type') or 'error'} {code_text}: {message}{trace}"

    def _note_usage(self, usage: float, source: str) -> None:
        with self._lock:
            self.usage, self.usage_source = usage, source

    def _pace(self) -> None:
        with self._lock:
            usage, source = self.usage, self.usage_source
            pause = pause_for(usage)
            log_it = pause > 0 and (usage >= self._logged_usage + 10 or self._logged_usage == 0)
            if log_it:
                self._logged_usage = usage
            elif usage < SLOW_FROM:
                self._logged_usage = 0.0
        if pause <= 0:
            return
        if log_it:
            self.ctx.log(f"slowing down: Meta usage at {usage:.0f}% ({source}); pausing {pause:.1f}s between calls")
        with self._lock:
            self.waited += pause
        self.ctx.sleep(pause)

    def _wait(self, seconds: float, message: str) -> None:
        self.ctx.log(message, "warning")
        with self._lock:
            self.waited += seconds
        self.ctx.sleep(seconds)


def _is_too_much_data(code, subcode, message) -> bool:
    """Meta asking for less data per request: not a bad parameter, whatever the code says."""
    if code == 100 and subcode == TOO_MUCH_DATA_SUBCODE:
        return True
    return code in (1, 100) and "reduce the amount of data" in str(message or "").lower()


def _param(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _error_of(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {"message": f"non-JSON body ({response.headers.get('content-type', 'no type')})"}
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return err
    return {"message": str(err or body)[:200]}
