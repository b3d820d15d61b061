"""Human-readable tables for the CLI. Pure functions from plain data to text."""

from __future__ import annotations

from decimal import Decimal
from typing import Iterable, Sequence


def usd(amount: object) -> str:
    """A USD amount as traders write it: ``$1,036.37``, ``-$55.37``; ``-`` when unknown (see ``money.format_usd``)."""
    from .money import format_usd

    return format_usd(amount)


def plural(count: int, noun: str) -> str:
    """``1 leg``, ``2 legs``."""
    return f"{count} {noun if count == 1 else noun + 's'}"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    cells = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in cells])


def venues_table(records: list[dict]) -> str:
    """``gps venues``: the venues (``gps.venues``), then any other plugins (``gps.plugins``) in a table of their own."""
    def rows(group: str) -> list[tuple]:
        return [(r["name"], r.get("distribution") or "-", r.get("version") or "-", "ok" if r["ok"] else "BROKEN",
                 r.get("detail") or r.get("error") or "")
                for r in records if r.get("group", "gps.venues") == group]

    venues, plugins = rows("gps.venues"), rows("gps.plugins")
    text = (table(["VENUE", "DISTRIBUTION", "VERSION", "STATUS", "DETAIL"], venues) if venues
            else "No venues installed. Install one, e.g.: gps install dryrun")
    if plugins:
        text += "\n\n" + table(["PLUGIN", "DISTRIBUTION", "VERSION", "STATUS", "DETAIL"], plugins)
    return text


def instrument_text(row: dict) -> str:
    """The leg's instrument, with the venue's own contract when it names another one
    (``SOL-25DEC26-140-C (SOL_USDC-25DEC26-140-C)`` on Deribit, which lists SOL only as linear)."""
    symbol = row.get("venue_symbol")
    return row["instrument"] if not symbol or symbol == row["instrument"] else f"{row['instrument']} ({symbol})"


def plan_text(plan: dict) -> str:
    rows = []
    # A leg traded by a combo order is not sent on its own: it has no limit of its own (the combo's
    # net limit is on the COMBO line), and its figures are those of legging it, for comparison.
    in_combo = {n: c for c in plan.get("combos") or () for n in c["legs"]}
    for leg in plan["legs"]:
        ref = leg["reference_price"]
        combo = in_combo.get(leg["leg"])
        rows.append((
            leg["leg"], leg["venue"], instrument_text(leg), leg["side"], leg["quantity"],
            f"part of combo {'+'.join(str(n) for n in combo['legs'])}" if combo else
            f"{leg['limit_price']} {leg['price_currency']}",
            "-" if combo else f"{usd(leg['limit_price_usd'])}",
            f"{usd(leg['expected_fee_usd'])}", f"{usd(leg['expected_cost_usd'])}",
            f"{ref['amount']} {ref['currency']}" if ref else "-",
        ))
    totals = plan["totals"]
    card = plan["strategy"].get("card")
    lines = [
        f"Plan for {plan['strategy']['name']} ({plural(len(plan['legs']), 'leg')}, max slippage "
        f"{Decimal(plan['max_slippage']) * 100:.2f}%):",
        *market_lines(plan),
        table(["LEG", "VENUE", "INSTRUMENT", "SIDE", "QTY", "LIMIT", "LIMIT USD", "FEES", "EXPECTED COST", "REFERENCE"], rows),
        *([f"Legs {', '.join(str(n) for n in sorted(in_combo))} are not sent as orders of their own: the COMBO "
            "order below trades them (their fees and expected cost above are legging them, for comparison)"]
          if in_combo else []),
        *tick_lines(plan),
        *combo_lines(plan),
        f"Expected net cost: {usd(totals['expected_cost_usd'])} (fees {usd(totals['fees_usd'])}); "
        f"at the limit prices: {usd(totals['worst_cost_usd'])}",
    ]
    if plan.get("closing") is not None:
        lines.extend(closing_lines(plan["closing"]))
        lines.append("(cost > 0 is paid, < 0 is received)")
        return "\n".join(lines)
    if totals["max_loss_unbounded"]:
        reason = totals.get("max_loss_reason") or "net short calls"
        lines.append(f"Worst loss: UNBOUNDED ({reason})")
    else:
        lines.append(f"Worst loss: {usd(totals['max_loss_usd'])}")
    lines.extend(f"  basis: {basis}" for basis in totals.get("max_loss_basis") or ())
    if totals["reference_cost_usd"] is not None:
        lines.append(f"Reference cost: {usd(totals['reference_cost_usd'])}; expected savings {usd(totals['expected_savings_usd'])}")
    if card:
        from .options_gps import format_card_figures

        lines.append(format_card_figures(card))
    lines.append("(cost > 0 is paid, < 0 is received)")
    from .chart import payoff_lines

    lines.extend(payoff_lines(plan))
    return "\n".join(lines)


