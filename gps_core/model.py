"""The data that flows between the core and the venue plugins.

Everything here is plain, immutable data with ``Decimal`` numbers. Prices are in the
instrument's ``price_currency`` (``BTC`` for Deribit BTC options, ``USD`` for Aevo);
the order book says how many USD one unit of that currency is worth, so the core can
compare venues in USD.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Callable

from .errors import InvalidReply
from .hookspecs import FIRST_HOOKSPEC_VERSION, HOOKSPEC_VERSION  # noqa: F401 - also importable from here, as before
from .instruments import OptionKey
from .money import ZERO, Money, round_to_step


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Side(str, Enum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> "Side":
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


#: The longest client order id gps sends (legs, combos and unwinds): ``gps-<execution id>-U8-4``
#: (``gps-`` + a 29-character execution id + ``-L|C|U<leg 1-8>-<attempt 1-4>``). A venue whose
#: ``client_id_max_length`` is shorter has executions refused; conformance check C01 requires it.
CLIENT_ORDER_ID_MAX_LENGTH = 38


class TimeInForce(str, Enum):
    GTC = "gtc"  #: good till cancelled
    IOC = "ioc"  #: immediate or cancel


class ClientIdKind(str, Enum):
    """How a venue treats the client order id gps sends, so the core knows how to find a lost order."""

    #: A free-form label the venue stores and can search by; not guaranteed unique (Deribit ``label``).
    LABEL = "label"
    #: The venue refuses a second order with the same id, for ever.
    UNIQUE = "unique"
    #: The venue's order id is computed from the order before it is sent (Aevo's EIP-712 digest);
    #: the plugin records it with :meth:`OrderRequest.record_before_send`.
    DERIVED = "derived"
    #: The venue keeps gps's id in its own store (paper venues).
    LOCAL = "local"


class Capability(str, Enum):
    GTC = "gtc"
    IOC = "ioc"
    POST_ONLY = "post_only"
    REDUCE_ONLY = "reduce_only"
    LOOKUP_BY_CLIENT_ID = "lookup_by_client_id"
    VALID_UNTIL = "valid_until"
    #: ``gps_cancel`` works with only the client order id (no venue order id yet): it cancels
    #: whatever order carries it, so an order whose placement reply was lost can be cancelled.
    CANCEL_BY_CLIENT_ID = "cancel_by_client_id"


@dataclass(frozen=True)
class VenueInfo:
    """What a venue is and how it behaves; returned by ``gps_venue_info``.

    :param name: the venue's short name, the same as its entry-point name (``deribit``).
    :param title: a human title (``Deribit``).
    :param underlyings: underlyings it lists options on (``("BTC", "ETH")``).
    :param price_currencies: currencies its option prices are quoted in.
    :param client_id_kind: how it treats gps's client order ids (see :class:`ClientIdKind`).
    :param client_id_max_length: the longest client order id it accepts.
    :param capabilities: what it supports (see :class:`Capability`).
    :param credential_env: the environment variables its credentials come from.
    :param paper: ``True`` when no real money moves (the dry-run venue, a simulated venue of
        ``--dry-run``): never mixed with live venues in one strategy.
    :param hookspec_version: the hook API version it was built against; the core accepts
        ``MIN_HOOKSPEC_VERSION`` to ``HOOKSPEC_VERSION`` (:mod:`gps_core.hookspecs`). A plugin that
        declares none is taken as built against version 1 (``FIRST_HOOKSPEC_VERSION``), never as the
        running core's newest; declare it.
    """

    name: str
    title: str = ""
    underlyings: tuple[str, ...] = ()
    price_currencies: tuple[str, ...] = ()
    client_id_kind: ClientIdKind = ClientIdKind.LABEL
    client_id_max_length: int = 64
    capabilities: frozenset[Capability] = frozenset()
    credential_env: tuple[str, ...] = ()
    paper: bool = False
    hookspec_version: int = FIRST_HOOKSPEC_VERSION

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities


@dataclass(frozen=True)
class FeeSchedule:
    """Option fees as most crypto venues charge them.

    Fee per contract, in the price currency, is
    ``min(rate * value_of_one_contract_of_underlying, premium_cap * price)``.

    :param taker_rate: fraction of the underlying's value charged to takers (``0.0003``).
    :param maker_rate: the same for makers.
    :param premium_cap: cap as a fraction of the option price (``0.125``), or ``None``.
    """

    taker_rate: Decimal
    maker_rate: Decimal
    premium_cap: Decimal | None = None

    def fee_per_contract(self, price: Decimal, underlying_value: Decimal, *, taker: bool = True) -> Decimal:
        fee = (self.taker_rate if taker else self.maker_rate) * underlying_value
        if self.premium_cap is not None:
            fee = min(fee, self.premium_cap * price)
        return fee


@dataclass(frozen=True)
class TickRule:
    """A price tick that applies at and above ``above_price`` (Deribit ``tick_size_steps``).

    Deribit's reference data describes ``above_price`` as "the price from which the increased
    tick size applies", so a price exactly on the step already uses the step's tick.
    """

    above_price: Decimal
    tick: Decimal


@dataclass(frozen=True)
class VenueInstrument:
    """One option as one venue lists it.

    :param venue: the venue's name.
    :param key: the venue-independent identity.
    :param symbol: the venue's own name for it (``BTC-27MAR26-70000-C``).
    :param price_currency: the currency of its prices (``BTC``, ``USD``).
    :param tick_size: the base price tick.
    :param tick_steps: larger ticks from a price up (empty when the tick is flat).
    :param min_quantity: the smallest order, in contracts.
    :param quantity_step: the order size step, in contracts.
    :param contract_size: units of underlying per contract.
    :param fees: its fee schedule.
    :param is_active: whether it can be traded now.
    :param expires_at: its exact expiry time.
    :param venue_id: the venue's internal id, when orders need it (Aevo ``instrument_id``).
    :param min_order_value: the smallest order value in the price currency, if the venue has one.
    """

    venue: str
    key: OptionKey
    symbol: str
    price_currency: str
    tick_size: Decimal
    min_quantity: Decimal
    quantity_step: Decimal
    contract_size: Decimal = Decimal(1)
    fees: FeeSchedule = FeeSchedule(ZERO, ZERO)
    tick_steps: tuple[TickRule, ...] = ()
    is_active: bool = True
    expires_at: datetime | None = None
    venue_id: str | None = None
    min_order_value: Decimal | None = None
    #: a combo (one instrument that trades several legs at once, see :class:`ComboOffer`): its
    #: legs with their signed ratios; empty for a single option. A combo's ``key`` is its first
    #: leg's (it names the listing and the expiry); its ``symbol`` is the venue's combo id.
    combo_legs: tuple["ComboLeg", ...] = ()

    @property
    def is_combo(self) -> bool:
        return bool(self.combo_legs)

    @property
    def display_name(self) -> str:
        """The name to show: the option's canonical name, or the combo id for a combo."""
        return self.symbol if self.combo_legs else self.key.name

    def tick_at(self, price: Decimal) -> Decimal:
        """The tick that applies at ``price``: that of the highest step whose ``above_price`` is at or below it."""
        tick = self.tick_size
        for rule in sorted(self.tick_steps, key=lambda r: r.above_price):
            if price >= rule.above_price:
                tick = rule.tick
        return tick

    def round_price(self, price: Decimal, side: "Side") -> Decimal:
        """Snap a limit price to the tick so the bound still holds: buys down, sells up."""
        up = side is Side.SELL
        rounded = round_to_step(price, self.tick_at(price), up=up)
        # Crossing a tick boundary can change the tick: snap once more at the new level.
        return round_to_step(rounded, self.tick_at(rounded), up=up)

    def is_expired(self, now: datetime | None = None) -> bool:
        moment = now or utcnow()
        return moment >= (self.expires_at or self.key.expiry_datetime)


