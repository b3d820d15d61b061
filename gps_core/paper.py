"""Paper trading: a matching engine and order store that moves no money.

:class:`PaperBroker` fills limit orders against an :class:`~gps_core.model.OrderBook` (the
dry-run venue's offline market, or a real venue's public book in ``gps execute --dry-run``)
and keeps every order in a JSON file, so a later process (``gps status``, ``gps cancel``,
``gps recover``) sees the same orders. The file is the idempotency record: a second order
with the same client order id is refused.

:class:`FaultPlan` injects venue misbehaviour deterministically, from a spec such as::

    reject@BTC-*-75000-C; partial=0.5@ETH-*; unknown_after_accept x1@BTC-*; latency=200ms@*

Each clause is ``NAME[=VALUE][ xN][@GLOB]``: the glob (default ``*``) is matched against the
instrument symbol, and ``xN`` limits the rule to its first N firings. Firing counts live in
the store file, so a plan behaves the same across processes.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Callable, Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: only the in-process lock applies
    fcntl = None  # type: ignore[assignment]

from .errors import (
    ConfigurationError,
    InvalidOrder,
    OrderNotFound,
    OrderNotOpen,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    ReduceOnlyRefused,
)
from .instruments import OptionKey
from .model import (FeeSchedule, LegFill, OrderBook, OrderRequest, OrderSnapshot, Position, Side, TimeInForce,
                    VenueOrderStatus, utcnow)
from .money import ZERO, Money, format_decimal, is_multiple, round_to_step

STORE_FORMAT = 1
#: ``retry_after`` of an injected rate limit, in seconds.
RATE_LIMIT_RETRY_AFTER = 0.05

# --- fault plans ---------------------------------------------------------------------------

#: Fault name -> the kind of value it takes (``None``: no value).
FAULTS: dict[str, str | None] = {
    "reject": None,
    "partial": "fraction",
    "never_fill": None,
    "unknown_after_accept": None,
    "unknown_before_accept": None,
    "latency": "duration",
    "rate_limit": "count",
    "cancel_race": None,
    "fill_after": "count",
}

_CLAUSE = re.compile(
    r"^(?P<name>[A-Za-z_]+)"
    r"(?:\s*=\s*(?P<value>[^\s@xX]+))?"
    r"(?:\s*[xX]\s*(?P<times>[^\s@]+))?"
    r"(?:\s*@\s*(?P<pattern>\S+))?$"
)


@dataclass(frozen=True)
class FaultRule:
    """One clause of a :class:`FaultPlan`.

    :param name: one of :data:`FAULTS`.
    :param pattern: a glob on the instrument symbol (upper case).
    :param value: the fraction (``partial``), milliseconds (``latency``) or count
        (``rate_limit``, ``fill_after``); ``None`` for faults without a value.
    :param times: fire at most this many times (``None``: always).
    """

    name: str
    pattern: str = "*"
    value: Decimal | int | None = None
    times: int | None = None

    def matches(self, symbol: str) -> bool:
        return fnmatchcase(symbol.upper(), self.pattern)

    @property
    def budget(self) -> int | None:
        """How many times the rule may fire in total (``None``: unlimited)."""
        if self.name == "rate_limit":
            return int(self.value)  # type: ignore[arg-type]
        return self.times

    def __str__(self) -> str:
        text = self.name
        if self.value is not None:
            shown = format_decimal(Decimal(self.value))
            text += f"={shown}ms" if self.name == "latency" else f"={shown}"
        if self.times is not None:
            text += f" x{self.times}"
        return f"{text}@{self.pattern}"


@dataclass(frozen=True)
class FaultPlan:
    """Deterministic fault injection for a :class:`PaperBroker`; build it with :meth:`parse`."""

    rules: tuple[FaultRule, ...] = ()

    @classmethod
    def parse(cls, spec: str | None) -> "FaultPlan":
        """Parse ``"reject@BTC-*; partial=0.5 x2@ETH-*"``; raise ConfigurationError if malformed."""
        rules = []
        for clause in re.split(r"[;\n]", spec or ""):
            clause = clause.strip()
            if clause:
                rules.append(_parse_clause(clause))
        return cls(tuple(rules))

    def __str__(self) -> str:
        return "; ".join(str(rule) for rule in self.rules)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def keyed(self) -> list[tuple[str, FaultRule]]:
        """Each rule with the key its firing count is stored under."""
        return [(f"{index}:{rule}", rule) for index, rule in enumerate(self.rules)]


def _parse_clause(clause: str) -> FaultRule:
    def fail(why: str) -> ConfigurationError:
        return ConfigurationError(f"fault spec clause {clause!r}: {why}")

    match = _CLAUSE.match(clause)
    if not match:
        raise fail("expected NAME[=VALUE][ xN][@GLOB], e.g. 'partial=0.5 x2@ETH-*'")
    name = match["name"].lower()
    if name not in FAULTS:
        raise fail(f"unknown fault {name!r} (known: {', '.join(sorted(FAULTS))})")
    kind, raw, raw_times = FAULTS[name], match["value"], match["times"]
    if kind is None and raw is not None:
        raise fail(f"{name} takes no value")
    if kind is not None and raw is None:
        raise fail(f"{name} needs a value ({kind})")
    value: Decimal | int | None = None
    if kind == "fraction":
        value = _number(raw, fail)
        if not ZERO <= value <= 1:
            raise fail("the fraction must be between 0 and 1")
    elif kind == "duration":
        value = _duration_ms(raw, fail)
    elif kind == "count":
        value = _count(raw, fail)
    times = _count(raw_times, fail) if raw_times is not None else None
    if times is not None and name == "rate_limit":
        raise fail("rate_limit=N already counts its firings; drop the xN")
    pattern = (match["pattern"] or "*").upper()
    return FaultRule(name, pattern, value, times)


def _number(text: str, fail: Callable[[str], Exception]) -> Decimal:
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        raise fail(f"{text!r} is not a number") from None
    if not number.is_finite():
        raise fail(f"{text!r} is not a finite number")
    return number


def _duration_ms(text: str, fail: Callable[[str], Exception]) -> Decimal:
    lowered = text.lower()
    if lowered.endswith("ms"):
        millis = _number(lowered[:-2], fail)
    elif lowered.endswith("s"):
        millis = _number(lowered[:-1], fail) * 1000
    else:
        millis = _number(lowered, fail)
    if millis < 0:
        raise fail("a latency cannot be negative")
    return millis.normalize() if millis else ZERO


def _count(text: str, fail: Callable[[str], Exception]) -> int:
    if not text.isdigit() or int(text) < 1:
        raise fail(f"{text!r} is not a positive whole number")
    return int(text)


# --- stored orders -------------------------------------------------------------------------


@dataclass
class PaperFill:
    """One execution of a paper order."""

    price: Decimal
    quantity: Decimal
    fee: Decimal
    liquidity: str  # "taker" or "maker"

    def to_json(self) -> dict:
        return {"price": str(self.price), "quantity": str(self.quantity), "fee": str(self.fee),
                "liquidity": self.liquidity}

    @classmethod
    def from_json(cls, data: dict) -> "PaperFill":
        return cls(Decimal(data["price"]), Decimal(data["quantity"]), Decimal(data["fee"]), data["liquidity"])


@dataclass
class PaperOrder:
    """One order in the paper store (the book of record)."""

    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    limit_price: Decimal
    price_currency: str
    time_in_force: TimeInForce
    status: VenueOrderStatus
    created_at: datetime
    updated_at: datetime
    fees: FeeSchedule = FeeSchedule(ZERO, ZERO)
    underlying_value: Decimal = ZERO  # one contract's underlying in the price currency, at placement
    post_only: bool = False
    reduce_only: bool = False
    fills: list[PaperFill] = field(default_factory=list)
    reason: str | None = None
    status_checks: int = 0
    #: a combo order's legs, ``(symbol, signed ratio, reference price)``: its fills are held per
    #: leg; a fill at the combo price ``P`` is a fill of every leg at its reference price, the
    #: first leg taking the difference (``sum(ratio * price) == P``)
    combo_legs: tuple[tuple[str, int, Decimal], ...] = ()

    def leg_fills(self, fill: "PaperFill") -> list[tuple[str, Decimal, Decimal]]:
        """``(symbol, signed quantity, price)`` per leg for one fill of a combo order."""
        (first, ratio0, _), rest = self.combo_legs[0], self.combo_legs[1:]
        price0 = (fill.price - sum((r * price for _, r, price in rest), ZERO)) / ratio0
        legs = [(first, ratio0, price0)] + list(rest)
        return [(symbol, self.side.sign * r * fill.quantity, price) for symbol, r, price in legs]

    @property
    def filled_quantity(self) -> Decimal:
        return sum((f.quantity for f in self.fills), ZERO)

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled_quantity

    @property
    def average_price(self) -> Decimal | None:
        filled = self.filled_quantity
        if not filled:
            return None
        return _plain(sum((f.price * f.quantity for f in self.fills), ZERO) / filled)

    @property
    def fee(self) -> Decimal:
        return sum((f.fee for f in self.fills), ZERO)

    def snapshot(self) -> OrderSnapshot:
        return OrderSnapshot(
            client_order_id=self.client_order_id,
            venue_order_id=self.venue_order_id,
            status=self.status,
            quantity=self.quantity,
            filled_quantity=self.filled_quantity,
            average_price=self.average_price,
            fee=Money(self.fee, self.price_currency),
            reason=self.reason,
            updated_at=self.updated_at,
            leg_fills=self._leg_fill_totals(),
        )

    def _leg_fill_totals(self) -> tuple[LegFill, ...]:
        """A combo order's fills per leg (side, quantity, average price; the fee is the order's, whole)."""
        if not self.combo_legs or not self.fills:
            return ()
        totals: dict[str, list] = {}
        for fill in self.fills:
            for symbol, signed, price in self.leg_fills(fill):
                row = totals.setdefault(symbol, [ZERO, ZERO, signed > 0])
                row[0] += abs(signed)
                row[1] += abs(signed) * price
        return tuple(LegFill(symbol, Side.BUY if bought else Side.SELL, quantity, _plain(value / quantity))
                     for symbol, (quantity, value, bought) in totals.items() if quantity)

    def fill_rest_as_maker(self) -> None:
        """Fill whatever is left at the limit price (a resting order being hit), at the maker fee."""
        quantity = self.remaining
        if quantity > 0:
            fee = self.fees.fee_per_contract(self.limit_price, self.underlying_value, taker=False) * quantity
            self.fills.append(PaperFill(self.limit_price, quantity, _plain(fee), "maker"))
        self.status = VenueOrderStatus.FILLED
        self.updated_at = utcnow()

    def to_json(self) -> dict:
        return {
            "client_order_id": self.client_order_id,
            "venue_order_id": self.venue_order_id,
            "symbol": self.symbol,
            "side": self.side.value,
            "quantity": str(self.quantity),
            "limit_price": str(self.limit_price),
            "price_currency": self.price_currency,
            "time_in_force": self.time_in_force.value,
            "fees": [str(self.fees.taker_rate), str(self.fees.maker_rate),
                     None if self.fees.premium_cap is None else str(self.fees.premium_cap)],
            "underlying_value": str(self.underlying_value),
            "post_only": self.post_only,
            "reduce_only": self.reduce_only,
            "status": self.status.value,
            "fills": [f.to_json() for f in self.fills],
            "reason": self.reason,
            "status_checks": self.status_checks,
            **({"combo_legs": [[symbol, ratio, str(price)] for symbol, ratio, price in self.combo_legs]}
               if self.combo_legs else {}),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict) -> "PaperOrder":
        return cls(
            client_order_id=data["client_order_id"],
            venue_order_id=data["venue_order_id"],
            symbol=data["symbol"],
            side=Side(data["side"]),
            quantity=Decimal(data["quantity"]),
            limit_price=Decimal(data["limit_price"]),
            price_currency=data["price_currency"],
            time_in_force=TimeInForce(data["time_in_force"]),
            status=VenueOrderStatus(data["status"]),
            created_at=datetime.fromisoformat(data["created_at"]),
            updated_at=datetime.fromisoformat(data["updated_at"]),
            fees=_fees_from_json(data.get("fees")),
            underlying_value=Decimal(data.get("underlying_value", "0")),
            post_only=bool(data.get("post_only", False)),
            reduce_only=bool(data.get("reduce_only", False)),
            fills=[PaperFill.from_json(f) for f in data.get("fills", [])],
            reason=data.get("reason"),
            status_checks=int(data.get("status_checks", 0)),
            combo_legs=tuple((str(symbol), int(ratio), Decimal(price)) for symbol, ratio, price in data.get("combo_legs") or ()),
        )


def _plain(value: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent notation (``14.25000`` -> ``14.25``)."""
    return Decimal(format_decimal(value))