def combo_lines(plan: dict) -> list[str]:
    """The combos chosen (one order each) and, per venue, why combo or legs."""
    lines = []
    for c in plan.get("combos") or ():
        legs = ", ".join(str(i) for i in c["legs"])
        whole = f"{usd(c['limit_cost_usd'])} for {c['quantity']}; " if c.get("limit_cost_usd") is not None else ""
        lines.append(f"COMBO: legs {legs} as ONE order on {c['venue']}: {c['side']} {c['quantity']} {c['instrument']} "
                     f"limit {c['limit_price']} {c['price_currency']} per unit of combo ({usd(c['limit_price_usd'])} "
                     f"per unit; {whole}tick {c['tick']}); expected cost {usd(c['expected_cost_usd'])} in all vs "
                     f"{usd(c['legged_cost_usd'])} legged")
    lines.extend(f"Combo: {note}" for note in plan.get("combo_notes") or ())
    if plan.get("combos"):
        lines.append(f"Orders to send: {plan['orders']}")
    return lines


def closing_lines(closing: list[dict]) -> list[str]:
    """What a close's legs offset: ``Closes 0.1 of long 0.2 BTC-... on dryrun; left after it: long 0.1``."""
    lines = []
    for c in closing:
        held, quantity = Decimal(c["held"]), Decimal(c["quantity"])
        side = "long" if held > 0 else "short"
        left = abs(held) - quantity
        after = "flat after it" if left <= 0 else f"left after it: {side} {left.normalize():f}"
        lines.append(f"Closes {c['quantity']} of {side} {abs(held).normalize():f} {c['instrument']} on {c['venue']} "
                     f"({after})")
    return lines


def market_lines(data: dict) -> list[str]:
    """Where the prices come from, and the venues that could not be priced (plan or report)."""
    lines = []
    market = data.get("market") or {}
    if market.get("offline"):
        lines.append("OFFLINE MARKET: these prices are the dryrun venue's generated books, not a real venue's")
    if market.get("note"):
        lines.append(f"Venues: {market['note']}")
    lines.extend(f"WARNING: {u['line']}" for u in data.get("unpriced_venues") or ())
    lines.extend(f"WARNING: {line}" for line in data.get("warnings") or ())
    return lines


def tick_lines(plan: dict) -> list[str]:
    """One line per leg, and per combo, whose tick is larger than the slippage budget."""
    cap = Decimal(plan["max_slippage"]) * 100
    in_combo = {n for c in plan.get("combos") or () for n in c["legs"]}  # no limit of their own: not said
    return [
        f"Leg {leg['leg']}: the tick {leg['tick']} {leg['price_currency']} is more than {cap:.2f}% of the best "
        f"price {leg['best_price']}: the limit is the best price, so the slippage cap is effectively 0%"
        for leg in plan["legs"] if leg.get("tick_exceeds_slippage") and leg["leg"] not in in_combo
    ] + [
        f"Combo {c['instrument']} (legs {'+'.join(str(i) for i in c['legs'])}): the tick {c['tick']} "
        f"{c['price_currency']} is more than {cap:.2f}% of the best price {c['best_price']}: the limit is the best "
        f"price, so the slippage cap is effectively 0%"
        for c in plan.get("combos") or ()
        if cap > 0 and c.get("best_price") is not None and c["best_price"] == c["limit_price"]
    ]


