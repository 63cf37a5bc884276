"""asset_download: ad images and videos from Meta, stored content-addressed.

1. Lists the brand's ads with their creatives (Graph API) and upserts them;
   with ``include_archived``, archived ads too (``/ads`` leaves them out unless asked).
2. Picks the ads whose image / video is not stored yet (optionally only the
   given ``ad_ids``, or ads whose name contains ``product``), grouped by source
   (image hash, video id) so a shared image is fetched once; takes up to
   ``max_images`` images and ``max_videos`` videos for the whole run: a retry
   continues the run, so what its earlier attempts stored counts against them.
3. Resolves URLs, 50 a call: images by hash (``/act_{id}/adimages?hashes=[...]&limit=50``,
   the creative's ``image_url`` as fallback), then, while the images download, videos by
   id (``/?ids=...&fields=source``; a fresh URL later: ``/{video_id}?fields=source``).
4. Downloads through :mod:`pipedeck.handlers.media` (streamed, size-capped,
   content-checked, content-addressed, deduplicated by hash) with bounded
   concurrency; a fresh URL is asked for after every failed try (expired link,
   failed transfer, an HTML page where the file should be); progress per file.

A file that cannot be fetched (Meta's CDN keeps sending an HTML page, it is
not media, Meta gives no URL) is logged and skipped; the run goes on and ends
succeeded with ``missing_files`` and a ``warning`` in its result, so it never
looks complete. Files that still fail to transfer after retries fail the run
as retryable: the next attempt downloads only what is still missing. The
result describes the whole run, over all of its attempts.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

from pipedeck.errors import RetryableError
from pipedeck.handlers import httpclient, media
from pipedeck.handlers.graph_client import GraphClient, TokenRejected
from pipedeck.handlers.meta_sync import require_account, sync_ads
from pipedeck.handlers.params import AssetDownloadParams as Params
from pipedeck.storage import meta as store

CONCURRENCY = 4
HASHES_PER_CALL = 50
IDS_PER_CALL = 50
# Files not fetched that the result names (it counts them all).
MISSING_LISTED = 20


@dataclass
class Source:
    """One file to fetch: an image hash or a video id, and the ads that use it."""

    kind: str
    key: str
    ad_ids: list[str] = field(default_factory=list)
    fallback_url: str | None = None


def _pick(ctx, kind: str, limit: int, params: Params) -> tuple[list[Source], int]:
    """Sources of this kind still to download, grouped by source key; (first ``limit``, how many wait)."""
    if limit <= 0:
        return [], 0
    rows = store.ads_without_media(ctx.database, ctx.brand["id"], kind, ad_ids=params.ad_ids, product=params.product)
    groups: dict[str, Source] = {}
    for ad in rows:
        key = ad["video_id"] if kind == "video" else (ad["image_hash"] or ad["image_url"])
        src = groups.setdefault(key, Source(kind, key))
        src.ad_ids.append(ad["ad_id"])
        if kind == "image" and ad["image_url"] and not src.fallback_url:
            src.fallback_url = ad["image_url"]
    sources = list(groups.values())
    return sources[:limit], len(sources)


def _image_urls(graph: GraphClient, account: str, hashes: list[str]) -> dict[str, str]:
    urls: dict[str, str] = {}
    for i in range(0, len(hashes), HASHES_PER_CALL):
        batch = hashes[i:i + HASHES_PER_CALL]
        query = {"hashes": batch, "fields": "hash,url,width,height", "limit": HASHES_PER_CALL}  # one page
        for page in graph.pages(f"act_{account}/adimages", query):
            for img in page:
                if img.get("hash") and img.get("url"):
                    urls[img["hash"]] = img["url"]
    return urls


def _video_url(graph: GraphClient, video_id: str) -> str | None:
    return graph.get(video_id, {"fields": "source,picture,length"}).get("source")


def _video_urls(graph: GraphClient, video_ids: list[str]) -> dict[str, str]:
    """Videos' URLs, up to IDS_PER_CALL per call (Graph's ``?ids=`` read of several objects)."""
    urls: dict[str, str] = {}
    for i in range(0, len(video_ids), IDS_PER_CALL):
        batch = video_ids[i:i + IDS_PER_CALL]
        found = graph.get("", {"ids": ",".join(batch), "fields": "source"})
        urls.update({vid: obj["source"] for vid, obj in found.items() if isinstance(obj, dict) and obj.get("source")})
    return urls


def prepare() -> None:
    """Once per worker, at start (registry.import_handlers): what the first run would otherwise pay."""
    httpclient.warm()


def run(ctx, params: Params) -> dict:
    account = require_account(ctx)
    brand_id = ctx.brand["id"]
    started = time.monotonic()
    media.sweep_stale_temp(ctx.settings)
    # A retry continues the run: what its earlier attempts stored counts against the caps.
    earlier = store.run_media(ctx.database, brand_id, ctx.run_id)
    with GraphClient(ctx) as graph:
        ads = sync_ads(ctx, graph, account, include_archived=params.include_archived)
        if params.ad_ids:
            known = {a["ad_id"] for a in ads}
            missing = [a for a in params.ad_ids if a not in known]
            if missing:
                ctx.log(f"{len(missing)} requested ad id(s) are not in ad account {account}: "
                        f"{', '.join(missing[:10])}", "warning")
        image_cap = max(0, params.max_images - earlier["images"])
        video_cap = max(0, params.max_videos - earlier["videos"])
        images, images_waiting = _pick(ctx, "image", image_cap, params)
        videos, videos_waiting = _pick(ctx, "video", video_cap, params)
        scope = ""
        if params.ad_ids or params.product:
            scope = " matching " + " and ".join(
                p for p in ((f"ad ids {','.join(params.ad_ids)}" if params.ad_ids else ""),
                            (f"product {params.product!r}" if params.product else "")) if p)
        carried = ""
        if earlier["images"] or earlier["videos"]:
            carried = (f"; earlier attempts of this run stored {earlier['images']} image(s) and "
                       f"{earlier['videos']} video(s), leaving {image_cap} of max_images={params.max_images} "
                       f"and {video_cap} of max_videos={params.max_videos}")
        ctx.log(f"{len(ads)} ads in account {account}; {images_waiting} image(s) and {videos_waiting} video(s)"
                f"{scope} not stored yet{carried}; downloading {len(images)} image(s) and {len(videos)} video(s)")

        linked_existing = 0
        todo: list[Source] = []
        stored = {kind: store.stored_sources(ctx.database, brand_id, kind, [s.key for s in group])
                  for kind, group in (("image", images), ("video", videos)) if group}
        for src in images + videos:
            sha = stored.get(src.kind, {}).get(src.key)
            if sha:
                store.link_ad_assets(ctx.database, ad_ids=src.ad_ids, kind=src.kind, source_key=src.key,
                                     brand_id=brand_id, sha256=sha, run_id=ctx.run_id)
                linked_existing += 1
            else:
                todo.append(src)

        image_urls = _image_urls(graph, account, [s.key for s in todo if s.kind == "image" and s.fallback_url != s.key])
        not_fetched: list[tuple[Source, str]] = []  # (source, why), this attempt

        def job_of(src: Source, url: str, refresh) -> media.DownloadJob:
            links = store.AssetLinks(tuple(src.ad_ids), src.kind, src.key, brand_id, ctx.run_id)
            return media.DownloadJob(url, src.kind, key=src.key, refresh=refresh, links=links, extra={"source": src})

        image_jobs: list[media.DownloadJob] = []
        for src in todo:
            if src.kind != "image":
                continue
            ctx.check_cancelled()
            url = image_urls.get(src.key) or src.fallback_url
            if not url:
                not_fetched.append((src, "no URL"))
                ctx.log(f"{src.kind} {src.key}: Meta gave no URL for it; skipped", "warning")
                continue
            image_jobs.append(job_of(src, url, lambda s=src: _image_urls(graph, account, [s.key]).get(s.key) or None))
        video_sources = [s for s in todo if s.kind == "video"]

        def video_jobs():
            """Looked up when the images are under way (download_many reads jobs as transfers have room)."""
            video_urls = _video_urls(graph, [s.key for s in video_sources])
            for src in video_sources:
                # none in the answer: asked for again on the download thread
                yield job_of(src, video_urls.get(src.key, ""), lambda s=src: _video_url(graph, s.key))

        total = len(image_jobs) + len(video_sources)
        counts = {"stored": 0, "deduplicated": 0, "failed": 0, "bytes": 0}
        done = 0
        token_error: list[BaseException] = []
        ctx.progress(0, total, f"0 of {total} files")

        def on_result(job: media.DownloadJob, outcome) -> None:
            nonlocal done
            done += 1
            src: Source = job.extra["source"]
            if isinstance(outcome, media.StoredAsset):  # recorded and linked to its ads on the download thread
                counts["stored" if outcome.created else "deduplicated"] += 1
                counts["bytes"] += outcome.size if outcome.created else 0
                note = "stored" if outcome.created else "already stored (same content)"
                ctx.log(f"{src.kind} {src.key}: {note}, {outcome.size / 1e6:.1f} MB, sha256 {outcome.sha256[:12]}")
            elif isinstance(outcome, media.NoURL):
                not_fetched.append((src, "no URL"))
                ctx.log(f"{src.kind} {src.key}: Meta gave no URL for it; skipped", "warning")
            elif isinstance(outcome, media.MediaInterstitial):
                not_fetched.append((src, "HTML page"))
                ctx.log(f"{src.kind} {src.key} not fetched: {outcome}", "warning")
            elif isinstance(outcome, media.MediaRejected):
                not_fetched.append((src, "rejected"))
                ctx.log(f"{src.kind} {src.key} rejected: {outcome}", "warning")
            elif isinstance(outcome, TokenRejected):
                token_error.append(outcome)
                counts["failed"] += 1
            else:
                counts["failed"] += 1
                ctx.log(f"{src.kind} {src.key} failed: {ctx.redact(str(outcome))}", "error")
            ctx.progress(done, total, f"{done} of {total} files ({src.kind} {src.key})")

        media.download_many(ctx, itertools.chain(image_jobs, video_jobs()), concurrency=CONCURRENCY,
                            on_result=on_result)
    if token_error:
        raise token_error[0]
    why = {reason: sum(1 for _, r in not_fetched if r == reason) for reason in ("HTML page", "rejected", "no URL")}
    summary = (f"{counts['stored']} new file(s) ({counts['bytes'] / 1e6:.1f} MB), {counts['deduplicated']} "
               f"already stored, {linked_existing} linked to files stored earlier, {why['rejected']} rejected, "
               f"{why['HTML page']} HTML instead of media, {counts['failed']} failed, {why['no URL']} without URL "
               f"in {time.monotonic() - started:.1f}s")
    if counts["failed"]:
        raise RetryableError(f"{counts['failed']} of {total} downloads failed; {summary}",
                             error_type="DownloadsFailed")
    ctx.log(summary)
    whole = store.run_media(ctx.database, brand_id, ctx.run_id)  # the whole run, all attempts
    result = {"images": whole["images"], "videos": whole["videos"], "files": whole["images"] + whole["videos"],
              "stored": whole["stored"], "deduplicated": whole["deduplicated"],
              "linked_existing": whole["linked_existing"], "rejected": why["rejected"],
              "unresolved": why["no URL"], "bytes": whole["bytes"], "missing_files": len(not_fetched)}
    if not_fetched:
        result["html_pages"] = why["HTML page"]
        result["missing"] = [f"{src.kind} {src.key}" for src, _ in not_fetched[:MISSING_LISTED]]
        parts = [f"{n} {label}" for n, label in ((why["HTML page"], "kept getting an HTML page instead of the file"),
                                                 (why["rejected"], "rejected as not media"),
                                                 (why["no URL"], "had no URL from Meta")) if n]
        result["warning"] = (f"{len(not_fetched)} of {result['files'] + len(not_fetched)} files not fetched "
                             f"({', '.join(parts)}); the next run tries them again")
        ctx.warning(result["warning"])
    return result
