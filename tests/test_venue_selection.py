"""Venue selection (service.price_strategy): one kind of venue per plan, down venues named, offline labelled."""

import pytest

from gps_core.errors import BadInput
from gps_core.hookspecs import hookimpl
from gps_core.plugins import PluginHost
from gps_core.routing import plan_strategy
from gps_core.service import Context, price_strategy
from gps_core.strategy import strategy_from_specs

from builders import FUTURE, key
from recording_venue import RecordingVenue

LEG = strategy_from_specs([f"buy 1 {key(expiry=FUTURE).name}"])


class DownVenue(RecordingVenue):
    """A live venue that cannot be reached."""

    @hookimpl
    def gps_find_instrument(self, key):
        raise ConnectionError("could not connect")


def context(tmp_path, *venues):
    host = PluginHost(environ={})
    for venue in venues:
        host.register(venue, venue.name)
    return Context(environ={"GPS_HOME": str(tmp_path)}, _host=host)


def test_auto_routes_a_live_run_among_live_venues_only_even_when_paper_is_cheaper(tmp_path):
    paper, live = RecordingVenue("paperv", ask="1", paper=True), RecordingVenue("livev", ask="100")
    pricing = price_strategy(context(tmp_path, paper, live), LEG, "auto")
    assert [v.name for v in pricing.venues] == ["livev"] and pricing.live
    assert not [c for c in paper.calls if c[0] in ("find", "book")]  # the paper market is not even asked
    plan = plan_strategy(LEG, pricing.quotes, market=pricing.market)
    assert plan.venues == ["livev"] and plan.market.kind == "live" and not plan.market.offline


def test_auto_with_only_paper_venues_is_paper_and_says_why(tmp_path):
    pricing = price_strategy(context(tmp_path, RecordingVenue("paperv", paper=True)), LEG, "auto")
    assert not pricing.live and pricing.market.kind == "paper" and pricing.market.offline
    assert "no live venue is installed" in pricing.market.note


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_list_naming_paper_and_live_venues_is_refused(tmp_path, dry_run):
    ctx = context(tmp_path, RecordingVenue("paperv", paper=True), RecordingVenue("livev"))
    with pytest.raises(BadInput, match=r"mixes paper \(paperv\) and live \(livev\)"):
        price_strategy(ctx, LEG, "paperv,livev", dry_run=dry_run)


def test_dry_run_falls_back_to_the_offline_market_only_when_no_real_venue_answers(tmp_path):
    paper = RecordingVenue("paperv", paper=True)
    down = DownVenue("downv")
    pricing = price_strategy(context(tmp_path, paper, down), LEG, "auto", dry_run=True)
    assert [v.name for v in pricing.venues] == ["paperv"]
    assert pricing.market.offline and pricing.market.kind == "dry-run" and "downv" in pricing.market.note
    plan = plan_strategy(LEG, pricing.quotes, market=pricing.market)
    assert plan.venues == ["paperv"] and [u.venue for u in plan.unpriced] == ["downv"]


def test_dry_run_with_one_real_venue_up_stays_on_real_data(tmp_path):
    paper, up, down = RecordingVenue("paperv", ask="1", paper=True), RecordingVenue("upv"), DownVenue("downv")
    pricing = price_strategy(context(tmp_path, paper, up, down), LEG, "auto", dry_run=True)
    plan = plan_strategy(LEG, pricing.quotes, market=pricing.market)
    assert plan.venues == ["upv"] and not plan.market.offline
    assert [u.venue for u in plan.unpriced] == ["downv"]


def test_a_live_run_never_falls_back_to_paper(tmp_path):
    pricing = price_strategy(context(tmp_path, RecordingVenue("paperv", paper=True), DownVenue("downv")), LEG, "auto")
    assert [v.name for v in pricing.venues] == ["downv"] and pricing.live
    assert all(q.failed for q in pricing.quotes[0])
