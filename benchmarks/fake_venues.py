"""Run the fake Deribit and Aevo servers in their own process, every request delayed by R.

Prints one JSON line with the environment gps needs (base URLs and throwaway credentials),
then serves until its standard input closes. The benchmarks run the servers in a separate
process so the servers' work (signature recovery, matching) does not compete with gps for
the same interpreter lock, as it would not with a real venue.

    python benchmarks/fake_venues.py --rtt 0.05
    python benchmarks/fake_venues.py --rtt 0.05 --btc-listed 7000   # a listing as long as Deribit's
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace


def pad_listing(exchange, currency: str, total: int) -> None:
    """List ``total`` options under ``currency`` by adding copies of the chain at nearby strikes
    (``100000`` -> ``100001``, ``100002``...): as many rows as Deribit's own BTC listing, which
    gps must not pay for when it asks about one leg."""
    chain = [i for name, i in exchange.instruments.items() if name.startswith(f"{currency}-")]
    listed, offset, next_id = len(chain), 1, 10**7
    while listed < total:
        for inst in chain[: total - listed]:
            root, expiry, strike, letter = inst.row["instrument_name"].split("-")
            name = f"{root}-{expiry}-{int(strike) + offset}-{letter}"
            row = {**inst.row, "instrument_name": name, "strike": inst.row["strike"] + offset, "instrument_id": next_id}
            exchange.instruments[name] = replace(inst, row=row, bids=[list(b) for b in inst.bids],
                                                 asks=[list(a) for a in inst.asks])
            next_id += 1
        listed = sum(1 for name in exchange.instruments if name.startswith(f"{currency}-"))
        offset += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt", type=float, default=0.05, help="seconds added to every request")
    parser.add_argument("--btc-listed", type=int, default=0, help="list this many BTC options on Deribit (padding)")
    args = parser.parse_args()

    from gps_venue_aevo.testing.fake_server import FakeAevo, serve
    from gps_venue_deribit.testing.fake_exchange import FakeExchange
    from gps_venue_deribit.testing.fake_server import FakeDeribit

    exchange = FakeExchange()
    if args.btc_listed:
        pad_listing(exchange, "BTC", args.btc_listed)
    deribit = FakeDeribit(exchange).start()
    deribit.state.faults.latency = args.rtt
    aevo_state = FakeAevo()
    aevo = serve(aevo_state)
    env = {"DERIBIT_BASE_URL": deribit.url, "DERIBIT_CLIENT_ID": deribit.state.client_id,
           "DERIBIT_CLIENT_SECRET": deribit.state.client_secret, "AEVO_BASE_URL": aevo.url,
           **aevo_state.create_account()}
    if args.rtt:
        for method in ("GET", "POST", "DELETE"):
            aevo_state.inject("latency", method=method, path="*", times=10**9, seconds=args.rtt)
    print(json.dumps(env), flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
    deribit.stop()
    aevo.stop()


if __name__ == "__main__":
    main()