def quotes_text(quotes: list[dict]) -> str:
    rows = [
        (q["leg"], instrument_text(q), q["venue"], q.get("bid") or "-", q.get("ask") or "-", q.get("price_currency") or "",
         q.get("bid_usd") or "-", q.get("ask_usd") or "-", q.get("note") or "")
        for q in quotes
    ]
    return table(["LEG", "INSTRUMENT", "VENUE", "BID", "ASK", "CCY", "BID USD", "ASK USD", "NOTE"], rows)


def report_text(report: dict) -> str:
    rows = []
    fills = []
    for o in report["legs"] + report["unwinds"]:
        label = {"unwind": f"{o['leg']}u", "combo": "+".join(str(i) for i in o.get("legs") or [o["leg"]])}
        rows.append((
            label.get(o["role"], str(o["leg"])), o["venue"], o["instrument"], o["side"],
            f"{o['filled']}/{o['quantity']}", "not placed" if o.get("not_placed") else o["status"],
            f"{o['average_price']} {o['price_currency']}{' (est.)' if o.get('price_estimated') else ''}"
            if o["average_price"] else "-",
            f"{usd(o['fee_usd'])}{' (est.)' if o.get('fee_estimated') else ''}", o["slippage"] or "-",
            f"{o['latency_ms']:.0f}ms" if o["latency_ms"] is not None else "-",
            o["client_order_id"],
        ))
        for f in o.get("leg_fills") or ():
            fee = f"{f['fee']['amount']} {f['fee']['currency']}" if f.get("fee") else "-"
            fills.append(f"  combo fill, leg {f['leg'] or '?'}: {f['side']} {f['quantity']} {f['instrument']} "
                         f"@ {f['price']} {o['price_currency']}, fee {fee}")
        if o.get("leg_fills_unknown"):
            fills.append(f"  combo fill per leg UNKNOWN: {o['venue']} did not return the combo's leg trades (prices, "
                         f"fees); by its ratios, {o['filled']} of the combo traded on every leg")
    totals = report["totals"]
    title = "ALL LEGS FILLED" if report["all_filled"] else "EXECUTION DID NOT COMPLETE"
    lines = [
        f"{title} — execution {report['execution_id']} ({report['mode']})",
        *market_lines(report),
        table(["LEG", "VENUE", "INSTRUMENT", "SIDE", "FILLED", "STATUS", "AVG PRICE", "FEES", "SLIPPAGE", "LATENCY",
               "CLIENT ORDER ID"], rows),
        *fills,
        f"Net cost: {usd(totals['net_cost_usd'])} (fees {usd(totals['fees_usd'])}; planned {usd(totals['planned_cost_usd'])})",
    ]
    lines.extend(reason_lines(report))
    if any(o.get("fee_estimated") for o in report["legs"] + report["unwinds"]):
        lines.append("(est.): the venue has not reported that fee; it is estimated from its fee schedule")
    if any(o.get("price_estimated") for o in report["legs"] + report["unwinds"]):
        lines.append("(est.) price: the venue did not report that average fill price; the order's limit stands in "
                     "for it (the worst price it could have filled at), so the net cost is an upper bound")
    if totals.get("savings_vs_reference_usd") is not None:
        lines.append(f"Savings against the reference prices: {usd(totals['savings_vs_reference_usd'])}")
    if report.get("card"):
        from .options_gps import format_card_figures

        lines.append(format_card_figures(report["card"]))
    if totals.get("unwind_realised_usd") is not None:
        lines.append(f"Unwind cost: {usd(totals['unwind_realised_usd'])} realised by the unwind round trips "
                     "(filled legs sold or bought back, fees included; part of the net cost)")
    if totals.get("legging_window_ms") is not None:
        if totals["legging_window_ms"] == 0 and any(o["role"] == "combo" for o in report["legs"]):
            lines.append("Legging window: 0 ms (one combo order for every leg: they fill together or not at all)")
        else:
            lines.append(f"Legging window (first sent to last acknowledged): {totals['legging_window_ms']:.0f} ms")
    for unwind in report["unwinds"]:
        if unwind["filled"] != unwind["quantity"] and unwind["status"] != "unknown":
            lines.append(f"note: unwind {unwind['client_order_id']} filled {unwind['filled']} of {unwind['quantity']} "
                         f"{unwind['instrument']} on {unwind['venue']}")
    for unwind in report["unwinds"]:
        if unwind.get("reduce_only") is False:
            # gps no longer sends one; journals of earlier versions may hold such an unwind.
            lines.append(f"note: unwind {unwind['client_order_id']} was sent WITHOUT reduce-only: check what you "
                         f"hold on {unwind['venue']} (`gps positions`)")
    for order in report["legs"]:
        if str(order.get("reason") or "").startswith("unwind impossible"):
            lines.append(f"note: {order['client_order_id']} on {order['venue']}: {order['reason']}")
        if order["role"] == "combo" and report["unwinds"]:
            lines.append(f"note: combo order {order['venue_symbol']} unwound leg by leg, reduce-only, on the legs' own "
                         "books (a combo book holds no position to reduce)")
    for r in report.get("residuals") or []:
        held = "long" if r["side"] == "buy" else "short"
        unknown = ""
        if r.get("unknown_orders"):
            unknown = f"; orders of UNKNOWN state: {', '.join(r['unknown_orders'])}"
            if r.get("unknown_quantity") not in (None, "0"):
                unknown += f" (may have filled up to {r['unknown_quantity']} more)"
        if r.get("note"):
            unknown += f" ({r['note']})"
        if r.get("venue_position") is not None and r["quantity"] != "0":
            # The venue refused the unwind: say what this execution did and what the venue holds,
            # not "you still hold" (the position may have been changed outside gps).
            lines.append(f"WARNING: NOT UNWOUND: this execution's {r['side']} of {r['quantity']} {r['instrument']} on "
                         f"{r['venue']}{_also_named(r)} was not unwound; the venue now reports a position of "
                         f"{r['venue_position']}{unknown}. Check `gps positions`.")
        elif r["quantity"] == "0":
            lines.append(f"WARNING: POSSIBLY NOT FLAT: {r['instrument']} on {r['venue']}{_also_named(r)}{unknown}")
        else:
            lines.append(f"WARNING: NOT FLAT: you still hold {held} {r['quantity']} {r['instrument']} on {r['venue']}"
                         f"{_also_named(r)}{unknown}")
    if report.get("closes") and "still_held" in report and not report.get("all_filled"):
        lines.append(f"WARNING: the close of {report['closes']} did not complete; you still hold: "
                     f"{held_text(report['still_held'])}")
        for u in report.get("uncovered") or ():
            lines.append(f"WARNING: UNCOVERED short {u['quantity']} {u['instrument']} on {u['venue']}: no long "
                         "the execution still holds covers it")
    elif report["kept"]:
        lines.append(f"WARNING: filled legs KEPT (--on-partial keep), you hold them now: {kept_text(report)}")
    if report["unsettled"]:
        lines.append(
            f"WARNING: {len(report['unsettled'])} order(s) in an UNKNOWN state, POSSIBLY STILL WORKING OR FILLED at "
            f"the venue: {', '.join(report['unsettled'])}. Run `gps recover`."
        )
    failures = report.get("journal_failures") or []
    if failures:
        lines.append(f"WARNING: THE JOURNAL IS INCOMPLETE: {len(failures)} event(s) could not be written "
                     f"(orders were still sent and cancelled): {'; '.join(failures[:3])}"
                     + (" ..." if len(failures) > 3 else ""))
    if report.get("interrupted"):
        lines.append(stop_line(report))
    if report.get("journal"):
        lines.append(f"Journal: {report['journal']}")
    return "\n".join(lines)


