from decimal import Decimal as D

import pytest

from gps_core.errors import InvalidReply
from gps_core.model import OrderRequest, OrderSnapshot, Side, VenueOrderStatus
from gps_core.orders import TERMINAL, TRANSITIONS, InvalidTransition, OrderState, TrackedOrder

from builders import usd_instrument

S = OrderState


def order(state=S.INITIALIZED, qty="1") -> TrackedOrder:
    req = OrderRequest("gps-x-L1-1", usd_instrument(), Side.BUY, D(qty), D("100"))
    return TrackedOrder(request=req, leg_index=0, state=state)


def snap(status, filled="0", qty="1", price=None):
    return OrderSnapshot("gps-x-L1-1", "v1", status, D(qty), D(filled),
                         D(price) if price else (D("100") if D(filled) > 0 else None))


@pytest.mark.parametrize("start, end", [
    (S.INITIALIZED, S.SUBMITTED), (S.SUBMITTED, S.UNKNOWN), (S.UNKNOWN, S.FILLED), (S.UNKNOWN, S.REJECTED),
    (S.ACCEPTED, S.PENDING_CANCEL), (S.PENDING_CANCEL, S.FILLED), (S.PENDING_CANCEL, S.ACCEPTED),
    (S.CANCELLED, S.FILLED), (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
])
def test_real_world_edges_are_allowed(start, end):
    o = order(start)
    o.transition(end)
    assert o.state is end


@pytest.mark.parametrize("start, end", [
    (S.INITIALIZED, S.FILLED), (S.FILLED, S.CANCELLED), (S.REJECTED, S.ACCEPTED), (S.DENIED, S.SUBMITTED),
    (S.CANCELLED, S.ACCEPTED), (S.EXPIRED, S.FILLED),
])
def test_impossible_edges_raise(start, end):
    with pytest.raises(InvalidTransition):
        order(start).transition(end)


def test_terminal_states_have_no_exit_but_the_late_fill():
    for state in TERMINAL:
        assert TRANSITIONS[state] <= {S.FILLED}


def test_partial_fill_then_fill():
    o = order(S.SUBMITTED)
    o.apply(snap(VenueOrderStatus.OPEN, "0.4"))
    assert o.state is S.PARTIALLY_FILLED and o.filled == D("0.4")
    o.apply(snap(VenueOrderStatus.FILLED, "1"))
    assert o.state is S.FILLED and o.is_terminal


def test_cancel_that_loses_the_race_to_a_fill_ends_filled():
    o = order(S.ACCEPTED)
    o.transition(S.PENDING_CANCEL)
    o.apply(snap(VenueOrderStatus.OPEN))
    assert o.state is S.PENDING_CANCEL, "an open snapshot does not undo a pending cancel"
    o.apply(snap(VenueOrderStatus.FILLED, "1"))
    assert o.state is S.FILLED


def test_stale_snapshot_never_moves_an_order_backwards():
    o = order(S.SUBMITTED)
    o.apply(snap(VenueOrderStatus.FILLED, "1"))
    assert not o.apply(snap(VenueOrderStatus.OPEN, "0.5"))
    assert not o.apply(snap(VenueOrderStatus.CANCELLED, "1"))
    assert o.state is S.FILLED and o.filled == D(1)


def test_cancelled_with_partial_fill_keeps_the_fill():
    o = order(S.PENDING_CANCEL)
    o.apply(snap(VenueOrderStatus.CANCELLED, "0.3"))
    assert o.state is S.CANCELLED and o.filled == D("0.3")


@pytest.mark.parametrize("kwargs", [
    dict(filled="2"), dict(filled="-1"), dict(status=VenueOrderStatus.FILLED, filled="0.5"),
])
def test_hostile_snapshots_are_invalid_replies(kwargs):
    status = kwargs.pop("status", VenueOrderStatus.OPEN)
    with pytest.raises(InvalidReply):
        snap(status, **kwargs)


def test_fill_without_price_is_invalid():
    with pytest.raises(InvalidReply):
        OrderSnapshot("c", "v", VenueOrderStatus.OPEN, D(1), D("0.5"), None)
    with pytest.raises(InvalidReply):
        OrderSnapshot("c", "v", "weird", D(1), D(0))
