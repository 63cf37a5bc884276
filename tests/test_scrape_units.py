"""Plain unit tests of the scraper's pure parts and of finding Chromium."""

from __future__ import annotations

import json
import os
import stat

import pytest

from pipedeck.errors import RetryableError
from pipedeck.handlers.adlibrary_results import body_text, normalise_ad
from pipedeck.handlers.adlibrary_scraper import find_connection, parse_graphql_body
from pipedeck.handlers.browser import NO_CHROMIUM, NoChromium, find_chromium, require_chromium


@pytest.mark.parametrize("body, expected", [
    ({"text": "Hello\r\nworld  \n\n\n\nbye"}, "Hello\nworld\n\nbye"),
    (json.dumps({"text": "From a JSON string"}), "From a JSON string"),
    (json.dumps(json.dumps({"text": "Encoded twice"})), "Encoded twice"),
    ({"text": json.dumps({"text": "Nested"})}, "Nested"),
    ("{curly but not JSON", "{curly but not JSON"),
    ("plain text", "plain text"),
    ({"markup": {"__html": "Tom &amp; Jerry<br/>Line 2"}}, "Tom & Jerry\nLine 2"),
    ({"text": "   "}, None),
    (None, None),
])
def test_body_text(body, expected):
    assert body_text(body) == expected


def _raw(**snapshot) -> dict:
    base = {"body": {"text": "x"}, "title": "T", "caption": "C", "cta_text": "Shop Now", "cta_type": "SHOP_NOW",
            "link_url": "https://a.example/x", "display_format": "IMAGE", "images": [], "videos": [], "cards": [],
            "branded_content": None}
    base.update(snapshot)
    return {"ad_archive_id": 123, "page_id": "9", "page_name": "Page", "is_active": False, "start_date": 1000,
            "end_date": 2000, "publisher_platform": ["FACEBOOK", "instagram"], "collation_id": 55,
            "collation_count": 2, "snapshot": base}


def test_normalise_carousel_video_and_branded():
    ad = normalise_ad(_raw(display_format="CAROUSEL", body=None, title=None, cards=[
        {"body": "card one", "title": "Card 1", "original_image_url": "https://cdn/1.png", "resized_image_url": "r1"},
        {"body": "card two", "video_hd_url": "https://cdn/2.mp4", "video_preview_image_url": "https://cdn/2p.png"},
    ], branded_content={"page_name": "Creator", "page_id": "77"}))
    assert ad["ad_archive_id"] == "123" and ad["collation_id"] == "55"
    assert ad["body"] == "card one" and ad["title"] == "Card 1" and ad["card_count"] == 2
    assert ad["image_urls"] == ["https://cdn/1.png"] and ad["video_urls"] == ["https://cdn/2.mp4"]
    assert ad["preview_image_url"] == "https://cdn/1.png"
    assert ad["branded_content"] is True and ad["branded_partner"] == "Creator"
    assert ad["platforms"] == ["FACEBOOK", "INSTAGRAM"]
    assert ad["is_active"] is False and ad["end_date"] == 2000.0 and ad["start_date"] == 1000.0

    video = normalise_ad(_raw(display_format="VIDEO", videos=[
        {"video_hd_url": None, "video_sd_url": "https://cdn/sd.mp4", "video_preview_image_url": "https://cdn/p.png"}]))
    assert video["video_urls"] == ["https://cdn/sd.mp4"] and video["preview_image_url"] == "https://cdn/p.png"
    assert video["branded_content"] is False and video["branded_partner"] is None
    active = normalise_ad({**_raw(), "is_active": True})
    assert active["end_date"] is None  # an active ad has no end yet, whatever stale value came along


def test_parse_graphql_body_strips_guard_and_raises_on_errors():
    conn = {"count": 3, "edges": [], "page_info": {"end_cursor": None, "has_next_page": False}}
    text = "for (;;);" + json.dumps({"data": {"ad_library_main": {"search_results_connection": conn}}})
    assert parse_graphql_body(text) == conn
    assert parse_graphql_body(text[len("for (;;);"):]) == conn
    for bad in ("for (;;);{\"errors\": [{\"message\": \"rate limited\"}]}", "for (;;);{\"error\": 1357001}",
                "<html>login</html>", "for (;;);{\"data\": {}}"):
        with pytest.raises(RetryableError):
            parse_graphql_body(bad)
    assert find_connection({"a": [{"b": {"ad_library_main": {"search_results_connection": conn}}}]}) == conn


