"""Paging through Aevo's history endpoints: ``GET /order-history`` and ``GET /trade-history``.

Both answer ``{"count": "<rows in the window>", "<key>": [row, ...]}``, at most ``limit`` rows
a call: 50 at most, 10 by default (Aevo API changelog, release v1.1.10), newest first
(``sort_order`` defaults to ``DESC``, OpenAPI spec). The window is ``start_time`` ..
``end_time`` in nanoseconds, both inclusive ("entries created prior (<) to start time are
excluded", "entries created after (>) end time are excluded", OpenAPI spec), and ``offset``
skips rows. ``start_time`` may not be more than 30 days back (release v1.1.10; the error
code is ``START_TIME_LESS_THAN_30_DAYS``).

The window's end is fixed before the first page. Rows created meanwhile land at the front
(newest first), so they can only repeat a row on a later page, never hide one: rows are
deduplicated by their id.
"""

from __future__ import annotations

from typing import Callable, Iterator

from gps_core.api import GpsError, InvalidReply
from gps_core.api import to_decimal

NS = 10**9
#: Rows per call: Aevo's maximum.
PAGE = 50
#: Pages read at most for one search (5,000 rows). A search that needs more is not settled.
MAX_PAGES = 100
#: How far back Aevo serves history, less a minute so a clock ahead of Aevo's is not refused.
MAX_AGE_NS = 30 * 86400 * NS - 60 * NS
#: Margin around an order's signed timestamp (clocks differ; Aevo stamps rows on arrival).
MARGIN_NS = 60 * NS


def window(signed_timestamp: object, now_seconds: float) -> tuple[int, int]:
    """``(start_time, end_time)`` in ns covering an order signed at ``signed_timestamp`` (s).

    Without a timestamp the last day is searched. The start is never older than Aevo allows.
    """
    now_ns = int(now_seconds * NS)
    if isinstance(signed_timestamp, int) and not isinstance(signed_timestamp, bool):
        start = signed_timestamp * NS - MARGIN_NS
    else:
        start = now_ns - 86400 * NS
    return max(start, now_ns - MAX_AGE_NS, 0), now_ns + MARGIN_NS


def rows(fetch: Callable[[int], object], key: str, id_field: str) -> Iterator[dict]:
    """Every row of a history window, page by page; ``fetch(offset)`` returns one page.

    Stops once ``count`` rows have been read (or, without a ``count``, at a short page).

    :raises InvalidReply: a page that is not ``{count, key: [...]}``, a page bringing no new
        row (the server ignoring ``offset``), or more than :data:`MAX_PAGES` pages: the
        search is not settled, so the caller must not conclude the row is absent.
    """
    seen: set[str] = set()
    offset = 0
    for _ in range(MAX_PAGES):
        reply = fetch(offset)
        if not isinstance(reply, dict):
            raise InvalidReply(f"GET history: reply is not an object with {key}")
        page = reply.get(key)
        if page is None and "count" in reply:
            page = []  # the list may be left out of an empty window
        if not isinstance(page, list):
            raise InvalidReply(f"GET history: reply has no {key} list")
        total = _count(reply)
        fresh = 0
        for row in page:
            if not isinstance(row, dict):
                raise InvalidReply(f"GET history: a {key} row is not an object")
            row_id = str(row.get(id_field) or "")
            if row_id and row_id in seen:
                continue
            seen.add(row_id)
            fresh += 1
            yield row
        if page and fresh == 0:
            raise InvalidReply(f"GET history: the page at offset {offset} repeats earlier rows")
        offset += len(page)
        if not page or (total is not None and offset >= total) or (total is None and len(page) < PAGE):
            return
    raise InvalidReply(f"GET history: more than {MAX_PAGES * PAGE} rows in the window; the search is not finished")


def _count(reply: dict) -> int | None:
    try:
        return int(to_decimal(reply.get("count"), field="count"))
    except GpsError:
        return None
