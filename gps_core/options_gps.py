"""Options GPS decision logs, as Options GPS (``entrius/venth``, ``tools/options-gps``) writes them.

Options GPS prints its decision log to stdout inside a box-drawing frame::

    ┌── Decision Log (JSON) ──────────────┐
    │  {
    │    "inputs": {"symbol": "BTC", ...},
    ...
    └─────────────────────────────────────┘

with its other screens printed before it. :func:`decision_log_json` finds that frame (or
takes bare JSON) and :func:`strategy_from_decision_log` turns one card into a
:class:`~gps_core.strategy.Strategy`. A card::

    {"description": "Bull put credit spread", "type": "bull_put_credit_spread",
     "expiry": "2026-03-27 08:00:00Z",
     "legs": [{"action": "SELL", "qty": 1, "option_type": "Put", "strike": 71000.0,
               "premium": 2762.0}, ...],
     "net_cost": -413.0, "max_loss": 587.0, "max_profit": 413.0, "pop": 0.632, "ev": 67.37}

``premium`` is USD per contract (``0.0`` means Options GPS had no price: no reference
price); ``net_cost`` > 0 is paid, < 0 received, like gps's own costs. ``best_match``,
``safer_alt`` and ``higher_upside`` may each be ``null``. The top level carries
``inputs.symbol``, ``no_trade`` and ``no_trade_reason``. Every error is a
:class:`~gps_core.errors.BadInput` naming the field.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from .errors import BadInput
from .instruments import parse_expiry

CARDS = {"best": "best_match", "safer": "safer_alt", "upside": "higher_upside"}
BOX_TITLE = "Decision Log (JSON)"
#: The card figures carried into the plan, all in USD except ``pop`` (a probability, 0-1).
CARD_FIGURES = ("net_cost", "max_loss", "max_profit", "pop", "ev")

_BOX_TOP, _BOX_SIDE, _BOX_BOTTOM = "\u250c", "\u2502", "\u2514"
_CARD_EXPIRY = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?(?:Z|[+-]00:?00)?$")


def decision_log_json(text: str) -> str | None:
    """The JSON text of the one "Decision Log (JSON)" box in ``text``, or ``None`` if there is none.

    The box's side bar and its two-space indent are removed from every line; the lines
    between the title line and the bottom corner are the JSON.

    :raises BadInput: the box is cut short, or ``text`` holds several boxes (two runs
        concatenated or appended with ``>>``): gps never picks one of them for the user.
    """
    boxes = decision_log_boxes(text)
    if len(boxes) > 1:
        raise several_logs(boxes)
    return boxes[0] if boxes else None


def decision_log_boxes(text: str) -> list[str]:
    """The JSON text of every "Decision Log (JSON)" box in ``text``, in order."""
    lines = text.splitlines()
    tops = [i for i, line in enumerate(lines) if line.lstrip().startswith(_BOX_TOP) and BOX_TITLE in line]
    boxes = []
    for top in tops:
        body = []
        for line in lines[top + 1:]:
            stripped = line.lstrip()
            if stripped.startswith(_BOX_BOTTOM):
                boxes.append("\n".join(body))
                break
            body.append(stripped[1:] if stripped.startswith(_BOX_SIDE) else line)
        else:
            raise BadInput(f"the {BOX_TITLE!r} box has no bottom line: the Options GPS output was cut short")
    return boxes


def several_logs(logs: list) -> BadInput:
    """The one-line refusal for input holding several decision logs (JSON texts or parsed dicts)."""
    return BadInput(f"found {len(logs)} decision logs in the input ({', '.join(_log_label(log) for log in logs)}); "
                    "give one")


def _log_label(log: Any) -> str:
    """``BTC bullish medium`` from a decision log's ``inputs``; ``unreadable`` when it has none."""
    if isinstance(log, str):
        try:
            log = json.loads(log)
        except ValueError:
            return "unreadable"
    inputs = log.get("inputs") if isinstance(log, dict) else None
    if not isinstance(inputs, dict):
        return "no inputs"
    words = [_label(inputs.get(name), 20) for name in ("symbol", "view", "risk")]
    return " ".join(word for word in words if word) or "no inputs"


