"""``gps chain``: select venues, list, fetch, and print the chain as tables or JSON.

Exit codes: 0 with data, 1 when every venue failed, 2 for bad input (an unknown venue, an
expiry no venue lists: the error names the nearest listed ones).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Callable

from .chain import expiries_json, expiry_code, list_everywhere, nearest_expiries, strikes_json
from .codec import dumps
from .errors import BadInput
from .instruments import parse_expiry
from .render import table


def _money(text: str | None) -> str:
    return "-" if text is None else f"${Decimal(text):,.2f}"


def _iv(text: str | None) -> str:
    return "-" if text is None else f"{Decimal(text) * 100:.1f}%"


def expiries_text(rows: list[dict], venues: list[str], paper: frozenset[str] = frozenset()) -> str:
    if not rows:
        return "No listed expiries."
    body = [(r["code"], r["expiry"], *(r["strikes"].get(v, "-") for v in venues)) for r in rows]
    return table(["EXPIRY", "DATE", *(f"{v.upper()} STRIKES" + (" (PAPER)" if v in paper else "") for v in venues)],
                 body)


def strikes_text(rows: list[dict], paper: frozenset[str] = frozenset()) -> str:
    """The strikes table; a venue in ``paper`` reads ``dryrun (paper)`` when live venues are listed too."""
    body = []
    for row in rows:
        for q in row["quotes"]:
            best = [side for side, venue in (("bid", row["best_bid"]), ("ask", row["best_ask"])) if venue == q["venue"]]
            native = ""
            if q["price_currency"] not in ("USD",) and not q.get("error"):
                native = f"{q.get('bid') or '-'} / {q.get('ask') or '-'} / {q.get('mark') or '-'} {q['price_currency']}"
            if q.get("error"):
                body.append((row["strike"], row["type"], _label(q["venue"], paper), "-", "-", "-", "-", "", "", q["error"]))
                continue
            body.append((row["strike"], row["type"], _label(q["venue"], paper), _money(q["bid_usd"]), _money(q["ask_usd"]),
                         _money(q["mark_usd"]), _iv(q["mark_iv"]), native,
                         "* best " + " & ".join(best) if best else "", ""))
    return table(["STRIKE", "TYPE", "VENUE", "BID", "ASK", "MARK", "MARK IV", "BID / ASK / MARK (VENUE CCY)", "BEST",
                  "NOTE"], body)


def _label(venue: str, paper: frozenset[str]) -> str:
    return f"{venue} (paper)" if venue in paper else venue


def run_chain(underlying: str, expiry: str | None, selection: str, as_json: bool, *,
              say: Callable[..., None], progress: Callable[[str], None]) -> int:
    from .service import Context

    underlying = underlying.strip().upper()
    if not underlying or not underlying.replace("_", "").isalnum():
        raise BadInput(f"underlying {underlying!r} is not a coin like BTC")
    day = parse_expiry(expiry) if expiry else None
    venues = Context().select_venues(selection, mixed=True)  # only prices are read: paper and live may mix
    paper = frozenset(v.name for v in venues if v.info.paper)
    if len(paper) == len(venues):
        paper = frozenset()  # all paper: nothing to tell apart
    listings = list_everywhere(venues, underlying)
    names = sorted(v for v, rows in listings.by_venue.items() if rows)
    for venue, why in sorted(listings.failures.items()):
        say(f"gps: warning: {venue}: {why}", err=True)
    if not names:
        if listings.failures:
            say(f"gps: error: no venue could list {underlying} options", err=True)
            return 1
        raise BadInput(f"no selected venue lists {underlying} options "
                       f"({', '.join(sorted(listings.by_venue))} asked)")
    if day is None:
        rows = expiries_json(listings)
        if as_json:
            say(dumps({"underlying": underlying, "venues": names, "paper_venues": sorted(paper),
                            "failures": listings.failures, "expiries": rows}, indent=2))
        else:
            say(expiries_text(rows, names, paper))
        return 0
    listed = listings.expiries()
    if day not in listed and listed and day < min(listed):
        # Before every listed expiry: it expired (venues list only what still trades).
        raise BadInput(f"{underlying} options expiring {expiry_code(day)} have expired; the earliest listed expiry "
                       f"is {expiry_code(min(listed))} (gps chain {underlying} lists them all)")
    if day not in listed:
        near = ", ".join(expiry_code(d) for d in nearest_expiries(day, listed))
        raise BadInput(f"no venue lists {underlying} options expiring {expiry_code(day)}"
                       + (f"; nearest listed: {near}" if near else ""))
    rows = strikes_json(venues, listings, day, progress)
    if as_json:
        say(dumps({"underlying": underlying, "expiry": day.isoformat(), "code": expiry_code(day),
                        "venues": names, "paper_venues": sorted(paper), "failures": listings.failures,
                        "strikes": rows}, indent=2))
    else:
        say(f"{underlying} options expiring {expiry_code(day)} ({day.isoformat()} 08:00 UTC); prices in USD:")
        say(strikes_text(rows, paper))
    return 0
