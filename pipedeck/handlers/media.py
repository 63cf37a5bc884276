"""The one safe way to download media (ad images, videos, previews) into the data dir.

Every media download in pipedeck goes through here, so every one gets the
same guarantees:

- streamed to a temp file under ``<media_dir>/.tmp`` (same filesystem), never
  held in memory: memory stays flat whatever the file size;
- hashed while streaming (sha256) and moved into content-addressed storage
  ``<media_dir>/<sha[:2]>/<sha><ext>`` with an atomic link/rename, so a
  partial file is never visible under its final name (and a stored file left
  short by a power loss is replaced when the same content comes again);
- a size cap (``Content-Length`` checked before reading, bytes counted while
  reading), and a content check: the declared type must not be HTML/text/JSON
  and the first bytes must be an image (JPEG, PNG, GIF, WebP) or a video
  (MP4/MOV, WebM) as asked — an HTML page served with ``200`` (a CDN's
  security check or expired-link page, even labelled ``image/jpeg``) is never
  stored, and is retried with a fresh URL;
- deduplicated by content hash (same bytes from another URL: one file, one row);
- cancel-aware: ``ctx.check_cancelled()`` between chunks, so a cancel or a
  worker shutdown stops a transfer within one chunk;
- temp files removed on every failure and on cancel;
- bounded concurrency: at most ``MAX_PARALLEL_DOWNLOADS`` transfers per
  process, whatever the number of runs.

Stable API (other handlers call it from synchronous code)::

    from pipedeck.handlers import media

    asset = media.download_one(ctx, url, kind="image")          # or kind="video"
    asset.sha256, asset.path (absolute Path), asset.relpath (under media_dir),
    asset.content_type, asset.size, asset.created (False: content was already stored)

    # optional: which Meta ad uses it (ad_assets table)
    media.link_ad_asset(ctx.database, ad_id=..., kind="image", source_key=image_hash,
                        brand_id=ctx.brand["id"], sha256=asset.sha256)

    # several files with bounded concurrency, a fresh URL after every failed try
    # (url="" : ask refresh() for the first URL too, on the download thread; jobs may be
    # a generator, read as the transfers have room; rows written in batches by this thread):
    results = media.download_many(ctx, [media.DownloadJob(url, "video", key=video_id,
                                                          refresh=lambda: fresh_url)], concurrency=4,
                                  on_result=lambda job, outcome: ...)

``download_one(ctx, url, *, kind="image", max_bytes=None, client=None,
retries=2, record=True, links=None)``: ``ctx`` is the handler's RunContext (it uses
``settings``, ``database``, ``log``, ``sleep``, ``cancelled`` and ``check_cancelled``). ``max_bytes`` defaults to
``DEFAULT_MAX_BYTES[kind]``. ``record=True`` writes the ``assets`` row, and with
``links`` (:class:`pipedeck.storage.meta.AssetLinks`, also a ``DownloadJob`` field) the
ads that use the file, in the same transaction.
Transfer failures (truncated body, reset connection, 5xx) are retried
``retries`` times, each logged. Raises:

- :class:`MediaRejected` (a PermanentError): not media of that kind, over the
  size cap, a host that is not a media host, or a 4xx that is not an expiry;
- :class:`MediaInterstitial` (a RetryableError): an HTML page where the file
  should be — get a fresh URL and call again;
- :class:`MediaExpired` (a RetryableError): the signed URL expired — get a
  fresh URL and call again (``download_many`` does both);
- :class:`MediaTransferError` (a RetryableError): still failing after retries;
- ``RunCancelled`` / ``WorkerShuttingDown`` from the context.

Error messages and log lines show URLs without their query string (signed
CDN parameters are credentials of a sort).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import urlsplit

import httpx

from pipedeck.errors import PermanentError, RetryableError, RunCancelled, WorkerShuttingDown
from pipedeck.handlers.httpclient import ssl_context
from pipedeck.storage import meta as meta_store

KINDS = ("image", "video")
DEFAULT_MAX_BYTES = {"image": 50 * 1024 * 1024, "video": 4 * 1024 * 1024 * 1024}
MAX_PARALLEL_DOWNLOADS = 8
# Fresh URLs asked for, per file, when the CDN keeps sending an HTML page instead of it.
MAX_HTML_REFRESHES = 3
# download_many writes the rows of the files finished within this many seconds in one transaction, at most so many.
RECORD_EVERY = 0.25
RECORD_BATCH = 16
TMP_DIRNAME = ".tmp"
# Temp files older than this are leftovers of a killed process and are swept.
STALE_TEMP_AGE = 6 * 3600
USER_AGENT = "pipedeck/0.1 (+media)"

_slots = threading.BoundedSemaphore(MAX_PARALLEL_DOWNLOADS)


class MediaRejected(PermanentError):
    """The body is not acceptable media (wrong type, HTML, too large, gone)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_type="MediaRejected")