def test_parse_graphql_body_reads_several_json_values_and_takes_the_one_with_data():
    conn = {"count": 3, "edges": [], "page_info": {"end_cursor": None, "has_next_page": False}}
    data = json.dumps({"data": {"ad_library_main": {"search_results_connection": conn}}})
    final = json.dumps({"extensions": {"is_final": True}})
    for text in (f"for (;;);{data}\n{final}", f"{data}\n{final}\n", f"{final}\r\n{data}", f"for (;;);{data}{final}"):
        assert parse_graphql_body(text) == conn, text
    with pytest.raises(RetryableError, match="refused"):
        parse_graphql_body(f'for (;;);{{"errors": [{{"message": "rate limited"}}]}}\n{final}')
    with pytest.raises(RetryableError, match="unexpected reply"):
        parse_graphql_body(f"for (;;);{final}\n{final}")


def _executable(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_find_chromium_order(settings, tmp_path, monkeypatch):
    browsers = tmp_path / "pw"
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(browsers))
    bindir = tmp_path / "bin"
    system = _executable(bindir / "chromium")
    monkeypatch.setenv("PATH", str(bindir))
    assert find_chromium(settings) == str(system)
    # Playwright's own browser wins over the system one (the newest revision).
    _executable(browsers / "chromium-1100" / "chrome-linux" / "chrome")
    newest = _executable(browsers / "chromium-1200" / "chrome-linux" / "chrome")
    assert find_chromium(settings) == str(newest)
    # PIPEDECK_CHROMIUM wins over both.
    chosen = _executable(tmp_path / "my" / "chrome")
    assert find_chromium(settings.with_(chromium=str(chosen))) == str(chosen)


def test_headless_scrapes_prefer_a_headless_shell(settings, tmp_path, monkeypatch):
    """Chromium's headless shell has no browser UI: Playwright's own comes first, then the system's."""
    browsers = tmp_path / "pw"
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(browsers))
    bindir = tmp_path / "bin"
    system = _executable(bindir / "chromium")
    system_shell = _executable(bindir / "chromium-headless-shell")
    monkeypatch.setenv("PATH", str(bindir))
    assert find_chromium(settings) == str(system_shell)
    assert find_chromium(settings, headless=False) == str(system)
    # Debian's wrapper runs the shell without exec: the binary it passes "$@" to is launched instead.
    real = _executable(tmp_path / "lib" / "chromium-headless-shell")
    system_shell.write_text(f'#!/bin/sh -e\n\n{real} "$@"\n')
    assert find_chromium(settings) == str(real)
    full = _executable(browsers / "chromium-1200" / "chrome-linux" / "chrome")
    shell = _executable(browsers / "chromium_headless_shell-1200" / "chrome-linux" / "headless_shell")
    assert find_chromium(settings) == str(shell)
    assert find_chromium(settings, headless=False) == str(full)


