"""Strategy inputs: ``--leg`` specs, strategy files and Options GPS decision logs.

Every parser raises :class:`~gps_core.errors.BadInput` with a message that names the bad
field (``legs[1].quantity: ...``); nothing here touches a venue.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from .errors import BadInput
from .instruments import OptionKey, OptionType, parse_expiry, parse_strike
from .model import Side
from .money import Money

CARDS = {"best": "best_match", "safer": "safer_alt", "upside": "higher_upside"}
MAX_LEGS = 8


@dataclass(frozen=True)
class Leg:
    """One leg: buy or sell ``quantity`` contracts of ``instrument``.

    :param reference_price: what the strategy expected to pay per contract (an Options GPS
        card's ``premium``), for the savings line of the report.
    """

    side: Side
    quantity: Decimal
    instrument: OptionKey
    reference_price: Money | None = None

    def describe(self) -> str:
        return f"{self.side.value} {self.quantity.normalize():f} {self.instrument.name}"

    def to_json(self) -> dict:
        data: dict[str, Any] = {"side": self.side.value, "quantity": str(self.quantity), "instrument": self.instrument.name}
        if self.reference_price is not None:
            data["reference_price"] = self.reference_price.to_json()
        return data


@dataclass(frozen=True)
class Strategy:
    """The legs to execute, and where they came from."""

    legs: tuple[Leg, ...]
    name: str = "strategy"
    source: str = "legs"
    no_trade: bool = False
    no_trade_reason: str | None = None
    meta: dict = field(default_factory=dict)

    def scaled(self, factor: Decimal) -> "Strategy":
        """All quantities multiplied by ``factor`` (``--size``)."""
        if factor <= 0:
            raise BadInput(f"--size must be positive, got {factor}")
        return replace(self, legs=tuple(replace(leg, quantity=leg.quantity * factor) for leg in self.legs))

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "source": self.source,
            "no_trade": self.no_trade,
            "no_trade_reason": self.no_trade_reason,
            "legs": [leg.to_json() for leg in self.legs],
        }


def _decimal(value: Any, where: str, *, positive: bool = True) -> Decimal:
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        raise BadInput(f"{where}: expected a number, got {value!r}")
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise BadInput(f"{where}: {value!r} is not a number") from None
    if not number.is_finite():
        raise BadInput(f"{where}: {value!r} is not a finite number")
    if positive and number <= 0:
        raise BadInput(f"{where}: must be positive, got {value!r}")
    if number and not -15 <= number.adjusted() <= 15:  # beyond any price or size; would overflow arithmetic
        raise BadInput(f"{where}: {value!r} is out of range")
    return number


def _side(value: Any, where: str) -> Side:
    text = str(value).strip().lower() if isinstance(value, str) else None
    if text in ("buy", "long", "b"):
        return Side.BUY
    if text in ("sell", "short", "s"):
        return Side.SELL
    raise BadInput(f"{where}: side must be buy or sell, got {value!r}")


def _reference(value: Any, where: str) -> Money | None:
    if value is None:
        return None
    if isinstance(value, dict):
        amount = _decimal(value.get("amount"), f"{where}.amount", positive=False)
        currency = value.get("currency", "USD")
        if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{2,6}", currency.strip().upper()):
            raise BadInput(f"{where}.currency: {currency!r} is not a currency code")
        return Money(amount, currency.strip().upper())
    return Money(_decimal(value, where, positive=False), "USD")


_LEG_SPEC = re.compile(r"^\s*(\S+)\s+(\S+)\s+(\S+)(?:\s*@\s*(\S+))?\s*$")


def parse_leg_spec(spec: str, index: int = 0) -> Leg:
    """Parse ``"buy 1 BTC-27MAR26-70000-C"`` (optionally ``@ 1234.5`` as a USD reference price)."""
    where = f"--leg {index + 1} ({spec!r})"
    match = _LEG_SPEC.match(spec or "")
    if not match:
        raise BadInput(f"{where}: expected 'buy|sell QUANTITY INSTRUMENT', e.g. 'buy 1 BTC-27MAR26-70000-C'")
    side, quantity, name, reference = match.groups()
    try:
        instrument = OptionKey.parse(name)
    except BadInput as exc:
        raise BadInput(f"{where}: {exc}") from None
    return Leg(
        _side(side, where),
        _decimal(quantity, f"{where} quantity"),
        instrument,
        _reference(reference, f"{where} reference price") if reference else None,
    )


def strategy_from_specs(specs: list[str]) -> Strategy:
    legs = tuple(parse_leg_spec(spec, i) for i, spec in enumerate(specs))
    return _checked(Strategy(legs=legs, name="command-line legs", source="legs"))


def load_strategy(path: Path, card: str | None = None) -> Strategy:
    """Load a strategy file, or an Options GPS decision log (then ``card`` picks the card)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path}: expected a JSON object at the top level")
    if is_decision_log(data):
        return strategy_from_decision_log(data, card or "best", source=str(path))
    if card:
        raise BadInput(f"--card applies to Options GPS decision logs; {path} is a strategy file")
    return strategy_from_json(data, source=str(path))


