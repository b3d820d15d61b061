"""Write a demo strategy file for today's dry-run market.

    python -m gps_venue_dryrun.demo --out demo-strategy.json
    gps execute --venue dryrun demo-strategy.json

The strategy is a BTC bull call spread (buy the call nearest the money, sell the call
nearest 5% above it, 0.1 each) on the first monthly expiry at least 20 days out. Each leg
carries the market's mid as its ``reference_price``, so the execution report can show what
was saved against it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Mapping, Sequence

from gps_core.instruments import OptionType
from gps_core.money import format_decimal

from .expiries import monthly_expiries
from .market import Market, current_market

UNDERLYING = "BTC"
QUANTITY = Decimal("0.1")
MIN_DAYS = 20
UPPER_STRIKE = Decimal("1.05")


def demo_strategy(market: Market) -> dict:
    """The demo call spread as a strategy-file dictionary."""
    calls = [i for i in market.instruments(UNDERLYING) if i.key.option_type is OptionType.CALL]
    listed = {i.key.expiry for i in calls}
    monthlies = [d for d in monthly_expiries(market.asof, market.now, count=4) if d in listed]
    wanted = market.asof + timedelta(days=MIN_DAYS)
    expiry = next((d for d in monthlies if d >= wanted), monthlies[-1])
    chain = [i for i in calls if i.key.expiry == expiry]
    index = market.index(UNDERLYING)
    nearest = lambda target: min(chain, key=lambda i: (abs(i.key.strike - target), i.key.strike))  # noqa: E731
    low, high = nearest(index), nearest(index * UPPER_STRIKE)
    if high.key.strike <= low.key.strike:  # pragma: no cover - the grid always has a higher strike
        raise RuntimeError("no call above the money to sell")
    legs = [
        {"side": side, "quantity": str(QUANTITY), "instrument": inst.symbol,
         "reference_price": {"amount": format_decimal(market.mid(inst)), "currency": inst.price_currency}}
        for side, inst in (("buy", low), ("sell", high))
    ]
    name = (f"{UNDERLYING} bull call spread {format_decimal(low.key.strike)}/{format_decimal(high.key.strike)} "
            f"{expiry.isoformat()} (dry-run demo)")
    return {"name": name, "legs": legs}


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gps_venue_dryrun.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="where to write the strategy JSON ('-' for stdout)")
    args = parser.parse_args(argv)
    strategy = demo_strategy(current_market(os.environ if environ is None else environ))
    text = json.dumps(strategy, indent=2) + "\n"
    if args.out == "-":
        sys.stdout.write(text)
    else:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out}: {strategy['name']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
