"""Fault injection for the paper engine: deterministic venue misbehaviour from a spec.

A :class:`FaultPlan` is parsed from a spec such as::

    reject@BTC-*-75000-C; partial=0.5@ETH-*; unknown_after_accept x1@BTC-*; latency=200ms@*

Each clause is ``NAME[=VALUE][ xN][@GLOB]``: the glob (default ``*``) is matched against the
instrument symbol, and ``xN`` limits the rule to its first N firings. Firing counts live in
the paper store (:meth:`FaultPlan.trigger` counts into the store's counters), so a plan behaves
the same across processes. Raises :class:`~gps_core.errors.ConfigurationError` for a
malformed spec.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fnmatch import fnmatchcase
from typing import Callable

from ..errors import ConfigurationError
from ..money import ZERO, format_decimal

#: ``retry_after`` of an injected rate limit, in seconds.
RATE_LIMIT_RETRY_AFTER = 0.05

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
    """Deterministic fault injection for a :class:`~gps_core.paper.PaperBroker`; build it with :meth:`parse`."""

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

    def trigger(self, counters: dict[str, int]) -> Callable:
        """``fire(name, symbol, only=key)``: the first matching rule with budget left fires.

        ``counters`` (rule key -> firings so far, the store's) is counted up. ``fire`` returns
        the rule's value (``True`` for faults without one), or ``None`` if none fired.
        """
        def fire(name: str, symbol: str, *, only: str | None = None):
            for key, rule in self.keyed():
                if rule.name != name or (only is not None and key != only) or not rule.matches(symbol):
                    continue
                budget, used = rule.budget, counters.get(key, 0)
                if budget is not None and used >= budget:
                    continue
                counters[key] = used + 1
                return True if rule.value is None or name in ("rate_limit", "fill_after") else rule.value
            return None

        return fire


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
