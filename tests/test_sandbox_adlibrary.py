"""The sandbox's Ad Library half, spoken to over HTTP the way a browser would.

`library_ads()` pages through a search with plain httpx (passing the bot check
by computing the cookie its script would set); the scrape tests use it as the
ground truth to compare stored ads against.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import httpx

from pipedeck.sandbox.adlibrary import CHALLENGE_COOKIE, DOC_ID, FRIENDLY_NAME, GUARD, _challenge_value, _lsd_token

from tests.helpers import REPO


def search_url(base: str, page_id: int | None = None, q: str | None = None, active_status: str = "all") -> str:
    if page_id is not None:
        return (f"{base}/ads/library/?active_status={active_status}&ad_type=all&country=US"
                f"&view_all_page_id={page_id}&search_type=page&media_type=all")
    return f"{base}/ads/library/?active_status={active_status}&ad_type=all&country=US&q={q}&search_type=keyword_unordered"


def browser_client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, cookies={CHALLENGE_COOKIE: _challenge_value()}, timeout=30)


def first_connection(html: str) -> dict:
    for block in re.findall(r'<script type="application/json"[^>]*data-sjs>(.*?)</script>', html, re.S):
        stack = [json.loads(block)]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                if "ad_library_main" in node:
                    return node["ad_library_main"]["search_results_connection"]
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    raise AssertionError("no ad_library_main in the page")


def graphql_page(client: httpx.Client, cursor: str, page_id: int | None = None, q: str | None = None,
                 active_status: str = "all") -> httpx.Response:
    variables = {"activeStatus": active_status, "cursor": cursor, "first": 30, "queryString": q or "",
                 "viewAllPageID": str(page_id) if page_id is not None else "0", "searchType": "page"}
    return client.post("/api/graphql/", headers={"X-FB-LSD": _lsd_token()}, data={
        "av": "0", "__a": "1", "lsd": _lsd_token(), "fb_api_caller_class": "RelayModern",
        "fb_api_req_friendly_name": FRIENDLY_NAME, "variables": json.dumps(variables), "doc_id": DOC_ID})


def decode(resp: httpx.Response) -> dict:
    assert resp.text.startswith(GUARD)
    return json.loads(resp.text[len(GUARD):])


def library_ads(base: str, page_id: int | None = None, q: str | None = None) -> tuple[int, list[dict], int]:
    """(Meta's count, every result by following the cursor, pages) for a search."""
    with browser_client(base) as client:
        resp = client.get(search_url(base, page_id, q))
        assert resp.status_code == 200, resp.text[:200]
        conn = first_connection(resp.text)
        count, ads, pages = conn["count"], [], 1
        while True:
            ads += [r for e in conn["edges"] for r in e["node"]["collated_results"]]
            if not conn["page_info"]["has_next_page"]:
                return count, ads, pages
            conn = decode(graphql_page(client, conn["page_info"]["end_cursor"], page_id, q))["data"][
                "ad_library_main"]["search_results_connection"]
            pages += 1


def test_plain_http_client_gets_403_challenge(sandbox):
    resp = httpx.get(search_url(sandbox.base_url, 212), timeout=10)
    assert resp.status_code == 403
    assert "document.cookie" in resp.text and "location.reload()" in resp.text
    assert "ad_library_main" not in resp.text
    # The paging endpoint is guarded the same way.
    assert httpx.post(f"{sandbox.base_url}/api/graphql/", data={"x": "1"}, timeout=10).status_code == 403
    assert sandbox.stats()["adlib_challenge"] == 2


def test_first_page_is_server_rendered_with_count_and_cursor(sandbox):
    with browser_client(sandbox.base_url) as client:
        resp = client.get(search_url(sandbox.base_url, 212))
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    conn = first_connection(resp.text)
    assert conn["count"] == 212
    results = [r for e in conn["edges"] for r in e["node"]["collated_results"]]
    assert 25 <= len(results) <= 32
    assert conn["page_info"]["has_next_page"] is True and conn["page_info"]["end_cursor"]
    ad = results[0]
    for key in ("ad_archive_id", "page_id", "page_name", "is_active", "start_date", "end_date",
                "publisher_platform", "collation_id", "collation_count", "snapshot"):
        assert key in ad
    for key in ("body", "title", "caption", "cta_text", "link_url", "display_format", "images", "videos",
                "cards", "branded_content"):
        assert key in ad["snapshot"]
    assert ad["page_id"] == "212"
    # The page's own script (a static file, as on Meta) pages through /api/graphql/ with the cursor.
    assert "AdLibrarySearchPaginationQuery" in resp.text
    script = re.search(r'<script src="([^"]+)"', resp.text).group(1)
    with browser_client(sandbox.base_url) as client:
        js = client.get(sandbox.base_url + script)
    assert js.status_code == 200 and "/api/graphql/" in js.text and "javascript" in js.headers["content-type"]


def test_cursor_paging_returns_every_ad_once_and_is_deterministic(sandbox):
    count, ads, pages = library_ads(sandbox.base_url, 212)
    assert count == 212 and len(ads) == 212 and pages >= 7
    ids = [a["ad_archive_id"] for a in ads]
    assert len(set(ids)) == 212
    assert ids == [a["ad_archive_id"] for a in library_ads(sandbox.base_url, 212)[1]]
    # Another page id is another advertiser with other ads; its last four digits are the size.
    count2, ads2, _ = library_ads(sandbox.base_url, 30045)
    assert count2 == len(ads2) == 45 and not set(ids) & {a["ad_archive_id"] for a in ads2}
    assert library_ads(sandbox.base_url, 10000)[:2] == (0, [])


def test_keyword_search_mixes_advertisers(sandbox):
    count, ads, _ = library_ads(sandbox.base_url, q="cold brew")
    assert count == len(ads) >= 40
    assert len({a["page_id"] for a in ads}) > 1


def test_variants_json_body_carousel_video_branded(sandbox):
    sandbox.set_faults(adlib_json_body=True, adlib_format="CAROUSEL", adlib_branded=True)
    _, ads, _ = library_ads(sandbox.base_url, 40)
    assert all(isinstance(a["snapshot"]["body"], str) and json.loads(a["snapshot"]["body"])["text"] for a in ads)
    assert all(a["snapshot"]["display_format"] == "CAROUSEL" and len(a["snapshot"]["cards"]) >= 2 for a in ads)
    assert all(a["snapshot"]["branded_content"]["page_name"] for a in ads)
    sandbox.set_faults(adlib_format="VIDEO")
    _, ads, _ = library_ads(sandbox.base_url, 40)
    assert all(a["snapshot"]["videos"][0]["video_hd_url"] for a in ads)


def test_later_generation_stops_some_ads_with_end_date(sandbox):
    _, before, _ = library_ads(sandbox.base_url, 212)
    sandbox.set_faults(adlib_generation=1)
    _, after, _ = library_ads(sandbox.base_url, 212)
    assert [a["ad_archive_id"] for a in before] == [a["ad_archive_id"] for a in after]
    was = {a["ad_archive_id"]: a for a in before}
    stopped = [a for a in after if was[a["ad_archive_id"]]["is_active"] and not a["is_active"]]
    assert stopped and all(a["end_date"] and a["end_date"] > a["start_date"] for a in stopped)
    assert not [a for a in after if not was[a["ad_archive_id"]]["is_active"] and a["is_active"]]


def test_count_can_exceed_what_paging_returns(sandbox):
    sandbox.set_faults(adlib_count_extra=15)
    count, ads, _ = library_ads(sandbox.base_url, 212)
    assert count == 227 and len(ads) == 212


def test_graphql_rejects_bad_cursor_and_missing_lsd(sandbox):
    with browser_client(sandbox.base_url) as client:
        assert "invalid cursor" in decode(graphql_page(client, "not-a-cursor", 212))["errors"][0]["message"]
        resp = client.post("/api/graphql/", data={"fb_api_req_friendly_name": FRIENDLY_NAME, "doc_id": DOC_ID})
        assert decode(resp)["error"] == 1357001


def test_media_urls_are_served_signed(sandbox):
    sandbox.set_faults(adlib_format="IMAGE")
    _, ads, _ = library_ads(sandbox.base_url, 3)
    url = ads[0]["snapshot"]["images"][0]["original_image_url"]
    assert url.startswith(sandbox.base_url + "/adlib-cdn/")
    resp = httpx.get(url, timeout=10)
    assert resp.status_code == 200 and resp.headers["content-type"] == "image/png"
    assert resp.content.startswith(b"\x89PNG") and len(resp.content) > 10_000
    assert httpx.get(url.replace("oh=00_", "oh=00_x"), timeout=10).status_code == 403
    sandbox.set_faults(adlib_format="VIDEO")
    _, ads, _ = library_ads(sandbox.base_url, 3)
    video = httpx.get(ads[0]["snapshot"]["videos"][0]["video_hd_url"], timeout=10)
    assert video.status_code == 200 and video.content[4:8] == b"ftyp" and len(video.content) > 100_000


def test_sandbox_help_documents_sizes_and_variants():
    out = subprocess.run([sys.executable, "-m", "pipedeck", "sandbox", "--help"], capture_output=True, text=True,
                         cwd=REPO, timeout=30).stdout
    for word in ("view_all_page_id", "last four digits", "adlib_generation", "adlib_count_extra",
                 "adlib_json_body", "adlib_format", "adlib_branded", "adlib_slow", "adlib_stall_after"):
        assert word in out


def test_graphql_replies_can_hold_several_json_values_with_or_without_the_guard(sandbox):
    with browser_client(sandbox.base_url) as client:
        conn = first_connection(client.get(search_url(sandbox.base_url, 212)).text)
        cursor = conn["page_info"]["end_cursor"]
        sandbox.set_faults(adlib_graphql_lines=True)
        text = graphql_page(client, cursor, 212).text
        assert text.startswith(GUARD)
        values = [json.loads(line) for line in text[len(GUARD):].splitlines()]
        assert len(values) == 3 and values[-1] == {"extensions": {"is_final": True}}
        assert len(values[0]["data"]["ad_library_main"]["search_results_connection"]["edges"]) > 0
        sandbox.set_faults(adlib_graphql_no_guard=True)
        text = graphql_page(client, cursor, 212).text
        assert text.startswith('{"data":') and len(text.splitlines()) == 3
