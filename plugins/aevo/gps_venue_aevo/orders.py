"""Aevo order bodies and order objects <-> gps model."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

from gps_core.api import GpsError, InvalidReply
from gps_core.api import OrderRequest, OrderSnapshot, TimeInForce, VenueOrderStatus
from gps_core.api import to_decimal

from .market import from_ns
from .signing import OrderFields, SignedOrder

#: Aevo ``order_status`` -> gps. ``partial`` is still working; ``stop_order`` is a
#: resting trigger order (gps never sends one, but a lookup must not fail on it).
STATUS = {
    "opened": VenueOrderStatus.OPEN,
    "partial": VenueOrderStatus.OPEN,
    "stop_order": VenueOrderStatus.OPEN,
    "filled": VenueOrderStatus.FILLED,
    "cancelled": VenueOrderStatus.CANCELLED,
    "canceled": VenueOrderStatus.CANCELLED,
    "expired": VenueOrderStatus.EXPIRED,
    "rejected": VenueOrderStatus.REJECTED,
}

_TIF = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC"}


def order_body(order: OrderRequest, fields: OrderFields, signed: SignedOrder) -> bytes:
    """The ``POST /orders`` body, serialised once (compact) so the HMAC covers exactly these bytes.

    uint256 values travel as strings (a salt exceeds 2^53); ``instrument`` and ``timestamp``
    as integers, as the official Python SDK sends them.
    """
    body = {
        "instrument": fields.instrument,
        "maker": fields.maker,
        "is_buy": fields.is_buy,
        "amount": str(fields.amount),
        "limit_price": str(fields.limit_price),
        "salt": str(fields.salt),
        "signature": signed.signature,
        "timestamp": fields.timestamp,
        "post_only": bool(order.post_only),
        "reduce_only": bool(order.reduce_only),
        "time_in_force": _TIF[order.time_in_force],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _ns_datetime(raw) -> datetime | None:
    if raw in (None, ""):
        return None
    try:
        return from_ns(raw)
    except (GpsError, OverflowError, OSError, ValueError):
        return None


def snapshot(raw, client_order_id: str, *, fallback_price: Decimal | None = None) -> OrderSnapshot:
    """An Aevo order object (``order_id``, ``amount``, ``filled``, ``avg_price``, ``order_status``...).

    Amounts and prices in replies are human decimals (``"12.34"``), not the signed 6-dp integers.
    Should a fill come without ``avg_price`` (``GET /order-history`` rows have none), the order's
    own limit (``price``) stands in: the worst price the venue could have filled it at, and the
    snapshot says ``price_estimated`` (the service then averages the order's fills instead).
    """
    if not isinstance(raw, dict):
        raise InvalidReply(f"order {client_order_id}: reply is not an order object")
    status_text = str(raw.get("order_status", "")).lower()
    if status_text not in STATUS:
        raise InvalidReply(f"order {client_order_id}: unknown Aevo order_status {raw.get('order_status')!r}")
    status = STATUS[status_text]
    if "amount" not in raw:
        raise InvalidReply(f"order {client_order_id}: reply has no amount")
    quantity = to_decimal(raw["amount"], field="amount")
    if raw.get("filled") in (None, ""):
        filled = quantity if status is VenueOrderStatus.FILLED else Decimal(0)
    else:
        filled = to_decimal(raw["filled"], field="filled")
    average, estimated = None, False
    if filled > 0:
        for name in ("avg_price", "price"):
            if raw.get(name) not in (None, ""):
                candidate = to_decimal(raw[name], field=name)
                if candidate > 0:
                    average, estimated = candidate, name != "avg_price"
                    break
        if average is None:
            average, estimated = fallback_price, fallback_price is not None
    order_id = raw.get("order_id")
    return OrderSnapshot(
        client_order_id=client_order_id,
        venue_order_id=str(order_id).lower() if order_id else None,
        status=status,
        quantity=quantity,
        filled_quantity=filled,
        average_price=average,
        price_estimated=estimated,
        reason=None if status is VenueOrderStatus.OPEN else status_text,
        updated_at=_ns_datetime(raw.get("timestamp")) or datetime.now(timezone.utc),
    )
