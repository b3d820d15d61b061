"""The plan's payoff section as text: a compact payoff-at-expiry chart, max profit/loss,
breakevens, net Greeks, and mid/spread/IV per leg. Pure functions of the plan's JSON.

The chart is drawn here rather than with a terminal plotting library: the one that fits
(plotext) takes about 120 ms to import, three times the whole CLI's start-up, for a chart
that is one curve on a grid of characters.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Sequence

WIDTH, HEIGHT = 60, 13


def _money(text: str | None) -> str:
    from .money import format_usd

    return "-" if text is None else format_usd(Decimal(text).quantize(Decimal("0.01")))


def _interpolate(points: Sequence[tuple[Decimal, Decimal]], x: Decimal) -> Decimal:
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1] if x > points[-1][0] else points[0][1]


def payoff_chart(curve: Sequence[dict], index: str | None = None, width: int = WIDTH, height: int = HEIGHT) -> list[str]:
    """Lines of a character chart of P&L (rows) against index price (columns).

    ``*`` is the curve, ``-`` the zero line, ``|`` the current index. Left labels give the P&L
    at the top, zero and bottom rows; the bottom line the index at the edges and middle.
    """
    points = [(Decimal(p["index_usd"]), Decimal(p["pnl_usd"])) for p in curve]
    if len(points) < 2:
        return []
    x0, x1 = points[0][0], points[-1][0]
    xs = [x0 + (x1 - x0) * i / (width - 1) for i in range(width)]
    ys = [_interpolate(points, x) for x in xs]
    top, bottom = max(max(ys), Decimal(0)), min(min(ys), Decimal(0))
    if top == bottom:
        top += 1
    row_of = lambda y: round((top - y) / (top - bottom) * (height - 1))  # noqa: E731
    grid = [[" "] * width for _ in range(height)]
    zero = row_of(Decimal(0))
    grid[zero] = ["-"] * width
    if index is not None and x0 <= Decimal(index) <= x1:
        column = round((Decimal(index) - x0) / (x1 - x0) * (width - 1))
        for row in grid:
            row[column] = "|" if row[column] == " " else row[column]
    for column, y in enumerate(ys):
        grid[row_of(y)][column] = "*"
    labels = {0: _money(f"{top:.2f}"), zero: "$0", height - 1: _money(f"{bottom:.2f}")}
    pad = max(len(v) for v in labels.values())
    lines = [f"{labels.get(r, ''):>{pad}} {''.join(row).rstrip()}" for r, row in enumerate(grid)]
    left, middle, right = f"{x0:,.0f}", f"{(x0 + x1) / 2:,.0f}", f"{x1:,.0f}"
    axis = left + middle.center(width - len(left) - len(right)) + right
    lines.append(" " * (pad + 1) + axis)
    return lines


def payoff_lines(plan: dict) -> list[str]:
    """The plan's payoff section as lines (nothing for a plan recorded before it existed)."""
    payoff = plan.get("payoff")
    if not payoff:
        return []
    if "legs" not in payoff:
        return [f"Payoff unavailable: {payoff.get('unavailable') or 'not computed'}"]
    lines = []
    rows = []
    for m in payoff["legs"]:
        ccy = "" if m["price_currency"] == "USD" else f" {m['price_currency']}"
        mid = f"{m['mid']}{ccy} ({_money(m['mid_usd'])})" if ccy and m["mid"] else _money(m["mid_usd"])
        spread = "-" if m["spread_usd"] is None else f"{_money(m['spread_usd'])} ({m['spread_pct']}%)"
        iv = "-" if m["mark_iv"] is None else f"{Decimal(m['mark_iv']) * 100:.1f}%"
        g = m["greeks"]
        rows.append((m["leg"], mid, spread, _money(m["mark_usd"]), iv,
                     *((g["delta"], g["gamma"], g["vega"], g["theta"]) if g else ("n/a",) * 4)))
    from .render import table

    lines.append(table(["LEG", "MID", "SPREAD", "MARK USD", "MARK IV", "DELTA", "GAMMA", "VEGA $/pt", "THETA $/day"],
                       rows))
    per_underlying = payoff.get("net_greeks_by_underlying") or {}
    if not per_underlying and payoff.get("net_greeks"):
        per_underlying = {"": payoff["net_greeks"]}
    if per_underlying:
        for underlying, net in per_underlying.items():
            label = f"Net Greeks ({underlying})" if len(per_underlying) > 1 else "Net Greeks"
            lines.append(f"{label}: delta {net['delta']}, gamma {net['gamma']}, vega {_money(net['vega'])} per vol "
                         f"point, theta {_money(net['theta'])} per day (Black-Scholes on the venues' mark IV and index)")
    else:
        lines.append(f"Net Greeks unavailable: {payoff.get('greeks_unavailable') or 'no legs'}")
    profiles = payoff.get("profiles") or ([payoff["profile"]] if payoff.get("profile") else [])
    if not profiles:
        if payoff.get("profile_unavailable"):
            lines.append(f"Payoff chart: {payoff['profile_unavailable']}")
        return lines
    if len(profiles) > 1:
        names = " and ".join(p["underlying"] for p in profiles)
        lines.append(f"Legs on {names}: one payoff per underlying, each against its own index and with its own legs' cost")
    for profile in profiles:
        lines.extend(_profile_lines(profile, len(profiles) > 1))
    return lines


def _profile_lines(profile: dict, named: bool) -> list[str]:
    """The max profit / loss / breakevens line, the basis and the chart of one underlying's payoff."""
    lines = []
    profit = "UNBOUNDED" if profile["max_profit_unbounded"] else _money(profile["max_profit_usd"])
    loss = (f"UNBOUNDED ({profile.get('max_loss_reason') or 'net short calls'})" if profile["max_loss_unbounded"]
            else _money(profile["max_loss_usd"]))
    breakevens = ", ".join(_money(b) for b in profile["breakevens_usd"]) or "none"
    where = f"{profile['underlying']} legs at expiry" if named else "At expiry"
    if profile.get("mixed_expiries"):
        at_least = profile.get("max_profit_bound") == "at_least"
        if not profile["max_profit_unbounded"]:
            profit = f"{'at least' if at_least else 'at most'} {profit}"
        if at_least and not profile["max_loss_unbounded"]:
            loss = f"at most {loss}"
        why = ("later legs valued at intrinsic; their time value is not shown: a bound, not a forecast" if at_least
               else "later short legs valued at intrinsic; the time value of buying them back is not shown: a bound, "
                    "not a forecast")
        lines.append(f"{where} {profile['expiry']} ({profile['at']}): max profit {profit}, max loss {loss} "
                     f"({why}); breakevens {profile.get('breakevens_note') or 'not computed for mixed expiries'}")
    else:
        lines.append(f"{where} {profile['expiry']} ({profile['at']}): max profit {profit}, max loss {loss}, "
                     f"breakeven{'s' if len(profile['breakevens_usd']) != 1 else ''} {breakevens}")
    lines.extend(f"  basis: {b}" for b in profile.get("basis") or ())
    lines.append(f"P&L at expiry against the {profile['underlying']} index (| = index now, {_money(profile['index_usd'])}):")
    lines.extend(payoff_chart(profile["curve"], profile.get("index_usd")))
    return lines
