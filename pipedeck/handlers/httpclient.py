"""What every httpx client of the handlers shares."""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.lru_cache(maxsize=1)
def ssl_context() -> ssl.SSLContext:
    """One verifying TLS context per process: building one loads the CA bundle (~40 ms), so clients reuse it."""
    return httpx.create_ssl_context()


def warm() -> None:
    """Build the TLS context and the client machinery once (~40 ms), for a worker to do at start."""
    httpx.Client(verify=ssl_context()).close()
