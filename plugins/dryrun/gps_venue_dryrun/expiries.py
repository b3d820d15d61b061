"""The dry-run market's expiry calendar, computed from an as-of date so it never goes stale.

Like the large crypto option venues: the next 3 dailies, the next 4 Friday weeklies, the
last-Friday monthlies of the next 3 months and the quarterlies (March, June, September,
December) up to a year out, all at 08:00 UTC.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta, timezone

from gps_core.instruments import EXPIRY_TIME_UTC

FRIDAY = 4
QUARTER_MONTHS = (3, 6, 9, 12)
DAILIES, WEEKLIES, MONTHLIES = 3, 4, 3
QUARTERLY_HORIZON = timedelta(days=366)


def expiry_moment(day: date) -> datetime:
    return datetime.combine(day, EXPIRY_TIME_UTC)


def last_friday(year: int, month: int) -> date:
    last = date(year, month, calendar.monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() - FRIDAY) % 7)


def _months_from(start: date):
    year, month = start.year, start.month
    while True:
        yield year, month
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def monthly_expiries(asof: date, now: datetime, count: int = MONTHLIES) -> list[date]:
    """The next ``count`` last-Friday expiries still in the future at ``now``."""
    found: list[date] = []
    for year, month in _months_from(asof):
        day = last_friday(year, month)
        if expiry_moment(day) > now:
            found.append(day)
        if len(found) == count:
            return found
    raise AssertionError("unreachable")


def expiries(asof: date, now: datetime | None = None) -> list[date]:
    """Every listed expiry date, sorted, none of them expired at ``now``.

    :param asof: the market's date.
    :param now: the moment expiries are judged against (default: ``asof`` 00:00 UTC).
    """
    now = now or datetime.combine(asof, datetime.min.time(), tzinfo=timezone.utc)
    live = lambda day: expiry_moment(day) > now  # noqa: E731
    days: set[date] = set()

    day, dailies = asof, 0
    while dailies < DAILIES:
        if live(day):
            days.add(day)
            dailies += 1
        day += timedelta(days=1)

    day = asof + timedelta(days=(FRIDAY - asof.weekday()) % 7)
    weeklies = 0
    while weeklies < WEEKLIES:
        if live(day):
            days.add(day)
            weeklies += 1
        day += timedelta(days=7)

    days.update(monthly_expiries(asof, now))

    horizon = asof + QUARTERLY_HORIZON
    for year, month in _months_from(asof):
        day = last_friday(year, month)
        if day > horizon:
            break
        if month in QUARTER_MONTHS and live(day):
            days.add(day)
    return sorted(days)
