"""JSON-RPC over HTTPS: one request out, one reply in, every failure mapped to a gps error.

Two wire forms are supported (see the package README): ``post`` sends the JSON-RPC envelope
as the body of ``POST /api/v2/<method>``; ``get`` sends the params as the query of
``GET /api/v2/<method>``, the form Deribit's OpenAPI spec declares. ``public/auth`` always
goes as a POST body so a refresh token never sits in a URL.

Nothing here retries: callers decide (safe reads go through ``retry_safe``; orders never).
Where a failure happened decides its class: a connection that could not be opened is a
:class:`NetworkError` (the venue never saw the request); anything after the request may
have left (read timeout, dropped connection, 5xx, unparsable reply) is
:class:`OutcomeUnknown`. Error texts never include URLs, headers or request params.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass, field

from gps_core.api import (
    InvalidOrder,
    InvalidReply,
    NetworkError,
    OutcomeUnknown,
    RateLimited,
    ReduceOnlyRefused,
    VenueError,
)
from gps_core.api import never_sent
from gps_core.api import redact

from . import wire
from .config import API_PREFIX, Settings
from .errors import error_for

log = logging.getLogger(__name__)
USER_AGENT = "gps-venue-deribit/0.1"


@dataclass(frozen=True)
class PreparedCall:
    """One JSON-RPC call ready to send: ``body`` is ``None`` for the GET form."""

    method: str
    url: str
    body: bytes | None
    headers: dict = field(repr=False)
    request_id: int | None

    def __repr__(self) -> str:  # never the headers: they carry a signature or a token
        return f"PreparedCall({self.method})"


class Transport:
    """Sends JSON-RPC calls to one Deribit base URL. Thread-safe."""

    def __init__(self, settings: Settings, session=None):
        from gps_core.api import new_session

        self.settings = settings
        self._session = session if session is not None else new_session(url=settings.base_url)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._secret_values: set[str] = set()
        self._clock_offset_ms = 0  # venue clock minus ours, from the last reply's usOut
        # Prepared orders go on connections of their own (raw.py), only on a session made here:
        # never through a proxy, and never around a session a caller supplied (recorded replies).
        self._raw = None
        if session is None and not self._session.proxies and self._session.verify is not False:
            from .raw import RawConnections

            bundle = self._session.verify if isinstance(self._session.verify, str) else None
            self._raw = RawConnections(settings.base_url, settings.connect_timeout, settings.read_timeout, bundle)

    def __repr__(self) -> str:
        return f"Transport({self.settings.base_url!r}, form={self.settings.http_form!r})"

    def add_secret_values(self, *values: str) -> None:
        """Values to mask in every error text this transport raises (tokens, secrets)."""
        with self._lock:
            self._secret_values.update(v for v in values if v)

    @property
    def clock_offset_ms(self) -> int:
        """How far the venue's clock is ahead of ours (ms), measured on the last reply."""
        with self._lock:
            return self._clock_offset_ms

    def _next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def _clean(self, text: str) -> str:
        with self._lock:
            known = tuple(self._secret_values)
        return redact(text, known)

    # --- the call ----------------------------------------------------------------------

    def call(self, method: str, params: dict | None = None, *, token: str | None = None, signer=None) -> dict:
        """Send one call; return the whole reply envelope (``result``, ``testnet``, ``usIn``...).

        :param token: the bearer access token for ``private/*`` methods.
        :param signer: a :class:`~gps_venue_deribit.auth.RequestSigner` that signs this request
            instead (``deri-hmac-sha256``; no token needed).
        :raises VenueError: a subclass saying what the outcome was (see the module docs).
        """
        return self.send(self.prepare(method, params, token=token, signer=signer))

    def prepare(self, method: str, params: dict | None = None, *, token: str | None = None,
                signer=None) -> "PreparedCall":
        """Everything of one call made ready to go (URL, body bytes, headers, signature).

        A signed call must leave within Deribit's 60 s timestamp window, and only once: its
        nonce is single-use.
        """
        params = {k: v for k, v in (params or {}).items() if v is not None}
        request_id = self._next_id()
        path = f"{API_PREFIX}/{method}"
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        use_get = self.settings.http_form == "get" and method != "public/auth"
        if use_get:
            query = wire.query_string(params)
            path, body = (f"{path}?{query}" if query else path), ""
        else:
            body = wire.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
            headers["Content-Type"] = "application/json"
        if signer is not None:
            headers["Authorization"] = signer.header("GET" if use_get else "POST", path, body, self.clock_offset_ms)
        elif token:
            headers["Authorization"] = f"Bearer {token}"
        return PreparedCall(method, f"{self.settings.base_url}{path}", None if use_get else body.encode(),
                            headers, None if use_get else request_id)

    def warm(self) -> int:
        """Open the keep-alive connections prepared orders are sent on; returns how many are idle."""
        return self._raw.warm() if self._raw is not None else 0

    def prepare_send(self, call: "PreparedCall"):
        """``call`` as ready-to-write bytes on an idle open connection (a :class:`~.raw.RawSend`
        whose reply is the envelope :meth:`send` would return), or ``None``: use :meth:`send`."""
        if self._raw is None:
            return None
        sock = self._raw.take()
        if sock is None:
            return None
        from urllib.parse import urlsplit

        from .raw import RawSend, request_bytes

        parts = urlsplit(call.url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        http_method = "GET" if call.body is None else "POST"

        def finish(reply) -> dict:
            envelope = self._read(call.method, call.request_id, reply)
            self._note_clock(envelope.get("usOut"))
            return envelope

        data = request_bytes(http_method, target, self._raw.netloc, call.headers, call.body)
        return RawSend(self._raw, sock, data, http_method, call.method, finish)

    def send(self, call: "PreparedCall") -> dict:
        """Send a prepared call once; return the reply envelope (see :meth:`call`)."""
        import requests

        timeout = (self.settings.connect_timeout, self.settings.read_timeout)
        started = time.monotonic()
        try:
            if call.body is None:
                response = self._session.get(call.url, headers=call.headers, timeout=timeout)
            else:
                response = self._session.post(call.url, data=call.body, headers=call.headers, timeout=timeout)
        except requests.exceptions.RequestException as exc:
            raise self._connection_error(call.method, exc) from None
        log.debug("%s -> HTTP %s in %.1f ms", call.method, response.status_code, (time.monotonic() - started) * 1000)
        envelope = self._read(call.method, call.request_id, response)
        self._note_clock(envelope.get("usOut"))
        return envelope

    def _note_clock(self, us_out) -> None:
        if isinstance(us_out, int) and not isinstance(us_out, bool) and us_out > 0:
            with self._lock:
                self._clock_offset_ms = us_out // 1000 - int(time.time() * 1000)

    def _connection_error(self, method: str, exc: BaseException) -> VenueError:
        import requests

        kind = type(exc).__name__
        if never_sent(exc):
            return NetworkError(f"{method}: could not connect to {self.settings.base_url} ({kind}); nothing was sent")
        if isinstance(exc, requests.exceptions.ReadTimeout):
            return OutcomeUnknown(f"{method}: no reply within {self.settings.read_timeout:g}s ({kind})")
        return OutcomeUnknown(f"{method}: connection failed after the request was sent ({kind})")

    def _read(self, method: str, request_id: int | None, response) -> dict:
        status = response.status_code
        try:
            envelope = wire.loads(response.content)
        except ValueError:
            envelope = None
        if isinstance(envelope, dict) and isinstance(envelope.get("error"), dict):
            error = envelope["error"]
            exc = error_for(error.get("code"), self._clean(str(error.get("message") or "")),
                            _clean_data(error.get("data"), self._clean), method=method)
            if _refuses_reduce_only(exc, error.get("data")):
                exc = ReduceOnlyRefused(exc.message, code=exc.code)
            if status == 429 and not isinstance(exc, RateLimited):
                exc = RateLimited(exc.message, code=exc.code)
            if isinstance(exc, RateLimited):
                exc.retry_after = _retry_after(response)
            raise exc
        if status == 429:
            raise RateLimited(f"{method}: HTTP 429 too many requests", retry_after=_retry_after(response))
        if status >= 500:
            raise OutcomeUnknown(f"{method}: HTTP {status} from the venue")
        if not (200 <= status < 300) or not isinstance(envelope, dict) or "result" not in envelope:
            raise InvalidReply(f"{method}: HTTP {status} with no JSON-RPC result")
        if request_id is not None and envelope.get("id") not in (None, request_id):
            raise InvalidReply(f"{method}: reply id {envelope.get('id')!r} does not match request id {request_id}")
        return envelope


def _refuses_reduce_only(exc: VenueError, data) -> bool:
    """A refusal whose ``data`` names the ``reduce_only`` parameter (``{"param": "reduce_only", ...}``).

    Deribit has no code of its own for a reduce-only order that would not reduce the position:
    it answers a parameter refusal (11029 ``invalid_arguments``) whose ``data.param`` names it.
    Other refusals stay as they are; the core then asks the position (``gps_positions``).
    """
    return isinstance(exc, InvalidOrder) and isinstance(data, dict) and data.get("param") == "reduce_only"


def _retry_after(response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _clean_data(data, clean) -> str | None:
    if data in (None, "", {}):
        return None
    return clean(wire.dumps(data) if isinstance(data, (dict, list)) else str(data))
