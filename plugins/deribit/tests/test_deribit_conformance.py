"""The core's venue conformance suite (one test per check), run on the Deribit plugin against the fake server."""

from __future__ import annotations

import pytest

from gps_core.testing.conformance import VenueConformance
from gps_venue_deribit.testing.harness import DeribitHarness, DeribitLinearHarness


class TestDeribitConformance(VenueConformance):
    @pytest.fixture
    def harness(self):
        with DeribitHarness() as harness:
            yield harness


class TestDeribitLinearConformance(VenueConformance):
    """The same checks on the linear USDC options (``SOL_USDC-...``)."""

    @pytest.fixture
    def harness(self):
        with DeribitLinearHarness() as harness:
            yield harness
