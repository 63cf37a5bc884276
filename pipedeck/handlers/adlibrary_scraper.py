"""Reading an Ad Library search with headless Chromium: the one scraper both
Ad Library jobs (competitor_scrape, template_scrape) use.

How it reads a search:

1. Open the search URL in a real browser (plain HTTP clients get a 403 bot
   check; the browser runs its script and gets through).
2. Read the first page of results from the JSON the server rendered into the
   HTML (``ad_library_main.search_results_connection``: ``count``, ``edges``,
   ``page_info``).
3. Follow the cursor. Scroll once so the page's own script asks
   ``/api/graphql/`` for the next page (``AdLibrarySearchPaginationQuery``
   with the cursor); that request, made with the page's own tokens, is the
   template. Every further page is the same POST sent from the page (its
   cookies, origin and tokens) with the next cursor, and the reply is read as
   it arrives. Stop when ``has_next_page`` is false or ``max_ads`` is reached.

   Not "scroll until nothing changes": that stops early when the page's
   loader goes quiet (a false plateau), and it grows the page's DOM by every
   ad read, which costs the browser time and memory on big searches.

Each page's ads go to ``on_batch`` as they arrive (so a crash loses at most
one page), raw: the jobs turn each into their record with
:func:`pipedeck.handlers.adlibrary_results.normalise_ad`. Cancel and worker
shutdown are honoured within ~0.1 s: the scrape task is cancelled and the
browser closed before the exception leaves here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import parse_qs, urlencode

from pipedeck.errors import RetryableError, RunCancelled
from pipedeck.handlers.browser import launched_browser, require_chromium

if TYPE_CHECKING:
    from playwright.async_api import Page, Request, Response, Route

    from pipedeck.handlers.context import RunContext

FRIENDLY_NAME = "AdLibrarySearchPaginationQuery"
GUARD = "for (;;);"
RESULTS_SELECTOR = 'script[type="application/json"][data-sjs]'
MAX_ERRORS_PER_PAGE = 3
# Until the page sends its first request for more, scroll it this often.
SCROLL_INTERVAL = 0.05
# What the scrape never reads, refused before it is requested: it only costs the browser memory
# and time. Documents, scripts and the page's requests for more results go through.
BLOCKED_RESOURCES = frozenset({"image", "media", "font", "stylesheet"})
# Requests routed through the check above: all but those for more results, which then go
# straight to the network rather than by way of this process (matched in Playwright's driver).
NOT_RESULTS = re.compile(r"^(?!.*/api/graphql).*$")


@dataclass(frozen=True)
class Timeouts:
    navigation: float = 45.0  # opening the search, bot check included
    page: float = 30.0        # waiting for one further page of results


@dataclass
class ScrapeReport:
    captured: int = 0
    reported: int | None = None
    pages: int = 0
    complete: bool = False        # followed the cursor until has_next_page was false
    truncated: bool = False       # stopped because max_ads was reached
    direct_pages: int = 0         # pages requested from the page with the cursor (after the page's own first)
    seconds: float = 0.0
    ad_ids: list[str] = field(default_factory=list, repr=False)

    @property
    def shortfall(self) -> int:
        """Ads Meta counted but paging never returned (only meaningful for a complete scrape)."""
        if not self.complete or self.reported is None:
            return 0
        return max(0, self.reported - self.captured)

    def summary(self) -> str:
        of = f" of {self.reported} reported" if self.reported is not None else " (the Ad Library gave no count)"
        return f"captured {self.captured}{of}"


# -- reading the page ------------------------------------------------------------------
def find_connection(obj: Any) -> dict | None:
    """``ad_library_main.search_results_connection`` wherever it sits in a JSON tree."""
    stack = [obj]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            main = node.get("ad_library_main")
            if isinstance(main, dict) and isinstance(main.get("search_results_connection"), dict):
                return main["search_results_connection"]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


def json_values(text: str):
    """Each JSON value in ``text``, in order: Meta may send several, one per line."""
    decoder = json.JSONDecoder()
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos].isspace():
            pos += 1
        if pos >= end:
            return
        value, pos = decoder.raw_decode(text, pos)
        yield value


def parse_graphql_body(text: str) -> dict:
    """A GraphQL reply: strip Meta's ``for (;;);`` guard, take the JSON value that carries the
    data (a reply may hold several, newline-separated), raise on errors."""
    text = text.lstrip()
    if text.startswith(GUARD):
        text = text[len(GUARD):]
    try:  # values after the one carrying the data are never decoded
        payload = next((v for v in json_values(text) if isinstance(v, dict) and (
            v.get("data") is not None or v.get("errors") or v.get("error"))), None)
    except ValueError:
        raise RetryableError(f"the Ad Library sent an unreadable page of results: {text[:80]!r}",
                             error_type="AdLibraryBadReply") from None
    if payload is None:
        raise RetryableError("the Ad Library sent an unexpected reply", error_type="AdLibraryBadReply")
    if payload.get("errors") or payload.get("error"):
        errors = payload.get("errors") or [{"message": payload.get("errorSummary") or payload.get("error")}]
        message = "; ".join(str(e.get("message") if isinstance(e, dict) else e) for e in errors)[:300]
        raise RetryableError(f"the Ad Library refused a page of results: {message}", error_type="AdLibraryError")
    conn = find_connection(payload.get("data"))
    if conn is None:
        raise RetryableError("the Ad Library reply carried no search results", error_type="AdLibraryBadReply")
    return conn


def iter_results(conn: dict):
    for edge in conn.get("edges") or []:
        node = (edge or {}).get("node") or {}
        for result in node.get("collated_results") or []:
            if isinstance(result, dict) and result.get("ad_archive_id"):
                yield result


def _pagination_cursor(request: "Request") -> tuple[bool, str | None]:
    """(is a pagination request, its cursor)."""
    if request.method != "POST" or "/api/graphql" not in request.url:
        return False, None
    form = parse_qs(request.post_data or "")
    if (form.get("fb_api_req_friendly_name") or [""])[-1] != FRIENDLY_NAME:
        return False, None
    try:
        variables = json.loads((form.get("variables") or ["{}"])[-1])
    except ValueError:
        return False, None
    return True, variables.get("cursor")


class _Pager:
    """Pages of results by cursor: the reply to the page's own first request for more (which
    also serves as the template), then the same request sent from the page with each cursor."""

    def __init__(self, page: "Page", log: Callable[[str, str], None]) -> None:
        self.page = page
        self.log = log
        self.requested: set[str] = set()
        self.replies: dict[str, "Response"] = {}
        self.failed: set[str] = set()
        self.template: tuple[str, dict, str] | None = None  # url, headers, body of a request the page made
        self.changed = asyncio.Event()
        self.broken: str | None = None
        self.watching = True
        page.on("request", self._on_request)
        page.on("response", self._on_response)
        page.on("requestfailed", self._on_failed)
        page.on("crash", lambda _page: self._break("the page crashed"))
        page.on("close", lambda _page: self._break("the page was closed"))
        page.context.browser.on("disconnected", lambda _browser: self._break("Chromium exited"))

    def _stop_watching(self) -> None:
        """Once the template is known every page is fetched directly: stop Playwright from
        reporting each of the page's requests (images included) to us."""
        if self.watching:
            self.watching = False
            self.page.remove_listener("request", self._on_request)
            self.page.remove_listener("response", self._on_response)
            self.page.remove_listener("requestfailed", self._on_failed)
            # The page's own script may already have asked for the next cursor; its reply can
            # no longer reach us, so fetch that page directly instead of waiting it out.
            self.requested.clear()

    def _break(self, why: str) -> None:
        self.broken = self.broken or why
        self.changed.set()

    def _on_request(self, request: "Request") -> None:
        ok, cursor = _pagination_cursor(request)
        if not ok:
            return
        if self.template is None:
            headers = {k: v for k, v in request.headers.items()
                       if k.lower() == "content-type" or k.lower().startswith("x-fb")}
            self.template = (request.url, headers, request.post_data or "")
        if cursor:
            self.requested.add(cursor)
        self.changed.set()

    def _on_response(self, response: "Response") -> None:
        ok, cursor = _pagination_cursor(response.request)
        if ok and cursor and cursor not in self.replies:
            self.replies[cursor] = response
            self.changed.set()

    def _on_failed(self, request: "Request") -> None:
        ok, cursor = _pagination_cursor(request)
        if ok and cursor:
            self.failed.add(cursor)
            self.requested.discard(cursor)
            self.changed.set()

    async def _scroll(self) -> None:
        try:
            await self.page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        except Exception:  # noqa: BLE001 - a scroll during a repaint can fail; the next one will do
            pass

    async def _request_directly(self, cursor: str, timeout: float) -> tuple[int, str]:
        """The page's own pagination request with another cursor, sent from the page
        (its cookies, origin and tokens). Returns (HTTP status or 0 on a network error, body)."""
        url, headers, body = self.template  # type: ignore[misc]
        form = parse_qs(body, keep_blank_values=True)
        variables = json.loads(form["variables"][-1])
        variables["cursor"] = cursor
        form["variables"] = [json.dumps(variables, separators=(",", ":"))]
        new_body = urlencode({k: v[-1] for k, v in form.items()})
        try:
            status, text = await asyncio.wait_for(self.page.evaluate(
                "async ([url, headers, body]) => { try {"
                " const r = await fetch(url, {method: 'POST', headers, body, credentials: 'include'});"
                " return [r.status, await r.text()]; } catch (e) { return [0, String(e)]; } }",
                [url, headers, new_body]), timeout)
        except asyncio.TimeoutError:
            raise RetryableError(f"no reply to a request for more Ad Library results within {timeout:.0f}s",
                                 error_type="AdLibraryTimeout") from None
        return int(status), str(text)

    async def next_page(self, cursor: str, timeouts: Timeouts, report: ScrapeReport) -> dict:
        """The page of results at ``cursor``: the page's own request's reply if it sent one,
        else the same request sent with this cursor. Transient errors are retried twice."""
        errors = 0
        started = time.monotonic()
        last_scroll = 0.0
        while True:
            self.changed.clear()  # before looking, so a reply arriving meanwhile still wakes the wait below
            if self.broken:
                raise RetryableError(f"the browser failed while reading the Ad Library: {self.broken}",
                                     error_type="BrowserError")
            got: tuple[int, str] | None = None
            reply = self.replies.pop(cursor, None)
            if reply is not None:
                try:
                    got = (reply.status, await reply.text())
                except Exception as exc:  # noqa: BLE001 - the body can be gone (page navigated, request aborted)
                    got = (0, f"{type(exc).__name__}: {exc}")
            elif cursor in self.failed:
                self.failed.discard(cursor)
                got = (0, "the page's request failed")
            elif self.template is not None and cursor not in self.requested:
                report.direct_pages += 1
                remaining = max(1.0, timeouts.page - (time.monotonic() - started))
                got = await self._request_directly(cursor, remaining)
            if got is not None:
                status, text = got
                try:
                    if status != 200:
                        detail = f"HTTP {status}" if status else f"a network error ({text[:100]})"
                        raise RetryableError(f"the Ad Library answered {detail} for a page of results",
                                             error_type="AdLibraryHTTP" if status else "AdLibraryNetwork")
                    conn = parse_graphql_body(text)
                    if self.template is not None:
                        self._stop_watching()
                    return conn
                except RetryableError as exc:
                    errors += 1
                    if errors >= MAX_ERRORS_PER_PAGE:
                        raise
                    self.log(f"{exc}; asking again ({errors} of {MAX_ERRORS_PER_PAGE - 1})", "warning")
                    self.requested.discard(cursor)
                    started = time.monotonic()
                    continue
            now = time.monotonic()
            if self.template is None and now - last_scroll > SCROLL_INTERVAL:
                last_scroll = now
                await self._scroll()
            if now - started > timeouts.page:
                what = "no reply" if self.template is not None else "the page never asked for more results"
                raise RetryableError(
                    f"no further page of results within {timeouts.page:.0f}s after {report.captured} ads "
                    f"({what}; has_next_page was still true)", error_type="AdLibraryTimeout")
            try:
                await asyncio.wait_for(self.changed.wait(), SCROLL_INTERVAL)
            except asyncio.TimeoutError:
                pass


