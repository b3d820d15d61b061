"""Synthetic option markets, for fake venues and the paper venue: one price model, one calendar.

The fake Deribit and Aevo servers and the dry-run venue's offline market all list expiries the
way the large crypto option venues do and price options with Black-Scholes; they take both
from here so a change of model or calendar is made once.

* :func:`black_scholes`: the undiscounted price of one unit in the index's currency (zero
  rates, the forward is the index); intrinsic at or after expiry. It is
  :func:`gps_core.greeks.black_scholes_price`, the model the core shows Greeks with.
* :func:`last_friday`: the last Friday of a month, the day monthly and quarterly options expire.
* :func:`expiry_calendar`: dailies, Friday weeklies, last-Friday monthlies and quarterlies
  (March, June, September, December) from a given day, as dates; a venue's expiry moment is
  that date at 08:00 UTC (:func:`expiry_moment`).
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from typing import Callable, Iterator

from ..greeks import black_scholes_price as black_scholes
from ..instruments import EXPIRY_TIME_UTC

__all__ = ["FRIDAY", "QUARTER_MONTHS", "black_scholes", "expiry_calendar", "expiry_moment", "last_friday",
           "months_from"]

FRIDAY = 4
QUARTER_MONTHS = (3, 6, 9, 12)


def expiry_moment(day: date) -> datetime:
    """``day`` at 08:00 UTC, when options listed for it expire."""
    return datetime.combine(day, EXPIRY_TIME_UTC)


def last_friday(year: int, month: int) -> date:
    """The last Friday of ``month`` in ``year``."""
    last = date(year, month, calendar.monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() - FRIDAY) % 7)


def months_from(start: date) -> Iterator[tuple[int, int]]:
    """``(year, month)`` of ``start``'s month and every month after it, without end."""
    year, month = start.year, start.month
    while True:
        yield year, month
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _first(days: Iterator[date], count: int, live: Callable[[date], bool]) -> list[date]:
    found: list[date] = []
    for day in days:
        if len(found) == count:
            break
        if live(day):
            found.append(day)
    return found


def expiry_calendar(today: date, *, dailies: int = 0, weeklies: int = 0, monthlies: int = 0,
                    quarterlies: int | None = None, quarterly_horizon: timedelta | None = None,
                    live: Callable[[date], bool] | None = None) -> list[date]:
    """The listed expiry dates from ``today``, sorted, each once.

    :param dailies: the first this many live days, from ``today`` on.
    :param weeklies: the first this many live Fridays, from ``today``'s week's Friday on.
    :param monthlies: the first this many live last Fridays, from ``today``'s month on.
    :param quarterlies: the first this many live last Fridays of a quarter month (``None``: all
        of them up to ``quarterly_horizon``; with neither, no quarterlies).
    :param quarterly_horizon: no quarterly after ``today + quarterly_horizon``.
    :param live: whether a date is still listed (default: after ``today``); a fake judges it by
        the clock, e.g. ``lambda day: expiry_moment(day) > now``.
    """
    live = live or (lambda day: day > today)
    days: set[date] = set()
    days.update(_first((today + timedelta(days=n) for n in range(10_000)), dailies, live))
    friday = today + timedelta(days=(FRIDAY - today.weekday()) % 7)
    days.update(_first((friday + timedelta(weeks=n) for n in range(10_000)), weeklies, live))
    days.update(_first((last_friday(y, m) for y, m in months_from(today)), monthlies, live))
    if quarterlies is not None or quarterly_horizon is not None:
        horizon = today + quarterly_horizon if quarterly_horizon is not None else date.max
        wanted = quarterlies if quarterlies is not None else len(QUARTER_MONTHS) * 100
        found = 0
        for year, month in months_from(today):
            day = last_friday(year, month)
            if day > horizon or found == wanted:
                break
            if month in QUARTER_MONTHS and live(day):
                days.add(day)
                found += 1
    return sorted(days)
