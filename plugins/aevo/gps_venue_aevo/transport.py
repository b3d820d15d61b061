"""Aevo REST over HTTP: one shared session, HMAC-signed private calls, replies checked and mapped.

Nothing here retries: the caller decides (safe reads go through ``retry_safe``, order
placement never does). Messages never contain a header value, a body or a secret.
"""

from __future__ import annotations

import json
import logging
import threading
from decimal import Decimal
from typing import Any, Mapping
from urllib.parse import urlencode

import requests

from gps_core.api import AuthenticationError, NetworkError, OutcomeUnknown
from gps_core.api import never_sent, new_session
from gps_core.api import Secret

from . import auth
from .config import Settings
from .errors import error_for

log = logging.getLogger(__name__)

#: (connect, read) seconds. A read timeout after a POST /orders means "unknown", never "rejected".
TIMEOUT = (5.0, 10.0)


class ApiKey:
    """The API key pair; prints masked."""

    __slots__ = ("key", "secret")

    def __init__(self, key: Secret, secret: Secret):
        self.key, self.secret = key, secret

    def __repr__(self) -> str:
        return "ApiKey('***')"


class Transport:
    """Aevo's REST API for one environment (mainnet, testnet or a fake server)."""

    def __init__(self, settings: Settings, session=None, timeout=None):
        self.settings = settings
        self.base_url = settings.base_url
        self.timeout = timeout or (TIMEOUT[0], settings.read_timeout)
        self._session = session or new_session()
        self._api_key: ApiKey | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Transport({self.base_url!r}, authenticated={self._api_key is not None})"

    def set_api_key(self, api_key: ApiKey) -> None:
        with self._lock:
            self._api_key = api_key

    # --- transport ---------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                body: bytes | None = None, private: bool = False, placing: bool = False) -> Any:
        """Send one request and return its parsed JSON (numbers as ``Decimal``).

        :raises NetworkError: the request certainly never reached Aevo.
        :raises OutcomeUnknown: it may have (timeout, dropped connection, 5xx, unreadable reply).
        :raises VenueError: Aevo answered with an error (see :mod:`gps_venue_aevo.errors`).
        """
        target = path + (f"?{urlencode(params)}" if params else "")
        what = f"{method} {path}"
        data = body or b""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if private:
            api_key = self._api_key
            if api_key is None:
                raise AuthenticationError(f"{what}: not authenticated (set AEVO_API_KEY and AEVO_API_SECRET)")
            headers.update(auth.auth_headers(api_key.key.reveal(), api_key.secret.reveal(), method, target, data))
        try:
            response = self._session.request(method, self.base_url + target, data=data or None,
                                             headers=headers, timeout=self.timeout, allow_redirects=False)
        except requests.exceptions.RequestException as exc:
            if never_sent(exc):
                raise NetworkError(f"{what}: could not connect to {self.base_url} ({type(exc).__name__})") from None
            unknown = "" if method == "GET" else "; the outcome is unknown"
            raise OutcomeUnknown(f"{what}: no reply ({type(exc).__name__}){unknown}") from None
        log.debug("%s -> HTTP %s", what, response.status_code)
        return self._reply(response, what, placing)

    @staticmethod
    def _reply(response, what: str, placing: bool) -> Any:
        try:
            payload = json.loads(response.content, parse_float=Decimal) if response.content else None
        except ValueError:
            payload = None
            if 200 <= response.status_code < 300:
                raise OutcomeUnknown(f"{what}: unreadable reply (HTTP {response.status_code})") from None
        error_reply = isinstance(payload, dict) and payload.get("error")
        if 200 <= response.status_code < 300 and not error_reply:
            if payload is None:
                raise OutcomeUnknown(f"{what}: empty reply (HTTP {response.status_code})")
            return payload
        raise error_for(response.status_code, payload, response.headers, what=what, placing=placing)

    # --- endpoints ---------------------------------------------------------------------

    def markets(self, asset: str) -> Any:
        return self.request("GET", "/markets", params={"asset": asset, "instrument_type": "OPTION"})

    def orderbook(self, instrument_name: str) -> Any:
        return self.request("GET", "/orderbook", params={"instrument_name": instrument_name})

    def index(self, asset: str) -> Any:
        return self.request("GET", "/index", params={"asset": asset})

    def account(self) -> Any:
        return self.request("GET", "/account", private=True)

    def positions(self) -> Any:
        """``GET /positions``: the account's open positions (see :mod:`gps_venue_aevo.positions`)."""
        return self.request("GET", "/positions", private=True)

    def create_order(self, body: bytes) -> Any:
        """``POST /orders``, sent exactly once."""
        return self.request("POST", "/orders", body=body, private=True, placing=True)

    def order(self, order_id: str) -> Any:
        return self.request("GET", f"/orders/{order_id}", private=True)

    def order_history(self, start_time_ns: int, end_time_ns: int, *, offset: int = 0, limit: int = 50) -> Any:
        """One page of ``GET /order-history`` (see :mod:`gps_venue_aevo.history`)."""
        return self.request("GET", "/order-history", params={
            "start_time": start_time_ns, "end_time": end_time_ns, "limit": limit, "offset": offset}, private=True)

    def trade_history(self, asset: str, start_time_ns: int, end_time_ns: int, *, offset: int = 0,
                      limit: int = 50) -> Any:
        """One page of ``GET /trade-history``: the account's option fills on ``asset``."""
        return self.request("GET", "/trade-history", params={
            "asset": asset, "instrument_type": "OPTION", "start_time": start_time_ns, "end_time": end_time_ns,
            "limit": limit, "offset": offset}, private=True)

    def cancel_order(self, order_id: str) -> Any:
        return self.request("DELETE", f"/orders/{order_id}", private=True)
