"""A dry run's venue is an ordinary venue behind the same facade: the real one's public data, paper fills.

Asserted at both books of record: the real venue (it must see no order) and the paper store.
"""

import json
from decimal import Decimal as D

from gps_core.instruments import OptionKey
from gps_core.model import OrderRequest, Side, VenueOrderStatus
from gps_core.plugins import PluginHost, Venue
from gps_core.simulated import simulated

from recording_venue import RecordingVenue

KEY = OptionKey.parse("BTC-25DEC26-100000-C")


def real_venue():
    plugin = RecordingVenue("livev", ask="100")
    host = PluginHost(environ={})
    host.register(plugin, "livev")
    return plugin, host.venue("livev")


def test_a_dry_run_order_goes_through_the_hooks_into_the_paper_store_never_to_the_real_venue(tmp_path):
    plugin, real = real_venue()
    venue = simulated(real, tmp_path)
    assert isinstance(venue, Venue) and venue.name == "livev" and venue.info.paper and not real.info.paper
    instrument = venue.find_instrument(KEY)
    assert venue.order_book(instrument, 5).asks[0].price == D(100)  # the real venue's public book
    placed = venue.place(OrderRequest("gps-sim-L1-1", instrument, Side.BUY, D(1), D(100)))
    assert placed.status is VenueOrderStatus.FILLED and placed.average_price == D(100)
    assert not any(call[0] in ("place", "status", "cancel") for call in plugin.calls)
    store = json.loads((tmp_path / "paper" / "livev.json").read_text())["orders"]
    (stored,) = [o for o in store if o["client_order_id"] == "gps-sim-L1-1"]
    assert D(stored["quantity"]) == D(1)
    assert venue.order_status(OrderRequest("gps-sim-L1-1", instrument, Side.BUY, D(1), D(100))).status \
        is VenueOrderStatus.FILLED
    assert venue.has_positions and [(p.symbol, p.quantity) for p in venue.positions("BTC")] == [(instrument.symbol, D(1))]
    assert venue.positions("ETH") == []