class NoURL(MediaRejected):
    """The source has no downloadable URL (the API gave none)."""


class MediaExpired(RetryableError):
    """The signed media URL expired; a fresh URL is needed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_type="MediaExpired")


class MediaInterstitial(RetryableError):
    """The CDN answered with an HTML page (a security check, an expired-link page) where the
    file should be: not the file's fault, so ask for a fresh URL and try again."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_type="MediaInterstitial")


class MediaTransferError(RetryableError):
    """The transfer kept failing (truncated, reset, 5xx)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after, error_type="MediaTransferError")


@dataclass(frozen=True)
class StoredAsset:
    sha256: str
    path: Path
    relpath: str
    content_type: str
    size: int
    created: bool


@dataclass
class DownloadJob:
    """One file for :func:`download_many`.

    ``refresh`` returns a fresh URL after an expiry. ``url`` may be empty: the
    URL is then asked of ``refresh`` first, on the download thread, so looking
    URLs up overlaps with downloading (a None answer rejects the job).
    """

    url: str
    kind: str = "image"
    key: str = ""
    refresh: Callable[[], str | None] | None = None
    max_bytes: int | None = None
    links: meta_store.AssetLinks | None = None  # ads to link to the stored file, with its row
    extra: dict = field(default_factory=dict)


def safe_url(url: str) -> str:
    """The URL without query string or fragment, for logs and errors."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


# -- sniffing ------------------------------------------------------------------
_EXT = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp",
        "video/mp4": ".mp4", "video/quicktime": ".mov", "video/webm": ".webm"}


