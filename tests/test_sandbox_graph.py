"""The Graph API half of `pipedeck sandbox`, over HTTP on 127.0.0.1, behaving as DOMAIN.md says Meta does."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time

import httpx
import pytest

from pipedeck.sandbox import graph, graph_data
from tests.meta_support import all_insight_rows, graph_get

THROTTLE_HEADERS = ("X-Business-Use-Case-Usage", "X-Ad-Account-Usage", "X-FB-Ads-Insights-Throttle")
AD_FIELDS = "id,name,status,creative{id,image_url,image_hash,thumbnail_url,video_id,object_type}"


def assert_throttle_headers(response: httpx.Response) -> dict:
    for name in THROTTLE_HEADERS:
        assert name in response.headers, f"{name} missing on {response.request.url.path} ({response.status_code})"
    buc = json.loads(response.headers["X-Business-Use-Case-Usage"])
    entry = next(iter(buc.values()))[0]
    assert {"type", "call_count", "total_cputime", "total_time", "estimated_time_to_regain_access"} <= set(entry)
    return {"buc": buc, "account": json.loads(response.headers["X-Ad-Account-Usage"]),
            "insights": json.loads(response.headers["X-FB-Ads-Insights-Throttle"])}


def today() -> dt.date:
    return graph_data.today()


def test_ad_accounts_listed_with_their_ads(sandbox):
    r = graph_get(sandbox, "me/adaccounts", {"fields": "name,account_id,currency,timezone_name"})
    assert r.status_code == 200
    assert_throttle_headers(r)
    accounts = {a["account_id"]: a for a in r.json()["data"]}
    assert {"1001", "1002", "1003"} <= set(accounts)
    assert accounts["1001"]["id"] == "act_1001" and accounts["1001"]["currency"] == "USD"
    counts = {}
    for account in ("1001", "1002", "1003"):
        ids = []
        body = graph_get(sandbox, f"act_{account}/ads", {"fields": "id,name", "limit": 70}).json()
        ids += [a["id"] for a in body["data"]]
        while body.get("paging", {}).get("next"):
            body = httpx.get(body["paging"]["next"], headers={"Authorization": f"Bearer {sandbox.token}"}).json()
            ids += [a["id"] for a in body["data"]]
        assert len(ids) == len(set(ids))
        counts[account] = len(ids)
    assert counts == {"1001": 200, "1002": 60, "1003": 25}


def test_insights_rows_are_strings_with_action_lists_and_absolute_next_links(sandbox):
    since = (today() - dt.timedelta(days=2)).isoformat()
    until = today().isoformat()
    params = {"level": "ad", "time_increment": "1", "limit": "50",
              "fields": "ad_id,ad_name,spend,impressions,clicks,ctr,actions,purchase_roas,date_start,date_stop",
              "time_range": json.dumps({"since": since, "until": until})}
    r = graph_get(sandbox, "act_1003/insights", params)
    assert r.status_code == 200
    body = r.json()
    assert len(body["data"]) == 50
    row = body["data"][0]
    assert isinstance(row["spend"], str) and float(row["spend"]) > 0
    assert isinstance(row["impressions"], str) and row["impressions"].isdigit()
    assert row["date_start"] == row["date_stop"]
    assert any(isinstance(r.get("actions"), list) and {"action_type", "value"} <= set(r["actions"][0])
               and isinstance(r["actions"][0]["value"], str) for r in body["data"])
    nxt = body["paging"]["next"]
    assert nxt.startswith(sandbox.base_url + "/v25.0/act_1003/insights?")
    assert "access_token" not in nxt  # it came in a header, so it is not echoed into links
    rows = all_insight_rows(sandbox, "1003", since, until)
    assert len(rows) == 25 * 3
    assert len({(r["ad_id"], r["date_start"]) for r in rows}) == 75
    # deterministic: the same request gives the same numbers
    again = graph_get(sandbox, "act_1003/insights", params).json()
    assert again["data"] == body["data"]


def test_token_in_query_is_echoed_into_next_links_like_meta(sandbox):
    r = httpx.get(f"{sandbox.graph_url}/act_1001/ads", params={"access_token": sandbox.token, "limit": 5})
    assert f"access_token={sandbox.token}" in r.json()["paging"]["next"]


def test_wrong_or_missing_token_is_oauth_190_with_error_body(sandbox):
    for headers in ({"Authorization": "Bearer not-the-token"}, {}):
        r = httpx.get(f"{sandbox.graph_url}/act_1001/insights", headers=headers)
        assert r.status_code == 400
        err = r.json()["error"]
        assert err["code"] == 190 and err["type"] == "OAuthException"
        assert err["message"] and err["fbtrace_id"]
        assert_throttle_headers(r)
    sandbox.set_faults(expired_token=True)
    err = graph_get(sandbox, "me/adaccounts").json()["error"]
    assert (err["code"], err["error_subcode"]) == (190, 463) and "expired" in err["message"]


def test_bad_parameters_are_code_100(sandbox):
    r = graph_get(sandbox, "act_1001/insights", {"level": "ad", "fields": "spend,bogus_field"})
    assert r.status_code == 400 and r.json()["error"]["code"] == 100
    r = graph_get(sandbox, "act_1001/insights", {"time_range": "{not json"})
    assert r.json()["error"]["code"] == 100
    r = graph_get(sandbox, "act_999999/ads")
    assert r.json()["error"]["code"] == 100 and r.json()["error"]["error_subcode"] == 33
    old = (today() - dt.timedelta(days=1200)).isoformat()
    r = graph_get(sandbox, "act_1001/insights", {"time_range": json.dumps({"since": old, "until": old})})
    assert r.json()["error"]["code"] == 3018  # older than 37 months


def test_async_report_runs_then_serves_the_same_rows(sandbox):
    sandbox.set_faults(report_seconds=0.6)
    since, until = (today() - dt.timedelta(days=9)).isoformat(), today().isoformat()
    form = {"level": "ad", "time_increment": "1", "fields": "ad_id,spend,impressions,date_start,date_stop",
            "time_range": json.dumps({"since": since, "until": until})}
    r = httpx.post(f"{sandbox.graph_url}/act_1003/insights", data=form,
                   headers={"Authorization": f"Bearer {sandbox.token}"})
    assert r.status_code == 200
    report_id = r.json()["report_run_id"]
    early = graph_get(sandbox, f"{report_id}/insights")
    assert early.json()["error"]["code"] == 100  # not ready yet
    seen = []
    while True:
        status = graph_get(sandbox, report_id).json()
        seen.append(status["async_status"])
        assert 0 <= status["async_percent_completion"] <= 100
        if status["async_status"] == "Job Completed":
            break
        time.sleep(0.05)
    assert seen[0] in ("Job Not Started", "Job Running") and "Job Running" in seen
    rows, body = [], graph_get(sandbox, f"{report_id}/insights", {"limit": 100}).json()
    rows += body["data"]
    while body.get("paging", {}).get("next"):
        body = httpx.get(body["paging"]["next"], headers={"Authorization": f"Bearer {sandbox.token}"}).json()
        rows += body["data"]
    assert len(rows) == 25 * 10
    sync = {(r["ad_id"], r["date_start"]): r["spend"] for r in all_insight_rows(sandbox, "1003", since, until)}
    assert {(r["ad_id"], r["date_start"]): r["spend"] for r in rows} == sync


def test_large_sync_request_is_refused_like_meta(sandbox):
    sandbox.set_faults(sync_row_limit=100)
    r = graph_get(sandbox, "act_1003/insights", {"level": "ad", "time_increment": "1", "date_preset": "last_7d"})
    assert r.status_code == 500
    assert r.json()["error"]["code"] == 1 and "reduce the amount of data" in r.json()["error"]["message"]

    # What Meta usually answers: HTTP 400, code 100, subcode 1487534, for ranges over the account's limit.
    sandbox.set_faults(sync_row_limit=None, sync_days_limit=10)
    week = graph_get(sandbox, "act_1003/insights", {"level": "ad", "time_increment": "1", "date_preset": "last_7d"})
    assert week.status_code == 200
    r = graph_get(sandbox, "act_1003/insights", {"level": "ad", "time_increment": "1", "date_preset": "last_14d"})
    err = r.json()["error"]
    assert r.status_code == 400 and (err["code"], err["error_subcode"]) == (100, 1487534)
    assert err["message"].startswith("Please reduce the amount of data you're asking for")
    # A bad time range is a bad parameter, not "too much data".
    r = graph_get(sandbox, "act_1003/insights", {"level": "ad", "time_range": "nonsense"})
    assert r.json()["error"]["code"] == 100 and "error_subcode" not in r.json()["error"]


def test_creatives_images_by_hash_and_video_sources(sandbox):
    ads = graph_get(sandbox, "act_1001/ads", {"fields": AD_FIELDS, "limit": 20}).json()["data"]
    photo = next(a for a in ads if a["creative"]["object_type"] == "PHOTO")
    video = next(a for a in ads if a["creative"]["object_type"] == "VIDEO")
    assert len(photo["creative"]["image_hash"]) == 32 and "video_id" not in photo["creative"]
    hashes = [a["creative"]["image_hash"] for a in ads if "image_hash" in a["creative"]]
    assert len(set(hashes)) < len(hashes), "some ads share an image (dedupe material)"
    images = graph_get(sandbox, "act_1001/adimages",
                       {"hashes": json.dumps(hashes[:3]), "fields": "hash,url,width,height"}).json()["data"]
    assert {i["hash"] for i in images} == set(hashes[:3])
    assert all(i["url"].startswith(sandbox.base_url + "/cdn/v/") and "oe=" in i["url"] and "oh=" in i["url"]
               for i in images)
    src = graph_get(sandbox, video["creative"]["video_id"], {"fields": "source,picture,length"}).json()
    assert src["length"] > 0 and src["source"].startswith(sandbox.base_url + "/cdn/v/")

    img = httpx.get(images[0]["url"])
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    assert int(img.headers["content-length"]) == len(img.content) > 50_000
    assert img.content[:3] == b"\xff\xd8\xff" and img.content[-2:] == b"\xff\xd9"
    assert httpx.get(images[0]["url"]).content == img.content  # the same bytes every time
    head = httpx.head(src["source"])
    assert head.headers["content-type"] == "video/mp4" and int(head.headers["content-length"]) > 1_000_000
    with httpx.stream("GET", src["source"]) as r:
        first = next(r.iter_raw())
    assert first[4:8] == b"ftyp"


def test_several_objects_read_at_once_by_ids(sandbox):
    ads = graph_get(sandbox, "act_1001/ads", {"fields": AD_FIELDS, "limit": 30}).json()["data"]
    videos = [a["creative"]["video_id"] for a in ads if a["creative"].get("video_id")][:3]
    many = graph_get(sandbox, "", {"ids": ",".join(videos), "fields": "source"}).json()
    assert set(many) == set(videos)
    assert all(many[v]["id"] == v and many[v]["source"].startswith(sandbox.base_url + "/cdn/v/") for v in videos)
    missing = graph_get(sandbox, "", {"ids": f"{videos[0]},999", "fields": "source"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == 803
    too_many = graph_get(sandbox, "", {"ids": ",".join(str(i) for i in range(51)), "fields": "source"})
    assert too_many.status_code == 400 and too_many.json()["error"]["code"] == 100


def test_media_urls_are_signed_and_expire(sandbox):
    ads = graph_get(sandbox, "act_1003/ads", {"fields": AD_FIELDS, "limit": 3}).json()["data"]
    url = ads[0]["creative"]["image_url"]
    tampered = url.replace("oh=00_", "oh=00_x")
    r = httpx.get(tampered)
    assert r.status_code == 403 and "hash" in r.text.lower()
    sandbox.set_faults(media_url_ttl=-5)
    expired = graph_get(sandbox, "act_1003/ads", {"fields": AD_FIELDS, "limit": 3}).json()["data"][0]
    r = httpx.get(expired["creative"]["image_url"])
    assert r.status_code == 403 and r.text == "URL signature expired"
    sandbox.set_faults(media_url_ttl=None, media_expired=2)
    other = next(a["creative"]["image_url"] for a in ads[1:] if a["creative"]["image_url"] != url)
    assert httpx.get(url).status_code == 403
    assert httpx.get(url).status_code == 200  # fetched again, the file is served: its link expired once
    assert httpx.get(other).status_code == 403  # the second fault is another file's, whatever the order
    assert httpx.get(other).status_code == 200


def test_rate_limit_faults_carry_usage_headers(sandbox):
    sandbox.set_faults(rate_limit=1, insights_rate_limit=1, regain_minutes=2)
    r = graph_get(sandbox, "act_1001/ads")
    err = r.json()["error"]
    assert r.status_code == 400 and err["code"] == 17
    usage = assert_throttle_headers(r)
    entry = usage["buc"][next(iter(usage["buc"]))][0]
    assert entry["call_count"] >= 100 and entry["estimated_time_to_regain_access"] == 2
    r = graph_get(sandbox, "act_1001/insights", {"level": "ad", "date_preset": "yesterday"})
    assert r.json()["error"]["code"] == 80000
    assert assert_throttle_headers(r)["insights"]["acc_id_util_pct"] >= 100
    r = graph_get(sandbox, "act_1001/insights", {"level": "ad", "date_preset": "yesterday"})
    assert r.status_code == 200
    assert sandbox.stats()["graph:rate_limited"] == 2


def test_usage_headers_climb_and_then_block(sandbox):
    sandbox.set_faults(usage_climb=30, usage_decay=1)
    seen = []
    for _ in range(4):
        r = graph_get(sandbox, "act_1002/ads", {"limit": 1})
        seen.append((r.status_code, assert_throttle_headers(r)["account"]["acc_id_util_pct"]))
    assert [s for s, _ in seen[:3]] == [200, 200, 200]
    assert seen[0][1] < seen[1][1] < seen[2][1]
    assert seen[3][0] == 400 and seen[3][1] >= 100  # blocked at 100 %


def test_server_error_burst_then_recovery(sandbox):
    sandbox.set_faults(server_error=2)
    codes = [graph_get(sandbox, "me").status_code for _ in range(3)]
    assert codes == [500, 500, 200]
    r = graph_get(sandbox, "me")
    assert r.json()["id"]


def _image_url(sandbox) -> str:
    ads = graph_get(sandbox, "act_1003/ads", {"fields": AD_FIELDS, "limit": 1}).json()["data"]
    return ads[0]["creative"]["image_url"]


def test_media_faults_truncate_html_and_slow(sandbox):
    url = _image_url(sandbox)
    full = httpx.get(url).content
    sandbox.set_faults(media_truncate=1)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url)
    sandbox.set_faults(media_html=1)
    r = httpx.get(url)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html") and b"<html" in r.content
    sandbox.set_faults(media_html_disguised=1)
    r = httpx.get(url)
    assert r.headers["content-type"] == "image/jpeg" and r.content.startswith(b"<!DOCTYPE html>")
    sandbox.set_faults(media_slow=len(full) * 4)
    started = time.monotonic()
    assert httpx.get(url).content == full
    assert time.monotonic() - started >= 0.2  # ~0.25 s at that rate; proves the bytes were paced
    stats = sandbox.stats()
    assert stats["cdn:truncated"] == 1 and stats["cdn:html"] == 2


def test_per_file_media_faults_pick_files_not_requests(sandbox):
    ads = graph_get(sandbox, "act_1003/ads", {"fields": AD_FIELDS, "limit": 10}).json()["data"]
    photos = [a["creative"]["image_url"] for a in ads if a["creative"]["object_type"] == "PHOTO"]
    first, second = photos[0], next(u for u in photos if u.split("?")[0] != photos[0].split("?")[0])
    # A security check page on every request of one file; other files are served.
    sandbox.set_faults(media_interstitial=1)
    for _ in range(3):
        r = httpx.get(first)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert b"Security Check Required" in r.content
    assert httpx.get(second).headers["content-type"] == "image/jpeg"
    sandbox.reset()
    # 503 to the first two requests of one file, then served.
    sandbox.set_faults(media_flaky=1, media_flaky_tries=2)
    assert [httpx.get(first).status_code for _ in range(3)] == [503, 503, 200]
    assert httpx.get(second).status_code == 200
    sandbox.reset()
    # Cut halfway, and the link used expires with the cut; a fresh link (another _nc_gid) works.
    sandbox.set_faults(media_truncate_expire=1, media_truncate_expire_tries=1)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(first)
    assert httpx.get(first).status_code == 403
    fresh = graph_get(sandbox, "act_1003/ads", {"fields": AD_FIELDS, "limit": 10}).json()["data"]
    fresh_url = next(a["creative"]["image_url"] for a in fresh if a["creative"].get("image_url", "").split("?")[0]
                     == first.split("?")[0])
    assert fresh_url != first and httpx.get(fresh_url).status_code == 200


def test_large_video_fault_serves_a_300mb_file_streamed(sandbox):
    sandbox.set_faults(large_video_bytes=300 * 1024 * 1024)
    ads = graph_get(sandbox, "act_1003/ads", {"fields": AD_FIELDS, "limit": 25}).json()["data"]
    first_video = next(a for a in ads if a["creative"]["object_type"] == "VIDEO")
    src = graph_get(sandbox, first_video["creative"]["video_id"], {"fields": "source"}).json()["source"]
    head = httpx.head(src)
    assert int(head.headers["content-length"]) == 300 * 1024 * 1024
    digest, total = hashlib.sha256(), 0
    with httpx.stream("GET", src, timeout=60) as r:
        for chunk in r.iter_raw(1 << 20):
            digest.update(chunk)
            total += len(chunk)
    assert total == 300 * 1024 * 1024


def test_fields_parser_handles_nested_fields():
    assert graph.parse_fields("id,name,creative{id,image_url},adset{id}") == {
        "id": None, "name": None, "creative": {"id": None, "image_url": None}, "adset": {"id": None}}
    with pytest.raises(graph.GraphError):
        graph.parse_fields("id,creative{id")
