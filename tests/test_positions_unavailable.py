"""A venue whose plugin has no ``gps_positions``: listed as unavailable; closes go by the journal alone."""

from decimal import Decimal as D

from gps_core.closing import close_request, plan_close
from gps_core.cli_positions import positions_text
from gps_core.execution import ExecutionRequest, prepare, run
from gps_core.hookspecs import hookimpl
from gps_core.plugins import PluginHost
from gps_core.positions import journal_holdings, positions_report, venue_positions
from gps_core.service import Context
from gps_core.strategy import strategy_from_specs

from builders import FUTURE, key
from recording_venue import RecordingVenue


class Quiet:
    def progress(self, message):
        pass

    def show_plan(self, plan):
        pass

    def confirm(self, venues):
        return True


class KeepingVenue(RecordingVenue):
    """Records every order request it is sent (its book of record); no gps_positions hook."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.requests = []

    @hookimpl
    def gps_place(self, order):
        self.requests.append(order)
        return super().gps_place(order)


class PositionsVenue(KeepingVenue):
    """The same venue with the hook, reporting a fixed holding."""

    def __init__(self, *args, held=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.held = held or []

    @hookimpl
    def gps_positions(self, underlying):
        return self.held


def context(tmp_path, *venues):
    host = PluginHost(environ={})
    for venue in venues:
        host.register(venue, venue.name)
    return Context(environ={"GPS_HOME": str(tmp_path)}, _host=host)


def test_a_venue_without_the_hook_is_listed_as_unavailable_and_closed_by_the_journal(tmp_path):
    venue = KeepingVenue("nopos", paper=True)
    ctx = context(tmp_path, venue)
    assert not ctx.host.venue("nopos").has_positions
    leg = key(expiry=FUTURE).name
    opened = run(ctx, prepare(ctx, ExecutionRequest(strategy_from_specs([f"buy 2 {leg}"]), venue="nopos"), Quiet()),
                 Quiet())
    answers = venue_positions(ctx, ctx.host.venues())
    assert [(a.venue, a.available) for a in answers] == [("nopos", False)]
    report = positions_report(answers, journal_holdings(ctx.home))
    assert positions_text(report) == "nopos: positions unavailable"
    plan = plan_close(ctx, "last")
    assert plan.execution_id == opened.execution_id
    assert any("cannot report positions" in note for note in plan.notes)
    assert [(leg.side.value, leg.quantity, leg.venue_quantity) for leg in plan.legs] == [("sell", D(2), None)]
    closed = run(ctx, prepare(ctx, close_request(plan, yes=True), Quiet()), Quiet())
    assert closed.result.all_filled
    sent = venue.requests[-1]
    assert (sent.side.value, sent.quantity, sent.instrument.symbol) == ("sell", D(2), leg)
    assert not sent.reduce_only  # the venue does not declare Capability.REDUCE_ONLY
    assert plan_close(ctx, opened.execution_id).to_send == []


def test_the_venue_holding_the_other_side_closes_nothing(tmp_path):
    from gps_core.model import Position

    venue = PositionsVenue("withpos", paper=True)
    ctx = context(tmp_path, venue)
    leg = key(expiry=FUTURE).name
    run(ctx, prepare(ctx, ExecutionRequest(strategy_from_specs([f"buy 2 {leg}"]), venue="withpos"), Quiet()), Quiet())
    venue.held = [Position("withpos", leg, D(-1), "USD")]  # the venue says short: nothing of ours to sell
    plan = plan_close(ctx, "last")
    assert [(leg.quantity, leg.venue_quantity) for leg in plan.legs] == [(D(0), D(-1))]
    assert plan.to_send == [] and "holds -1" in plan.notes[0]
