"""Rebuild an interrupted execution from its journal, so the engine can drive it to its end.

:func:`rebuild` turns the journal's ``execution_started``, ``plan`` and order events into
the engine's :class:`~gps_core.engine.ExecutionResult` (legs and unwinds as tracked orders in
their last journaled state) and :class:`~gps_core.engine.ExecutionOptions` (the recorded
timeout, ``--on-partial`` policy, time in force). :func:`deadline` is when the dead process
would have stopped waiting for fills: its start plus its recorded timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Callable, Mapping, Sequence

from .engine import ExecutionOptions, ExecutionResult
from .events import Event, first, replay
from .instruments import OptionKey
from .model import OrderBook, OrderRequest, Side, TimeInForce, VenueInstrument
from .orders import TrackedOrder
from .routing import Plan, PlannedCombo, PlannedLeg
from .strategy import Leg, Strategy


class RecoveredExecution(ExecutionResult):
    """An execution read back from its journal.

    Its strategy is complete only if every leg filled *and none of it was unwound*: a leg
    whose state was unknown when the process unwound the others, and that turns out to have
    filled, leaves every leg "filled" and the position naked. Then ``all_filled`` is false,
    so the engine's ``--on-partial`` policy applies to what is still held.
    """

    @property
    def all_filled(self) -> bool:
        return super().all_filled and not any(u.filled > 0 for u in self.unwinds)


class NotRebuildable(Exception):
    """The journal lacks what the engine needs (no plan, a plan that cannot be read back)."""


class ResumeBlocked(Exception):
    """A venue cannot be asked now (not installed, credentials, unreachable): try again later.

    Unlike :class:`NotRebuildable`, the execution must stay open, so a later ``gps recover``
    still applies its policy.
    """


@dataclass
class Rebuilt:
    result: ExecutionResult
    options: ExecutionOptions
    started_at: datetime | None
    venues: list[str]


def deadline(started_at: datetime | None, options: ExecutionOptions) -> datetime | None:
    """When the process that started the execution would have stopped waiting (start + timeout)."""
    return None if started_at is None else started_at + timedelta(seconds=options.timeout)


def recorded_options(started: Mapping[str, Any]) -> ExecutionOptions:
    """The options journaled in ``execution_started``; defaults for what is missing or malformed."""
    recorded = started.get("options") if isinstance(started.get("options"), dict) else {}
    options = ExecutionOptions()
    timeout = recorded.get("timeout")
    if isinstance(timeout, (int, float)) and 0 < timeout <= 86400:
        options.timeout = float(timeout)
    if recorded.get("on_partial") in ("unwind", "keep"):
        options.on_partial = recorded["on_partial"]
    options.sequential = recorded.get("sequential") is True
    if recorded.get("tif") in {t.value for t in TimeInForce}:
        options.time_in_force = TimeInForce(recorded["tif"])
    return options


def rebuild(execution_id: str, events: Sequence[dict],
            find_instrument: Callable[[str, OptionKey], VenueInstrument | None]) -> Rebuilt:
    """The execution of ``events`` as the engine holds it; raises :class:`NotRebuildable`.

    ``find_instrument(venue, key)`` is asked for a leg whose order was never journaled (a crash
    between legs of a ``--sequential`` run: that leg becomes ``initialized``, which the engine
    turns into ``denied``) and for every leg a combo order trades (its unwinds are priced and
    sized by the leg's own rules, never the combo's).
    """
    started = first(events, Event.EXECUTION_STARTED) or {}
    plan_event = first(events, Event.PLAN)
    if plan_event is None or not plan_event.get("legs"):
        raise NotRebuildable("the journal has no plan")
    options = recorded_options(started)
    orders = replay(events)
    legs: list[TrackedOrder] = []
    planned: list[PlannedLeg] = []
    strategy_legs: list[Leg] = []
    # Legs traded by a combo order (the plan's "combos"): the combo's one order stands for them.
    in_combo = {int(n) - 1 for combo in plan_event.get("combos") or () for n in combo.get("legs") or ()}
    try:
        for position, data in enumerate(plan_event["legs"]):
            index = int(data.get("leg", position + 1)) - 1
            side, quantity = Side(data["side"]), Decimal(data["quantity"])
            key = OptionKey.parse(data["instrument"])
            journaled = next((o for o in orders.values() if o.role == "leg" and o.leg == index), None)
            if index in in_combo:
                instrument = find_combo_leg(orders, data, key, find_instrument)
                usd_per_unit = Decimal(data.get("usd_per_unit") or "1")
                leg = Leg(side, quantity, key)
                strategy_legs.append(leg)
                planned.append(PlannedLeg(
                    index=index, leg=leg, venue=data["venue"], instrument=instrument,
                    limit_price=Decimal(data["limit_price"]),
                    expected_price=Decimal(data.get("expected_price") or data["limit_price"]),
                    expected_fee=Decimal(data.get("expected_fee") or "0"), usd_per_unit=usd_per_unit,
                    book=OrderBook(instrument, (), (), usd_per_unit, usd_per_unit)))
                continue
            if journaled is not None:
                tracked = journaled.tracked()
            else:
                try:
                    instrument = find_instrument(data["venue"], key)
                except Exception as exc:  # noqa: BLE001
                    raise ResumeBlocked(f"leg {index + 1}: cannot look up {key.name} on {data['venue']}: {exc}") \
                        from None
                if instrument is None:
                    raise NotRebuildable(f"leg {index + 1}: {data['venue']} does not list {key.name}")
                tracked = TrackedOrder(request=OrderRequest(
                    client_order_id=f"gps-{execution_id}-L{index + 1}-1", instrument=instrument, side=side,
                    quantity=quantity, limit_price=Decimal(data["limit_price"]), time_in_force=options.time_in_force),
                    leg_index=index)
            instrument = tracked.request.instrument
            usd_per_unit = Decimal(data.get("usd_per_unit") or "1")
            leg = Leg(side, quantity, key)
            strategy_legs.append(leg)
            legs.append(tracked)
            planned.append(PlannedLeg(
                index=index, leg=leg, venue=data["venue"], instrument=instrument,
                limit_price=Decimal(data["limit_price"]), expected_price=Decimal(data.get("expected_price") or
                                                                                data["limit_price"]),
                expected_fee=Decimal(data.get("expected_fee") or "0"), usd_per_unit=usd_per_unit,
                book=OrderBook(instrument, (), (), usd_per_unit, usd_per_unit)))
    except (NotRebuildable, ResumeBlocked):
        raise
    except Exception as exc:  # noqa: BLE001 - an old or damaged plan: recovery falls back to settling orders
        raise NotRebuildable(f"the plan cannot be read back: {type(exc).__name__}: {exc}") from None
    name = (started.get("strategy") or {}).get("name")
    strategy = Strategy(legs=tuple(strategy_legs), name=name if isinstance(name, str) else "strategy",
                        source="journal")
    try:
        max_slippage = Decimal(plan_event.get("max_slippage") or "0")
    except Exception:  # noqa: BLE001
        max_slippage = Decimal(0)
    unwinds = [o.tracked() for o in orders.values() if o.role == "unwind"]
    started_at = _timestamp(started.get("ts"))
    combos = []
    for data in plan_event.get("combos") or ():
        first_leg = int(data["legs"][0]) - 1
        journaled = next((o for o in orders.values() if o.role == "combo" and o.leg == first_leg), None)
        if journaled is None:
            raise NotRebuildable(f"the combo order of legs {data['legs']} was never journaled")
        tracked = journaled.tracked()
        legs.append(tracked)
        usd = next((p.usd_per_unit for p in planned if p.index == first_leg), Decimal(1))
        combos.append(_planned_combo(data, tracked, usd))
    legs.sort(key=lambda o: o.leg_index)
    plan = Plan(strategy, tuple(planned), max_slippage, combos=tuple(combos))
    result = RecoveredExecution(execution_id, plan, legs, unwinds)
    if started_at is not None:
        result.started_at = started_at
    venues = sorted({p.venue for p in planned} | {o.request.venue for o in unwinds})
    return Rebuilt(result, options, started_at, venues)


def find_combo_leg(orders: Mapping[str, Any], data: dict, key: OptionKey,
                   find_instrument: Callable[[str, OptionKey], VenueInstrument | None]) -> VenueInstrument:
    """A combo leg's own instrument, asked of its venue as a live run does.

    A leg is unwound on its own book, priced by its own tick (and tick steps), sized by its own
    minimum and step and charged its own fees: none of these are the combo's. Raises
    :class:`ResumeBlocked` when the venue cannot be asked now, :class:`NotRebuildable` when it
    does not list the leg (or the journal has no combo order).
    """
    if not any(o.role == "combo" for o in orders.values()):
        raise NotRebuildable("the plan has a combo but the journal has no combo order")
    try:
        instrument = find_instrument(data["venue"], key)
    except Exception as exc:  # noqa: BLE001
        raise ResumeBlocked(f"leg {data.get('leg', '?')}: cannot look up {key.name} on {data['venue']}: {exc}") \
            from None
    if instrument is None or instrument.is_combo:
        raise NotRebuildable(f"leg {data.get('leg', '?')}: {data['venue']} does not list {key.name}")
    return instrument


def _planned_combo(data: dict, tracked: TrackedOrder, usd: Decimal) -> PlannedCombo:
    def number(name: str) -> Decimal | None:
        return None if data.get(name) is None else Decimal(data[name])

    request = tracked.request
    return PlannedCombo(
        venue=request.venue, leg_indices=tuple(int(n) - 1 for n in data["legs"]), instrument=request.instrument,
        side=request.side, quantity=request.quantity, limit_price=request.limit_price,
        expected_price=number("expected_price"), best_price=number("best_price"),
        expected_fee=number("expected_fee") or Decimal(0), usd_per_unit=usd,
        legged_cost_usd=number("legged_cost_usd") or Decimal(0), reason=str(data.get("reason") or ""))


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