@dataclass(frozen=True)
class ComboLeg:
    """One leg of a combo: the venue's symbol for it and its signed whole-number ratio.

    ``ratio`` > 0: bought when the combo is bought; < 0: sold (Deribit ``legs[].amount``).
    """

    symbol: str
    ratio: int


@dataclass(frozen=True)
class ComboOffer:
    """A venue's offer to trade several legs as one order; returned by ``gps_combo_offer``.

    :param instrument: the combo as a tradable instrument (``symbol`` is the combo id, e.g.
        Deribit's ``BTC-CS-19MAY26-70000_75000``; tick and size rules of the combo book; its
        ``combo_legs`` set). Orders for it go through ``gps_place`` like any other.
    :param book: the combo's own order book, prices per one unit of the combo (net premium,
        in ``instrument.price_currency``); may be empty (a combo order then rests).
    :param waives_cheaper_side: the venue groups buy legs and sell legs and charges only the
        dearer group's fees (Deribit); otherwise every leg pays its own fee.
    """

    instrument: VenueInstrument
    book: OrderBook
    waives_cheaper_side: bool = False

    @property
    def legs(self) -> tuple[ComboLeg, ...]:
        return self.instrument.combo_legs


@dataclass(frozen=True)
class BookLevel:
    price: Decimal
    quantity: Decimal


