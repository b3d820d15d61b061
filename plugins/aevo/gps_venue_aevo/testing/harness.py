"""The conformance-suite harness for Aevo: the plugin wired to a fake Aevo server.

Exposed under the entry-point group ``gps.harnesses`` so ``gps venues certify aevo`` runs
the core's conformance checks against the fake server, with throwaway keys.
"""

from __future__ import annotations

from gps_core.testing.conformance import Harness

from .. import AevoVenue
from .fake_server import FakeAevo, serve
from ..signing import salt_for


class AevoHarness(Harness):
    """A fake Aevo server (started here, stopped by :meth:`close`) and plugins pointed at it."""

    name = "aevo"
    certified_against = "a fake Aevo REST server on 127.0.0.1 (gps_venue_aevo.testing.fake_server)"
    public_credentials = ("AEVO_WALLET_ADDRESS",)  # the order's maker: public on every order

    def __init__(self):
        self.fake = FakeAevo()
        self.server = serve(self.fake)
        self._credentials = self.fake.create_account()

    def plugin(self) -> AevoVenue:
        from ..config import Settings
        from ..backend import AevoBackend

        return AevoVenue(AevoBackend(Settings.from_environ({"AEVO_BASE_URL": self.server.url})))

    def credentials(self) -> dict[str, str]:
        return dict(self._credentials)

    def arrange(self, fault: str, **params) -> bool:
        if fault in ("rest", "fill"):
            return True  # the fake's books rest passive orders and fill marketable ones
        if fault == "partial":
            self.fake.inject("partial_fill", fraction=params.get("fraction", "0.5"))
        elif fault == "lose_reply":
            self.fake.inject("drop_after")
        elif fault == "rate_limit":
            self.fake.inject("rate_limit")
        else:
            return False
        return True

    def orders_at_venue(self, client_order_id: str, order=None) -> int:
        return len(self.fake.orders_for(salt_for(client_order_id)))

    def close(self) -> None:
        self.server.stop()
