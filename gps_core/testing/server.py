"""A small threaded HTTP server on 127.0.0.1 for fake venue servers in tests and benchmarks.

Subclass :class:`FakeHandler`-style request handlers of your own; :class:`LocalServer`
runs them on a free port in a background thread and stops cleanly::

    with LocalServer(MyHandler, state=my_state) as server:
        url = server.url
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler without Nagle's delay and without access logs on stderr."""

    # Without this every keep-alive request stalls ~40 ms (Nagle + delayed ACK).
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    @property
    def state(self) -> Any:
        return self.server.state  # type: ignore[attr-defined]

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_bytes(self, status: int, body: bytes, content_type: str = "application/json", headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def drop_connection(self) -> None:
        """Close the socket without answering (a reply lost in the network)."""
        self.close_connection = True
        try:
            self.connection.shutdown(2)
        except OSError:
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        """A client that hung up before its reply (its read timed out, e.g. under a latency fault)
        is an expected event for a fake venue, not an error: no traceback on stderr."""
        import sys

        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)):
            return
        super().handle_error(request, client_address)


class LocalServer:
    """Run a handler class on 127.0.0.1:<free port> in a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], state: Any = None, host: str = "127.0.0.1", port: int = 0,
                 poll_interval: float = 0.05):
        self._server = _Server((host, port), handler)
        self._server.state = state  # type: ignore[attr-defined]
        # serve_forever's default 0.5 s poll would make every stop() wait up to half a second.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": poll_interval},
                                        name="fake-venue", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def state(self) -> Any:
        return self._server.state  # type: ignore[attr-defined]

    def start(self) -> "LocalServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
