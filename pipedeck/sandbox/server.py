"""`pipedeck sandbox`: a local stand-in for the Meta Graph API and the Ad Library.

One HTTP server, one port, the real paths:

- Graph API under ``/v25.0/...``   → ``PIPEDECK_GRAPH_URL=http://127.0.0.1:N/v25.0``
- Ad Library ``/ads/library/`` and ``/api/graphql/`` → ``PIPEDECK_AD_LIBRARY_URL=http://127.0.0.1:N``

Faults are switched on with ``--fault NAME[=VALUE]`` at start, or at run time
through the control API (tests use this)::

    GET    /__sandbox/faults            current faults
    POST   /__sandbox/faults            JSON object: set these faults
    DELETE /__sandbox/faults            clear all faults
    GET    /__sandbox/stats             request counters per route
    POST   /__sandbox/reset             clear faults, counters and sandbox state

Each half lives in its own module (``graph.py``, ``adlibrary.py``) exposing
``handle(req) -> bool``; the first that returns True answered the request.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEFAULT_TOKEN = "sandbox-token"
GRAPH_VERSION = "v25.0"


class SandboxState:
    """Faults, counters and per-half state shared by all request threads."""

    def __init__(self, token: str = DEFAULT_TOKEN, seed: int = 7) -> None:
        self.token = token
        self.seed = seed
        self.lock = threading.RLock()
        self.faults: dict[str, Any] = {}
        self.stats: Counter = Counter()
        self.data: dict[str, Any] = {}  # each half keeps its own state under its own key
        self.base_url = ""

    def fault(self, name: str, default: Any = None) -> Any:
        with self.lock:
            return self.faults.get(name, default)

    def set_faults(self, faults: dict[str, Any]) -> None:
        with self.lock:
            for k, v in faults.items():
                if v is None or v is False:
                    self.faults.pop(k, None)
                else:
                    self.faults[k] = v

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def count(self, key: str) -> int:
        with self.lock:
            self.stats[key] += 1
            return self.stats[key]

    def reset(self) -> None:
        with self.lock:
            self.faults.clear()
            self.stats.clear()
            self.data.clear()


class Request:
    """What a half's ``handle`` sees: parsed request plus helpers to answer."""

    def __init__(self, handler: "SandboxHandler", method: str) -> None:
        self.handler = handler
        self.method = method
        parts = urlsplit(handler.path)
        self.path = parts.path
        self.raw_query = parts.query
        self.query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        self.headers = handler.headers
        self.state: SandboxState = handler.server.state  # type: ignore[attr-defined]
        self._body: bytes | None = None

    @property
    def base_url(self) -> str:
        return self.state.base_url

    def body(self) -> bytes:
        if self._body is None:
            length = int(self.headers.get("Content-Length") or 0)
            self._body = self.handler.rfile.read(length) if length else b""
        return self._body

    def form(self) -> dict[str, str]:
        ctype = self.headers.get("Content-Type", "")
        raw = self.body().decode("utf-8", "replace")
        if "json" in ctype:
            try:
                return json.loads(raw or "{}")
            except ValueError:
                return {}
        return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}

    def send(self, status: int, body: bytes | str, content_type: str = "application/json",
             headers: dict[str, str] | None = None) -> None:
        if isinstance(body, str):
            body = body.encode()
        h = self.handler
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        if self.method != "HEAD":
            h.wfile.write(body)

    def send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self.send(status, json.dumps(obj), "application/json; charset=UTF-8", headers)

    def start_stream(self, status: int, content_type: str, length: int | None,
                     headers: dict[str, str] | None = None) -> None:
        h = self.handler
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        if length is not None:
            h.send_header("Content-Length", str(length))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()

    def write(self, chunk: bytes) -> None:
        self.handler.wfile.write(chunk)

    def close_connection(self) -> None:
        self.handler.close_connection = True


def _halves():
    from pipedeck.sandbox import adlibrary, graph

    return (graph, adlibrary)


class SandboxHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pipedeck-sandbox/1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's
        # algorithm holds small answers back ~40 ms waiting for the client's ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args) -> None:  # quiet by default
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)

    def _dispatch(self, method: str) -> None:
        req = Request(self, method)
        try:
            if req.path.startswith("/__sandbox/"):
                self._control(req)
                return
            for half in _halves():
                if half.handle(req):
                    return
            req.send_json(404, {"error": {"message": f"Unknown path {req.path}", "type": "GraphMethodException",
                                          "code": 803}})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _control(self, req: Request) -> None:
        state = req.state
        if req.path == "/__sandbox/faults":
            if req.method == "POST":
                state.set_faults(req.form())
            elif req.method == "DELETE":
                state.clear_faults()
            req.send_json(200, state.faults)
        elif req.path == "/__sandbox/stats":
            req.send_json(200, dict(state.stats))
        elif req.path == "/__sandbox/reset" and req.method == "POST":
            state.reset()
            req.send_json(200, {"ok": True})
        else:
            req.send_json(404, {"error": "unknown control path"})

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, token: str = DEFAULT_TOKEN,
                 faults: dict[str, Any] | None = None, verbose: bool = False) -> None:
        super().__init__((host, port), SandboxHandler)
        self.state = SandboxState(token=token)
        self.verbose = verbose
        self.state.base_url = self.base_url
        if faults:
            self.state.set_faults(faults)
        self._thread: threading.Thread | None = None

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return  # a client (a browser closing its keep-alive connections) hung up; nothing to report
        super().handle_error(request, client_address)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def graph_url(self) -> str:
        return f"{self.base_url}/{GRAPH_VERSION}"

    @property
    def ad_library_url(self) -> str:
        return self.base_url

    def start(self) -> "SandboxServer":
        """Serve on a background thread (for tests and the demo)."""
        self._thread = threading.Thread(target=self.serve_forever, name="sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def parse_fault_args(items: list[str]) -> dict[str, Any]:
    faults: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            faults[name] = True
            continue
        try:
            faults[name] = json.loads(value)
        except ValueError:
            faults[name] = value
    return faults


def main(args: argparse.Namespace | None = None) -> int:
    if args is None:
        p = argparse.ArgumentParser(prog="pipedeck sandbox")
        p.add_argument("--port", type=int, default=8765)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--fault", action="append", default=[])
        args = p.parse_args()
    try:
        server = SandboxServer(args.host, args.port, faults=parse_fault_args(args.fault),
                               verbose=getattr(args, "verbose", False))
    except OSError as exc:
        from pipedeck.errors import UserError

        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    print(f"PIPEDECK_GRAPH_URL={server.graph_url}", flush=True)
    print(f"PIPEDECK_AD_LIBRARY_URL={server.ad_library_url}", flush=True)
    print(f"META_ACCESS_TOKEN={server.state.token}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
