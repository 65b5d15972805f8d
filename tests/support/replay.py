"""A loopback HTTP server that replays recorded responses, for crawler tests and benchmarks.

    with ReplayServer() as server:                      # 127.0.0.1, ephemeral port, own thread
        server.add("/s/feedjam", FIXTURES / "telegram/page_example.html", content_type="text/html")
        server.add("/feed", Reply(status=429, headers={"Retry-After": "1"}), Reply(body=b"..."))
        server.url("/feed")                             # http://127.0.0.1:PORT/feed
        server.hits("/feed")                            # requests received for that path
        server.bodies("/proxy")                         # bodies of the POST requests received there (JSON-RPC)

A path (with its query string, if the route has one) maps to a sequence of replies: each request takes
the next one and the last repeats, so `429 then 200` or `500 then 200` is one `add()`. A reply can wait
before answering (`delay`) to make a client time out. Unknown paths get 404, `/robots.txt` included
unless a route is added for it. Routes can be replaced between crawls (`add()` again) to make a new page
appear. Every request is recorded (method, path, headers, body). POST is answered like GET, from the same
routes (a JSON-RPC endpoint serves its pages in turn). Only the standard library is used.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml",
    ".atom": "application/atom+xml",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True)
class Reply:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering."""


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    at: float
    body: bytes = b""


_HOP_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "content-encoding", "alt-svc"})


def recorded_exchange(path: Path) -> Reply:
    """The response of a recorded exchange (NewPipe's `generated_mock_*.json`) as it was served: status, headers, body."""
    response = json.loads(path.read_text(encoding="utf-8"))["response"]
    headers = {name: values[0] for name, values in response.get("responseHeaders", {}).items() if values and name.lower() not in _HOP_HEADERS}
    return Reply(body=response.get("responseBody", "").encode("utf-8"), status=response["responseCode"], headers=headers)


def _reply(item: Reply | bytes | str | Path, content_type: str | None) -> Reply:
    if isinstance(item, Reply):
        if content_type and "Content-Type" not in item.headers:
            return Reply(item.body, item.status, {**item.headers, "Content-Type": content_type}, item.delay)
        return item
    if isinstance(item, Path):
        body = item.read_bytes()
        content_type = content_type or CONTENT_TYPES.get(item.suffix, "application/octet-stream")
    else:
        body = item.encode("utf-8") if isinstance(item, str) else item
    return Reply(body=body, headers={"Content-Type": content_type} if content_type else {})


class _Listener(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    """Crawls open many connections at once (bench/crawl.py: two processes of 16); with the default backlog of 5
    the kernel drops connection attempts, and each retry stalls the client for a second or more."""


class ReplayServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._routes: dict[str, list[Reply]] = {}
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()
        self.requests: list[ReceivedRequest] = []
        self._server = _Listener((host, port), self._handler_class())
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def add(self, path: str, *replies: Reply | bytes | str | Path, content_type: str | None = None) -> None:
        """Serve `replies` in turn at `path` (the last one repeats); replaces what was there."""
        if not replies:
            raise ValueError("add() needs at least one reply")
        with self._lock:
            self._routes[path] = [_reply(item, content_type) for item in replies]
            self._served[path] = 0

    def hits(self, path: str) -> int:
        """Requests received for `path` (compared with the query string when `path` has one)."""
        with self._lock:
            return sum(1 for request in self.requests if _matches(request.path, path))

    def bodies(self, path: str) -> list[bytes]:
        """Bodies of the POST requests received for `path`, in order."""
        with self._lock:
            return [request.body for request in self.requests if request.method == "POST" and _matches(request.path, path)]

    def _next(self, target: str) -> Reply:
        with self._lock:
            key = target if target in self._routes else urlsplit(target).path
            replies = self._routes.get(key)
            if replies is None:
                return Reply(body=b"not found", status=404, headers={"Content-Type": "text/plain"})
            index = min(self._served[key], len(replies) - 1)
            self._served[key] += 1
            return replies[index]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                self._answer(send_body=True)

            def do_HEAD(self) -> None:  # noqa: N802
                self._answer(send_body=False)

            def do_POST(self) -> None:  # noqa: N802
                self._answer(send_body=True, body=self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def _answer(self, send_body: bool, body: bytes = b"") -> None:
                with server._lock:
                    server.requests.append(ReceivedRequest(self.command, self.path, dict(self.headers.items()), time.monotonic(), body))
                reply = server._next(self.path)
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    if send_body:
                        self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test): nothing to answer

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        return Handler

    def start(self) -> ReplayServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="replay-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _matches(received: str, path: str) -> bool:
    return received == path if "?" in path else urlsplit(received).path == path


@contextmanager
def refusing_url(path: str = "/") -> Iterator[str]:
    """A loopback URL where connecting is refused at once, as for a host that is down. The port stays bound
    (but not listening) while the context lasts, so no other server can take it meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}{path}"


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    """A started replay server, stopped after the test."""
    with ReplayServer() as server:
        yield server
