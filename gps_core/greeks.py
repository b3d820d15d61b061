"""Black-Scholes Greeks of an option from the venue's mark IV and the index (zero rates).

With zero rates the forward is the index, so this is Black-76 on the index as forward. A
coin-priced (inverse) option pays ``(S - K)+ / S`` coins, which is ``(S - K)+`` USD at expiry,
so its USD value and Greeks are those of the plain option on ``S``: one formula serves both
kinds of venue. Floats inside (a model, not money); results are rounded Decimals.

Units, per unit of the underlying, long one unit:

* ``delta``: units of underlying per unit (``0.55``): USD of value per USD of index move;
* ``gamma``: change of delta per USD of index move;
* ``vega``: USD per volatility point (IV up from 55% to 56%);
* ``theta``: USD per calendar day (365-day year) of time decay, negative for a long option.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

YEAR_SECONDS = 365 * 86400.0


@dataclass(frozen=True)
class Greeks:
    delta: Decimal
    gamma: Decimal
    vega: Decimal
    theta: Decimal

    def scaled(self, units: Decimal) -> "Greeks":
        """The Greeks of ``units`` (signed) of the option."""
        return Greeks(self.delta * units, self.gamma * units, self.vega * units, self.theta * units)

    def __add__(self, other: "Greeks") -> "Greeks":
        return Greeks(self.delta + other.delta, self.gamma + other.gamma, self.vega + other.vega,
                      self.theta + other.theta)

    def to_json(self) -> dict:
        return {"delta": _fixed(self.delta, 4), "gamma": _fixed(self.gamma, 8), "vega": _fixed(self.vega, 2),
                "theta": _fixed(self.theta, 2)}


ZERO_GREEKS = Greeks(Decimal(0), Decimal(0), Decimal(0), Decimal(0))


def _fixed(value: Decimal, places: int) -> str:
    text = f"{value.quantize(Decimal(1).scaleb(-places)):f}"
    return "0" if Decimal(text) == 0 else text


def _pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def years_until(expiry: datetime, now: datetime) -> float:
    """Years (365 days) from ``now`` to ``expiry``; ``0`` once expired."""
    return max(0.0, (expiry - now).total_seconds() / YEAR_SECONDS)


def black_scholes_price(spot: float, strike: float, years: float, vol: float, call: bool) -> float:
    """The USD value of one unit (zero rates); intrinsic at or after expiry."""
    if years <= 0 or vol <= 0:
        return max(0.0, spot - strike) if call else max(0.0, strike - spot)
    sd = vol * math.sqrt(years)
    d1 = (math.log(spot / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    return spot * _cdf(d1) - strike * _cdf(d2) if call else strike * _cdf(-d2) - spot * _cdf(-d1)


def black_scholes_greeks(spot: Decimal, strike: Decimal, years: float, vol: Decimal, call: bool) -> Greeks:
    """The Greeks of one long unit (see the module docstring for units).

    :param spot: the index in USD; :param strike: USD; :param years: time to expiry;
    :param vol: implied volatility as a fraction (``0.55``).
    :raises ValueError: for a non-positive index, strike or volatility, or an expired option.
    """
    s, k, v = float(spot), float(strike), float(vol)
    if s <= 0 or k <= 0 or v <= 0 or years <= 0:
        raise ValueError("Greeks need a positive index, strike, volatility and time to expiry")
    sd = v * math.sqrt(years)
    d1 = (math.log(s / k) + 0.5 * sd * sd) / sd
    delta = _cdf(d1) if call else _cdf(d1) - 1.0
    gamma = _pdf(d1) / (s * sd)
    vega = s * _pdf(d1) * math.sqrt(years) / 100.0
    theta = -s * _pdf(d1) * v / (2.0 * math.sqrt(years)) / 365.0
    return Greeks(*(Decimal(repr(x)) for x in (delta, gamma, vega, theta)))