def test_no_chromium_errors_say_what_to_do(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "none"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_chromium(settings) is None
    with pytest.raises(NoChromium) as err:
        require_chromium(settings)
    assert str(err.value) == NO_CHROMIUM and "PIPEDECK_CHROMIUM" in NO_CHROMIUM and "install" in NO_CHROMIUM
    with pytest.raises(NoChromium) as err:
        find_chromium(settings.with_(chromium=str(tmp_path / "missing")))
    assert "PIPEDECK_CHROMIUM=" in str(err.value) and "does not exist" in str(err.value)
    not_exec = tmp_path / "plain-file"
    not_exec.write_text("")
    os.chmod(not_exec, 0o644)
    with pytest.raises(NoChromium, match="not executable"):
        find_chromium(settings.with_(chromium=str(not_exec)))


class _StandInPage:
    """Just enough of a Playwright page for the pager: listeners, and fetches sent from the page."""

    def __init__(self, pages: dict) -> None:
        self.pages = pages          # cursor -> GraphQL reply body
        self.listeners: dict = {}
        self.fetched: list[str] = []
        self.context = type("Ctx", (), {"browser": type("Browser", (), {"on": lambda *a: None})()})()

    def on(self, event, fn):
        self.listeners.setdefault(event, []).append(fn)

    def remove_listener(self, event, fn):
        self.listeners[event].remove(fn)

    def emit(self, event, arg):
        for fn in list(self.listeners.get(event, [])):
            fn(arg)

    async def evaluate(self, script, args):
        import json as _json
        from urllib.parse import parse_qs as _pq

        cursor = _json.loads(_pq(args[2])["variables"][-1])["cursor"]
        self.fetched.append(cursor)
        return [200, self.pages[cursor]]


def _request(cursor):
    import json as _json
    from urllib.parse import urlencode

    from pipedeck.handlers.adlibrary_scraper import FRIENDLY_NAME

    body = urlencode({"fb_api_req_friendly_name": FRIENDLY_NAME, "variables": _json.dumps({"cursor": cursor})})
    return type("Req", (), {"method": "POST", "url": "http://x/api/graphql/", "post_data": body,
                            "headers": {"content-type": "application/x-www-form-urlencoded"}})()


def test_a_page_request_seen_just_before_listening_stops_is_fetched_directly():
    """Regression: the page's own script asked for cursor c2 just before the pager stopped listening
    to it; c2's reply could then never arrive, and the scrape waited out the page timeout."""
    import asyncio
    import json as _json

    from pipedeck.handlers.adlibrary_scraper import GUARD, ScrapeReport, Timeouts, _Pager

    def body(cursor, has_next):
        edges = [{"node": {"collated_results": [{"ad_archive_id": cursor}]}}]
        conn = {"count": 2, "edges": edges, "page_info": {"end_cursor": cursor + "+", "has_next_page": has_next}}
        return GUARD + _json.dumps({"data": {"ad_library_main": {"search_results_connection": conn}}})

    page = _StandInPage({"c1": body("c1", True), "c2": body("c2", False)})
    pager = _Pager(page, log=lambda *a: None)
    reply = type("Resp", (), {"status": 200, "request": _request("c1")})()

    async def text():
        page.emit("request", _request("c2"))  # the page asks for more while we read c1's reply
        return body("c1", True)

    reply.text = text
    page.emit("request", _request("c1"))
    page.emit("response", reply)
    report = ScrapeReport()

    async def scrape():
        first = await pager.next_page("c1", Timeouts(navigation=5, page=2), report)
        second = await asyncio.wait_for(pager.next_page("c2", Timeouts(navigation=5, page=2), report), 1.0)
        return first, second

    first, second = asyncio.run(scrape())
    assert first["page_info"]["has_next_page"] and not second["page_info"]["has_next_page"]
    assert page.fetched == ["c2"]  # fetched directly instead of waiting for a reply that cannot come


def test_normalise_dynamic_creative_takes_every_cards_copy_and_drops_placeholders():
    ad = normalise_ad(_raw(display_format="DCO", body={"text": "{{product.name}}"}, title="{{product.brand}}",
                           link_url="{{product.url}}", caption=None, cards=[
        {"body": "First copy", "title": "First", "link_description": "Ships free", "link_url": "https://a.example/1"},
        {"body": json.dumps({"text": "Second copy"}), "title": "Second", "link_description": "{{product.price}}"},
    ]))
    assert ad["body"] == "First copy\n\nSecond copy"
    assert (ad["title"], ad["link_url"]) == ("First", "https://a.example/1")
    assert [(c["title"], c["body"], c["link_description"]) for c in ad["cards"]] == [
        ("First", "First copy", "Ships free"), ("Second", "Second copy", None)]
    # A template with no cards to fill it: nothing, rather than the raw placeholder.
    bare = normalise_ad(_raw(body={"text": "Buy {{product.name}} today"}, title="{{product.name}}"))
    assert bare["body"] is None and bare["title"] is None and bare["cards"] == []