async def _open_search(page: "Page", url: str, timeouts: Timeouts) -> dict:
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    try:
        await page.goto(url, wait_until="domcontentloaded", timeout=timeouts.navigation * 1000)
        # A bot check answers 403 and reloads once its script has set a cookie; wait for the real page.
        await page.wait_for_selector(RESULTS_SELECTOR, state="attached", timeout=timeouts.navigation * 1000)
    except PlaywrightTimeout:
        raise RetryableError(f"the Ad Library search did not load within {timeouts.navigation:.0f}s "
                             "(slow network or a bot check the browser did not pass)",
                             error_type="AdLibraryTimeout") from None
    except PlaywrightError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RetryableError(f"could not open the Ad Library search: {first}", error_type="AdLibraryNetwork") from None
    texts = await page.eval_on_selector_all('script[type="application/json"]', "els => els.map(e => e.textContent)")
    for text in texts:
        try:
            conn = find_connection(json.loads(text))
        except ValueError:
            continue
        if conn is not None:
            return conn
    raise RetryableError("the Ad Library page carried no search results (ad_library_main missing); "
                         "Meta may have changed the page", error_type="AdLibraryLayout")


async def _block_unread(route: "Route") -> None:
    if route.request.resource_type in BLOCKED_RESOURCES:
        await route.abort("blockedbyclient")
    else:
        await route.fallback()