def sniff(head: bytes) -> str | None:
    """The media type the first bytes show, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    return None


def _looks_like_text(head: bytes) -> str | None:
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    for marker, what in ((b"<!doctype html", "an HTML page"), (b"<html", "an HTML page"), (b"<?xml", "XML"),
                         (b"<", "markup"), (b"{", "JSON"), (b"[", "JSON")):
        if stripped.startswith(marker):
            return what
    return None


def _declared_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip().lower()


def _check_declared(declared: str, kind: str, where: str) -> None:
    if declared in ("text/html", "application/xhtml+xml"):
        raise MediaInterstitial(f"{where}: expected {'an' if kind == 'image' else 'a'} {kind} but the server sent "
                                f"an HTML page ({declared}: a security check or an expired link, not media)")
    if declared.startswith(("text/", "application/json", "application/xhtml", "application/xml")):
        raise MediaRejected(f"{where}: expected {'an' if kind == 'image' else 'a'} {kind} but the server sent "
                            f"{declared} (an error or login page, not media)")
    ok = (declared.startswith(f"{kind}/") or declared in ("", "application/octet-stream", "binary/octet-stream"))
    if not ok:
        raise MediaRejected(f"{where}: expected {'an' if kind == 'image' else 'a'} {kind} but the server sent {declared}")


def _check_head(head: bytes, kind: str, declared: str, where: str) -> str:
    found = sniff(head)
    if found is None or not found.startswith(f"{kind}/"):
        text = _looks_like_text(head)
        what = text or (f"{found}" if found else "unrecognised bytes")
        if text == "an HTML page":
            raise MediaInterstitial(f"{where}: expected {'an' if kind == 'image' else 'a'} {kind} but the body is "
                                    f"an HTML page (declared {declared or 'no type'})")
        raise MediaRejected(f"{where}: expected {'an' if kind == 'image' else 'a'} {kind} but the body is {what}"
                            f" (declared {declared or 'no type'})")
    return found


# -- paths -------------------------------------------------------------------
def media_dir(settings) -> Path:
    return Path(settings.media_dir)


def temp_dir(settings) -> Path:
    return media_dir(settings) / TMP_DIRNAME


def stored_path(settings, sha256: str, content_type: str) -> tuple[Path, str]:
    rel = f"{sha256[:2]}/{sha256}{_EXT.get(content_type, '.bin')}"
    return media_dir(settings) / rel, rel


def temp_files(settings) -> list[Path]:
    """Temp files currently in the media temp dir (tests use this)."""
    d = temp_dir(settings)
    return sorted(p for p in d.iterdir() if p.is_file()) if d.exists() else []


def sweep_stale_temp(settings, older_than: float = STALE_TEMP_AGE) -> int:
    """Remove temp files left by a killed process (old enough not to be in use)."""
    removed = 0
    cutoff = time.time() - older_than
    for p in temp_files(settings):
        try:
            if p.stat().st_mtime < cutoff:
                p.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed


_made_dirs: set[Path] = set()


def _ensure_dir(path: Path) -> None:
    """``path`` exists (made at most once per process: on a busy directory even a mkdir of an existing
    one waits for the directory's lock, which every file created or removed in it takes)."""
    if path not in _made_dirs:
        path.mkdir(parents=True, exist_ok=True)
        _made_dirs.add(path)


def _in_dir(path: Path, action: Callable[[], object]):
    """``action()`` on a file in ``path``, making the directory again if it went away meanwhile."""
    _ensure_dir(path)
    try:
        return action()
    except FileNotFoundError:  # once more (another thread may be making it again right now)
        _made_dirs.discard(path)
        _ensure_dir(path)
        return action()


def _finalise(tmp: Path, final: Path, size: int) -> bool:
    """Move a complete temp file to its content-addressed name. False if that content already existed.

    Files are not fsynced one by one (that cost ~15 % of a download run): the
    temp-file-and-rename already means no process ever sees a partial file. A
    power loss can still leave a stored file short, so an existing file of the
    wrong size is replaced, atomically, by the complete one just downloaded.
    """
    try:
        _in_dir(final.parent, lambda: os.link(tmp, final))  # fails if the name exists: never overwrites, atomic
    except FileExistsError:
        if final.stat().st_size == size:
            return False
        os.replace(tmp, final)
        return True
    except OSError:  # filesystem without hard links
        if final.exists() and final.stat().st_size == size:
            return False
        os.replace(tmp, final)
        return True
    return True


# -- one download ------------------------------------------------------------
# Where Meta serves ad media from (https, port 443, these domains and their subdomains);
# anything else in a Graph or Ad Library reply is refused.
META_MEDIA_HOSTS = ("fbcdn.net", "fbsbx.com", "facebook.com", "facebook.net", "cdninstagram.com")
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class MediaOrigin:
    """Scheme, host and port media may come from; ``subdomains``: the host's subdomains too."""

    scheme: str
    host: str
    port: int
    subdomains: bool = False

    def admits(self, scheme: str, host: str, port: int) -> bool:
        if (scheme, port) != (self.scheme, self.port):
            return False
        return host == self.host or (self.subdomains and host.endswith("." + self.host))


def _url_origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # a port that is not a number
        return scheme, (parts.hostname or "").rstrip("."), -1
    return scheme, (parts.hostname or "").lower().rstrip("."), port or DEFAULT_PORTS.get(scheme)


def _parse_media_host(entry: str) -> MediaOrigin | None:
    """A PIPEDECK_MEDIA_HOSTS entry: ``scheme://host[:port]`` (that origin exactly) or a bare
    ``host`` (https on 443, the host and its subdomains)."""
    entry = entry.strip()
    if "://" not in entry:
        host = entry.lower().strip(".")
        return MediaOrigin("https", host, 443, subdomains=True) if host else None
    scheme, host, port = _url_origin(entry)
    if scheme not in DEFAULT_PORTS or not host or port is None or port < 0:
        return None
    return MediaOrigin(scheme, host, port)


def allowed_media_origins(settings) -> tuple[MediaOrigin, ...]:
    """Meta's CDNs over https, the configured Graph API and Ad Library origins (the sandbox), and
    PIPEDECK_MEDIA_HOSTS."""
    origins = [MediaOrigin("https", host, 443, subdomains=True) for host in META_MEDIA_HOSTS]
    for base in (settings.graph_url, settings.ad_library_url):
        scheme, host, port = _url_origin(base)
        if scheme in DEFAULT_PORTS and host and port:
            origins.append(MediaOrigin(scheme, host, port))
    origins += [o for o in map(_parse_media_host, getattr(settings, "media_hosts", ())) if o is not None]
    return tuple(dict.fromkeys(origins))


def check_media_url(url: str, allowed: tuple[MediaOrigin, ...]) -> None:
    """Refuse URLs (and redirects) whose scheme, host and port are not a media origin's: a
    poisoned reply must not be able to point the worker at internal addresses or other ports.
    Raises :class:`MediaRejected` (permanent: asking again would only be refused again)."""
    scheme, host, port = _url_origin(url)
    if scheme not in DEFAULT_PORTS:
        raise MediaRejected(f"{safe_url(url)}: {scheme or 'no scheme'} is not a media URL scheme (http or https only)")
    if not any(o.admits(scheme, host, port) for o in allowed):
        shown = f"{scheme}://{host}" + (f":{port}" if port != DEFAULT_PORTS[scheme] else "")
        raise MediaRejected(f"{safe_url(url)}: {shown if host else 'no host'} is not a media origin "
                            "(Meta's CDNs over https, the Graph API and Ad Library origins; add others to "
                            "PIPEDECK_MEDIA_HOSTS)")


def new_client(timeout: float = 30.0, allowed: tuple[MediaOrigin, ...] | None = None) -> httpx.Client:
    """An httpx client for media: no credentials, identity encoding, redirects followed."""
    hooks = {}
    if allowed is not None:  # checked on every request, each redirect included, before it is sent
        hooks["request"] = [lambda request: check_media_url(str(request.url), allowed)]
    return httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0), follow_redirects=True, verify=ssl_context(),
                        event_hooks=hooks,
                        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
                        limits=httpx.Limits(max_connections=MAX_PARALLEL_DOWNLOADS,
                                            max_keepalive_connections=MAX_PARALLEL_DOWNLOADS))


