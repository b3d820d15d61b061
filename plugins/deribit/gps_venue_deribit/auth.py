"""Login with ``public/auth`` (``client_signature``) and a bearer token kept fresh.

Why ``client_signature``: the client secret never travels; only an HMAC-SHA256 of
``timestamp + "\\n" + nonce + "\\n" + data`` does, with a single-use nonce. The returned
token is scoped ``session:gps`` so it is valid on every HTTP connection of the pool.

The token is refreshed with ``grant_type=refresh_token`` once :data:`REFRESH_AT` of its
lifetime has passed; if the refresh fails the manager logs in again from scratch. Every
value that could authorise a request (secret, access and refresh tokens) is held as a
:class:`~gps_core.secrets.Secret` and registered with the transport's redaction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as _random
import threading
import time
from dataclasses import dataclass
from typing import Callable

from gps_core.api import AuthenticationError, InvalidReply, VenueError
from gps_core.api import retry_safe
from gps_core.api import to_decimal
from gps_core.api import Secret, register_secret_values

from .config import SESSION_NAME
from .transport import Transport

#: Fraction of a token's lifetime after which it is refreshed.
REFRESH_AT = 0.8


def client_signature(secret: str, timestamp_ms: int, nonce: str, data: str = "") -> str:
    """Deribit's ``client_signature``: lower-hex HMAC-SHA256 of ``ts\\nnonce\\ndata``."""
    message = f"{timestamp_ms}\n{nonce}\n{data}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


#: The scheme of Deribit's per-request signature header.
HMAC_SCHEME = "deri-hmac-sha256"


def request_signature(secret: str, timestamp_ms: int, nonce: str, http_method: str, uri: str, body: str) -> str:
    """Deribit's per-request signature (API v2 "Deribit signature credentials"): lower-hex
    HMAC-SHA256, keyed with the client secret, of
    ``ts\\nnonce\\n`` + ``UPPER(method)\\nURI\\nbody\\n`` where URI is the path and ``?query``
    exactly as sent and body the exact bytes sent (``""`` for GET)."""
    message = f"{timestamp_ms}\n{nonce}\n{http_method.upper()}\n{uri}\n{body}\n".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class RequestSigner:
    """Signs each private request with ``Authorization: deri-hmac-sha256 id=..,ts=..,sig=..,nonce=..``.

    No login round trip and no token to expire: every request carries its own proof, made from
    a fresh single-use nonce and a timestamp on the venue's clock (``clock_offset_ms``, from the
    last reply) so a skewed local clock stays inside Deribit's 60 s window. The secret is only
    ever an HMAC key: it is in no header, URL, log line or error text.
    """

    def __init__(self, client_id: Secret, client_secret: Secret, *,
                 wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
                 nonce: Callable[[], str] = lambda: _random.token_hex(8)):
        self._client_id, self._client_secret = client_id, client_secret
        self._wall_ms, self._nonce = wall_ms, nonce
        register_secret_values([client_secret])

    def __repr__(self) -> str:
        return "RequestSigner(deri-hmac-sha256)"

    def header(self, http_method: str, uri: str, body: str, clock_offset_ms: int = 0) -> str:
        """The ``Authorization`` value for one request (``uri``: path and query as sent)."""
        timestamp, nonce = self._wall_ms() + clock_offset_ms, self._nonce()
        signature = request_signature(self._client_secret.reveal(), timestamp, nonce, http_method, uri, body)
        return f"{HMAC_SCHEME} id={self._client_id.reveal()},ts={timestamp},sig={signature},nonce={nonce}"


@dataclass
class _Token:
    access: Secret
    refresh: Secret | None
    refresh_after: float  # monotonic clock
    scope: str
    testnet: bool


class TokenManager:
    """Holds one access token for a client id/secret pair. Thread-safe.

    :param clock: monotonic seconds (injectable so tests can age a token without sleeping).
    :param wall_ms: wall-clock milliseconds for the signature timestamp.
    :param nonce: returns a fresh single-use nonce.
    """

    def __init__(
        self,
        transport: Transport,
        client_id: Secret,
        client_secret: Secret,
        *,
        session_name: str = SESSION_NAME,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        nonce: Callable[[], str] = lambda: _random.token_hex(8),
    ):
        self._transport = transport
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = f"session:{session_name}"
        self._clock, self._wall_ms, self._nonce = clock, wall_ms, nonce
        self._token: _Token | None = None
        self._lock = threading.Lock()
        transport.add_secret_values(client_secret.reveal())
        register_secret_values([client_secret])

    def __repr__(self) -> str:
        return f"TokenManager(scope={self._scope!r}, logged_in={self._token is not None})"

    @property
    def testnet(self) -> bool:
        return bool(self._token and self._token.testnet)

    @property
    def scope(self) -> str:
        return self._token.scope if self._token else ""

    def token(self) -> str:
        """A valid access token: logs in or refreshes first when needed."""
        with self._lock:
            current = self._token
            if current is None:
                self._token = self._login()
            elif self._clock() >= current.refresh_after:
                self._token = self._refresh(current)
            return self._token.access.reveal()

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (the venue refused it); the next :meth:`token` logs in again."""
        with self._lock:
            if self._token is not None and self._token.access.reveal() == token:
                self._token = None

    def login(self) -> None:
        """Log in now (``gps_authenticate``), replacing any token held."""
        with self._lock:
            self._token = self._login()

    # --- grants ------------------------------------------------------------------------

    def _login(self) -> _Token:
        def attempt() -> dict:
            timestamp, nonce = self._wall_ms(), self._nonce()
            params = {
                "grant_type": "client_signature",
                "client_id": self._client_id.reveal(),
                "timestamp": timestamp,
                "nonce": nonce,
                "data": "",
                "signature": client_signature(self._client_secret.reveal(), timestamp, nonce),
                "scope": self._scope,
            }
            return self._transport.call("public/auth", params)

        # Each attempt signs afresh: a nonce is single-use.
        return self._accept(retry_safe(attempt))

    def _refresh(self, current: _Token) -> _Token:
        if current.refresh is None:
            return self._login()
        params = {"grant_type": "refresh_token", "refresh_token": current.refresh.reveal()}
        try:
            return self._accept(retry_safe(lambda: self._transport.call("public/auth", params)))
        except VenueError:
            return self._login()

    def _accept(self, envelope: dict) -> _Token:
        result = envelope.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("access_token"), str):
            raise InvalidReply("public/auth: reply has no access_token")
        access = Secret(result["access_token"])
        refresh = Secret(result["refresh_token"]) if isinstance(result.get("refresh_token"), str) else None
        lifetime = to_decimal(result.get("expires_in"), field="public/auth expires_in")
        if lifetime <= 0:
            raise AuthenticationError("public/auth: token already expired (expires_in <= 0)")
        values = [access] + ([refresh] if refresh else [])
        self._transport.add_secret_values(*(v.reveal() for v in values))
        register_secret_values(values)
        return _Token(
            access=access,
            refresh=refresh,
            refresh_after=self._clock() + float(lifetime) * REFRESH_AT,
            scope=str(result.get("scope") or ""),
            testnet=bool(envelope.get("testnet")),
        )
