"""An example non-venue gps plugin: refuse any order whose notional is over a limit.

It wraps ``gps_place`` on *every* venue (wrappers are never removed from the per-venue
hook callers), and refuses before the order is sent. The limit is in the order's price
currency, from ``GPS_MAX_ORDER_NOTIONAL`` (default 50000). Install it with
``pip install ./examples/risk_guard``; ``gps venues`` lists it under ``gps.plugins``.
"""

import os
from decimal import Decimal

from gps_core.api import OrderRejected, hookimpl


@hookimpl(wrapper=True)
def gps_place(order):
    limit = Decimal(os.environ.get("GPS_MAX_ORDER_NOTIONAL", "50000"))
    notional = order.quantity * order.limit_price
    if not order.reduce_only and notional > limit:
        raise OrderRejected(
            f"risk guard: {order.client_order_id} notional {notional} {order.instrument.price_currency} "
            f"is over GPS_MAX_ORDER_NOTIONAL={limit}"
        )
    return (yield)