async def _scrape(ctx: "RunContext", url: str, max_ads: int, on_batch: Callable[[list[dict]], None],
                  timeouts: Timeouts) -> ScrapeReport:
    report = ScrapeReport()
    t0 = time.monotonic()
    seen: set[str] = set()
    from playwright.async_api import Error as PlaywrightError

    loop = asyncio.get_running_loop()
    # Pages are stored on their own thread while the next one is fetched (one thread: in order).
    storing = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"adlibrary-store-{ctx.run_id}")
    fetch: asyncio.Future | None = None
    try:
        async with launched_browser(ctx.settings, run_id=ctx.run_id) as browser:
            user_agent = (f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                          f"Chrome/{browser.version} Safari/537.36")
            context = await browser.new_context(user_agent=user_agent, locale="en-US",
                                                viewport={"width": 1280, "height": 900})
            try:
                await context.route(NOT_RESULTS, _block_unread)
                page = await context.new_page()
                pager = _Pager(page, ctx.log)
                ctx.log("opening the Ad Library search in headless Chromium")
                conn = await _open_search(page, url, timeouts)
                report.reported = conn.get("count") if isinstance(conn.get("count"), int) else None
                target = min(max_ads, report.reported) if report.reported is not None else max_ads
                ctx.log(f"the Ad Library reports {report.reported if report.reported is not None else 'no'} ads"
                        f" for this search; reading up to {max_ads}")
                visited: set[str] = set()
                while True:
                    report.pages += 1
                    batch = []
                    for result in iter_results(conn):
                        ad_id = str(result["ad_archive_id"])
                        if ad_id in seen:
                            continue
                        if len(seen) >= max_ads:
                            break
                        seen.add(ad_id)
                        batch.append(result)
                    info = conn.get("page_info") or {}
                    cursor = info.get("end_cursor")
                    more = bool(info.get("has_next_page")) and len(seen) < max_ads
                    if more:
                        if not cursor or cursor in visited:
                            raise RetryableError("the Ad Library's paging went wrong (a missing or repeated "
                                                 "cursor)", error_type="AdLibraryPaging")
                        visited.add(cursor)
                        ctx.check_cancelled()
                        fetch = asyncio.ensure_future(pager.next_page(cursor, timeouts, report))
                    if batch:
                        await loop.run_in_executor(storing, on_batch, batch)
                        report.ad_ids.extend(str(r["ad_archive_id"]) for r in batch)
                    report.captured = len(seen)
                    ctx.progress(report.captured, target or None, f"{report.captured} of {report.reported} ads")
                    if not more:
                        report.complete = not info.get("has_next_page")
                        report.truncated = not report.complete
                        break
                    conn, fetch = await fetch, None
                    ctx.check_cancelled()
            finally:
                if fetch is not None:  # a page still being fetched when the scrape stopped
                    fetch.cancel()
                    with contextlib.suppress(BaseException):
                        await fetch
        # Leaving the block closes the browser (and the context with it) before anything else runs.
    except PlaywrightError as exc:
        # The browser crashed or was killed, or a page went away mid-call: another attempt may work.
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RetryableError(f"the browser failed while reading the Ad Library: {first}",
                             error_type="BrowserError") from None
    finally:
        storing.shutdown(wait=True)
    report.seconds = time.monotonic() - t0
    return report


