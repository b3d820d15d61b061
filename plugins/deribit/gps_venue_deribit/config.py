"""The venue's name, and where the plugin connects and how, read from the environment when a backend is made."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

VENUE = "deribit"
PRODUCTION_URL = "https://www.deribit.com"
TESTNET_URL = "https://test.deribit.com"
API_PREFIX = "/api/v2"

READ_TIMEOUT_ENV = "DERIBIT_READ_TIMEOUT"
CLIENT_ID_ENV = "DERIBIT_CLIENT_ID"
CLIENT_SECRET_ENV = "DERIBIT_CLIENT_SECRET"
TESTNET_ENV = "DERIBIT_TESTNET"
BASE_URL_ENV = "DERIBIT_BASE_URL"
HTTP_FORM_ENV = "DERIBIT_HTTP_FORM"
COMBOS_ENV = "DERIBIT_COMBOS"
AUTH_ENV = "DERIBIT_AUTH"
#: How private requests are authorised: ``signature`` (each one signed, ``deri-hmac-sha256``)
#: or ``token`` (a bearer token from ``public/auth``, refreshed as it ages).
AUTH_MODES = ("signature", "token")

#: ``session:<name>`` scope requested by ``public/auth``: a token bound to a named session
#: is valid on every HTTP connection (a ``connection``-scoped one is not), and reusing one
#: fixed name keeps gps well under Deribit's 16 sessions per API key.
SESSION_NAME = "gps"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Settings:
    """Connection settings of one client.

    :param base_url: scheme and host (and port), without ``/api/v2``.
    :param http_form: ``post`` (JSON-RPC body, the default) or ``get`` (query string).
    :param connect_timeout: seconds to open a connection.
    :param read_timeout: seconds to wait for a reply once the request is sent.
    :param combos: offer combo books (``gps_combo_offer``); ``DERIBIT_COMBOS=off`` turns it off,
        and the plugin then behaves as a venue without combos (every leg its own order).
    :param auth: ``signature`` (the default; ``DERIBIT_AUTH``): every private request carries its
        own ``deri-hmac-sha256`` signature, so no order waits for a token; or ``token``.
    """

    base_url: str = PRODUCTION_URL
    http_form: str = "post"
    connect_timeout: float = 3.05
    read_timeout: float = 10.0
    combos: bool = True
    auth: str = "signature"

    @property
    def testnet(self) -> bool:
        return self.base_url.rstrip("/") == TESTNET_URL

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "Settings":
        """``DERIBIT_BASE_URL`` wins, then ``DERIBIT_TESTNET=1``, else production.

        ``DERIBIT_READ_TIMEOUT`` (seconds, default 10) bounds the wait for a reply; an order whose
        reply does not come in time is an unknown outcome, settled by lookup.
        """
        base = (environ.get(BASE_URL_ENV) or "").strip()
        if base:
            base = base.rstrip("/")
            if base.endswith(API_PREFIX):
                base = base[: -len(API_PREFIX)]
        elif (environ.get(TESTNET_ENV) or "").strip().lower() in _TRUE:
            base = TESTNET_URL
        else:
            base = PRODUCTION_URL
        form = (environ.get(HTTP_FORM_ENV) or "post").strip().lower()
        if form not in ("post", "get"):
            from gps_core.api import ConfigurationError

            raise ConfigurationError(f"{HTTP_FORM_ENV} must be 'post' or 'get', got {form!r}")
        from gps_core.api import seconds_from_env

        combos = (environ.get(COMBOS_ENV) or "on").strip().lower()
        if combos not in _TRUE | _FALSE:
            from gps_core.api import ConfigurationError

            raise ConfigurationError(f"{COMBOS_ENV} must be 'on' or 'off', got {combos!r}")
        auth = (environ.get(AUTH_ENV) or "signature").strip().lower()
        if auth not in AUTH_MODES:
            from gps_core.api import ConfigurationError

            raise ConfigurationError(f"{AUTH_ENV} must be 'signature' or 'token', got {auth!r}")
        return cls(base_url=base, http_form=form, auth=auth,
                   read_timeout=seconds_from_env(environ, READ_TIMEOUT_ENV, cls.read_timeout),
                   combos=combos in _TRUE)