def strategy_from_json(data: dict, source: str = "file") -> Strategy:
    """Build a strategy from the strategy-file schema (see README)."""
    legs_data = data.get("legs")
    if not isinstance(legs_data, list) or not legs_data:
        raise BadInput("legs: expected a non-empty list of legs")
    legs = tuple(_leg_from_json(item, f"legs[{i}]") for i, item in enumerate(legs_data))
    name = data.get("name", "strategy")
    if not isinstance(name, str):
        raise BadInput(f"name: expected a string, got {name!r}")
    return _checked(Strategy(legs=legs, name=name, source=source))


def _leg_from_json(item: Any, where: str) -> Leg:
    if not isinstance(item, dict):
        raise BadInput(f"{where}: expected an object with side, quantity and instrument")
    side = _side(item.get("side", item.get("action")), f"{where}.side")
    quantity = _decimal(item.get("quantity", item.get("qty")), f"{where}.quantity")
    if "instrument" in item:
        if not isinstance(item["instrument"], str):
            raise BadInput(f"{where}.instrument: expected a name like BTC-27MAR26-70000-C")
        try:
            instrument = OptionKey.parse(item["instrument"])
        except BadInput as exc:
            raise BadInput(f"{where}.instrument: {exc}") from None
    else:
        instrument = _key_from_fields(item, where)
    return Leg(side, quantity, instrument, _reference(item.get("reference_price"), f"{where}.reference_price"))


def _key_from_fields(item: dict, where: str, underlying: str | None = None, expiry: Any = None) -> OptionKey:
    try:
        underlying = item.get("underlying", underlying)
        if not isinstance(underlying, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,15}", underlying.strip()):
            raise BadInput(f"underlying: expected a symbol like BTC, got {underlying!r}")
        exp = item.get("expiry", expiry)
        if exp is None:
            raise BadInput("expiry: missing")
        return OptionKey(
            underlying.strip().upper(),
            parse_expiry(exp),
            parse_strike(item.get("strike")),
            OptionType.parse(item.get("option_type", item.get("type", ""))),
        )
    except BadInput as exc:
        raise BadInput(f"{where}.{exc}") from None


def is_decision_log(data: dict) -> bool:
    return any(key in data for key in CARDS.values()) or isinstance(data.get("decision"), dict)


def strategy_from_decision_log(data: dict, card: str, source: str = "decision log") -> Strategy:
    """Build a strategy from one card of an Options GPS decision log."""
    if card not in CARDS:
        raise BadInput(f"--card must be one of {', '.join(CARDS)}, got {card!r}")
    body = data.get("decision") if isinstance(data.get("decision"), dict) else data
    card_data = body.get(CARDS[card]) if isinstance(body, dict) else None
    if card_data is None and isinstance(data.get(CARDS[card]), dict):
        card_data = data[CARDS[card]]
    if not isinstance(card_data, dict):
        raise BadInput(f"{CARDS[card]}: the decision log has no {card!r} card")
    inputs = data.get("inputs") if isinstance(data.get("inputs"), dict) else {}
    symbol = card_data.get("symbol", inputs.get("symbol"))
    legs_data = card_data.get("legs")
    if not isinstance(legs_data, list) or not legs_data:
        raise BadInput(f"{CARDS[card]}.legs: expected a non-empty list of legs")
    legs = []
    for i, item in enumerate(legs_data):
        where = f"{CARDS[card]}.legs[{i}]"
        if not isinstance(item, dict):
            raise BadInput(f"{where}: expected an object with action, qty, option_type, strike")
        key = _key_from_fields(item, where, underlying=symbol, expiry=card_data.get("expiry"))
        side = _side(item.get("action", item.get("side")), f"{where}.action")
        quantity = _decimal(item.get("qty", item.get("quantity")), f"{where}.qty")
        premium = item.get("premium")
        reference = _reference(premium, f"{where}.premium") if premium is not None else None
        legs.append(Leg(side, quantity, key, reference))
    no_trade = data.get("no_trade", body.get("no_trade", False) if isinstance(body, dict) else False)
    if not isinstance(no_trade, bool):
        raise BadInput(f"no_trade: expected true or false, got {no_trade!r}")
    reason = data.get("no_trade_reason", body.get("no_trade_reason") if isinstance(body, dict) else None)
    return _checked(
        Strategy(
            legs=tuple(legs),
            name=str(card_data.get("name") or card_data.get("strategy") or f"Options GPS {card} card"),
            source=f"{source} ({CARDS[card]})",
            no_trade=no_trade,
            no_trade_reason=str(reason) if reason is not None else None,
        )
    )


def _checked(strategy: Strategy) -> Strategy:
    if not strategy.legs:
        raise BadInput("the strategy has no legs: give --leg, a strategy file or a decision log")
    if len(strategy.legs) > MAX_LEGS:
        raise BadInput(f"the strategy has {len(strategy.legs)} legs; at most {MAX_LEGS} are supported")
    seen: dict[OptionKey, int] = {}
    for i, leg in enumerate(strategy.legs):
        if leg.instrument in seen:
            raise BadInput(
                f"legs {seen[leg.instrument] + 1} and {i + 1} trade the same instrument {leg.instrument.name}; merge them"
            )
        seen[leg.instrument] = i
    return strategy
