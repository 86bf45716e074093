"""A fake store server for tests: a real HTTP server on 127.0.0.1 that a test programs.

Used by the platform tests and the Odoo tests alike, so that every API client is tested
against real HTTP (status codes, headers, pagination, rate-limit answers), never a mocked
``requests``.

    with FakeStore() as store:
        store.route("GET", "/admin/api/2025-01/shop.json", json={"shop": {...}})
        store.route("GET", "/orders", responses=[(429, {"Retry-After": "1"}, ""), (200, {}, "[]")])
        client = HttpClient(store.url)
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class _Route:
    responses: list = field(default_factory=list)
    handler: Callable | None = None
    calls: int = 0


class FakeStore:
    """Answers the routes a test sets; anything else is a 404 (and is recorded)."""

    def __init__(self, port: int = 0):
        self.routes: dict[tuple[str, str], _Route] = {}
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        store = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args):  # keep test output clean
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                recorded = Recorded(self.command, parts.path, parse_qs(parts.query),
                                    {k: v for k, v in self.headers.items()}, body)
                status, headers, payload = store._answer(recorded)
                data = payload if isinstance(payload, bytes) else (
                    payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
                self.send_response(status)
                headers = dict(headers)
                headers.setdefault("Content-Type", "application/json")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *_exc):
        self.stop()

    def start(self):
        self._thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def route(self, method: str, path: str, *, json: Any = None, status: int = 200,
              headers: dict | None = None, responses: list | None = None,
              handler: Callable[[Recorded], tuple] | None = None) -> None:
        """Answer ``method path``: with ``handler(request) -> (status, headers, body)``, with a
        sequence of ``(status, headers, body)`` (the last one repeats), or with one JSON body."""
        if responses is None and handler is None:
            responses = [(status, headers or {}, json if json is not None else {})]
        self.routes[(method.upper(), path)] = _Route(list(responses or []), handler)

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method.upper() and r.path == path]

    def _answer(self, request: Recorded) -> tuple:
        with self._lock:
            self.requests.append(request)
            route = self.routes.get((request.method, request.path))
            if route is None:
                return 404, {}, {"message": f"no route {request.method} {request.path}"}
            route.calls += 1
            if route.handler:
                return route.handler(request)
            index = min(route.calls - 1, len(route.responses) - 1)
            return route.responses[index]
