"""Canonical option instruments: ``BTC-27MAR26-70000-C`` <-> (underlying, expiry, strike, type[, settlement]).

Instruments are matched across venues on every field, never on the strike alone.
Names follow the Deribit/Aevo convention ``UNDERLYING-DMMMYY-STRIKE-C|P``; a decimal
strike is written with ``d`` for the point (``XRP_USDC-30JUN23-0d625-C``), and a plain
``.`` is accepted when parsing.

A name whose underlying carries a settlement currency, ``SOL_USDC-25DEC26-140-C``, is a
different contract from the plain ``SOL-25DEC26-140-C``: the key keeps the settlement
(``underlying="SOL", settlement="USDC"``) so an inverse ``BTC-25DEC26-95000-C`` and a linear
``BTC_USDC-25DEC26-95000-C`` are never equal. The plain name means each venue's standard
listing of that option (Deribit: the coin-settled inverse option where one exists).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timezone
from decimal import Decimal, InvalidOperation
from enum import Enum

from .errors import BadInput

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
#: Crypto options on Deribit and Aevo expire at 08:00 UTC.
EXPIRY_TIME_UTC = time(8, 0, tzinfo=timezone.utc)

_NAME = re.compile(
    r"^(?P<underlying>[A-Z][A-Z0-9_]{0,15})-(?P<day>\d{1,2})(?P<month>[A-Z]{3})(?P<year>\d{2})"
    r"-(?P<strike>[0-9][0-9D.]*)-(?P<type>[CP])$"
)


class OptionType(str, Enum):
    CALL = "C"
    PUT = "P"

    @classmethod
    def parse(cls, text: str) -> "OptionType":
        value = str(text).strip().upper()
        if value in ("C", "CALL"):
            return cls.CALL
        if value in ("P", "PUT"):
            return cls.PUT
        raise BadInput(f"option type {text!r} is not call/put (C/P)")


@dataclass(frozen=True, order=True)
class OptionKey:
    """The venue-independent identity of an option.

    :param underlying: the coin (``BTC``, ``SOL``).
    :param expiry: the expiry date (expiry time is 08:00 UTC).
    :param strike: in USD (USDC for a USDC-settled contract) per unit of the underlying.
    :param option_type: call or put.
    :param settlement: ``""`` for the plain name (each venue's standard listing), or the
        currency a contract named ``UNDERLYING_SETTLEMENT-...`` settles in (``"USDC"`` for
        Deribit's linear options). ``OptionKey("SOL_USDC", ...)`` is the same as
        ``OptionKey("SOL", ..., settlement="USDC")``.
    """

    underlying: str
    expiry: date
    strike: Decimal
    option_type: OptionType
    settlement: str = ""

    def __post_init__(self):
        if self.settlement != self.settlement.upper():
            object.__setattr__(self, "settlement", self.settlement.upper())
        if not self.settlement and "_" in self.underlying:
            base, _, settlement = self.underlying.rpartition("_")
            if base and settlement:
                object.__setattr__(self, "underlying", base)
                object.__setattr__(self, "settlement", settlement)

    @property
    def root(self) -> str:
        """The name's first part: ``BTC`` or ``SOL_USDC``."""
        return f"{self.underlying}_{self.settlement}" if self.settlement else self.underlying

    @property
    def plain(self) -> "OptionKey":
        """The same option without a settlement (the plain name)."""
        return replace(self, settlement="") if self.settlement else self

    def settled_in(self, currency: str) -> "OptionKey":
        """The same option as the contract settled in ``currency`` (``"USDC"``)."""
        return replace(self, settlement=currency.upper())

    @property
    def name(self) -> str:
        month = MONTHS[self.expiry.month - 1]
        strike = f"{self.strike.normalize():f}".replace(".", "d")
        return f"{self.root}-{self.expiry.day}{month}{self.expiry.year % 100:02d}-{strike}-{self.option_type.value}"

    @property
    def expiry_datetime(self) -> datetime:
        return datetime.combine(self.expiry, EXPIRY_TIME_UTC)

    def is_expired(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(timezone.utc)) >= self.expiry_datetime

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, name: str) -> "OptionKey":
        """Parse ``BTC-27MAR26-70000-C`` or ``XRP_USDC-25DEC26-0d625-C`` (case-insensitive).

        :raises BadInput: if malformed.
        """
        text = str(name).strip().upper()
        match = _NAME.match(text)
        if not match:
            raise BadInput(
                f"instrument {name!r} is not of the form UNDERLYING-DMMMYY-STRIKE-C|P, e.g. BTC-27MAR26-70000-C"
            )
        parts = match.groupdict()
        if parts["month"] not in MONTHS:
            raise BadInput(f"instrument {name!r}: unknown month {parts['month']!r}")
        try:
            expiry = date(2000 + int(parts["year"]), MONTHS.index(parts["month"]) + 1, int(parts["day"]))
        except ValueError:
            raise BadInput(f"instrument {name!r}: {parts['day']}{parts['month']}{parts['year']} is not a date") from None
        strike = parse_strike(parts["strike"].replace("D", "."), what=f"instrument {name!r}")
        return cls(parts["underlying"], expiry, strike, OptionType(parts["type"]))


def parse_strike(text, *, what: str = "strike") -> Decimal:
    try:
        strike = Decimal(str(text))
    except (InvalidOperation, ValueError):
        raise BadInput(f"{what}: strike {text!r} is not a number") from None
    if not strike.is_finite() or strike <= 0 or not -15 <= strike.adjusted() <= 15:
        raise BadInput(f"{what}: strike must be a positive number below 1e15, got {text!r}")
    return strike


def parse_expiry(text) -> date:
    """Accept ``2026-03-27``, ``27MAR26`` or an ISO timestamp."""
    value = str(text).strip().upper()
    for parser in (_iso_date, _dmmmyy):
        result = parser(value)
        if result:
            return result
    raise BadInput(f"expiry {text!r} is not a date like 2026-03-27 or 27MAR26")


def _iso_date(value: str) -> date | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date() if "T" in value else date.fromisoformat(value)
    except ValueError:
        return None


def _dmmmyy(value: str) -> date | None:
    match = re.fullmatch(r"(\d{1,2})([A-Z]{3})(\d{2})", value)
    if not match or match.group(2) not in MONTHS:
        return None
    try:
        return date(2000 + int(match.group(3)), MONTHS.index(match.group(2)) + 1, int(match.group(1)))
    except ValueError:
        return None