def kept_text(report: dict) -> str:
    """``deribit: long 0.1 BTC-25JUN27-95000-C; aevo: short 0.1 ...``: what a kept partial holds, per venue.

    Reports written before ``kept_positions`` existed fall back to the kept client order ids.
    """
    positions = report.get("kept_positions")
    if positions is None:
        return ", ".join(report["kept"])
    by_venue: dict[str, list[str]] = {}
    for p in positions:
        held = "long" if p["side"] == "buy" else "short"
        by_venue.setdefault(p["venue"], []).append(f"{held} {p['quantity']} {p['instrument']}")
    return "; ".join(f"{venue}: {', '.join(items)}" for venue, items in by_venue.items()) or "nothing filled"


def _also_named(residual: dict) -> str:
    """`` (the venue's symbol)`` when the venue names the instrument otherwise, else nothing."""
    symbol = residual.get("venue_symbol")
    return f" ({symbol})" if symbol and symbol != residual["instrument"] else ""


def held_text(positions: list[dict]) -> str:
    """``deribit: long 0.1 BTC-25JUN27-95000-C; aevo: short 0.1 ...`` per venue; ``nothing`` when flat."""
    by_venue: dict[str, list[str]] = {}
    for p in positions:
        held = "long" if p["side"] == "buy" else "short"
        by_venue.setdefault(p["venue"], []).append(f"{held} {p['quantity']} {p['instrument']}")
    return "; ".join(f"{venue}: {', '.join(items)}" for venue, items in by_venue.items()) or "nothing"


