"""A small threaded HTTP/1.1 server (keep-alive) with fault knobs, shared by the three stand-ins."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(status, json.dumps(payload).encode(), headers=headers or {})


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body or b"null")


class Faults:
    """Switchable at run time: added latency, HTTP errors, requests that hang (client timeouts)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self.latency_ms = 0
            self._failures: list[tuple[int, float | None, str | None]] = []
            self._hangs: list[float] = []

    def fail_next(self, count: int, *, status: int = 429, retry_after: float | None = None,
                  only: str | None = None) -> None:
        """The next ``count`` requests fail; with ``only``, the next ``count`` of that request name (an RPC
        method, a Bot API method, a venue path), e.g. an RPC outage that starts after a transaction was sent."""
        with self._lock:
            self._failures.extend([(status, retry_after, only)] * count)

    def hang_next(self, count: int, *, seconds: float) -> None:
        with self._lock:
            self._hangs.extend([seconds] * count)

    def take(self, name: str) -> tuple[float, tuple[int, float | None] | None, float]:
        with self._lock:
            index = next((i for i, (_, _, only) in enumerate(self._failures) if only in (None, name)), None)
            failure = self._failures.pop(index)[:2] if index is not None else None
            hang = self._hangs.pop(0) if self._hangs else 0.0
            return self.latency_ms / 1000, failure, hang


class _Httpd(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: a burst of the bot's replies (20 at once) overflowed it, and the
    # kernel's syncookie fallback reset some connections (httpx.ReadError). Real Bot API and RPC hosts take bursts.
    request_queue_size = 1024
    daemon_threads = True


class Server:
    """Base class: subclasses implement ``handle(request) -> Response`` and may name requests for counters."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.faults = Faults()
        self.requests: Counter[str] = Counter()
        self.log: list[tuple[float, str]] = []  # (start time, request name), for benchmarks
        self._closing = threading.Event()
        self._httpd = _Httpd((host, port), self._handler_class())
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=type(self).__name__, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Server:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def handle(self, request: Request) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError

    def request_name(self, request: Request) -> str:
        return request.path

    def _serve(self, request: Request, name: str) -> Response:
        latency, failure, hang = self.faults.take(name)
        if latency:
            time.sleep(latency)
        if hang:
            self._closing.wait(hang)
        if failure is not None:
            return self.fault_response(*failure)
        return self.handle(request)

    def fault_response(self, status: int, retry_after: float | None) -> Response:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return Response.json({"error": f"injected HTTP {status}"}, status=status, headers=headers)

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def do_GET(self):
                self._dispatch("GET")

            def do_POST(self):
                self._dispatch("POST")

            def _dispatch(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(method, parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()},
                                  {k.lower(): v for k, v in self.headers.items()}, body)
                started = time.time()
                try:
                    name = server.request_name(request)
                    server.requests[name] += 1
                    server.log.append((started, name))
                    response = server._serve(request, name)
                except Exception as err:  # a stand-in bug must show up as a 500, not a hung client
                    response = Response.json({"error": f"{type(err).__name__}: {err}"}, status=500)
                try:
                    self.send_response(response.status)
                    self.send_header("Content-Type", response.content_type)
                    self.send_header("Content-Length", str(len(response.body)))
                    for key, value in response.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(response.body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (a timeout test, or shutdown)

            def log_message(self, *args) -> None:
                pass

        return Handler
