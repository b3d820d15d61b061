"""The conformance-suite harness for Deribit: the plugin wired to a fake Deribit server.

Exposed under the entry-point group ``gps.harnesses`` so ``gps venues certify deribit``
can run the core's conformance checks against the fake server.
"""

from __future__ import annotations

from gps_core.testing.conformance import Harness

from .. import DeribitVenue
from .fake_server import FakeDeribit

ORDER_METHODS = ("private/buy", "private/sell")


class DeribitHarness(Harness):
    """A fake Deribit server (started here, stopped by :meth:`close`) and plugins pointed at it."""

    name = "deribit"
    certified_against = "a fake Deribit JSON-RPC server on 127.0.0.1 (gps_venue_deribit.testing.fake_server)"

    def __init__(self):
        self.server = FakeDeribit().start()

    def plugin(self) -> DeribitVenue:
        from ..backend import DeribitBackend

        return DeribitVenue(DeribitBackend({"DERIBIT_BASE_URL": self.server.url}))

    def credentials(self) -> dict[str, str]:
        return {"DERIBIT_CLIENT_ID": self.server.state.client_id,
                "DERIBIT_CLIENT_SECRET": self.server.state.client_secret}

    def arrange(self, fault: str, **params) -> bool:
        faults = self.server.state.faults
        if fault in ("rest", "fill"):
            return True  # the fake's books rest passive orders and fill marketable ones
        if fault == "partial":
            faults.inject("partial", method=ORDER_METHODS, fraction=params.get("fraction", "0.5"))
        elif fault == "lose_reply":
            faults.inject("drop_after", method=ORDER_METHODS)
        elif fault == "rate_limit":
            faults.inject("http429", method=ORDER_METHODS, retry_after=1)
        else:
            return False
        return True

    def orders_at_venue(self, client_order_id: str, order=None) -> int:
        return self.server.state.order_count(client_order_id)

    def close(self) -> None:
        self.server.stop()


class DeribitLinearHarness(DeribitHarness):
    """The same fake Deribit, certified on its linear USDC options (``SOL_USDC-...``).

    ``gps venues certify deribit-usdc`` runs it; the suite lists ``SOL``, which Deribit lists only
    as linear, and trades the ``SOL_USDC`` contracts (prices in USDC, amounts in SOL).
    """

    def underlying(self) -> str:
        return "SOL"