@dataclass(frozen=True)
class OrderBook:
    """A venue's order book for one instrument, returned by ``gps_order_book``.

    :param bids: best first (highest price first).
    :param asks: best first (lowest price first).
    :param usd_per_unit: USD value of one unit of the price currency (the BTC index for a
        BTC-priced option, ``1`` for a USD-priced one).
    :param index_price: the underlying's index in USD.
    :param mark_price: the venue's mark price in the price currency, where it gives one.
    :param mark_iv: the venue's implied volatility at the mark, as a fraction (``0.55`` for
        55%), where it gives one; ``None`` otherwise (gps then shows no Greeks for the leg).
    :param bid_iv: the implied volatility of the best bid, as a fraction, where given.
    :param ask_iv: the implied volatility of the best ask, as a fraction, where given.
    """

    instrument: VenueInstrument
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    usd_per_unit: Decimal
    index_price: Decimal
    timestamp: datetime = field(default_factory=utcnow)
    mark_price: Decimal | None = None
    mark_iv: Decimal | None = None
    bid_iv: Decimal | None = None
    ask_iv: Decimal | None = None

    def side_to_take(self, side: Side) -> tuple[BookLevel, ...]:
        """The levels a ``side`` order executes against: asks for a buy, bids for a sell."""
        return self.asks if side is Side.BUY else self.bids

    def underlying_value(self) -> Decimal:
        """One contract's underlying, valued in the price currency."""
        return self.index_price / self.usd_per_unit * self.instrument.contract_size


@dataclass(frozen=True)
class OrderRequest:
    """An order gps asks one venue to place; also the handle for ``gps_order_status`` / ``gps_cancel``.

    Immutable: what was sent stays what was sent. A changed order is a new value
    (:meth:`with_updates`); what a plugin learns before sending comes back from
    :meth:`record_before_send`.

    :param client_order_id: gps's id for the order, unique per attempt. The venue plugin must
        send it (Deribit ``label``) or otherwise make the order findable by it.
    :param instrument: what to trade, as the venue lists it.
    :param side: buy or sell.
    :param quantity: contracts, on the instrument's step.
    :param limit_price: in the instrument's price currency, on the tick.
    :param time_in_force: GTC or IOC.
    :param post_only: never take liquidity.
    :param reduce_only: only reduce a position (unwind orders).
    :param valid_until: the venue should drop the order if it has not processed it by then
        (plugins with :attr:`Capability.VALID_UNTIL` send it; it closes the window in which a
        lost request could still turn into an order).
    :param venue_order_id: the venue's id, once known.
    :param venue_data: facts the plugin recorded before sending (see :meth:`record_before_send`).
    """

    client_order_id: str
    instrument: VenueInstrument
    side: Side
    quantity: Decimal
    limit_price: Decimal
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False
    valid_until: datetime | None = None
    venue_order_id: str | None = None
    venue_data: dict = field(default_factory=dict)
    before_send: Callable[["OrderRequest"], None] | None = field(default=None, repr=False, compare=False)

    @property
    def venue(self) -> str:
        return self.instrument.venue

    def record_before_send(self, *, venue_order_id: str | None = None, **data) -> "OrderRequest":
        """Durably record what the plugin needs to find this order later, before it sends it.

        A plugin whose venue computes the order id from the order (Aevo) calls this with the
        id, and with anything else needed to rebuild the lookup (a salt, a timestamp), and
        sends the request it returns: this one with ``venue_order_id`` set and ``data`` added
        to ``venue_data``. The core writes it to the journal and fsyncs before this returns.
        Values must be JSON serialisable and must not be secrets.
        """
        updated = replace(self, venue_order_id=self.venue_order_id if venue_order_id is None else venue_order_id,
                          venue_data={**self.venue_data, **data})
        if self.before_send is not None:
            self.before_send(updated)
        return updated

    def with_updates(self, **changes) -> "OrderRequest":
        """A copy with ``changes`` (field names as keywords)."""
        return replace(self, **changes)


