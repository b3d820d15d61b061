"""Randomized stop drills: SIGTERM, SIGHUP, SIGINT and SIGKILL at random moments of executions.

Each run starts a fresh fake Deribit server (in this process) and a fresh ``GPS_HOME``, picks
a shape at random (2 or 4 legs; the venue fills every leg, one leg, none, or fills the resting
legs slowly one by one), starts ``gps execute`` in a child process and sends a random stop
signal at a random moment 0-3 s after the start. A run whose process did not end on its own
report (SIGKILL, or a signal before gps installed its handlers) is followed by
``gps recover --json --cancel-working --settle-after 0``. Then the venue's book of record is
audited: orders of the execution still open, client order ids placed twice, and instruments
whose net position is neither zero nor the full strategy nor what the report names as held.

Not part of the test pass/fail (the CI drills are ``tests/reliability/test_reliability_stops.py``):
it measures and prints the counts, as JSON with ``--json-out``.

    python benchmarks/stop_drills.py --runs 40 --seed 1
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from reliability.audit import journal_events, journaled_ids, net_position  # noqa: E402
from reliability.conftest import GPS, process_env  # noqa: E402
from reliability.harness import DeribitHarness  # noqa: E402

SIGNALS = {"SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP, "SIGINT": signal.SIGINT, "SIGKILL": signal.SIGKILL}
SHAPES = ("all fill", "one fills", "none fill", "fill slowly")


def _named(report: dict | None) -> dict[str, Decimal]:
    held: dict[str, Decimal] = {}
    for r in (report or {}).get("residuals") or []:
        sign = 1 if r["side"] == "buy" else -1
        held[r["venue_symbol"]] = held.get(r["venue_symbol"], Decimal(0)) + sign * Decimal(r["quantity"])
    return {k: v for k, v in held.items() if v}


def _fill_slowly(harness: DeribitHarness, stop: threading.Event) -> None:
    """Fill the execution's resting orders one at a time, every 0.4 s, as a thin market would."""
    while not stop.wait(0.4):
        with harness.exchange.lock:
            resting = [o["order_id"] for o in harness.exchange.orders.values()
                       if o["order_state"] == "open" and "-L" in (o["label"] or "")]
        if resting:
            harness.exchange.fill(resting[0])


def one_run(rng: random.Random, index: int) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"gps-drill-{index}-"))
    harness = DeribitHarness(home)
    stop_filling = threading.Event()
    try:
        legs = rng.choice((2, 4))
        shape = rng.choice(SHAPES)
        signame = rng.choice(list(SIGNALS))
        delay = round(rng.uniform(0.0, 3.0), 2)
        symbols = harness.instruments(legs)
        sides = ["buy", "sell"] * (legs // 2)
        resting = {"all fill": [], "one fills": symbols[1:], "none fill": symbols, "fill slowly": symbols}[shape]
        for symbol in resting:
            harness.exchange.faults.aim(symbol, "partial", fill="0")
        leg_args = [a for s, sym in zip(sides, symbols) for a in ("--leg", f"{s} {harness.quantity} {sym}")]
        child = subprocess.Popen([str(GPS), "execute", "--venue", "deribit", "--yes", "--json", "--timeout", "20",
                                  *leg_args], env=process_env(harness.env()), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        if shape == "fill slowly":
            threading.Thread(target=_fill_slowly, args=(harness, stop_filling), daemon=True).start()
        time.sleep(delay)  # a random moment: the point of this script is not to synchronise
        if child.poll() is None:
            child.send_signal(SIGNALS[signame])
        out, err = child.communicate(timeout=120)
        stop_filling.set()
        try:
            report = json.loads(out) if out.strip() else None
        except json.JSONDecodeError:
            report = None
        recovered = None
        if report is None:
            done = subprocess.run([str(GPS), "recover", "--json", "--cancel-working", "--settle-after", "0"],
                                  env=process_env(harness.env()), capture_output=True, text=True, timeout=120)
            recovered = done.returncode
        ids = journaled_ids(journal_events(home))
        orders = harness.orders(ids)
        full = {s: (harness.quantity if side == "buy" else -harness.quantity) for s, side in zip(symbols, sides)}
        net = net_position(orders)
        counts = Counter(o.client_order_id for o in orders)
        return {
            "run": index, "legs": legs, "shape": shape, "signal": signame, "delay_s": delay,
            "exit": child.returncode, "recover_exit": recovered, "orders": len(orders),
            "open": sum(o.is_open for o in orders),
            "duplicates": sum(n - 1 for cid, n in counts.items() if cid and n > 1),
            "unnamed": sum(1 for o in orders if not o.client_order_id or o.client_order_id not in set(ids)),
            "net_ok": net in ({}, full, _named(report)),
            "net": {k: str(v) for k, v in net.items()},
            "complete": bool(report and report.get("complete")),
            "traceback": "Traceback" in err,
        }
    finally:
        stop_filling.set()
        harness.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.monotonic()
    rows = []
    for index in range(args.runs):
        row = one_run(rng, index)
        rows.append(row)
        bad = row["open"] or row["duplicates"] or row["unnamed"] or not row["net_ok"] or row["traceback"]
        print(f"{index:3d} {row['signal']:7s} at {row['delay_s']:4.2f}s {row['legs']} legs, {row['shape']:11s} "
              f"exit {row['exit']:4d} recover {row['recover_exit']!s:4s} orders {row['orders']:2d} "
              f"{'PROBLEM ' + json.dumps(row) if bad else 'ok'}", flush=True)
    summary = {
        "runs": len(rows), "seconds": round(time.monotonic() - started, 1),
        "orders": sum(r["orders"] for r in rows),
        "open_orders_left": sum(r["open"] for r in rows),
        "duplicates": sum(r["duplicates"] for r in rows),
        "unnamed_orders": sum(r["unnamed"] for r in rows),
        "net_position_not_zero_full_or_named": sum(not r["net_ok"] for r in rows),
        "tracebacks": sum(r["traceback"] for r in rows),
        "recovered_runs": sum(r["recover_exit"] is not None for r in rows),
        "by_signal": dict(Counter(r["signal"] for r in rows)),
        "by_exit": {str(k): v for k, v in Counter(r["exit"] for r in rows).items()},
    }
    print(json.dumps(summary, indent=1))
    if args.json_out:
        args.json_out.write_text(json.dumps({"summary": summary, "runs": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
