"""The one price model and expiry calendar the fake venues and the paper market share."""

from datetime import date, datetime, timezone

import pytest

from gps_core.testing.market import black_scholes, expiry_calendar, expiry_moment, last_friday


def test_last_friday_and_the_calendar():
    assert last_friday(2026, 12) == date(2026, 12, 25) and last_friday(2027, 1) == date(2027, 1, 29)
    # Wednesday 2026-11-25: dailies from today, weeklies from this Friday, month-ends, quarterlies
    today = date(2026, 11, 25)
    days = expiry_calendar(today, dailies=2, weeklies=2, monthlies=2, quarterlies=2)
    assert days == [date(2026, 11, 26), date(2026, 11, 27), date(2026, 12, 4), date(2026, 12, 25),
                    date(2027, 3, 26)]
    # judged by the clock: today's 08:00 expiry is live at 07:00 and gone at 09:00
    at = lambda hour: datetime(2026, 11, 25, hour, tzinfo=timezone.utc)  # noqa: E731
    assert expiry_calendar(today, dailies=1, live=lambda d: expiry_moment(d) > at(7)) == [today]
    assert expiry_calendar(today, dailies=1, live=lambda d: expiry_moment(d) > at(9)) == [date(2026, 11, 26)]
    assert expiry_calendar(today, quarterly_horizon=date(2027, 6, 1) - today) == [date(2026, 12, 25), date(2027, 3, 26)]


def test_black_scholes_is_intrinsic_at_expiry_and_keeps_put_call_parity():
    assert black_scholes(100.0, 90.0, 0.0, 0.5, True) == 10.0 and black_scholes(100.0, 90.0, 0.0, 0.5, False) == 0.0
    call, put = black_scholes(100.0, 90.0, 0.25, 0.5, True), black_scholes(100.0, 90.0, 0.25, 0.5, False)
    assert call - put == pytest.approx(10.0)
