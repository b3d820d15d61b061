"""The core's venue conformance suite, run against the plugin and the fake Aevo server."""

import pytest

from gps_core.testing.conformance import VenueConformance
from gps_venue_aevo.testing.harness import AevoHarness


class TestAevoConformance(VenueConformance):
    @pytest.fixture
    def harness(self):
        with AevoHarness() as harness:
            yield harness
