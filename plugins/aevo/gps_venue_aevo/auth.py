"""Aevo's REST request signature (the API secret itself is never sent).

``AEVO-SIGNATURE = hex(HMAC_SHA256(secret, "key,timestamp,METHOD,path,body"))`` where the
timestamp is UNIX nanoseconds, ``path`` is the URL path without its query string and
``body`` is the exact request body (empty string when there is none).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlsplit


def signed_path(request_target: str) -> str:
    """The part of a request target that is signed: the path, without the query string."""
    return urlsplit(request_target).path or "/"


def signature(api_key: str, api_secret: str, timestamp: str, method: str, path: str, body: str) -> str:
    """Lowercase hex HMAC-SHA256 over ``key,timestamp,method,path,body``.

    ``method`` is used as given: uppercase for REST (``GET``), ``ws`` for WebSocket messages.
    """
    message = ",".join((api_key, timestamp, method, path, body))
    return hmac.new(api_secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def auth_headers(api_key: str, api_secret: str, method: str, request_target: str, body: bytes,
                 timestamp_ns: int | None = None) -> dict[str, str]:
    """The three authentication headers for one request whose body is exactly ``body``."""
    timestamp = str(time.time_ns() if timestamp_ns is None else timestamp_ns)
    sig = signature(api_key, api_secret, timestamp, method.upper(), signed_path(request_target), body.decode())
    return {"AEVO-KEY": api_key, "AEVO-TIMESTAMP": timestamp, "AEVO-SIGNATURE": sig}