class VenueOrderStatus(str, Enum):
    """An order's status as the venue reports it."""

    OPEN = "open"  #: working; may be partially filled
    FILLED = "filled"
    CANCELLED = "cancelled"  #: may carry a partial fill
    REJECTED = "rejected"
    EXPIRED = "expired"


@dataclass(frozen=True)
class OrderSnapshot:
    """What a venue says about one order: returned by ``gps_place``, ``gps_order_status``, ``gps_cancel``.

    :param average_price: average fill price in the price currency, ``None`` with no fill.
    :param fee: fees paid so far, in the venue's fee currency.
    :param fee_estimated: ``fee`` is the plugin's estimate from the venue's fee schedule, not
        what the venue reported (a venue that lists fills' fees late, or not at all).
    :param price_estimated: ``average_price`` is not the venue's figure but a stand-in (the
        order's limit, when the venue's answer has no average); the core never lets it replace
        a venue-reported average for the same fills.
    :param reason: the venue's words for a reject or cancel.

    Construction checks the numbers: a negative fill, a fill above the order size or a
    ``filled`` status without the full fill raise :class:`~gps_core.errors.InvalidReply`.
    """

    client_order_id: str
    venue_order_id: str | None
    status: VenueOrderStatus
    quantity: Decimal
    filled_quantity: Decimal
    average_price: Decimal | None = None
    fee: Money | None = None
    reason: str | None = None
    updated_at: datetime = field(default_factory=utcnow)
    fee_estimated: bool = False
    price_estimated: bool = False
    #: a combo order's fills as the venue reports them: trades on every leg
    leg_fills: tuple["LegFill", ...] = ()

    def __post_init__(self):
        for name in ("quantity", "filled_quantity"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite():
                raise InvalidReply(f"order {self.client_order_id}: {name} {value!r} is not a finite Decimal")
        if not isinstance(self.status, VenueOrderStatus):
            raise InvalidReply(f"order {self.client_order_id}: unknown status {self.status!r}")
        if self.quantity <= 0 or self.filled_quantity < 0:
            raise InvalidReply(f"order {self.client_order_id}: impossible quantities {self.quantity}/{self.filled_quantity}")
        if self.filled_quantity > self.quantity:
            raise InvalidReply(
                f"order {self.client_order_id}: filled {self.filled_quantity} is more than its size {self.quantity}"
            )
        if self.status is VenueOrderStatus.FILLED and self.filled_quantity != self.quantity:
            raise InvalidReply(f"order {self.client_order_id}: status filled but only {self.filled_quantity} filled")
        if self.filled_quantity > 0:
            price = self.average_price
            if price is None or not isinstance(price, Decimal) or not price.is_finite() or price < 0:
                raise InvalidReply(f"order {self.client_order_id}: fill without a valid average price")

    @property
    def is_working(self) -> bool:
        return self.status is VenueOrderStatus.OPEN


@dataclass(frozen=True)
class LegFill:
    """One trade on one leg of a combo order (Deribit reports a combo fill as a trade per leg).

    :param symbol: the leg's venue symbol. :param side: the leg's side in this trade.
    :param quantity: contracts. :param price: in the leg's price currency.
    :param fee: the trade's fee (``None`` when not reported).
    """

    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    fee: Money | None = None


@dataclass(frozen=True)
class AuthResult:
    """What ``gps_authenticate`` learned: who we are at the venue (never a secret)."""

    venue: str
    account: str | None = None
    testnet: bool = False
    detail: str = ""


@dataclass(frozen=True)
class Position:
    """One open position at a venue, as its positions endpoint reports it; returned by ``gps_positions``.

    :param venue: the venue's name.
    :param symbol: the venue's name for the instrument (``BTC-27MAR26-70000-C``).
    :param quantity: signed contracts: positive long, negative short (never zero in a reply).
    :param price_currency: the currency of ``average_price`` and ``mark_price`` (``BTC``, ``USDC``, ``USD``).
    :param average_price: the average entry price, or ``None`` when the venue does not say.
    :param mark_price: the venue's mark, or ``None`` when it does not say.
    :param usd_per_unit: USD value of one unit of ``price_currency`` (the index for a coin-priced
        option, ``1`` for a dollar-priced one), or ``None`` when unknown.
    :param unrealized_pnl: the venue's floating P&L in ``price_currency``; ``None`` when the venue
        does not report it (then :attr:`unrealized_pnl_usd` is computed from mark and average).
    :param key: the venue-independent identity, when the symbol parses as an option.
    """

    venue: str
    symbol: str
    quantity: Decimal
    price_currency: str
    average_price: Decimal | None = None
    mark_price: Decimal | None = None
    usd_per_unit: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    key: OptionKey | None = None

    def __post_init__(self):
        for name in ("quantity", "average_price", "mark_price", "usd_per_unit", "unrealized_pnl"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, Decimal) or not value.is_finite()):
                raise InvalidReply(f"position {self.symbol}: {name} {value!r} is not a finite Decimal")

    @property
    def unrealized_pnl_usd(self) -> Decimal | None:
        """Unrealised P&L in USD: the venue's figure, else ``(mark - average) * quantity``, times ``usd_per_unit``."""
        if self.usd_per_unit is None:
            return None
        pnl = self.unrealized_pnl
        if pnl is None:
            if self.mark_price is None or self.average_price is None:
                return None
            pnl = (self.mark_price - self.average_price) * self.quantity
        return pnl * self.usd_per_unit