def concatenated_logs(text: str) -> list | None:
    """The JSON values of ``text`` when it is several JSON objects one after another, else ``None``."""
    decoder = json.JSONDecoder()
    values, index = [], 0
    while index < len(text):
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            break
        try:
            value, index = decoder.raw_decode(text, index)
        except ValueError:
            return None
        values.append(value)
    return values if len(values) > 1 else None


def is_decision_log(data: dict) -> bool:
    return any(key in data for key in CARDS.values()) or isinstance(data.get("decision"), dict)


#: The time of day every venue gps trades (Deribit, Aevo, the paper venue) expires its options.
VENUE_EXPIRY_TIME = "08:00:00"


def card_expiry(value: Any, where: str):
    """A card's ``expiry`` (``2026-03-27 08:00:00Z``; also ``2026-03-27`` or ``27MAR26``) as a date.

    The venues gps trades expire options at 08:00 UTC, so a card whose expiry has another
    time of day names a contract no venue lists: it is refused rather than traded as the
    08:00 contract of that day.
    """
    if isinstance(value, str):
        match = _CARD_EXPIRY.match(value.strip().upper())
        if match:
            day, hour, minute, second = match.groups()
            try:
                moment = datetime.fromisoformat(f"{day}T{hour}:{minute}:{second or '00'}").replace(
                    tzinfo=timezone.utc)
            except ValueError:
                raise BadInput(f"{where}: {value!r} is not a date and time") from None
            if moment.strftime("%H:%M:%S") != VENUE_EXPIRY_TIME:
                raise BadInput(
                    f"{where}: {value!r} expires at {moment:%H:%M} UTC, but the venues' contracts for "
                    f"{moment:%Y-%m-%d} expire at {VENUE_EXPIRY_TIME[:5]} UTC: a different contract; "
                    "gps will not trade it in place of the card's")
            return moment.date()
    if value is None:
        raise BadInput(f"{where}: missing")
    try:
        return parse_expiry(value)
    except BadInput:
        raise BadInput(f"{where}: {value!r} is not a date like 2026-03-27 08:00:00Z") from None


def strategy_from_decision_log(data: dict, card: str, source: str = "decision log"):
    """Build a strategy from one card of an Options GPS decision log.

    :param card: ``best``, ``safer`` or ``upside``.
    :raises BadInput: an unknown card name, a null or missing card (the message names the
        cards the log has), or a bad field.
    """
    from .strategy import Leg, Strategy, _checked, _decimal, _key_from_fields, _reference, _side

    if card not in CARDS:
        raise BadInput(f"--card must be one of {', '.join(CARDS)}, got {card!r}")
    body = data.get("decision") if isinstance(data.get("decision"), dict) else data
    field = CARDS[card]
    card_data = body.get(field)
    if not isinstance(card_data, dict):
        available = [f"{name} ({key})" for name, key in CARDS.items() if isinstance(body.get(key), dict)]
        state = "null" if field in body and card_data is None else ("missing" if field not in body else "not a card")
        raise BadInput(
            f"the {card} card ({field}) is {state} in this decision log; "
            + (f"cards available: {', '.join(available)}" if available else "it has no card at all")
        )
    inputs = data.get("inputs") if isinstance(data.get("inputs"), dict) else {}
    symbol = card_data.get("symbol", inputs.get("symbol"))
    if symbol is None:
        raise BadInput(f"inputs.symbol: missing (the underlying of the {card} card); "
                       "a decision log names its underlying in inputs.symbol")
    if not isinstance(symbol, str) or not symbol.strip():
        raise BadInput(f"inputs.symbol: expected an underlying like BTC, got {symbol!r}")
    expiry = card_expiry(card_data.get("expiry"), f"{field}.expiry") if "expiry" in card_data else None
    legs_data = card_data.get("legs")
    if not isinstance(legs_data, list) or not legs_data:
        raise BadInput(f"{field}.legs: expected a non-empty list of legs")
    legs = []
    for i, item in enumerate(legs_data):
        where = f"{field}.legs[{i}]"
        if not isinstance(item, dict):
            raise BadInput(f"{where}: expected an object with action, qty, option_type, strike")
        leg_expiry = card_expiry(item["expiry"], f"{where}.expiry") if "expiry" in item else expiry
        if leg_expiry is None:
            raise BadInput(f"{field}.expiry: missing")
        key = _key_from_fields({k: v for k, v in item.items() if k != "expiry"}, where,
                               underlying=symbol, expiry=leg_expiry)
        side = _side(item.get("action", item.get("side")), f"{where}.action")
        quantity = _decimal(item.get("qty", item.get("quantity")), f"{where}.qty")
        premium = item.get("premium")
        reference = _reference(premium, f"{where}.premium") if premium is not None else None
        if reference is not None and reference.amount < 0:
            raise BadInput(f"{where}.premium: a premium per contract cannot be negative, got {premium!r}")
        if reference is not None and reference.amount == 0:
            reference = None  # Options GPS writes 0.0 when it had no price for the strike
        legs.append(Leg(side, quantity, key, reference))
    no_trade = data.get("no_trade", body.get("no_trade", False))
    if not isinstance(no_trade, bool):
        raise BadInput(f"no_trade: expected true or false, got {no_trade!r}")
    reason = data.get("no_trade_reason", body.get("no_trade_reason"))
    name = card_data.get("description") or card_data.get("name") or card_data.get("strategy")
    return _checked(
        Strategy(
            legs=tuple(legs),
            name=_label(name) or f"Options GPS {card} card",
            source=f"{source} ({field})",
            no_trade=no_trade,
            no_trade_reason=str(reason) if reason is not None else None,
            meta={"card": _card_figures(card, field, card_data)},
        )
    )


