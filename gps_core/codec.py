"""JSON encoding of the model: the one encoder for the journal, reports, ``--json`` output and
the paper store (:func:`dumps`).

Numbers are written as strings so no ``Decimal`` ever passes through a float; enums as their
value, dates and times as ISO 8601. A :class:`~gps_core.secrets.Secret` cannot be encoded at
all: trying raises ``TypeError``, so a secret can never reach the journal by accident.
(Venue plugins write their own wire formats: a venue may want a ``Decimal`` as a JSON number.)
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from .instruments import OptionKey
from .model import (
    ComboLeg,
    FeeSchedule,
    LegFill,
    OrderRequest,
    OrderSnapshot,
    Side,
    TickRule,
    TimeInForce,
    VenueInstrument,
    VenueOrderStatus,
)
from .money import Money
from .secrets import Secret


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: ``Decimal`` -> ``str``, enum -> its value, date/datetime ->
    ISO 8601, :class:`OptionKey` -> its name, :class:`Money` -> its JSON; dicts, lists, tuples
    and sets recursively. Raises ``TypeError`` for a :class:`Secret`."""
    if isinstance(value, Secret):
        raise TypeError("refusing to serialise a Secret")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, OptionKey):
        return value.name
    if isinstance(value, Money):
        return value.to_json()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    return value


def dumps(value: Any, **kwargs) -> str:
    """``value`` as JSON text (see :func:`to_jsonable`); ``kwargs`` go to :func:`json.dumps` (``indent``...)."""
    return json.dumps(to_jsonable(value), **kwargs)


def instrument_to_json(instrument: VenueInstrument) -> dict:
    return {
        "venue": instrument.venue,
        "key": instrument.key.name,
        "symbol": instrument.symbol,
        "price_currency": instrument.price_currency,
        "tick_size": str(instrument.tick_size),
        "tick_steps": [[str(r.above_price), str(r.tick)] for r in instrument.tick_steps],
        "min_quantity": str(instrument.min_quantity),
        "quantity_step": str(instrument.quantity_step),
        "contract_size": str(instrument.contract_size),
        "fees": [str(instrument.fees.taker_rate), str(instrument.fees.maker_rate),
                 None if instrument.fees.premium_cap is None else str(instrument.fees.premium_cap)],
        "is_active": instrument.is_active,
        "expires_at": instrument.expires_at.isoformat() if instrument.expires_at else None,
        "venue_id": instrument.venue_id,
        "min_order_value": None if instrument.min_order_value is None else str(instrument.min_order_value),
        **({"combo_legs": [[leg.symbol, leg.ratio] for leg in instrument.combo_legs]} if instrument.combo_legs else {}),
    }


def instrument_from_json(data: dict) -> VenueInstrument:
    taker, maker, cap = data["fees"]
    return VenueInstrument(
        venue=data["venue"],
        key=OptionKey.parse(data["key"]),
        symbol=data["symbol"],
        price_currency=data["price_currency"],
        tick_size=Decimal(data["tick_size"]),
        tick_steps=tuple(TickRule(Decimal(a), Decimal(t)) for a, t in data.get("tick_steps", [])),
        min_quantity=Decimal(data["min_quantity"]),
        quantity_step=Decimal(data["quantity_step"]),
        contract_size=Decimal(data["contract_size"]),
        fees=FeeSchedule(Decimal(taker), Decimal(maker), None if cap is None else Decimal(cap)),
        is_active=data.get("is_active", True),
        expires_at=datetime.fromisoformat(data["expires_at"]) if data.get("expires_at") else None,
        venue_id=data.get("venue_id"),
        min_order_value=None if data.get("min_order_value") is None else Decimal(data["min_order_value"]),
        combo_legs=tuple(ComboLeg(str(symbol), int(ratio)) for symbol, ratio in data.get("combo_legs") or ()),
    )


def request_to_json(request: OrderRequest) -> dict:
    return {
        "client_order_id": request.client_order_id,
        "venue": request.venue,
        "instrument": instrument_to_json(request.instrument),
        "side": request.side.value,
        "quantity": str(request.quantity),
        "limit_price": str(request.limit_price),
        "price_currency": request.instrument.price_currency,
        "time_in_force": request.time_in_force.value,
        "post_only": request.post_only,
        "reduce_only": request.reduce_only,
        "valid_until": request.valid_until.isoformat() if request.valid_until else None,
        "venue_order_id": request.venue_order_id,
        "venue_data": to_jsonable(request.venue_data),
    }


def request_from_json(data: dict) -> OrderRequest:
    return OrderRequest(
        client_order_id=data["client_order_id"],
        instrument=instrument_from_json(data["instrument"]),
        side=Side(data["side"]),
        quantity=Decimal(data["quantity"]),
        limit_price=Decimal(data["limit_price"]),
        time_in_force=TimeInForce(data.get("time_in_force", "gtc")),
        post_only=data.get("post_only", False),
        reduce_only=data.get("reduce_only", False),
        valid_until=datetime.fromisoformat(data["valid_until"]) if data.get("valid_until") else None,
        venue_order_id=data.get("venue_order_id"),
        venue_data=dict(data.get("venue_data") or {}),
    )


def snapshot_to_json(snapshot: OrderSnapshot) -> dict:
    return {
        "client_order_id": snapshot.client_order_id,
        "venue_order_id": snapshot.venue_order_id,
        "status": snapshot.status.value,
        "quantity": str(snapshot.quantity),
        "filled_quantity": str(snapshot.filled_quantity),
        "average_price": None if snapshot.average_price is None else str(snapshot.average_price),
        "fee": snapshot.fee.to_json() if snapshot.fee else None,
        "fee_estimated": snapshot.fee_estimated,
        "price_estimated": snapshot.price_estimated,
        "reason": snapshot.reason,
        "updated_at": snapshot.updated_at.isoformat(),
        **({"leg_fills": [leg_fill_to_json(f) for f in snapshot.leg_fills]} if snapshot.leg_fills else {}),
    }


def leg_fill_to_json(fill: LegFill) -> dict:
    return {"symbol": fill.symbol, "side": fill.side.value, "quantity": str(fill.quantity), "price": str(fill.price),
            "fee": fill.fee.to_json() if fill.fee else None}


def leg_fill_from_json(data: dict) -> LegFill:
    return LegFill(str(data["symbol"]), Side(data["side"]), Decimal(data["quantity"]), Decimal(data["price"]),
                   Money.from_json(data["fee"]) if data.get("fee") else None)


def snapshot_from_json(data: dict) -> OrderSnapshot:
    return OrderSnapshot(
        client_order_id=data["client_order_id"],
        venue_order_id=data.get("venue_order_id"),
        status=VenueOrderStatus(data["status"]),
        quantity=Decimal(data["quantity"]),
        filled_quantity=Decimal(data["filled_quantity"]),
        average_price=None if data.get("average_price") is None else Decimal(data["average_price"]),
        fee=Money.from_json(data["fee"]) if data.get("fee") else None,
        reason=data.get("reason"),
        updated_at=datetime.fromisoformat(data["updated_at"]),
        fee_estimated=bool(data.get("fee_estimated", False)),
        price_estimated=bool(data.get("price_estimated", False)),
        leg_fills=tuple(leg_fill_from_json(f) for f in data.get("leg_fills") or ()),
    )
