"""Ad Library URL validation: only the configured origin and path are accepted."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

AD_LIBRARY_PATHS = ("/ads/library", "/ads/library/")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme, 0)


def validate_ad_library_url(url: str, allowed_origin: str) -> str:
    """Return the URL stripped of surrounding space, or raise ValueError saying why not.

    The message is one line and safe to show (it names the allowed origin).
    """
    url = (url or "").strip()
    if not url:
        raise ValueError("Ad Library URL is empty")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(f"not a valid URL: {url[:200]!r}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"only {allowed_origin} Ad Library URLs are accepted, not {parts.scheme or 'scheme-less'}: URLs")
    if parts.username is not None or parts.password is not None:
        raise ValueError("Ad Library URL must not contain user info")
    scheme, host, _ = _origin(allowed_origin)
    got = (parts.scheme.lower(), (parts.hostname or "").lower(), port or _DEFAULT_PORTS[parts.scheme.lower()])
    if got != _origin(allowed_origin):
        raise ValueError(f"URL is not on the Ad Library origin {allowed_origin}: {parts.scheme}://{parts.netloc}")
    if parts.path not in AD_LIBRARY_PATHS:
        raise ValueError(f"URL is not an Ad Library search (path must be /ads/library/, got {parts.path or '/'})")
    query = parse_qs(parts.query)
    if not (query.get("view_all_page_id") or query.get("q")):
        raise ValueError("Ad Library URL must name a page (view_all_page_id=) or a search (q=)")
    return url


def page_search_url(origin: str, page_id: str, country: str = "ALL") -> str:
    return (f"{origin.rstrip('/')}/ads/library/?active_status=all&ad_type=all&country={country}"
            f"&view_all_page_id={page_id}&search_type=page&media_type=all")
