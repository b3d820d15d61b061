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


def test_a_non_venue_wrapper_sees_dry_run_orders_on_a_real_venue(tmp_path, monkeypatch):
    """The risk guard example refuses a big order under ``--dry-run`` as it does live: nothing is filled on paper."""
    import importlib.util
    from pathlib import Path

    from gps_core.execution import ExecutionRequest, prepare, run
    from gps_core.service import Context
    from gps_core.strategy import strategy_from_specs

    path = Path(__file__).resolve().parents[1] / "examples" / "risk_guard" / "gps_risk_guard.py"
    spec = importlib.util.spec_from_file_location("gps_risk_guard", path)
    guard = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(guard)
    monkeypatch.setenv("GPS_MAX_ORDER_NOTIONAL", "10")
    plugin = RecordingVenue("livev", ask="100")
    host = PluginHost(environ={})
    host.register(plugin, "livev")
    host.register(guard, "risk_guard", venue=False)
    ctx = Context(environ={"GPS_HOME": str(tmp_path)}, _host=host)

    class Quiet:
        progress = show_plan = staticmethod(lambda *a: None)
        confirm = staticmethod(lambda venues: True)

    request = ExecutionRequest(strategy_from_specs([f"buy 1 {KEY.name}"]), venue="livev", dry_run=True, yes=True,
                               on_partial="keep")
    outcome = run(ctx, prepare(ctx, request, Quiet()), Quiet())
    assert not outcome.result.all_filled
    assert "GPS_MAX_ORDER_NOTIONAL" in (outcome.result.legs[0].reason or "")
    store = tmp_path / "paper" / "livev.json"
    assert not store.exists() or json.loads(store.read_text())["orders"] == []  # the paper book of record
    assert not any(call[0] == "place" for call in plugin.calls)