@dataclass(frozen=True)
class Settlement:
    """A position the venue settled at expiry (cash-settled at the option's intrinsic value);
    returned by the optional ``gps_settlements``.

    :param venue: the venue's name.
    :param symbol: the venue's name for the instrument.
    :param quantity: signed contracts that were held when it expired (positive long).
    :param settlement_price: what one contract settled at, in ``price_currency`` (its intrinsic
        value against ``index_price``; ``0`` when it expired out of the money).
    :param price_currency: the currency of ``settlement_price`` and ``average_price``.
    :param index_price: the underlying's index, USD, it was settled against.
    :param settled_at: the expiry moment (UTC).
    :param average_price: the position's average entry price, or ``None`` when unknown.
    :param pnl_usd: the position's P&L in USD from entry to settlement
        (``(settlement_price - average_price) * quantity`` in USD), or ``None`` when unknown.
    :param key: the venue-independent identity, when the symbol parses as an option.
    """

    venue: str
    symbol: str
    quantity: Decimal
    settlement_price: Decimal
    price_currency: str
    index_price: Decimal
    settled_at: datetime
    average_price: Decimal | None = None
    pnl_usd: Decimal | None = None
    key: OptionKey | None = None

    def to_json(self) -> dict:
        text = lambda v: None if v is None else f"{v.normalize():f}"  # noqa: E731
        return {"venue": self.venue, "instrument": self.symbol, "quantity": text(self.quantity),
                "settlement_price": text(self.settlement_price), "price_currency": self.price_currency,
                "index_usd": text(self.index_price), "settled_at": self.settled_at.isoformat(),
                "average_price": text(self.average_price),
                "pnl_usd": None if self.pnl_usd is None else f"{self.pnl_usd.quantize(Decimal('0.01')):f}"}

    def describe(self) -> str:
        """One line: ``BTC-27MAR26-85000-C (0.2) expired and settled at 5000 USD against the index $90,000 on ...``."""
        pnl = "" if self.pnl_usd is None else (
            f", P&L {'-' if self.pnl_usd < 0 else ''}${abs(self.pnl_usd):,.2f}")
        return (f"{self.symbol} ({self.quantity.normalize():f}) expired and settled at "
                f"{self.settlement_price.normalize():f} {self.price_currency} against the index "
                f"${self.index_price:,.2f} on {self.settled_at:%Y-%m-%d %H:%M} UTC{pnl}")