def _add_fill(quantity: Decimal, average: Decimal, signed: Decimal, price: Decimal) -> tuple[Decimal, Decimal]:
    """A position ``(quantity, average price)`` after a fill of ``signed`` contracts at ``price``."""
    after = quantity + signed
    if quantity == 0 or (quantity > 0) == (signed > 0):
        return after, (quantity * average + signed * price) / after if after else ZERO
    if after == 0:
        return ZERO, ZERO
    if (after > 0) != (quantity > 0):
        return after, price
    return after, average


def _option_key(symbol: str):
    try:
        return OptionKey.parse(symbol)
    except Exception:  # noqa: BLE001 - a symbol that is not an option name has no key
        return None


def _fees_from_json(data: list | None) -> FeeSchedule:
    if not data:
        return FeeSchedule(ZERO, ZERO)
    taker, maker, cap = data
    return FeeSchedule(Decimal(taker), Decimal(maker), None if cap is None else Decimal(cap))


@dataclass
class _State:
    """The store file's content while a transaction holds the lock."""

    orders: dict[str, PaperOrder]
    counters: dict[str, int]
    next_number: int
    #: positions settled at expiry, as :mod:`gps_core.paper_settlement` records them
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
        """Net positions from every fill, less what was settled at expiry (see :meth:`PaperBroker.positions`)."""
        held: dict[str, list] = {}  # symbol -> [quantity, average price, price currency]
        for order in sorted(self.orders.values(), key=lambda o: o.created_at):
            if order.combo_legs:
                for fill in order.fills:
                    for symbol, quantity, price in order.leg_fills(fill):
                        entry = held.setdefault(symbol, [ZERO, ZERO, order.price_currency])
                        entry[0], entry[1] = _add_fill(entry[0], entry[1], quantity, price)
                continue
            entry = held.setdefault(order.symbol, [ZERO, ZERO, order.price_currency])
            for fill in order.fills:
                entry[0], entry[1] = _add_fill(entry[0], entry[1], order.side.sign * fill.quantity, fill.price)
        for symbol, entry in held.items():
            entry[0] -= self.settled(symbol)
        return [Position(venue=venue, symbol=symbol, quantity=quantity, price_currency=currency,
                         average_price=_plain(average), key=_option_key(symbol))
                for symbol, (quantity, average, currency) in held.items() if quantity != 0]