def _acquire_slot(ctx) -> None:
    while not _slots.acquire(timeout=0.1):
        ctx.check_cancelled()


def download_one(ctx, url: str, *, kind: str = "image", max_bytes: int | None = None,
                 client: httpx.Client | None = None, retries: int = 2, record: bool = True,
                 links: meta_store.AssetLinks | None = None) -> StoredAsset:
    """Download ``url`` into content-addressed storage; see the module docstring."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not url or not url.startswith(("http://", "https://")):
        raise MediaRejected(f"not a downloadable URL: {safe_url(url or '')!r}")
    allowed = allowed_media_origins(ctx.settings)
    check_media_url(url, allowed)
    limit = max_bytes if max_bytes is not None else DEFAULT_MAX_BYTES[kind]
    own_client = client is None
    client = client or new_client(allowed=allowed)
    try:
        attempt = 0
        while True:
            attempt += 1
            ctx.check_cancelled()
            try:
                _acquire_slot(ctx)
                try:
                    asset = _transfer(ctx, client, url, kind, limit)
                finally:
                    _slots.release()
                break
            except MediaTransferError as exc:
                if attempt > retries:
                    raise
                delay = exc.retry_after if exc.retry_after is not None else min(4.0, 0.25 * 2 ** (attempt - 1))
                ctx.log(f"{kind} download failed ({exc}); retrying in {delay:.2f}s "
                        f"(attempt {attempt + 1} of {retries + 1})", "warning")
                ctx.sleep(delay)
        if record:
            meta_store.record_asset(ctx.database, sha256=asset.sha256, path=asset.relpath,
                                    content_type=asset.content_type, size=asset.size,
                                    run_id=getattr(ctx, "run_id", None), links=links)
        return asset
    finally:
        if own_client:
            client.close()


def _transfer(ctx, client: httpx.Client, url: str, kind: str, limit: int) -> StoredAsset:
    where = safe_url(url)
    settings = ctx.settings
    tmp_root = temp_dir(settings)
    tmp_path: Path | None = None
    try:
        with client.stream("GET", url) as response:
            _check_status(response, where)
            declared = _declared_type(response)
            _check_declared(declared, kind, where)
            length = response.headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > limit:
                raise MediaRejected(f"{where}: {kind} is {int(length):,} bytes, over the {limit:,}-byte cap")
            fd, name = _in_dir(tmp_root, lambda: tempfile.mkstemp(prefix="dl-", suffix=".part", dir=tmp_root))
            tmp_path = Path(name)
            digest = hashlib.sha256()
            size = 0
            head = b""
            found_type = None
            # Raw bytes unless the server compressed them anyway (we ask for identity); 1 MiB writes.
            encoded = response.headers.get("content-encoding", "identity").strip().lower() not in ("", "identity")
            chunks = response.iter_bytes() if encoded else response.iter_raw()
            with os.fdopen(fd, "wb", buffering=1 << 20) as out:
                for chunk in chunks:
                    ctx.check_cancelled()
                    if found_type is None:
                        head += chunk
                        if len(head) < 16:
                            continue
                        found_type = _check_head(head, kind, declared, where)
                        chunk, head = head, b""
                    size += len(chunk)
                    if size > limit:
                        raise MediaRejected(f"{where}: {kind} exceeds the {limit:,}-byte cap")
                    digest.update(chunk)
                    out.write(chunk)
                if found_type is None:  # tiny body
                    found_type = _check_head(head, kind, declared, where)
                    size += len(head)
                    digest.update(head)
                    out.write(head)
            if length is not None and length.isdigit() and size != int(length):
                raise MediaTransferError(f"{where}: got {size:,} of {int(length):,} bytes")
        sha = digest.hexdigest()
        final, rel = stored_path(settings, sha, found_type)
        created = _finalise(tmp_path, final, size)
        return StoredAsset(sha256=sha, path=final, relpath=rel, content_type=found_type, size=size, created=created)
    except httpx.HTTPError as exc:
        raise MediaTransferError(f"{where}: {type(exc).__name__}: {_strip_urls(str(exc))}") from None
    finally:
        if tmp_path is not None:
            try:
                tmp_path.unlink()
            except FileNotFoundError:
                pass


def _strip_urls(text: str) -> str:
    import re

    return re.sub(r"(https?://[^\s?'\"]+)\?[^\s'\"]*", r"\1", text)


def _check_status(response: httpx.Response, where: str) -> None:
    status = response.status_code
    if status < 400:
        return
    body = b""
    try:
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > 2048:
                break
    except httpx.HTTPError:
        pass
    text = body[:300].decode("utf-8", "replace").lower()
    if status in (403, 410) and ("expired" in text or "signature" in text or status == 410):
        raise MediaExpired(f"{where}: link expired ({status} {text.strip()[:80] or 'no reason'})")
    if status == 429 or status >= 500:
        retry_after = response.headers.get("retry-after")
        wait = float(retry_after) if retry_after and retry_after.isdigit() else None
        raise MediaTransferError(f"{where}: HTTP {status}", retry_after=wait)
    raise MediaRejected(f"{where}: HTTP {status}")


# -- many downloads ----------------------------------------------------------
def download_many(ctx, jobs: Iterable[DownloadJob], *, concurrency: int = 4,
                  on_result: Callable[[DownloadJob, "StoredAsset | BaseException"], None] | None = None,
                  retries: int = 2, record: bool = True) -> list["StoredAsset | BaseException"]:
    """Download ``jobs`` with at most ``concurrency`` at a time.

    Per-job outcomes (a StoredAsset or the exception) are returned in job order
    and passed to ``on_result`` in the calling thread as they finish. A job with
    ``refresh`` gets a fresh URL after every failed try: after a failed transfer
    (up to ``retries`` times; a signed URL may expire while a transfer fails), an
    HTML page where the file should be (up to ``MAX_HTML_REFRESHES`` times), and
    an expired link (once in a row: a fresh link that is expired at once will not
    get better). Cancellation stops every transfer within a chunk, removes their
    temp files and raises.

    ``jobs`` is read as the transfers have room (a few ahead), so a generator can
    look up the URLs of later files while earlier ones download; an exception it
    raises is raised here once the transfers under way have finished.

    With ``record``, the calling thread writes the files' rows (and their ads'
    links) in batches, one transaction for what finished within
    ``RECORD_EVERY`` seconds (at most ``RECORD_BATCH`` files), before their
    ``on_result``: the download threads only transfer. A file stored but not
    yet recorded when the process dies is fetched again by the next attempt
    and found already stored (same content).
    """
    results: list = []
    queued: list[DownloadJob] = []
    source = iter(jobs)
    client: httpx.Client | None = None

    def one(job: DownloadJob):
        url = job.url
        if not url and job.refresh is not None:
            ctx.check_cancelled()
            url = job.refresh()
            if not url:
                raise NoURL(f"{job.kind} {job.key}: no URL for it")
        if job.refresh is None:
            return download_one(ctx, url, kind=job.kind, max_bytes=job.max_bytes, client=client,
                                retries=retries, record=False)
        name = f"{job.kind} {job.key or safe_url(url)}"
        failed_transfers = html_pages = expired_in_a_row = 0
        while True:
            try:
                return download_one(ctx, url, kind=job.kind, max_bytes=job.max_bytes, client=client,
                                    retries=0, record=False)
            except MediaExpired:
                expired_in_a_row += 1
                if expired_in_a_row > 1:
                    raise
                ctx.log(f"{name}: link expired; fetching a fresh URL", "warning")
            except MediaInterstitial as exc:
                html_pages += 1
                expired_in_a_row = 0
                if html_pages > MAX_HTML_REFRESHES:
                    raise MediaInterstitial(f"{exc} (still so after {MAX_HTML_REFRESHES} fresh URLs)") from None
                ctx.log(f"{name}: got an HTML page instead of the file; fetching a fresh URL "
                        f"(try {html_pages + 1} of {MAX_HTML_REFRESHES + 1})", "warning")
            except MediaTransferError as exc:
                failed_transfers += 1
                expired_in_a_row = 0
                if failed_transfers > retries:
                    raise
                delay = exc.retry_after if exc.retry_after is not None else min(4.0, 0.25 * 2 ** (failed_transfers - 1))
                ctx.log(f"{job.kind} download failed ({exc}); fetching a fresh URL and retrying in {delay:.2f}s "
                        f"(attempt {failed_transfers + 1} of {retries + 1})", "warning")
                ctx.sleep(delay)
            ctx.check_cancelled()
            fresh = job.refresh()
            if not fresh:
                raise NoURL(f"{name}: Meta gave no fresh URL for it")
            url = fresh

    unreported: list[int] = []  # finished, in the order they finished; their rows not written yet
    oldest = 0.0  # when the first of them finished

    def report() -> None:
        """Write the finished files' rows in one transaction, then hand each outcome to ``on_result``."""
        rows = [meta_store.AssetRow(a.sha256, a.relpath, a.content_type, a.size, getattr(ctx, "run_id", None),
                                    queued[i].links)
                for i in unreported if isinstance(a := results[i], StoredAsset)]
        if record and rows:
            meta_store.record_assets(ctx.database, rows)
        done, unreported[:] = list(unreported), []
        if on_result is not None:  # also after a cancel: finished files still get recorded
            for i in done:
                on_result(queued[i], results[i])

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="media")
    stop: BaseException | None = None
    pending: dict = {}
    exhausted = False
    ahead = max(1, concurrency) * 2
    try:
        while True:
            while not exhausted and stop is None and not ctx.cancelled and len(pending) < ahead:
                try:
                    job = next(source)
                except StopIteration:
                    exhausted = True
                    break
                except BaseException as exc:  # the generator's own failure (a URL lookup): after the others
                    stop = exc
                    break
                if client is None:
                    client = new_client(allowed=allowed_media_origins(ctx.settings))
                queued.append(job)
                results.append(None)
                pending[pool.submit(one, job)] = len(queued) - 1
            if not pending:
                break
            wait = 0.1 if not unreported else max(0.0, min(0.1, oldest + RECORD_EVERY - time.monotonic()))
            done, _ = concurrent.futures.wait(pending, timeout=wait, return_when=concurrent.futures.FIRST_COMPLETED)
            if ctx.cancelled and stop is None:
                for f in pending:
                    f.cancel()
            for f in done:
                i = pending.pop(f)
                if f.cancelled():
                    continue
                exc = f.exception()
                if isinstance(exc, (RunCancelled, WorkerShuttingDown)):
                    stop = stop or exc
                    continue
                if exc is not None and not isinstance(exc, Exception):
                    stop = stop or exc
                    continue
                results[i] = exc if exc is not None else f.result()
                if not unreported:
                    oldest = time.monotonic()
                unreported.append(i)
            if unreported and (len(unreported) >= RECORD_BATCH or time.monotonic() >= oldest + RECORD_EVERY
                               or not pending):
                report()
        report()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if client is not None:
            client.close()
    if stop is not None:
        raise stop
    ctx.check_cancelled()
    return results


def link_ad_asset(database, *, ad_id: str, kind: str, source_key: str, brand_id: int, sha256: str,
                  run_id: int | None = None) -> None:
    """Record that a Meta ad uses a stored file (re-exported from storage.meta for callers of this module)."""
    meta_store.link_ad_asset(database, ad_id=ad_id, kind=kind, source_key=source_key, brand_id=brand_id,
                             sha256=sha256, run_id=run_id)
