"""Decimal money that carries its currency, and strict number parsing."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation

from .errors import InvalidReply

ZERO = Decimal(0)


def to_decimal(value, *, field: str = "value") -> Decimal:
    """Convert a venue number (int, str or float from JSON) to a finite ``Decimal``.

    Floats go through ``str()`` so ``0.1`` stays ``0.1``. NaN, infinities, booleans
    and anything unparsable raise :class:`~gps_core.errors.InvalidReply`.
    """
    if isinstance(value, bool) or value is None:
        raise InvalidReply(f"{field} is {value!r}, expected a number")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidReply(f"{field} is {value!r}, expected a number") from None
    if not number.is_finite():
        raise InvalidReply(f"{field} is {value!r}, expected a finite number")
    return number


@dataclass(frozen=True, order=True)
class Money:
    """An amount in a currency: ``Money(Decimal("0.0125"), "BTC")``."""

    amount: Decimal
    currency: str

    def __post_init__(self):
        if not isinstance(self.amount, Decimal):
            raise TypeError(f"Money amount must be Decimal, got {type(self.amount).__name__}")

    def __add__(self, other: "Money") -> "Money":
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: "Money") -> "Money":
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: Decimal) -> "Money":
        return Money(self.amount * Decimal(factor), self.currency)

    def __neg__(self) -> "Money":
        return Money(-self.amount, self.currency)

    def _same_currency(self, other: "Money") -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} and {other.currency}")

    def __str__(self) -> str:
        return f"{format_decimal(self.amount)} {self.currency}"

    def to_json(self) -> dict:
        return {"amount": str(self.amount), "currency": self.currency}

    @classmethod
    def from_json(cls, data: dict) -> "Money":
        return cls(Decimal(data["amount"]), data["currency"])


def format_decimal(value: Decimal, places: int | None = None) -> str:
    """Plain notation without exponent or trailing zeros (``places`` fixes the scale)."""
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-places))
        return f"{value:,f}" if abs(value) >= 1000 else f"{value:f}"
    return f"{value.normalize():f}"


def format_usd(amount: object) -> str:
    """A USD amount as traders write it, the one money format of gps's text output.

    ``$1,036.37``, ``-$55.37`` (never ``$-55.37``), thousands separated, at least two decimals
    (more when the amount has them: ``$0.0025``); ``-`` when ``amount`` is ``None`` or ``""``.
    Accepts a Decimal, an int or a numeric string (JSON figures are strings).
    """
    if amount is None or amount == "":
        return "-"
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount).replace(",", ""))
    if not value.is_finite():
        return str(amount)
    exponent = value.as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    text = f"{abs(value):,.{places}f}"
    return f"-${text}" if value < 0 and text.strip("0.,") else f"${text}"


def round_to_step(value: Decimal, step: Decimal, *, up: bool) -> Decimal:
    """Round ``value`` to a multiple of ``step``, up or down (exact in Decimal)."""
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    units = (value / step).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return (units * step).quantize(step) if step.as_tuple().exponent < 0 else units * step


def is_multiple(value: Decimal, step: Decimal) -> bool:
    return step > 0 and (value / step) == (value / step).to_integral_value()
