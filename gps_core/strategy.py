"""Strategy inputs: ``--leg`` specs, strategy files and Options GPS decision logs.

Decision logs are read by :mod:`gps_core.options_gps`.

Every parser raises :class:`~gps_core.errors.BadInput` with a message that names the bad
field (``legs[1].quantity: ...``); nothing here touches a venue.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO

from .errors import BadInput
from .instruments import OptionKey, OptionType, parse_expiry, parse_strike
from .model import Side
from .money import Money, format_decimal

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
            raise BadInput(f"--size: must be a positive number, got {format_decimal(factor)!r}")
        return replace(self, legs=tuple(replace(leg, quantity=leg.quantity * factor) for leg in self.legs))

    def to_json(self) -> dict:
        data = {
            "name": self.name,
            "source": self.source,
            "no_trade": self.no_trade,
            "no_trade_reason": self.no_trade_reason,
            "legs": [leg.to_json() for leg in self.legs],
        }
        if self.meta.get("card"):
            data["card"] = dict(self.meta["card"])
        return data


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


def load_strategy(path: Path | str, card: str | None = None, *, stdin: TextIO | None = None) -> Strategy:
    """Load a strategy file, or an Options GPS decision log (then ``card`` picks the card).

    :param path: the file, or ``-`` for ``stdin``.
    :param stdin: where ``-`` reads from (default: the process's standard input).
    """
    if str(path) == "-":
        source = "stdin"
        stream = stdin or sys.stdin
        if stream.isatty():
            raise BadInput("'-' reads the strategy from stdin, which is a terminal: pipe Options GPS "
                           "(or a file) into gps")
        try:
            raw = stream.buffer.read() if hasattr(stream, "buffer") else stream.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"cannot read the strategy from stdin: {exc}") from None
    else:
        source = str(path)
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise BadInput(f"cannot read {path}: {exc.strerror}") from None
    text = raw if isinstance(raw, str) else decode_text(raw, source)
    return strategy_from_text(text, card, source=source)


_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def decode_text(raw: bytes, source: str) -> str:
    """The text of a strategy file or decision log: UTF-8, or UTF-8/UTF-16 as its byte-order mark says.

    (Windows tools write UTF-16 with a BOM, and a UTF-8 BOM before bare JSON.)

    :raises BadInput: one line naming the encoding that failed and where.
    """
    encoding = next((name for bom, name in _BOMS if raw.startswith(bom)), "utf-8")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        bom = "" if encoding == "utf-8" else f" (its byte-order mark says {encoding})"
        raise BadInput(f"{source}: not {encoding} text{bom}: byte {exc.start} cannot be decoded; "
                       "save it as UTF-8") from None


def _no_duplicate_keys(pairs: list) -> dict:
    """``object_pairs_hook`` that refuses a key given twice (JSON would keep the last silently)."""
    data: dict = {}
    for key, value in pairs:
        if key in data:
            raise BadInput(f"the key {key!r} is given twice in one object; "
                           "gps will not guess which one is meant: give it once")
        data[key] = value
    return data


def strategy_from_text(text: str, card: str | None = None, source: str = "file") -> Strategy:
    """Parse a strategy file, a bare decision log, or Options GPS's whole stdout with its
    "Decision Log (JSON)" box (see :mod:`gps_core.options_gps`)."""
    from .options_gps import (concatenated_logs, decision_log_json, is_decision_log, several_logs,
                              strategy_from_decision_log)

    if not text.strip():
        raise BadInput(f"{source}: empty; expected a strategy file or an Options GPS decision log")
    text = text.lstrip("\ufeff")
    boxed = None if text.lstrip().startswith(("{", "[")) else decision_log_json(text)
    try:
        data = json.loads(boxed if boxed is not None else text, parse_float=Decimal,
                          object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        several = concatenated_logs(text) if boxed is None else None
        if several and all(isinstance(value, dict) and is_decision_log(value) for value in several):
            raise several_logs(several) from None
        what = "the Options GPS decision log box" if boxed is not None else source
        raise BadInput(f"{what}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except BadInput as exc:  # a duplicate key, from _no_duplicate_keys
        raise BadInput(f"{'the Options GPS decision log box' if boxed is not None else source}: {exc}") from None
    if not isinstance(data, dict):
        raise BadInput(f"{source}: expected a JSON object at the top level")
    if is_decision_log(data):
        return strategy_from_decision_log(data, card or "best", source=source)
    if card:
        raise BadInput(f"--card applies to Options GPS decision logs; {source} is a strategy file")
    return strategy_from_json(data, source=source)


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


def require_traded_underlyings(strategy: Strategy, venues, installed=None, not_loaded=()) -> None:
    """Refuse a strategy with a leg on an underlying that none of ``venues`` trades.

    The rule for the wording: an underlying that some installed (loaded) venue trades, but
    none of those asked, is "no venue asked lists XRP options (...); deribit lists them
    (--venue deribit)". Only an underlying that *no* installed venue trades (SPY, NVDA...) adds
    "gps executes crypto options only", and only when no installed venue plugin was left
    unloaded (``not_loaded``, by GPS_LOAD_PLUGINS/GPS_DISABLE_PLUGINS): an unloaded venue may list
    it, so then the line names those venues instead.

    :param venues: the venues asked, each with ``name`` and ``info.underlyings`` (an empty
        tuple means the venue does not say, and is taken to trade anything).
    :param installed: every installed (loaded) venue (default: ``venues``).
    :param not_loaded: names of installed venue plugins that were not loaded.
    :raises BadInput: one line naming the underlying and the venues asked, e.g.
        ``SPY options are not traded by any venue asked (dryrun: BTC, ETH; ...)``.
    """
    def trades(venue, underlying: str) -> bool:
        return not venue.info.underlyings or underlying in venue.info.underlyings

    for leg in strategy.legs:
        underlying = leg.instrument.underlying
        if not venues or any(trades(v, underlying) for v in venues):
            continue
        asked = "; ".join(f"{v.name}: {', '.join(v.info.underlyings)}" for v in venues)
        elsewhere = [v.name for v in (installed or ()) if v.info.underlyings and underlying in v.info.underlyings]
        if elsewhere:
            choice = " or ".join(f"--venue {name}" for name in elsewhere)
            raise BadInput(f"no venue asked lists {underlying} options ({asked}); {', '.join(elsewhere)} "
                           f"list{'s' if len(elsewhere) == 1 else ''} them ({choice}); nothing was sent")
        if not_loaded:
            raise BadInput(f"no venue asked lists {underlying} options ({asked}); venue plugins not loaded "
                           f"(GPS_LOAD_PLUGINS/GPS_DISABLE_PLUGINS): {', '.join(not_loaded)}; nothing was sent")
        raise BadInput(f"{underlying} options are not traded by any venue asked ({asked}) nor by any installed venue; "
                       "gps executes crypto options only; nothing was sent")
