"""The dry-run market's expiry calendar, computed from an as-of date so it never goes stale.

Like the large crypto option venues: the next 3 dailies, the next 4 Friday weeklies, the
last-Friday monthlies of the next 3 months and the quarterlies (March, June, September,
December) up to a year out, all at 08:00 UTC.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from gps_core.testing.market import expiry_calendar, expiry_moment, last_friday

__all__ = ["expiries", "expiry_moment", "last_friday", "monthly_expiries"]

DAILIES, WEEKLIES, MONTHLIES = 3, 4, 3
QUARTERLY_HORIZON = timedelta(days=366)


def monthly_expiries(asof: date, now: datetime, count: int = MONTHLIES) -> list[date]:
    """The next ``count`` last-Friday expiries still in the future at ``now``."""
    return expiry_calendar(asof, monthlies=count, live=lambda day: expiry_moment(day) > now)


def expiries(asof: date, now: datetime | None = None) -> list[date]:
    """Every listed expiry date, sorted, none of them expired at ``now``.

    :param asof: the market's date.
    :param now: the moment expiries are judged against (default: ``asof`` 00:00 UTC).
    """
    now = now or datetime.combine(asof, datetime.min.time(), tzinfo=timezone.utc)
    return expiry_calendar(asof, dailies=DAILIES, weeklies=WEEKLIES, monthlies=MONTHLIES,
                           quarterly_horizon=QUARTERLY_HORIZON, live=lambda day: expiry_moment(day) > now)
