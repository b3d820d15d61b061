"""The paper store: one JSON file per venue, the book of record of its paper orders.

:class:`PaperStore` runs every read and change as one transaction under a thread lock and an
``fcntl`` lock on ``<store>.lock``, and replaces the file atomically (fsynced), so concurrent
threads and processes always see whole states. :class:`StoreState` is the file's content
while a transaction holds the locks: the orders by client order id, the fault counters, the
next order number and the settlements at expiry, with the positions they net to.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: only the in-process lock applies
    fcntl = None  # type: ignore[assignment]

from ..errors import ConfigurationError, OrderNotFound
from ..model import OrderRequest, Position
from ..money import ZERO
from .orders import PaperOrder, add_fill, option_key, plain

STORE_FORMAT = 1

@dataclass
class StoreState:
    """The store file's content while a transaction holds the lock."""

    orders: dict[str, PaperOrder]
    counters: dict[str, int]
    next_number: int
    #: positions settled at expiry, as :mod:`gps_core.paper.settlement` records them
    #: (``{"symbol", "quantity" (signed, what was held), ...}``): they net out of every position
    settlements: list[dict] = field(default_factory=list)

    def find(self, order: OrderRequest) -> PaperOrder:
        if order.venue_order_id:
            for stored in self.orders.values():
                if stored.venue_order_id == order.venue_order_id:
                    return stored
        stored = self.orders.get(order.client_order_id)
        if stored is None:
            wanted = order.venue_order_id or order.client_order_id
            raise OrderNotFound(f"no paper order {wanted!r}")
        return stored

    def position(self, symbol: str) -> Decimal:
        """Net filled contracts of ``symbol``, counting the legs of combo orders."""
        total = ZERO
        for o in self.orders.values():
            if o.combo_legs:
                total += sum((o.side.sign * r * o.filled_quantity for s, r, _ in o.combo_legs if s == symbol), ZERO)
            elif o.symbol == symbol:
                total += o.side.sign * o.filled_quantity
        return total - self.settled(symbol)

    def settled(self, symbol: str) -> Decimal:
        """Signed contracts of ``symbol`` already settled at expiry (they are no longer held)."""
        return sum((Decimal(s["quantity"]) for s in self.settlements if s["symbol"] == symbol), ZERO)

    def held(self, venue: str) -> list[Position]:
        """Net positions from every fill, less what was settled at expiry (see :meth:`~gps_core.paper.PaperBroker.positions`)."""
        held: dict[str, list] = {}  # symbol -> [quantity, average price, price currency]
        for order in sorted(self.orders.values(), key=lambda o: o.created_at):
            if order.combo_legs:
                for fill in order.fills:
                    for symbol, quantity, price in order.leg_fills(fill):
                        entry = held.setdefault(symbol, [ZERO, ZERO, order.price_currency])
                        entry[0], entry[1] = add_fill(entry[0], entry[1], quantity, price)
                continue
            entry = held.setdefault(order.symbol, [ZERO, ZERO, order.price_currency])
            for fill in order.fills:
                entry[0], entry[1] = add_fill(entry[0], entry[1], order.side.sign * fill.quantity, fill.price)
        for symbol, entry in held.items():
            entry[0] -= self.settled(symbol)
        return [Position(venue=venue, symbol=symbol, quantity=quantity, price_currency=currency,
                         average_price=plain(average), key=option_key(symbol))
                for symbol, (quantity, average, currency) in held.items() if quantity != 0]


_PATH_LOCKS: dict[str, threading.Lock] = {}
_PATH_LOCKS_GUARD = threading.Lock()


def _thread_lock(path: Path) -> threading.Lock:
    with _PATH_LOCKS_GUARD:
        return _PATH_LOCKS.setdefault(str(path), threading.Lock())


class PaperStore:
    """The JSON file at ``path`` holding one venue's paper orders (created on first write).

    :param path: the store file; its directory is created when missing.
    :param venue: the venue's name, written into the file.
    """

    def __init__(self, path: Path, venue: str):
        self.path = Path(path).expanduser().resolve()
        self.venue = venue

    def __repr__(self) -> str:
        return f"PaperStore({self.venue!r}, {str(self.path)!r})"

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[StoreState]:
        """Hold both locks, load the store, yield it, and save it on success (with ``write``).

        :raises ConfigurationError: the file is not a paper store this version can read.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with _thread_lock(self.path):
            with open(lock_path, "a+") as lock_file:
                if fcntl is not None:
                    fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
                try:
                    raw = self._read()
                    state = self._parse(raw)
                    yield state
                    if write:
                        self._save(state, unless=raw)
                finally:
                    if fcntl is not None:
                        fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)

    def _read(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def _parse(self, raw: str | None) -> StoreState:
        if raw is None:
            return StoreState({}, {}, 1)
        try:
            data = json.loads(raw)
            if data.get("format") != STORE_FORMAT:
                raise ValueError(f"unknown format {data.get('format')!r}")
            orders = [PaperOrder.from_json(o) for o in data["orders"]]
            return StoreState({o.client_order_id: o for o in orders}, dict(data.get("fault_counters", {})),
                              int(data.get("next_order_number", len(orders) + 1)), list(data.get("settlements", [])))
        except (ValueError, KeyError, TypeError, InvalidOperation) as exc:
            raise ConfigurationError(f"the paper order store {self.path} is unreadable: {exc}") from None

    def _save(self, state: StoreState, *, unless: str | None) -> None:
        """Write the state atomically, unless it is what the file already holds."""
        from ..codec import dumps

        data = {
            "format": STORE_FORMAT,
            "venue": self.venue,
            "next_order_number": state.next_number,
            "fault_counters": state.counters,
            "orders": [o.to_json() for o in state.orders.values()],
            **({"settlements": state.settlements} if state.settlements else {}),
        }
        text = dumps(data, indent=1)
        if text == unless:
            return
        fd, temp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self.path)
        except BaseException:
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass
            raise

