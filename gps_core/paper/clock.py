"""The clock a plan of paper venues is judged by (their market may be dated in the past)."""

from __future__ import annotations

from datetime import datetime


def paper_market_time(venues, quotes) -> datetime | None:
    """The moment to judge a plan's expiries at, when only paper venues are asked.

    ``None`` (meaning the real clock) if any venue in ``venues`` is live or no quote has a
    book; otherwise the latest timestamp of the books in ``quotes`` (a mapping of leg
    index to :class:`~gps_core.routing.Quote` lists). A paper market dated in the past
    (``GPS_DRYRUN_ASOF``) stamps its books with its own clock, so its options are judged
    as of that date; a live venue is always judged by the real clock.
    """
    if not venues or any(not venue.info.paper for venue in venues):
        return None
    stamps = [quote.book.timestamp for leg_quotes in quotes.values() for quote in leg_quotes if quote.book is not None]
    return max(stamps) if stamps else None
