"""asset_download and the media download path, against the sandbox on 127.0.0.1 (real worker where a run is queued)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from pipedeck.handlers import media
from pipedeck.sandbox import graph_media
from tests.helpers import run_cli, wait_for
from tests.meta_support import (PeakRSS, graph_get, log_text, sha256_file, stored_files, temp_leftovers,
                                wait_run)


MB = 1024 * 1024


def assert_store_consistent(svc, media_dir):
    """Every stored file is complete (named by its own sha256), recorded once, and nothing is half-written."""
    files = stored_files(media_dir)
    rows = {r["sha256"]: r for r in svc.database.query("SELECT * FROM assets")}
    assert len(files) == len(rows)
    for path in files:
        sha = path.name.split(".")[0]
        assert sha256_file(path) == sha, f"{path} is not what its name says (partial?)"
        assert rows[sha]["size"] == path.stat().st_size
        assert rows[sha]["path"] == str(path.relative_to(media_dir))
    assert temp_leftovers(media_dir) == []
    linked = svc.database.query("SELECT DISTINCT sha256 FROM ad_assets")
    assert {r["sha256"] for r in linked} <= set(rows)
    return files, rows


# -- acceptance: 40 images + 20 videos incl. one of 300 MB, memory flat ------------------------
def test_40_images_and_20_videos_with_a_300mb_one_stored_once_with_flat_memory(
        svc, brand, settings, sandbox, worker_factory):
    sandbox.set_faults(large_video_bytes=300 * MB)
    worker = worker_factory(extra_env=sandbox.env())
    with PeakRSS(worker.pid) as rss:
        run = wait_run(svc, svc.queue_one_time_job("Acme", "asset_download", {}), timeout=120)
    assert run["status"] == "succeeded", run["error_message"]
    result = run["result"]
    assert (result["images"], result["videos"]) == (40, 20)
    # Three of those 20 videos are re-uploads of others (same bytes): stored once, linked to both ads.
    assert result["deduplicated"] == 3 and result["stored"] == 57
    files, rows = assert_store_consistent(svc, settings.media_dir)
    assert len(files) == 57
    sizes = sorted(r["size"] for r in rows.values())
    assert sizes[-1] == 300 * MB
    videos = svc.database.query("SELECT * FROM ad_assets WHERE kind = 'video'")
    assert len({v["source_key"] for v in videos}) == 20 and len({v["sha256"] for v in videos}) == 17
    images = svc.database.query("SELECT * FROM ad_assets WHERE kind = 'image'")
    assert len({i["source_key"] for i in images}) == 40
    assert len(images) > 40  # shared images linked to every ad that uses them
    print(f"worker peak RSS {rss.peak / MB:.0f} MB over {rss.samples} samples")
    assert rss.samples > 10
    assert rss.peak < 200 * MB, f"worker peak RSS {rss.peak / MB:.0f} MB"
    assert run["progress_current"] == run["progress_total"] == 60
    # The 20 videos' URLs came from one multiple-ID read, not a Graph call each.
    calls = sandbox.stats()
    assert calls.get("graph GET /") == 1 and not calls.get("graph GET /{id}"), calls
    # ... and the 40 images' URLs from one /adimages call (Graph pages it 25 a page unless asked for more).
    assert calls.get("graph GET /act_{id}/adimages") == 1, calls
    fresh = {f["dataset"]: f for f in svc.freshness("Acme")}
    assert fresh["ad_assets"]["last_success_run_id"] == run["id"]

    # A second run fetches only what is still missing; nothing stored before is fetched or stored again.
    before = {(r["ad_id"], r["kind"]): r["downloaded_at"] for r in svc.database.query("SELECT * FROM ad_assets")}
    again = wait_run(svc, svc.queue_one_time_job("Acme", "asset_download", {"max_images": 5, "max_videos": 2}))
    assert again["status"] == "succeeded"
    assert (again["result"]["images"], again["result"]["videos"]) == (5, 2)
    after = {(r["ad_id"], r["kind"]): r["downloaded_at"] for r in svc.database.query("SELECT * FROM ad_assets")}
    assert all(after[k] == v for k, v in before.items())
    files, _ = assert_store_consistent(svc, settings.media_dir)
    assert len(files) == 57 + again["result"]["stored"]


# -- acceptance: truncated transfer --------------------------------------------------------
def test_truncated_transfer_leaves_no_partial_file_and_is_retried(svc, settings, sandbox, worker_factory):
    svc.catalog.add_brand("Cedar", meta_ad_account_id="1003")
    worker_factory(extra_env=sandbox.env())
    sandbox.set_faults(media_truncate=2)
    run = wait_run(svc, svc.queue_one_time_job("Cedar", "asset_download", {"max_images": 6, "max_videos": 3}))
    assert run["status"] == "succeeded", run["error_message"]
    assert sandbox.stats()["cdn:truncated"] == 2
    logs = log_text(svc, run["id"])
    assert logs.count("download failed") == 2 and "retrying in" in logs
    assert "RemoteProtocolError" in logs or "got " in logs
    files, _ = assert_store_consistent(svc, settings.media_dir)
    assert len(files) == run["result"]["stored"] == 9

    # Truncated every time: the files fail, nothing partial is visible, the run is retried by the queue.
    sandbox.set_faults(media_truncate=True)
    run_id = svc.queue_one_time_job("Cedar", "asset_download", {"max_images": 3, "max_videos": 0})
    failing = wait_run(svc, run_id, ("retrying", "failed", "succeeded"))
    assert failing["status"] == "retrying" and failing["error_type"] == "DownloadsFailed"
    assert_store_consistent(svc, settings.media_dir)
    assert len(stored_files(settings.media_dir)) == 9
    sandbox.set_faults(media_truncate=None)
    done = wait_run(svc, run_id, timeout=30)
    assert done["status"] == "succeeded" and done["attempts"] == 2
    assert len(stored_files(settings.media_dir)) == 12
    assert_store_consistent(svc, settings.media_dir)


# -- HTML where an image was expected: transient, retried with a fresh URL ------------------
def test_an_html_page_instead_of_an_image_is_retried_with_a_fresh_url(svc, settings, sandbox, worker_factory):
    svc.catalog.add_brand("Cedar", meta_ad_account_id="1003")
    worker_factory(extra_env=sandbox.env())
    # One labelled text/html, one disguised as image/jpeg (caught by looking at the bytes).
    sandbox.set_faults(media_html=1, media_html_disguised=1)
    run = wait_run(svc, svc.queue_one_time_job("Cedar", "asset_download", {"max_images": 8, "max_videos": 2}))
    assert run["status"] == "succeeded", run["error_message"]
    assert run["attempts"] == 1 and sandbox.stats()["cdn:html"] == 2
    assert run["result"]["stored"] == 10 and run["result"]["missing_files"] == 0
    assert "warning" not in run["result"]
    logs = log_text(svc, run["id"])
    assert logs.count("got an HTML page instead of the file; fetching a fresh URL") == 2
    files, rows = assert_store_consistent(svc, settings.media_dir)
    assert all(r["content_type"] in ("image/jpeg", "video/mp4") for r in rows.values())
    assert len(files) == 10


def test_a_security_check_page_that_persists_is_retried_a_bounded_number_of_times_and_reported(
        svc, env, settings, sandbox, worker_factory):
    """Meta's CDN answers 200 text/html "Security Check Required" for some images: each is asked
    for again with a fresh URL (bounded); the two that never come are reported where the analyst
    looks - the run's result, the runs table's summary, `runs show`, the freshness of ad_assets."""
    svc.catalog.add_brand("Cedar", meta_ad_account_id="1003")
    worker_factory(extra_env=sandbox.env())
    # Three images get the page twice, then the real file: all 8 arrive in one attempt.
    sandbox.set_faults(media_interstitial=3, media_interstitial_tries=2)
    run = wait_run(svc, svc.queue_one_time_job("Cedar", "asset_download", {"max_images": 8, "max_videos": 0}))
    assert run["status"] == "succeeded", run["error_message"]
    assert (run["attempts"], run["result"]["stored"], run["result"]["missing_files"]) == (1, 8, 0)
    assert sandbox.stats()["cdn:html"] == 6

    # Two images get it on every request: asked for 1 + 3 times each, then reported missing.
    sandbox.reset()
    sandbox.set_faults(media_interstitial=2)
    run = wait_run(svc, svc.queue_one_time_job("Cedar", "asset_download", {"max_images": 6, "max_videos": 0}))
    assert run["status"] == "succeeded", run["error_message"]
    result = run["result"]
    assert sandbox.stats()["cdn:html"] == 2 * (1 + media.MAX_HTML_REFRESHES)
    assert (result["stored"], result["missing_files"], result["html_pages"]) == (4, 2, 2)
    assert len(result["missing"]) == 2 and all(m.startswith("image ") for m in result["missing"])
    assert result["warning"].startswith("2 of 6 files not fetched")
    assert "HTML page" in result["warning"]
    listed = {r["id"]: r for r in json.loads(run_cli(env, "runs", "--json").stdout)}
    assert "2 of 6 files not fetched" in listed[run["id"]]["summary"]
    table = run_cli(env, "runs").stdout
    assert any(line.startswith(str(run["id"])) and "not fetched" in line for line in table.splitlines()), table
    shown = run_cli(env, "runs", "show", str(run["id"])).stdout
    assert "2 of 6 files not fetched" in shown
    shown_json = json.loads(run_cli(env, "runs", "show", str(run["id"]), "--json").stdout)
    assert shown_json["result"]["missing_files"] == 2
    fresh = {f["dataset"]: f for f in svc.freshness("Cedar")}["ad_assets"]
    assert fresh["last_success_run_id"] == run["id"] and "2 of 6 files not fetched" in fresh["reason"]
    assert_store_consistent(svc, settings.media_dir)

    # The next run fetches them once the CDN serves them again; nothing is missing any more.
    sandbox.reset()
    again = wait_run(svc, svc.queue_one_time_job("Cedar", "asset_download", {"max_images": 2, "max_videos": 0}))
    assert (again["status"], again["result"]["stored"], again["result"]["missing_files"]) == ("succeeded", 2, 0)
    fresh = {f["dataset"]: f for f in svc.freshness("Cedar")}["ad_assets"]
    assert "not fetched" not in fresh["reason"]


# -- caps bound the run, not each attempt ------------------------------------------------------
def test_a_retry_continues_the_run_within_its_caps_and_the_result_counts_the_whole_run(
        svc, settings, sandbox, worker_factory):
    svc.catalog.add_brand("Brightside", meta_ad_account_id="1002")
    worker_factory(extra_env=sandbox.env())
    # The first two files requested answer 503 to every try of the first attempt: it fails after
    # storing the rest; the retry must take only what is left of the caps.
    sandbox.set_faults(media_flaky=2)
    run = wait_run(svc, svc.queue_one_time_job("Brightside", "asset_download", {"max_images": 5, "max_videos": 10}),
                   timeout=90)
    assert run["status"] == "succeeded", run["error_message"]
    attempts = svc.runs.attempts(run["id"])
    assert [a["status"] for a in attempts] == ["failed", "succeeded"]
    assert attempts[0]["error_type"] == "DownloadsFailed"
    linked = svc.database.query("SELECT kind, count(DISTINCT source_key) AS n FROM ad_assets GROUP BY kind")
    assert {r["kind"]: r["n"] for r in linked} == {"image": 5, "video": 10}
    result = run["result"]
    assert (result["images"], result["videos"], result["files"]) == (5, 10, 15)
    files, _ = assert_store_consistent(svc, settings.media_dir)
    assert result["stored"] == len(files) and result["stored"] + result["deduplicated"] == 15
    assert result["bytes"] == sum(f.stat().st_size for f in files)
    assert "earlier attempts of this run stored" in log_text(svc, run["id"])


# -- a fresh URL after every failed transfer -------------------------------------------------
def test_a_fresh_url_after_every_failed_transfer_when_cut_links_expire(svc, settings, sandbox, worker_factory):
    svc.catalog.add_brand("Cedar", meta_ad_account_id="1003")
    worker_factory(extra_env=sandbox.env())
    # Two files are cut halfway on their first two transfers, and the link of each cut transfer
    # has expired by then: only a fresh URL after each cut gets them in one attempt.
    sandbox.set_faults(media_truncate_expire=2)
    run = wait_run(svc, svc.queue_one_time_job("Cedar", "asset_download", {"max_images": 4, "max_videos": 2}))
    assert run["status"] == "succeeded", run["error_message"]
    assert run["attempts"] == 1
    assert sandbox.stats()["cdn:truncated"] == 4 and sandbox.stats().get("cdn:expired", 0) == 0
    logs = log_text(svc, run["id"])
    assert logs.count("fetching a fresh URL and retrying") == 4
    files, _ = assert_store_consistent(svc, settings.media_dir)
    assert len(files) == run["result"]["stored"] == 6


def test_expired_link_is_refreshed_once(svc, settings, sandbox, worker_factory):
    svc.catalog.add_brand("Cedar", meta_ad_account_id="1003")
    worker_factory(extra_env=sandbox.env())
    sandbox.set_faults(media_expired=2)
    run = wait_run(svc, svc.queue_one_time_job("Cedar", "asset_download", {"max_images": 4, "max_videos": 2}))
    assert run["status"] == "succeeded", run["error_message"]
    assert run["result"]["stored"] == 6
    assert log_text(svc, run["id"]).count("link expired; fetching a fresh URL") == 2
    assert sandbox.stats()["cdn:expired"] == 2
    assert_store_consistent(svc, settings.media_dir)


def test_a_link_that_stays_expired_is_not_refreshed_forever(svc, settings, sandbox, monkeypatch):
    for k, v in sandbox.env().items():
        monkeypatch.setenv(k, v)
    from pipedeck.config import load_settings
    from pipedeck.queue.service import Service

    direct = Service(load_settings(), database=svc.database)
    direct.catalog.add_brand("Cedar", meta_ad_account_id="1003")
    sandbox.set_faults(media_url_ttl=-10)  # every link Meta hands out is already expired
    rid = direct.queue_one_time_job("Cedar", "asset_download", {"max_images": 2, "max_videos": 0}, direct=True)
    thread = threading.Thread(target=direct.execute_direct, args=(rid,), daemon=True)
    thread.start()
    run = wait_run(direct, rid, ("retrying", "failed"))
    assert run["error_type"] == "DownloadsFailed"
    assert sandbox.stats()["cdn:expired"] == 4  # each of the 2 images: first link + one refreshed link
    direct.cancel(rid)
    thread.join(timeout=10)


# -- acceptance: cancel ----------------------------------------------------------------------
def test_cancel_during_download_stops_within_a_second_and_leaves_no_temp_files(svc, brand, settings, sandbox,
                                                                              worker_factory):
    worker_factory(extra_env=sandbox.env())
    sandbox.set_faults(media_slow=400_000)  # ~12 s per average video: the run would take minutes
    run_id = svc.queue_one_time_job("Acme", "asset_download", {"max_images": 0, "max_videos": 8})
    wait_for(lambda: len(temp_leftovers(settings.media_dir)) >= 2, 30, message="downloads in flight")
    asked = time.monotonic()
    svc.cancel(run_id)
    run = wait_run(svc, run_id, timeout=10)
    took = time.monotonic() - asked
    print(f"cancel took {took:.2f}s")
    assert run["status"] == "cancelled"
    # Target is under a second; the bound leaves room for a loaded 2-core CI box.
    assert took < 2.0, f"cancel took {took:.2f}s"
    assert temp_leftovers(settings.media_dir) == []
    assert stored_files(settings.media_dir) == []
    assert svc.database.scalar("SELECT count(*) FROM assets") == 0


# -- the optional filter, queued and direct ----------------------------------------------------
def _ads(sandbox, account: str) -> list[dict]:
    fields = "id,name,creative{image_hash,video_id,object_type}"
    return graph_get(sandbox, f"act_{account}/ads", {"fields": fields, "limit": 500}).json()["data"]


def test_filter_by_ad_ids_when_queued(svc, brand, sandbox, worker_factory):
    worker_factory(extra_env=sandbox.env())
    ads = _ads(sandbox, "1001")
    image_ad = next(a for a in ads if a["creative"]["object_type"] == "PHOTO")
    video_ad = next(a for a in ads if a["creative"]["object_type"] == "VIDEO")
    wanted = f"{image_ad['id']},{video_ad['id']}"
    run = wait_run(svc, svc.queue_one_time_job("Acme", "asset_download", {"ad_ids": wanted}))
    assert run["status"] == "succeeded", run["error_message"]
    assert run["params"]["ad_ids"] == [image_ad["id"], video_ad["id"]]
    linked = svc.database.query("SELECT ad_id, kind FROM ad_assets ORDER BY kind")
    assert [(r["ad_id"], r["kind"]) for r in linked] == [(image_ad["id"], "image"), (video_ad["id"], "video")]


def test_filter_by_product_when_run_directly(svc, sandbox, monkeypatch):
    for k, v in sandbox.env().items():
        monkeypatch.setenv(k, v)
    from pipedeck.config import load_settings
    from pipedeck.queue.service import Service

    direct = Service(load_settings(), database=svc.database)
    direct.catalog.add_brand("Brightside", meta_ad_account_id="1002")
    rid = direct.queue_one_time_job("Brightside", "asset_download", {"product": "canyon cap"}, direct=True)
    assert direct.execute_direct(rid) == "succeeded"
    expected = {a["id"] for a in _ads(sandbox, "1002") if "Canyon Cap" in a["name"]}
    linked = {r["ad_id"] for r in direct.database.query("SELECT ad_id FROM ad_assets")}
    assert linked == expected and len(expected) >= 5
    assert "matching product 'canyon cap'" in log_text(direct, rid)


def test_bad_filter_values_are_refused_at_queue_time(svc, brand):
    from pipedeck.errors import InvalidParams

    with pytest.raises(InvalidParams) as err:
        svc.queue_one_time_job("Acme", "asset_download", {"ad_ids": "123,abc"})
    assert "ad ids must be digits" in str(err.value)
    with pytest.raises(InvalidParams):
        svc.queue_one_time_job("Acme", "asset_download", {"max_images": 5000})
    assert svc.database.scalar("SELECT count(*) FROM runs") == 0


# -- media.py, the one download path (called in-process by other handlers too) ------------------
class Ctx:
    """The parts of a RunContext that media.download_one uses, with a real cancel event."""

    def __init__(self, settings, database):
        from pipedeck.handlers.context import RunContext

        self._ctx = RunContext(run_id=0, attempt=1, job_type="test", brand={"id": 1}, competitor=None,
                               settings=settings, database=database)

    def __getattr__(self, name):
        return getattr(self._ctx, name)


@pytest.fixture
def media_ctx(svc, settings, sandbox):
    # As in production, media comes from the host the Graph API named it on (the sandbox here).
    return Ctx(settings.with_(graph_url=sandbox.graph_url, ad_library_url=sandbox.ad_library_url), svc.database)


def _image_urls(sandbox, n=2, account="1003"):
    ads = _ads(sandbox, account)
    hashes = [a["creative"]["image_hash"] for a in ads if a["creative"].get("image_hash")][:n]
    images = graph_get(sandbox, f"act_{account}/adimages", {"hashes": str(hashes).replace("'", '"')}).json()["data"]
    return [i["url"] for i in images]


def test_download_one_dedupes_by_content(media_ctx, settings, sandbox):
    url = _image_urls(sandbox, 1)[0]
    first = media.download_one(media_ctx, url, kind="image")
    second = media.download_one(media_ctx, url + "&_nc_ohc=other", kind="image")  # another link, same bytes
    assert first.created and not second.created
    assert first.sha256 == second.sha256 and first.path.exists()
    assert sha256_file(first.path) == first.sha256
    assert len(stored_files(settings.media_dir)) == 1
    assert media_ctx.database.scalar("SELECT count(*) FROM assets") == 1


def test_a_stored_file_left_short_is_replaced_by_the_complete_one(media_ctx, settings, sandbox):
    """Files are not fsynced one by one; a power loss can leave one short. The same content heals it."""
    url = _image_urls(sandbox, 1)[0]
    first = media.download_one(media_ctx, url, kind="image")
    whole = first.path.read_bytes()
    first.path.write_bytes(whole[: len(whole) // 3])  # what a crash before write-back can leave
    again = media.download_one(media_ctx, url + "&_nc_ohc=again", kind="image")
    assert again.sha256 == first.sha256 and again.created
    assert first.path.read_bytes() == whole
    assert temp_leftovers(settings.media_dir) == []


def test_downloads_go_on_when_the_media_dir_was_removed_meanwhile(media_ctx, settings, sandbox):
    """Directories are made once per process; one removed since (by hand, by a cleanup) is made again."""
    import shutil

    first_url, second_url = _image_urls(sandbox, 2)
    media.download_one(media_ctx, first_url, kind="image")
    shutil.rmtree(settings.media_dir)
    again = media.download_one(media_ctx, second_url, kind="image")
    assert again.created and again.path.exists() and sha256_file(again.path) == again.sha256
    assert temp_leftovers(settings.media_dir) == []


class FakeImageServer:
    """An HTTP server on 127.0.0.1 (another port than the sandbox) answering every GET with a
    JPEG, or with a redirect to ``location``; counts what it was asked."""

    def __init__(self, location: str | None = None) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        outer = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests += 1
                if location:
                    self.send_response(302)
                    self.send_header("Location", location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_server():
    servers = []

    def start(location=None):
        servers.append(FakeImageServer(location))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def test_media_from_hosts_that_are_not_media_hosts_is_refused(media_ctx, settings, fake_server):
    """A poisoned reply cannot point the worker at internal addresses, directly or by redirect."""
    with pytest.raises(media.MediaRejected, match="http://169.254.169.254 is not a media origin"):
        media.download_one(media_ctx, "http://169.254.169.254/latest/meta-data/iam", kind="image")
    redirector = fake_server("http://metadata.internal/secret")
    allowed = media_ctx.settings.with_(media_hosts=(redirector.origin,))  # the redirecting server itself is allowed
    ctx = Ctx(allowed, media_ctx.database)
    with pytest.raises(media.MediaRejected, match="http://metadata.internal is not a media origin"):
        media.download_one(ctx, f"{redirector.origin}/img.jpg", kind="image")
    assert redirector.requests == 1
    assert stored_files(settings.media_dir) == [] and temp_leftovers(settings.media_dir) == []
    origins = media.allowed_media_origins(settings)
    assert media.check_media_url("https://scontent-ams2-1.xx.fbcdn.net/v/t45/abc.jpg?oh=1", origins) is None


def test_media_allow_list_matches_scheme_host_and_port(media_ctx, sandbox):
    origins = media.allowed_media_origins(media_ctx.settings)
    port = sandbox.graph_url.split(":")[2].split("/")[0]
    other = int(port) + 1 if int(port) < 65535 else int(port) - 1
    media.check_media_url(f"http://127.0.0.1:{port}/cdn/v/x.jpg", origins)  # the Graph API's own origin
    for url in (f"http://127.0.0.1:{other}/cdn/v/x.jpg", f"https://127.0.0.1:{port}/x.jpg", "http://127.0.0.1/x.jpg",
                "http://scontent.xx.fbcdn.net/v/x.jpg", "https://scontent.xx.fbcdn.net:8443/v/x.jpg",
                "https://fbcdn.net.evil.example/x.jpg", "ftp://127.0.0.1/x.jpg"):
        with pytest.raises(media.MediaRejected):
            media.check_media_url(url, origins)
    media.check_media_url("https://video.xx.fbcdn.net/v/x.mp4", origins)
    media.check_media_url("https://scontent.cdninstagram.com:443/v/x.jpg", origins)
    extra = media.allowed_media_origins(media_ctx.settings.with_(media_hosts=("mirror.example", "http://10.0.0.5:8080")))
    media.check_media_url("https://img.mirror.example/x.jpg", extra)
    media.check_media_url("http://10.0.0.5:8080/x.jpg", extra)
    with pytest.raises(media.MediaRejected):
        media.check_media_url("http://10.0.0.5:8081/x.jpg", extra)


def test_a_poisoned_reply_pointing_at_another_port_is_not_fetched(svc, settings, sandbox, worker_factory, fake_server):
    """The Graph API on 127.0.0.1:P names media on 127.0.0.1:Q: same host, another port, refused."""
    svc.catalog.add_brand("Cedar", meta_ad_account_id="1003")
    worker_factory(extra_env=sandbox.env())
    poison = fake_server()
    sandbox.set_faults(media_origin=poison.origin)
    run = wait_run(svc, svc.queue_one_time_job("Cedar", "asset_download", {"max_images": 3, "max_videos": 1}))
    assert run["status"] == "succeeded" and run["attempts"] == 1, run["error_message"]
    assert poison.requests == 0
    assert run["result"]["stored"] == 0 and run["result"]["missing_files"] == 4
    assert "is not a media origin" in log_text(svc, run["id"])
    assert stored_files(settings.media_dir) == []


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/x.jpg", "file:///etc/passwd", "poison"])
def test_a_redirect_off_the_allow_list_is_permanent_not_retried(svc, settings, sandbox, worker_factory, fake_server,
                                                              target):
    svc.catalog.add_brand("Cedar", meta_ad_account_id="1003")
    worker_factory(extra_env=sandbox.env())
    poison = fake_server()
    sandbox.set_faults(media_redirect=f"{poison.origin}/x.jpg" if target == "poison" else target)
    run = wait_run(svc, svc.queue_one_time_job("Cedar", "asset_download", {"max_images": 2, "max_videos": 1}))
    assert run["status"] == "succeeded" and run["attempts"] == 1, run["error_message"]
    assert sandbox.stats()["cdn:redirect"] == 3  # one request per file: refused at once, never retried
    assert poison.requests == 0
    assert (run["result"]["rejected"], run["result"]["missing_files"]) == (3, 3)
    assert stored_files(settings.media_dir) == []


def test_download_many_writes_the_rows_of_files_finished_together_in_one_transaction_before_reporting_them(
        media_ctx, svc, sandbox, monkeypatch):
    monkeypatch.setattr(media, "RECORD_EVERY", 60.0)  # so the files below are certainly one batch
    urls = _image_urls(sandbox, 6)
    assert len(urls) >= 4
    recorded_when_reported = []

    def on_result(job, outcome):
        assert isinstance(outcome, media.StoredAsset), outcome
        recorded_when_reported.append(
            svc.database.scalar("SELECT count(*) FROM assets WHERE sha256 = ?", (outcome.sha256,)))

    results = media.download_many(media_ctx, [media.DownloadJob(u, "image") for u in urls], on_result=on_result)
    assert all(isinstance(r, media.StoredAsset) for r in results)
    assert recorded_when_reported == [1] * len(urls)  # each file's row was in the database before its on_result
    rows = svc.database.query("SELECT sha256, created_at FROM assets")
    assert {r["sha256"] for r in rows} == {r.sha256 for r in results}
    assert len({r["created_at"] for r in rows}) == 1  # one transaction for all of them, not one per file


def test_download_many_reads_jobs_as_transfers_have_room_and_raises_a_lookup_failure_after_them(
        media_ctx, svc, sandbox):
    urls = _image_urls(sandbox, 3)
    reported = []

    def jobs():
        yield from (media.DownloadJob(u, "image") for u in urls)
        raise RuntimeError("URL lookup failed")  # e.g. the Graph call for the next files' URLs

    with pytest.raises(RuntimeError, match="URL lookup failed"):
        media.download_many(media_ctx, jobs(), concurrency=2, on_result=lambda job, outcome: reported.append(outcome))
    # The three files already handed out were fetched, recorded and reported before the failure was raised.
    assert len(reported) == 3 and all(isinstance(r, media.StoredAsset) for r in reported)
    assert svc.database.scalar("SELECT count(*) FROM assets") == 3


def test_download_one_size_cap_and_kind_check(media_ctx, settings, sandbox):
    url = _image_urls(sandbox, 1)[0]
    with pytest.raises(media.MediaRejected, match="over the 1,000-byte cap"):
        media.download_one(media_ctx, url, kind="image", max_bytes=1000)
    with pytest.raises(media.MediaRejected, match="expected a video"):
        media.download_one(media_ctx, url, kind="video")
    with pytest.raises(media.MediaRejected, match="HTTP 404"):
        media.download_one(media_ctx, sandbox.base_url + "/cdn/v/nothing-here.jpg", kind="image")
    assert stored_files(settings.media_dir) == [] and temp_leftovers(settings.media_dir) == []
    err = None
    try:
        media.download_one(media_ctx, url, kind="video")
    except media.MediaRejected as exc:
        err = str(exc)
    assert "oh=" not in err and "oe=" not in err  # signed query strings stay out of messages


def test_download_one_cancelled_mid_transfer_removes_its_temp_file(media_ctx, settings, sandbox):
    sandbox.set_faults(media_slow=200_000, large_video_bytes=50 * MB)
    ads = _ads(sandbox, "1003")
    video_id = next(a["creative"]["video_id"] for a in ads if a["creative"].get("video_id"))
    src = graph_get(sandbox, video_id, {"fields": "source"}).json()["source"]
    errors = []

    def go():
        try:
            media.download_one(media_ctx, src, kind="video")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    t = threading.Thread(target=go)
    t.start()
    wait_for(lambda: temp_leftovers(settings.media_dir), 10, message="transfer started")
    media_ctx.request_cancel()
    t.join(timeout=5)
    assert not t.is_alive()
    from pipedeck.errors import RunCancelled

    assert len(errors) == 1 and isinstance(errors[0], RunCancelled)
    assert temp_leftovers(settings.media_dir) == [] and stored_files(settings.media_dir) == []


def test_sniffing_recognises_media_and_refuses_markup():
    assert media.sniff(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00") == "image/jpeg"
    assert media.sniff(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR") == "image/png"
    assert media.sniff(b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00") == "video/mp4"
    assert media.sniff(b"<!DOCTYPE html><html>") is None
    with pytest.raises(media.MediaInterstitial, match="an HTML page"):  # transient: a fresh URL may work
        media._check_head(b"<!DOCTYPE html><html><body>", "image", "image/jpeg", "x")
    with pytest.raises(media.MediaRejected, match="JSON"):
        media._check_head(b'{"error": "not an image"}', "image", "image/jpeg", "x")
    assert graph_media.parse_media_path("/cdn/v/t45.1600-4/1001_image_0_10010000_155112_n.jpg").size == 155112


# -- archived ads' media -----------------------------------------------------------------------
def test_include_archived_fetches_archived_ads_media_too(svc, env, settings, sandbox, worker_factory):
    """Meta's /ads leaves ARCHIVED ads out unless effective_status asks for them: their insights
    are synced, their media never downloaded, unless include_archived is set."""
    svc.catalog.add_brand("Brightside", meta_ad_account_id="1002")
    worker_factory(extra_env=sandbox.env())
    sandbox.set_faults(ads_archived_hidden=True)
    everything = graph_get(sandbox, "act_1002/ads", {"fields": "id,effective_status", "limit": 500,
                                                    "effective_status": json.dumps(["ACTIVE", "PAUSED", "ARCHIVED"])})
    archived = {a["id"] for a in everything.json()["data"] if a["effective_status"] == "ARCHIVED"}
    assert len(archived) == 3
    caps = {"max_images": 100, "max_videos": 100}
    run = wait_run(svc, svc.queue_one_time_job("Brightside", "asset_download", caps))
    assert run["status"] == "succeeded", run["error_message"]
    assert run["params"]["include_archived"] is False
    linked = {r["ad_id"] for r in svc.database.query("SELECT ad_id FROM ad_assets")}
    assert len(linked) == 60 - 3 and not linked & archived

    queued = run_cli(env, "queue", "asset_download", "--brand", "Brightside", "--set", "include_archived=true",
                     *(f"--set={k}={v}" for k, v in caps.items()))
    assert queued.returncode == 0, queued.stderr
    run = wait_run(svc, int(queued.stdout.split()[0]))
    assert run["status"] == "succeeded", run["error_message"]
    linked = {r["ad_id"] for r in svc.database.query("SELECT ad_id FROM ad_assets")}
    assert archived <= linked and len(linked) == 60
    assert_store_consistent(svc, settings.media_dir)


def test_include_archived_is_a_listed_param_defaulting_to_false(env):
    listed = json.loads(run_cli(env, "job-types", "--json").stdout)
    assets = next(t for t in listed if t["key"] == "asset_download")
    assert assets["defaults"]["include_archived"] is False
    assert assets["params_schema"]["properties"]["include_archived"]["type"] == "boolean"
    assert "include_archived=False" in run_cli(env, "job-types").stdout