def _card_figures(card: str, field: str, card_data: dict) -> dict:
    """The card's own figures, as Options GPS computed them for the card's quantities.

    Numbers are kept as decimal strings (USD; ``pop`` a probability from 0 to 1), ``None``
    where the card has none.
    """
    from .strategy import _decimal

    kind = card_data.get("type")
    if kind is not None and not isinstance(kind, str):
        raise BadInput(f"{field}.type: expected a string, got {kind!r}")
    figures: dict[str, Any] = {"card": card, "field": field, "type": _label(kind)}
    for name in CARD_FIGURES:
        value = card_data.get(name)
        figures[name] = None if value is None else str(_decimal(value, f"{field}.{name}", positive=False))
    if figures["pop"] is not None and not 0 <= Decimal(figures["pop"]) <= 1:
        raise BadInput(f"{field}.pop: a probability of profit from 0 to 1 (Options GPS writes 0.632), "
                       f"got {card_data.get('pop')!r}")
    condition = card_data.get("max_profit_condition")
    figures["max_profit_condition"] = _label(condition) if isinstance(condition, str) else None
    return figures


def _label(value: Any, limit: int = 120) -> str | None:
    """A card's text for one line of output: control characters dropped, whitespace collapsed, cut at ``limit``."""
    if value is None:
        return None
    text = "".join(ch for ch in str(value) if ch.isprintable() or ch.isspace())
    text = " ".join(text.split())
    return (text[: limit - 1] + "\u2026" if len(text) > limit else text) or None


def format_card_figures(card: dict) -> str:
    """One line for the plan: ``Options GPS best card (bull_put_credit_spread): net cost -$413.00, ...``."""
    from .render import usd as dollars

    def usd(value: Any) -> str:
        return "-" if value is None else dollars(Decimal(str(value)).quantize(Decimal("0.01")))

    def max_profit(card: dict) -> str:
        # Options GPS writes null when its strategy has no capped profit; its condition says why.
        if card.get("max_profit") is not None:
            return usd(card["max_profit"])
        condition = card.get("max_profit_condition") or ""
        return "unlimited" if condition.lower().startswith("unlimited") else "not given"

    pop = card.get("pop")
    parts = [
        f"net cost {usd(card.get('net_cost'))}",
        f"max loss {usd(card.get('max_loss'))}",
        f"max profit {max_profit(card)}",
        f"PoP {'-' if pop is None else f'{Decimal(pop) * 100:.1f}%'}",
        f"EV {usd(card.get('ev'))}",
    ]
    kind = f" ({card['type']})" if card.get("type") else ""
    return f"Options GPS {card.get('card', '')} card{kind}, for its own quantities: " + ", ".join(parts)
