"""One Deribit connection: settings from the environment, transport, login, market, orders."""

from __future__ import annotations

import os
import threading
from typing import Mapping

from gps_core.api import AuthenticationError
from gps_core.api import AuthResult
from gps_core.api import Secret

from .auth import RequestSigner, TokenManager
from .config import CLIENT_ID_ENV, CLIENT_SECRET_ENV, VENUE, Settings
from .instrument_cache import InstrumentCache, cache_path
from .market import Market
from .orders import Orders
from .transport import Transport


def instrument_cache(environ: Mapping[str, str], base_url: str, *, explicit: bool) -> InstrumentCache:
    """The on-disk instrument cache under ``$GPS_HOME/cache`` (gps's state directory).

    A client made from an explicit environment without ``GPS_HOME`` (tests, embedding code)
    keeps its instruments in memory only: it never writes into the user's own state directory.
    """
    if explicit and not environ.get("GPS_HOME"):
        return InstrumentCache(None, base_url)
    from gps_core.api import gps_home

    return InstrumentCache(cache_path(gps_home(environ) / "cache", base_url), base_url)


class DeribitBackend:
    """Everything the hooks need, built from ``environ`` (``os.environ`` by default).

    Public market data works at once; orders need :meth:`authenticate` first.
    """

    def __init__(self, environ: Mapping[str, str] | None = None, *, settings: Settings | None = None, session=None):
        env = os.environ if environ is None else environ
        self.settings = settings or Settings.from_environ(env)
        self.transport = Transport(self.settings, session)
        self.market = Market(self.transport, cache=instrument_cache(env, self.settings.base_url, explicit=environ is not None))
        self._orders: Orders | None = None
        self._tokens: TokenManager | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DeribitBackend({self.settings.base_url!r}, authenticated={self._orders is not None})"

    def authenticate(self, credentials: Mapping[str, Secret], **token_options) -> AuthResult:
        """Log in with ``DERIBIT_CLIENT_ID`` / ``DERIBIT_CLIENT_SECRET`` from ``credentials``."""
        client_id, secret = credentials.get(CLIENT_ID_ENV), credentials.get(CLIENT_SECRET_ENV)
        if not client_id or not secret:
            missing = [n for n, v in ((CLIENT_ID_ENV, client_id), (CLIENT_SECRET_ENV, secret)) if not v]
            raise AuthenticationError(
                f"missing {' and '.join(missing)}: Deribit needs {CLIENT_ID_ENV} and {CLIENT_SECRET_ENV} "
                "(environment or credentials.toml)", venue=VENUE)
        tokens = TokenManager(self.transport, Secret(client_id), Secret(secret), **token_options)
        # The login checks the credentials (and reports their scope) before anything is sent;
        # with signed requests (the default) it is the only use of the token.
        tokens.login()
        signer = RequestSigner(Secret(client_id), Secret(secret)) if self.settings.auth == "signature" else None
        orders = Orders(self.transport, tokens, signer)
        orders.on_instrument_refused = self.market.forget
        with self._lock:
            self._tokens = tokens
            self._orders = orders
        if signer is not None:  # the connections prepared orders go on, opened off the critical path
            threading.Thread(target=self.transport.warm, name="deribit-warm", daemon=True).start()
        scope = tokens.scope
        return AuthResult(venue=VENUE, account=None, testnet=tokens.testnet or self.settings.testnet,
                          detail=f"{self.settings.base_url} scope: {scope}" if scope else self.settings.base_url)

    @property
    def combos(self):
        """Combo books (:mod:`gps_venue_deribit.combos`); creating one needs :meth:`authenticate` first."""
        from .combos import Combos

        return Combos(self.market, lambda method, params: self.orders._safe(method, params))

    @property
    def orders(self) -> Orders:
        with self._lock:
            if self._orders is None:
                raise AuthenticationError("not logged in: gps_authenticate must run before private calls", venue=VENUE)
            return self._orders