_PATH_LOCKS: dict[str, threading.Lock] = {}
_PATH_LOCKS_GUARD = threading.Lock()


def _thread_lock(path: Path) -> threading.Lock:
    with _PATH_LOCKS_GUARD:
        return _PATH_LOCKS.setdefault(str(path), threading.Lock())


# --- the broker ----------------------------------------------------------------------------


class PaperBroker:
    """A paper matching engine and persistent order store for one venue.

    :param store_path: the JSON file holding the orders (created on first write; its
        directory must exist or be creatable).
    :param venue: the venue's name, used in order ids and messages.
    :param faults: an optional :class:`FaultPlan`.
    :param sleep: how injected latency waits (tests pass a recorder).
    :param clock: the market's present, at which expiry is judged (default: the real
        clock; the dry-run venue passes its market's clock, so a market dated in the past
        trades what had not expired on that date).

    Every call is one transaction under a thread lock and an ``fcntl`` lock on
    ``<store>.lock``; the file is replaced atomically, so concurrent threads and processes
    always see whole states. Thread-safe.
    """

    def __init__(self, store_path: Path, venue: str, faults: FaultPlan | None = None,
                 *, sleep: Callable[[float], None] = time.sleep, clock: Callable[[], datetime] = utcnow):
        self.store_path = Path(store_path).expanduser().resolve()
        self.venue = venue
        self.faults = faults or FaultPlan()
        self._sleep = sleep
        self._clock = clock

    def __repr__(self) -> str:
        return f"PaperBroker({self.venue!r}, {str(self.store_path)!r}, faults={str(self.faults)!r})"

    # --- public API ---------------------------------------------------------------------

    def place(self, order: OrderRequest, book: OrderBook, *, leg_prices: dict | None = None) -> OrderSnapshot:
        """Match ``order`` against ``book`` and store it.

        :raises OrderRejected: a duplicate client order id, an ``InvalidOrder`` (size, tick,
            post-only crossing, reduce-only increasing the position) or an injected reject;
            nothing is stored.
        :raises RateLimited: an injected rate limit; nothing is stored.
        :raises OutcomeUnknown: an injected lost request (nothing stored) or lost reply (the
            order *is* stored and can be found by its client order id).

        ``leg_prices``: for a combo order, each leg's reference price (symbol -> price), so its
        fills are held per leg (see :class:`PaperOrder`).
        """
        symbol = order.instrument.symbol
        with self._transaction() as (state, fire):
            latency = self._latency(fire, symbol)
            outcome = self._place_locked(order, book, state, fire, leg_prices)
        return self._finish(latency, outcome)

    def status(self, order: OrderRequest) -> OrderSnapshot:
        """The stored order, by ``venue_order_id`` if set, else by client order id.

        :raises OrderNotFound: no such order.
        """
        with self._transaction() as (state, fire):
            latency = self._latency(fire, order.instrument.symbol)
            try:
                stored = state.find(order)
            except OrderNotFound as exc:
                outcome: object = exc
            else:
                self._maybe_fill_later(stored, fire)
                outcome = stored.snapshot()
        return self._finish(latency, outcome)

    def cancel(self, order: OrderRequest) -> OrderSnapshot:
        """Cancel a working order; a partial fill stays on the cancelled order.

        :raises OrderNotOpen: the order is filled or cancelled already (also when an injected
            ``cancel_race`` fills it first).
        :raises OrderNotFound: no such order.
        """
        with self._transaction() as (state, fire):
            latency = self._latency(fire, order.instrument.symbol)
            outcome = self._cancel_locked(order, state, fire)
        return self._finish(latency, outcome)

    def orders(self) -> list[PaperOrder]:
        """Every stored order, oldest first."""
        with self._transaction(write=False) as (state, _):
            return list(state.orders.values())

    def positions(self) -> list[Position]:
        """The net position per symbol from every stored fill (the book of record), flat ones left out.

        ``average_price`` is the average cost of what is held: fills that add to the position
        average in, fills that reduce it leave it, a fill that flips it starts it afresh at its
        price. No mark, no P&L: the venue adds those from its market. A combo order's fills are
        held per leg (ratio times the fill, at the leg prices of :meth:`PaperOrder.leg_fills`).
        What was settled at expiry (:mod:`gps_core.paper_settlement`) is no longer held.
        """
        with self._transaction(write=False) as (state, _):
            return state.held(self.venue)

    def transact(self, step: Callable[["_State"], object]) -> object:
        """Run ``step(state)`` as one transaction under the store's locks and save what it changed.

        For store extensions such as settlement at expiry (:mod:`gps_core.paper_settlement`):
        another process's transaction waits for it, so a step that checks before it writes is
        idempotent. Returns what ``step`` returns.
        """
        with self._transaction() as (state, _):
            return step(state)

    def fill(self, client_order_id: str) -> OrderSnapshot:
        """Fill what is left of a working order at its limit, as if someone traded against it.

        For test harnesses and drills (a resting order being hit).

        :raises OrderNotFound: no such order.
        :raises OrderNotOpen: the order is filled or cancelled already.
        """
        with self._transaction() as (state, _):
            stored = state.orders.get(client_order_id)
            if stored is None:
                raise OrderNotFound(f"no paper order {client_order_id!r}")
            if stored.status is not VenueOrderStatus.OPEN:
                raise OrderNotOpen(f"order {client_order_id} is {stored.status.value}", venue=self.venue)
            stored.fill_rest_as_maker()
            return stored.snapshot()

    def reset_fault_counters(self) -> None:
        """Forget how often each fault fired (a test harness arming a fresh plan)."""
        with self._transaction() as (state, _):
            state.counters.clear()

    # --- the steps, run under the lock ---------------------------------------------------

    def _place_locked(self, order: OrderRequest, book: OrderBook, state: _State, fire,
                      leg_prices: dict | None = None) -> object:
        symbol = order.instrument.symbol
        if fire("rate_limit", symbol):
            return RateLimited("paper venue: too many requests (injected rate limit)", retry_after=RATE_LIMIT_RETRY_AFTER,
                               venue=self.venue, code="rate_limit")
        if fire("unknown_before_accept", symbol):
            return OutcomeUnknown("paper venue: the request was lost (injected); the order was not placed",
                                  venue=self.venue)
        if order.client_order_id in state.orders:
            return OrderRejected(f"duplicate client order id {order.client_order_id!r}", venue=self.venue,
                                 code="duplicate_client_order_id")
        problem = self._invalid(order, book, state)
        if problem:
            return InvalidOrder(problem, venue=self.venue)
        problem = self._reduce_only_problem(order, state)
        if problem:
            return ReduceOnlyRefused(problem, venue=self.venue)
        if fire("reject", symbol):
            return OrderRejected(f"order {order.client_order_id} rejected (injected reject for {symbol})",
                                 venue=self.venue, code="injected_reject")

        cap = order.quantity
        if fire("never_fill", symbol):
            cap = ZERO
        else:
            fraction = fire("partial", symbol)
            if fraction is not None:
                cap = round_to_step(order.quantity * fraction, order.instrument.quantity_step, up=False)
        fills = self._walk(order, book, cap)

        now = utcnow()
        stored = PaperOrder(
            client_order_id=order.client_order_id,
            venue_order_id=f"{self.venue}-paper-{state.next_number:08d}",
            symbol=symbol,
            side=order.side,
            quantity=order.quantity,
            limit_price=order.limit_price,
            price_currency=order.instrument.price_currency,
            time_in_force=order.time_in_force,
            status=VenueOrderStatus.OPEN,
            created_at=now,
            updated_at=now,
            fees=order.instrument.fees,
            underlying_value=book.underlying_value(),
            post_only=order.post_only,
            reduce_only=order.reduce_only,
            fills=fills,
            combo_legs=tuple((leg.symbol, leg.ratio, Decimal((leg_prices or {}).get(leg.symbol, ZERO)))
                             for leg in order.instrument.combo_legs),
        )
        state.next_number += 1
        if stored.remaining == 0:
            stored.status = VenueOrderStatus.FILLED
        elif order.time_in_force is TimeInForce.IOC:
            stored.status = VenueOrderStatus.CANCELLED
            stored.reason = "immediate-or-cancel: the unfilled rest was cancelled"
        state.orders[stored.client_order_id] = stored
        if fire("unknown_after_accept", symbol):
            return OutcomeUnknown("paper venue: the reply was lost after the order was accepted (injected)",
                                  venue=self.venue)
        return stored.snapshot()

    def _invalid(self, order: OrderRequest, book: OrderBook, state: _State) -> str | None:
        instrument = order.instrument
        if book.instrument.symbol != instrument.symbol:
            return f"book is for {book.instrument.symbol}, order is for {instrument.symbol}"
        if not order.client_order_id:
            return "an order needs a client order id"
        if instrument.is_expired(self._clock()):
            return f"{instrument.symbol} has expired"
        if order.quantity < instrument.min_quantity:
            return f"quantity {format_decimal(order.quantity)} is below the minimum {format_decimal(instrument.min_quantity)}"
        if not is_multiple(order.quantity, instrument.quantity_step):
            return f"quantity {order.quantity} is not a multiple of {instrument.quantity_step}"
        tick = instrument.tick_at(order.limit_price)
        if order.limit_price <= 0 or not is_multiple(order.limit_price, tick):
            return f"limit price {order.limit_price} is not a positive multiple of the tick {tick}"
        if order.post_only and self._crossing(order, book):
            return "post-only order would take liquidity"
        return None

    @staticmethod
    def _reduce_only_problem(order: OrderRequest, state: "_State") -> str | None:
        if not order.reduce_only:
            return None
        # a combo order reduces only if it reduces every leg it trades
        legs = [(leg.symbol, leg.ratio) for leg in order.instrument.combo_legs] or [(order.instrument.symbol, 1)]
        for symbol, ratio in legs:
            position, change = state.position(symbol), order.side.sign * ratio * order.quantity
            if position * change >= 0 or abs(change) > abs(position):
                return f"reduce-only {order.side.value} {order.quantity} would not reduce the position {position}" + \
                    (f" of {symbol}" if order.instrument.combo_legs else "")
        return None

    @staticmethod
    def _crossing(order: OrderRequest, book: OrderBook) -> list:
        if order.side is Side.BUY:
            return [level for level in book.asks if level.price <= order.limit_price]
        return [level for level in book.bids if level.price >= order.limit_price]

    def _walk(self, order: OrderRequest, book: OrderBook, cap: Decimal) -> list[PaperFill]:
        """Take the opposite side, best level first, within the limit and up to ``cap``."""
        fills, left = [], cap
        underlying_value = book.underlying_value()
        for level in self._crossing(order, book):
            if left <= 0:
                break
            take = min(level.quantity, left)
            if take <= 0:
                continue
            fee = order.instrument.fees.fee_per_contract(level.price, underlying_value) * take
            fills.append(PaperFill(level.price, take, _plain(fee), "taker"))
            left -= take
        return fills

    def _maybe_fill_later(self, stored: PaperOrder, fire) -> None:
        if stored.status is not VenueOrderStatus.OPEN or not any(r.name == "fill_after" for r in self.faults.rules):
            return
        stored.status_checks += 1
        for key, rule in self.faults.keyed():
            if rule.name == "fill_after" and stored.status_checks >= int(rule.value):
                if fire("fill_after", stored.symbol, only=key):
                    stored.fill_rest_as_maker()
                    return

    def _cancel_locked(self, order: OrderRequest, state: _State, fire) -> object:
        try:
            stored = state.find(order)
        except OrderNotFound as exc:
            return exc
        if stored.status is not VenueOrderStatus.OPEN:
            return OrderNotOpen(f"order {stored.client_order_id} is {stored.status.value}", venue=self.venue)
        if fire("cancel_race", stored.symbol):
            stored.fill_rest_as_maker()
            return OrderNotOpen(f"order {stored.client_order_id} filled before the cancel arrived", venue=self.venue)
        stored.status = VenueOrderStatus.CANCELLED
        stored.reason = "cancelled"
        stored.updated_at = utcnow()
        return stored.snapshot()

    # --- faults -------------------------------------------------------------------------

    def _latency(self, fire, symbol: str) -> float:
        millis = ZERO
        for key, rule in self.faults.keyed():
            if rule.name == "latency" and fire("latency", symbol, only=key) is not None:
                millis += Decimal(rule.value)
        return float(millis) / 1000

    def _finish(self, latency: float, outcome: object) -> OrderSnapshot:
        if latency > 0:
            self._sleep(latency)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome  # type: ignore[return-value]

    # --- the store ----------------------------------------------------------------------

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[tuple[_State, Callable]]:
        """Hold both locks, load the store, yield it with a fault trigger, save it on success."""
        self.store_path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.store_path.with_name(self.store_path.name + ".lock")
        with _thread_lock(self.store_path):
            with open(lock_path, "a+") as lock_file:
                if fcntl is not None:
                    fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
                try:
                    raw = self._read()
                    state = self._parse(raw)
                    yield state, self._trigger(state)
                    if write:
                        self._save(state, unless=raw)
                finally:
                    if fcntl is not None:
                        fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)

    def _trigger(self, state: _State) -> Callable:
        """``fire(name, symbol, only=key)``: the first matching rule with budget left fires.

        Returns the rule's value (``True`` for faults without one), or ``None`` if none fired.
        """
        def fire(name: str, symbol: str, *, only: str | None = None):
            for key, rule in self.faults.keyed():
                if rule.name != name or (only is not None and key != only) or not rule.matches(symbol):
                    continue
                budget, used = rule.budget, state.counters.get(key, 0)
                if budget is not None and used >= budget:
                    continue
                state.counters[key] = used + 1
                return True if rule.value is None or name in ("rate_limit", "fill_after") else rule.value
            return None

        return fire

    def _read(self) -> str | None:
        try:
            return self.store_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def _parse(self, raw: str | None) -> _State:
        if raw is None:
            return _State({}, {}, 1)
        try:
            data = json.loads(raw)
            if data.get("format") != STORE_FORMAT:
                raise ValueError(f"unknown format {data.get('format')!r}")
            orders = [PaperOrder.from_json(o) for o in data["orders"]]
            return _State({o.client_order_id: o for o in orders}, dict(data.get("fault_counters", {})),
                          int(data.get("next_order_number", len(orders) + 1)), list(data.get("settlements", [])))
        except (ValueError, KeyError, TypeError, InvalidOperation) as exc:
            raise ConfigurationError(f"the paper order store {self.store_path} is unreadable: {exc}") from None

    def _save(self, state: _State, *, unless: str | None) -> None:
        """Write the state atomically, unless it is what the file already holds."""
        data = {
            "format": STORE_FORMAT,
            "venue": self.venue,
            "next_order_number": state.next_number,
            "fault_counters": state.counters,
            "orders": [o.to_json() for o in state.orders.values()],
            **({"settlements": state.settlements} if state.settlements else {}),
        }
        text = json.dumps(data, indent=1)
        if text == unless:
            return
        fd, temp = tempfile.mkstemp(prefix=self.store_path.name + ".", suffix=".tmp", dir=self.store_path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self.store_path)
        except BaseException:
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass
            raise


def paper_market_time(venues, quotes) -> datetime | None:
    """The moment to judge a plan's expiries at, when only paper venues are asked.

    ``None`` (meaning the real clock) if any venue in ``venues`` is live or no quote has a
    book; otherwise the latest timestamp of the books in ``quotes`` (a mapping of leg
    index to :class:`~gps_core.routing.Quote` lists). A paper market dated in the past
    (``GPS_DRYRUN_ASOF``) stamps its books with its own clock, so its options are judged
    as of that date; a live venue is always judged by the real clock.
    """
    if not venues or any(not venue.info.paper for venue in venues):
        return None
    stamps = [quote.book.timestamp for leg_quotes in quotes.values() for quote in leg_quotes if quote.book is not None]
    return max(stamps) if stamps else None
