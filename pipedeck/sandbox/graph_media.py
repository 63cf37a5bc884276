"""Graph half of the sandbox: the media CDN.

Synthetic image (JPEG) and video (MP4) bytes generated on the fly from a
seed and streamed, never held in memory; signed, expiring links like Meta's
CDN (``oh`` signature, ``oe`` hex expiry); and the CDN's answers, with the
media faults (expired links, HTML pages where a file should be, flaky and
cut transfers, redirects, slow links).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import struct
import time
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlencode

from pipedeck.sandbox.graph_data import first_video_index, image_dims, image_size, uniform, video_seed, video_size
from pipedeck.sandbox.graph_faults import expire_link, file_fault, link_is_dead, take

DEFAULT_MEDIA_TTL = 3 * 86400
_SECRET = b"pipedeck-sandbox-cdn"
_BLOCK_SIZE = 1 << 20


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
    ttl = req.state.fault("media_url_ttl")
    expires = int(time.time() + (float(ttl) if ttl is not None else DEFAULT_MEDIA_TTL))
    oe = f"{expires:X}"
    gid = f"{next(_link_numbers):x}"  # each link handed out is distinct: one can expire while a fresh one works
    query = urlencode({"_nc_cat": 1 + media.index % 3, "ccb": "1-7", "_nc_sid": "8bfeb9", "_nc_gid": gid,
                       "_nc_ht": "scontent.sandbox", "oh": _sign(media.path, oe), "oe": oe})
    origin = req.state.fault("media_origin")  # a poisoned reply: links to somewhere else
    return f"{str(origin).rstrip('/') if origin else req.base_url}{media.path}?{query}"


def image_file(account: str, img: int) -> MediaFile:
    return MediaFile("image", account, img, int(account) * 10_000 + img, image_size(account, img))


def thumb_file(account: str, i: int) -> MediaFile:
    return MediaFile("thumb", account, i, int(account) * 10_000 + video_seed(i),
                     18_000 + int(uniform("tsz", account, video_seed(i))[0] * 20_000))


def video_file(state, account: str, i: int) -> MediaFile:
    seed = int(account) * 10_000 + video_seed(i)
    if state.fault("large_video_bytes") and i == first_video_index(account):
        seed += 5_000  # the big one has its own content
    return MediaFile("video", account, i, seed, video_size(state, account, i))


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
    redirect = state.fault("media_redirect")
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
    if expires < time.time() or expire_link(state, req.path) or link_is_dead(state, link):
        state.count("cdn:expired")
        req.send(403, b"URL signature expired", "text/plain")
        return
    if take(state, "media_error") or file_fault(state, "media_flaky", req.path, default_tries=3):
        state.count("cdn:error")
        req.send(503, b"Service Unavailable", "text/plain")
        return
    if media.kind == "image":
        disguised = take(state, "media_html_disguised")
        if disguised or take(state, "media_html"):
            state.count("cdn:html")
            req.send(200, HTML_LOGIN_PAGE, "image/jpeg" if disguised else "text/html; charset=utf-8")
            return
        if file_fault(state, "media_interstitial", req.path):
            state.count("cdn:html")
            req.send(200, HTML_SECURITY_CHECK, "text/html; charset=utf-8")
            return
    headers = {"Cache-Control": "max-age=1209600, no-transform", "Accept-Ranges": "none",
               "Last-Modified": "Wed, 01 Jan 2026 00:00:00 GMT", "timing-allow-origin": "*"}
    req.start_stream(200, media.content_type, media.size, headers)
    if req.method == "HEAD":
        return
    cut_and_expire = file_fault(state, "media_truncate_expire", req.path, default_tries=2)
    truncate = take(state, "media_truncate") or cut_and_expire
    rate = state.fault("media_slow")
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