async def _cancellable(ctx: "RunContext", coro) -> ScrapeReport:
    main = asyncio.ensure_future(coro)

    async def watch() -> None:
        while not ctx.cancelled:
            await asyncio.sleep(0.05)

    watcher = asyncio.ensure_future(watch())
    try:
        await asyncio.wait({main, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if main.done():
            return main.result()
        main.cancel()  # the browser is closed by launched_browser on the way out
        try:
            await main
        except BaseException:  # noqa: BLE001 - whatever it failed with while stopping, the cancel wins
            pass
        ctx.check_cancelled()
        raise RunCancelled()
    finally:
        watcher.cancel()


def scrape_ad_library(ctx: "RunContext", url: str, *, max_ads: int, on_batch: Callable[[list[dict]], None],
                      timeouts: Timeouts | None = None) -> ScrapeReport:
    """Read an Ad Library search (see the module doc). Raises RunCancelled/WorkerShuttingDown on cancel."""
    ctx.check_cancelled()
    require_chromium(ctx.settings)  # fail before starting anything when there is no browser
    timeouts = timeouts or Timeouts()
    coro_factory = lambda: _cancellable(ctx, _scrape(ctx, url, max_ads, on_batch, timeouts))  # noqa: E731
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_factory())
    # Called from inside an event loop (unusual): run the scrape on its own thread and loop.
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(coro_factory())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"adlibrary-scrape-{ctx.run_id}")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]