#: Longest venue reason shown in the text report (the whole text is in ``--json``).
REASON_CHARS = 160


def reason_lines(report: dict) -> list[str]:
    """Why each rejected, denied or unknown order ended so: the venue's words (with its code), one line each."""
    lines = []
    for o in report["legs"] + report["unwinds"]:
        if o["status"] not in ("rejected", "unknown", "denied") or not o.get("reason"):
            continue
        reason = " ".join(str(o["reason"]).split())
        if len(reason) > REASON_CHARS:
            reason = reason[:REASON_CHARS - 1].rstrip() + "…"
        name = f"unwind of leg {o['leg']}" if o["role"] == "unwind" else f"leg {o['leg']}"
        if o["role"] == "combo":
            legs = ", ".join(f"leg {c['leg'] or '?'} {c['side']} {c['quantity']} {c['instrument']}"
                             for c in o.get("combo_legs") or ())
            name = f"combo order {o['venue_symbol']} ({legs})"
        if o.get("not_placed"):
            lines.append(f"{name} NOT PLACED (it never reached the venue): {reason.removeprefix('not placed: ')}")
        else:
            lines.append(f"{name} {o['status']}: {reason}")
    return lines


def legs_filled_text(summary: dict) -> str:
    """``2/4 legs filled`` and, when some filled in part, ``, 2 filled in part`` (a combo's fill counts on every leg)."""
    text = f"{summary.get('legs_filled', 0)}/{summary.get('legs', 0)} legs filled"
    part = summary.get("legs_part_filled") or 0
    return f"{text}, {part} filled in part" if part else text


def recovered_text(event: dict) -> str:
    """What ``gps recover`` recorded when it closed an interrupted execution (``execution_recovered``)."""
    state = "complete" if event.get("complete") else "INCOMPLETE"
    lines = [f"RECOVERED by gps recover at {str(event.get('ts', ''))[:19]}: {legs_filled_text(event)}, {state}"]
    for o in event.get("filled_orders") or []:
        lines.append(f"  {o['client_order_id']}: {o['side']} {o['filled']} {o['instrument']} filled")
    for x in event.get("exposures") or []:
        lines.append(f"OPEN POSITION: {x['venue']} {x['instrument']} {x['position']}")
    return "\n".join(lines)


def stop_line(report: dict) -> str:
    """What a stopped execution did on its way out, counted from the report's orders.

    ``Stopped (SIGINT): 1 working order cancelled, 1 filled leg unwound.``; once every leg
    had filled: ``Stopped by SIGINT after every leg had filled: nothing was cancelled or unwound.``
    """
    reason = report.get("stop_reason") or "Ctrl-C"
    if report.get("all_filled"):
        return f"Stopped by {reason} after every leg had filled: nothing was cancelled or unwound."
    cancelled = sum(o["status"] == "cancelled" for o in report["legs"])
    unwound = len({u["leg"] for u in report["unwinds"] if Decimal(u["filled"] or 0) > 0})
    done = [f"{cancelled} working order{'s' if cancelled != 1 else ''} cancelled",
            f"{unwound} filled leg{'s' if unwound != 1 else ''} unwound"]
    if report.get("kept"):
        done.append(f"{len(report['kept'])} filled leg{'s' if len(report['kept']) != 1 else ''} kept")
    text = f"Stopped ({reason}): {', '.join(done)}"
    if report["unsettled"]:
        text += f"; {len(report['unsettled'])} order(s) of unknown state above were not settled"
    return text + "."
