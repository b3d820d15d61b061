"""Prepared orders on warmed keep-alive connections: the request bytes written with no library work.

:class:`RawConnections` keeps open HTTP/1.1 connections to the one base URL (opened ahead,
by :meth:`RawConnections.warm`, while the books are fetched). :class:`RawSend` holds one
prepared request's bytes on one of them; the core's fire phase (:mod:`gps_core.fire`)
writes every prepared order back-to-back, then reads each reply.

Where a failure happens decides what it means:

* no idle connection, or one the venue already closed (seen readable before use, as
  ``urllib3`` checks): nothing is prepared, the order goes through ``gps_place``;
* the first ``send()`` of the request fails: the kernel accepted none of its bytes, so
  nothing left: :class:`~gps_core.errors.NetworkError`;
* any later failure (a write cut half-way, a reset or close before the reply, no reply in
  time, an unreadable status line): :class:`~gps_core.errors.OutcomeUnknown`; the core looks
  the order up by its label and never sends it again blindly.

A prepared send is used once; its connection goes back to the pool only after a whole reply
that keeps it open.
"""

from __future__ import annotations

import http.client
import select
import socket
import threading
from typing import Callable
from urllib.parse import urlsplit

from gps_core.api import NetworkError, OutcomeUnknown

#: Connections opened ahead for prepared orders (one per leg of a 4-leg strategy, twice over).
WARM_CONNECTIONS = 8


class RawReply:
    """What :meth:`Transport._read` needs of a reply: ``status_code``, ``content``, ``headers``."""

    __slots__ = ("status_code", "content", "headers")

    def __init__(self, status_code: int, content: bytes, headers):
        self.status_code = status_code
        self.content = content
        self.headers = headers


class RawConnections:
    """Idle keep-alive connections to ``base_url`` (``http`` or ``https``). Thread-safe.

    :param ca_bundle: a CA file for ``https`` (else the system's).
    """

    def __init__(self, base_url: str, connect_timeout: float, read_timeout: float, ca_bundle: str | None = None):
        parts = urlsplit(base_url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)
        self.netloc = parts.netloc
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._ca_bundle = ca_bundle
        self._ssl = None
        self._idle: list[socket.socket] = []
        self._lock = threading.Lock()

    def _context(self):
        if self._ssl is None:
            import ssl

            self._ssl = ssl.create_default_context(cafile=self._ca_bundle)
        return self._ssl

    def connect(self) -> socket.socket:
        """A new connection (TCP, and TLS for ``https``); raises ``OSError``."""
        sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.https:
                sock = self._context().wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        return sock

    def warm(self, count: int = WARM_CONNECTIONS) -> int:
        """Open connections until ``count`` are idle; returns how many are. Failures are left to later."""
        while self.idle_count() < count:
            try:
                sock = self.connect()
            except OSError:
                break
            self.give_back(sock)
        return self.idle_count()

    def idle_count(self) -> int:
        with self._lock:
            return len(self._idle)

    def take(self) -> socket.socket | None:
        """An idle connection still open, or ``None`` (closed ones are dropped)."""
        while True:
            with self._lock:
                if not self._idle:
                    return None
                sock = self._idle.pop()
            if _still_open(sock):
                return sock
            _close(sock)

    def give_back(self, sock: socket.socket) -> None:
        with self._lock:
            self._idle.append(sock)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for sock in idle:
            _close(sock)


class RawSend:
    """One prepared request on one connection (see :mod:`gps_core.fire`'s ``PreparedSend``).

    ``finish(reply)`` turns the :class:`RawReply` into the call's result (it raises the
    venue's errors); ``describe`` names the call in error texts (never a URL or a header).
    """

    def __init__(self, pool: RawConnections, sock: socket.socket, data: bytes, http_method: str,
                 describe: str, finish: Callable[[RawReply], object]):
        self._pool = pool
        self._sock: socket.socket | None = sock
        self._data = data
        self._http_method = http_method
        self._describe = describe
        self._finish = finish
        self._fired = False

    def __repr__(self) -> str:  # never the bytes: they carry a signature
        return f"RawSend({self._describe})"

    def fire(self) -> None:
        """Write the request once; :class:`NetworkError` only when none of it was accepted."""
        if self._fired or self._sock is None:
            raise RuntimeError(f"{self._describe}: a prepared send is fired once")
        self._fired = True
        sock, view, written = self._sock, memoryview(self._data), 0
        try:
            sock.settimeout(self._pool.read_timeout)
            while written < len(view):
                written += sock.send(view[written:])
        except OSError as exc:
            self._drop()
            kind = type(exc).__name__
            if written == 0:
                raise NetworkError(f"{self._describe}: the connection failed before the request was "
                                   f"written ({kind}); nothing was sent") from None
            raise OutcomeUnknown(f"{self._describe}: connection failed while the request was sent ({kind})") from None

    def reply(self):
        """Read the reply and return ``finish(reply)``; a failed read is an unknown outcome."""
        if not self._fired or self._sock is None:
            raise RuntimeError(f"{self._describe}: read before the request was written")
        sock = self._sock
        response = http.client.HTTPResponse(sock, method=self._http_method)
        try:
            sock.settimeout(self._pool.read_timeout)
            response.begin()
            content = response.read()
        except socket.timeout:
            self._drop()
            raise OutcomeUnknown(f"{self._describe}: no reply within {self._pool.read_timeout:g}s") from None
        except (OSError, http.client.HTTPException) as exc:
            self._drop()
            raise OutcomeUnknown(f"{self._describe}: connection failed after the request was sent "
                                 f"({type(exc).__name__})") from None
        finally:
            response.close()
        keep = not response.will_close
        self._sock = None
        if keep:
            self._pool.give_back(sock)
        else:
            _close(sock)
        return self._finish(RawReply(response.status, content, response.headers))

    def abandon(self) -> None:
        """Release a send never fired: its connection goes back (nothing was written on it)."""
        if self._sock is not None and not self._fired:
            sock, self._sock = self._sock, None
            self._pool.give_back(sock)

    def _drop(self) -> None:
        if self._sock is not None:
            _close(self._sock)
            self._sock = None


def request_bytes(http_method: str, target: str, netloc: str, headers: dict, body: bytes | None) -> bytes:
    """An HTTP/1.1 request: request line, ``Host``, the headers, ``Content-Length`` and the body."""
    lines = [f"{http_method} {target} HTTP/1.1", f"Host: {netloc}", "Accept-Encoding: identity",
             "Connection: keep-alive"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def _still_open(sock: socket.socket) -> bool:
    """Whether an idle connection can carry a request: nothing to read on it (no close, no junk)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
