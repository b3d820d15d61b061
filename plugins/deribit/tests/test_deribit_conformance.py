"""The core's venue conformance suite (one test per check), run on the Deribit plugin against the fake server."""

from __future__ import annotations

import pytest

from gps_core.testing.conformance import VenueConformance
from gps_venue_deribit.harness import DeribitHarness


class TestDeribitConformance(VenueConformance):
    @pytest.fixture
    def harness(self):
        with DeribitHarness() as harness:
            yield harness
