"""Refusals of what a venue cannot take: while planning, before anything is shown, confirmed or journaled.

And a refusal that still comes after ``execution_started`` journals the end, so the next
execution is not told to ``gps recover`` a run that sent nothing.
"""

from dataclasses import replace

import pytest

from gps_core.engine import Engine, ExecutionOptions, unwind_client_order_id
from gps_core.errors import BadInput, ConfigurationError
from gps_core.events import Event
from gps_core.execution import ExecutionRequest, prepare, preflight, run
from gps_core.journal import journal_dir, new_execution_id, read_events
from gps_core.model import CLIENT_ORDER_ID_MAX_LENGTH, Capability
from gps_core.plugins import PluginHost
from gps_core.service import Context
from gps_core.strategy import MAX_LEGS, strategy_from_specs

from builders import FUTURE, key
from recording_venue import RecordingVenue


class Watching:
    def __init__(self):
        self.shown, self.asked = [], []

    def progress(self, message):
        pass

    def show_plan(self, plan):
        self.shown.append(plan)

    def confirm(self, venues):
        self.asked.append(venues)
        return True


def context(tmp_path, venue):
    host = PluginHost(environ={})
    host.register(venue, venue.name)
    return Context(environ={"GPS_HOME": str(tmp_path)}, _host=host)


def request(venue, **options):
    return ExecutionRequest(strategy_from_specs([f"buy 1 {key(expiry=FUTURE).name}"]), venue=venue, **options)


def journals(tmp_path):
    folder = journal_dir(tmp_path)
    return sorted(folder.glob("*.jsonl")) if folder.exists() else []


def test_the_longest_id_gps_sends_is_the_documented_maximum():
    longest = unwind_client_order_id(new_execution_id(), MAX_LEGS - 1, ExecutionOptions().unwind_attempts)
    assert len(longest) == CLIENT_ORDER_ID_MAX_LENGTH


def test_ids_too_long_for_a_live_venue_are_refused_while_planning_and_the_next_execution_runs(tmp_path):
    venue = RecordingVenue("shortids", client_id_max_length=CLIENT_ORDER_ID_MAX_LENGTH - 1)
    ctx, ui = context(tmp_path, venue), Watching()
    with pytest.raises(BadInput, match=r"at most 37 characters.*nothing was sent"):
        prepare(ctx, request("shortids", yes=True), ui)
    assert ui.shown == [] and ui.asked == [] and journals(tmp_path) == []
    assert not [c for c in venue.calls if c[0] == "place"]
    preflight(ctx)  # nothing unfinished is left behind
    venue.info = replace(venue.info, client_id_max_length=CLIENT_ORDER_ID_MAX_LENGTH)
    fits = context(tmp_path, venue)
    outcome = run(fits, prepare(fits, request("shortids", yes=True), ui), ui)
    assert outcome.result.all_filled and list(venue.orders) == [f"gps-{outcome.execution_id}-L1-1"]


def test_ioc_on_a_venue_without_ioc_is_refused_while_planning(tmp_path):
    venue = RecordingVenue("gtconly")  # capabilities: GTC only
    ctx, ui = context(tmp_path, venue), Watching()
    with pytest.raises(BadInput, match="gtconly takes no IOC orders.*nothing was sent"):
        prepare(ctx, request("gtconly", time_in_force="ioc", yes=True), ui)
    assert ui.shown == [] and journals(tmp_path) == [] and not venue.orders
    ioc = RecordingVenue("iocvenue")
    ioc.info = replace(ioc.info, capabilities=frozenset({Capability.GTC, Capability.IOC}))
    ctx = context(tmp_path, ioc)
    outcome = run(ctx, prepare(ctx, request("iocvenue", time_in_force="ioc", yes=True), ui), ui)
    assert outcome.result.all_filled and len(ioc.orders) == 1


class RefusingEngine(Engine):
    def _refuse_ids_too_long(self, plan):
        raise ConfigurationError("refused by the venue's limits: nothing was sent")


def test_a_refusal_after_execution_started_journals_the_end(tmp_path):
    venue = RecordingVenue("live")
    ctx, ui = context(tmp_path, venue), Watching()
    prepared = prepare(ctx, request("live", yes=True), ui)
    with pytest.raises(ConfigurationError, match="refused"):
        run(ctx, prepared, ui, engine_factory=RefusingEngine)
    (path,) = journals(tmp_path)
    finished = [e for e in read_events(path) if e["event"] == Event.EXECUTION_FINISHED]
    assert finished and "refused" in finished[0]["nothing_sent"] and not venue.orders
    preflight(ctx)  # not "did not finish (killed or crashed)"


def test_an_engine_that_cannot_be_built_journals_the_end(tmp_path):
    venue = RecordingVenue("live")
    ctx, ui = context(tmp_path, venue), Watching()
    prepared = prepare(ctx, request("live", yes=True), ui)

    def broken(*args, **kwargs):
        raise ConfigurationError("cannot build the engine: nothing was sent")

    with pytest.raises(ConfigurationError, match="cannot build"):
        run(ctx, prepared, ui, engine_factory=broken)
    (path,) = journals(tmp_path)
    assert [e for e in read_events(path) if e["event"] == Event.EXECUTION_FINISHED]
    preflight(ctx)
