"""Conformance harness for ``gps venues certify dryrun`` and the plugin's own tests.

The dry-run venue is its own fake venue: faults are arranged through the same fault plan a
user sets in ``GPS_DRYRUN_FAULTS``, and the book of record is the paper store.
"""

from __future__ import annotations

import shutil
import tempfile
from decimal import Decimal
from pathlib import Path

from gps_core.testing.conformance import Harness

from .. import DryRunVenue
from ..config import FAULTS_ENV, VENUE


class DryRunHarness(Harness):
    """A dry-run venue with a private ``GPS_HOME`` in a temporary directory."""

    name = VENUE
    certified_against = "the dry-run venue itself: the offline paper market and a temporary paper store"

    def __init__(self, home: Path | None = None):
        self._owned = home is None
        self.home = Path(tempfile.mkdtemp(prefix="gps-dryrun-")) if home is None else Path(home)
        self.environ: dict[str, str] = {"GPS_HOME": str(self.home)}

    def plugin(self) -> DryRunVenue:
        # Every instance shares this harness's environment, so arranged faults reach it.
        return DryRunVenue(self.environ, sleep=lambda seconds: None)

    def arrange(self, fault: str, **params) -> bool:
        if fault in ("rest", "fill"):
            return True  # a passive order rests and an aggressive one fills on their own
        clause = {
            "partial": f"partial={Decimal(params.get('fraction', '0.5'))} x1@*",
            "lose_reply": "unknown_after_accept x1@*",
            "rate_limit": "rate_limit=1@*",
        }.get(fault)
        if clause is None:
            return False
        self.environ[FAULTS_ENV] = clause
        self.plugin().broker().reset_fault_counters()
        return True

    def orders_at_venue(self, client_order_id: str, order=None) -> int:
        return sum(o.client_order_id == client_order_id for o in self.plugin().broker().orders())

    def close(self) -> None:
        if self._owned:
            shutil.rmtree(self.home, ignore_errors=True)
