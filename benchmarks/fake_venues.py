"""Run the fake Deribit and Aevo servers in their own process, every request delayed by R.

Prints one JSON line with the environment gps needs (base URLs and throwaway credentials),
then serves until its standard input closes. The benchmarks run the servers in a separate
process so the servers' work (signature recovery, matching) does not compete with gps for
the same interpreter lock, as it would not with a real venue.

    python benchmarks/fake_venues.py --rtt 0.05
"""

from __future__ import annotations

import argparse
import json
import sys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt", type=float, default=0.05, help="seconds added to every request")
    args = parser.parse_args()

    from gps_venue_aevo.testing.fake_server import FakeAevo, serve
    from gps_venue_deribit.testing.fake_exchange import FakeExchange
    from gps_venue_deribit.testing.fake_server import FakeDeribit

    deribit = FakeDeribit(FakeExchange()).start()
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
