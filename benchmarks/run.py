"""gps benchmarks: legging window, end-to-end time, per-order overhead and CLI start-up.

Runs against the fake Deribit and Aevo servers on 127.0.0.1 with an injected round-trip
time R added to every request. Prints ratios (medians over several runs, with min-max) and
writes them as JSON. Not part of the test pass/fail: it measures, it does not assert.

    python benchmarks/run.py                 # R = 50 ms, 7 runs
    python benchmarks/run.py --rtt 0.02 --runs 11 --json-out results.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Callable

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def fmt(s: dict, unit: str = "") -> str:
    return f"{s['median']:.3f}{unit} (min {s['min']:.3f}, max {s['max']:.3f}, n={s['runs']})"


# --- fake venues ------------------------------------------------------------------------


@contextmanager
def fake_venues(rtt: float):
    """Both fake servers in a child process, every request delayed by ``rtt``; yields gps's environment."""
    child = subprocess.Popen([sys.executable, str(Path(__file__).with_name("fake_venues.py")), "--rtt", str(rtt)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    env = json.loads(child.stdout.readline())
    saved = dict(os.environ)
    os.environ.update(env)  # the plugins read their settings from the process environment
    try:
        yield env
    finally:
        os.environ.clear()
        os.environ.update(saved)
        child.stdin.close()
        child.wait(timeout=10)


def condor_legs(host) -> list:
    """A 4-leg BTC iron condor whose strikes both fake venues list on one expiry."""
    from gps_core.model import Side
    from gps_core.strategy import Leg

    deribit = {i.key: i for i in host.venue("deribit").list_instruments("BTC")}
    aevo = {i.key: i for i in host.venue("aevo").list_instruments("BTC")}
    common = sorted(set(deribit) & set(aevo), key=lambda k: (k.expiry, k.strike))
    expiry = sorted({k.expiry for k in common})[len({k.expiry for k in common}) // 2]
    puts = sorted(k.strike for k in common if k.expiry == expiry and k.option_type.value == "P")
    calls = sorted(k.strike for k in common if k.expiry == expiry and k.option_type.value == "C")
    pick = lambda strikes, kind, at: next(k for k in common if k.expiry == expiry and k.strike == strikes[at]  # noqa: E731
                                          and k.option_type.value == kind)
    legs = [(Side.BUY, pick(puts, "P", len(puts) // 4)), (Side.SELL, pick(puts, "P", len(puts) // 3)),
            (Side.SELL, pick(calls, "C", -len(calls) // 3)), (Side.BUY, pick(calls, "C", -len(calls) // 4))]
    return [Leg(side, Decimal("0.1"), key) for side, key in legs]  # small: the fakes keep their fills


def split_plan(host, legs):
    """Route the first two legs to Deribit and the last two to Aevo, through the real router."""
    from gps_core.routing import plan_strategy
    from gps_core.service import fetch_quotes
    from gps_core.strategy import Strategy

    strategy = Strategy(legs=tuple(legs), name="iron condor")
    quotes = fetch_quotes(strategy, [host.venue("deribit"), host.venue("aevo")])
    wanted = {0: "deribit", 1: "deribit", 2: "aevo", 3: "aevo"}
    quotes = {i: [q for q in qs if q.venue == wanted[i]] for i, qs in quotes.items()}
    return plan_strategy(strategy, quotes, max_slippage=Decimal("0.05"))


def legging_windows(rtt: float, runs: int, sequential: bool) -> list[float]:
    from gps_core.engine import Engine, ExecutionOptions
    from gps_core.journal import Journal
    from gps_core.plugins import load_host
    from gps_core.service import Context

    windows = []
    with fake_venues(rtt) as env:
        ctx = Context(environ=dict(os.environ))
        host = load_host(ctx.environ)
        ctx._host = host
        venues = {name: host.venue(name) for name in ("deribit", "aevo")}
        for venue in venues.values():
            ctx.authenticate(venue)
        import eth_account  # noqa: F401 - the one-off import is measured separately
        legs = condor_legs(host)
        with tempfile.TemporaryDirectory() as home:
            for run in range(runs + 1):  # the first run warms connections and is dropped
                plan = split_plan(host, legs)
                with Journal(Path(home), f"bench-{run}") as journal:
                    result = Engine(venues, journal, ExecutionOptions(sequential=sequential, timeout=10)).execute(plan)
                assert result.all_filled, [o.state for o in result.legs]
                if run:
                    windows.append(result.legging_window)
    return windows


def end_to_end(rtt: float, runs: int) -> tuple[list[float], list[float]]:
    """Wall time of `gps execute` of the condor (split by --venue auto), and of `gps --help`."""
    from gps_core.plugins import load_host

    walls, starts = [], []
    with fake_venues(rtt) as env:
        full_env = {**os.environ, **env, "GPS_DISABLE_PLUGINS": "dryrun"}
        host = load_host(full_env)
        legs = condor_legs(host)
        # --combo never: this figure is the legged condor across two venues, as before combos existed
        args = [str(BIN / "gps"), "execute", "--venue", "deribit,aevo", "--yes", "--json", "--quiet", "--combo", "never"]
        for leg in legs:
            args += ["--leg", leg.describe()]
        with tempfile.TemporaryDirectory() as home:
            full_env["GPS_HOME"] = home
            for run in range(runs + 1):
                started = time.perf_counter()
                done = subprocess.run(args, env=full_env, capture_output=True, text=True)
                wall = time.perf_counter() - started
                assert done.returncode == 0, done.stderr[-2000:]
                started = time.perf_counter()
                subprocess.run([str(BIN / "gps"), "--help"], env=full_env, capture_output=True)
                if run:
                    walls.append(wall)
                    starts.append(time.perf_counter() - started)
    return walls, starts


def deribit_condor_legs(host) -> list:
    """A 4-leg BTC iron condor on one Deribit expiry (strikes around the index)."""
    from gps_core.model import Side
    from gps_core.strategy import Leg

    listed = [i.key for i in host.venue("deribit").list_instruments("BTC")]
    expiry = sorted({k.expiry for k in listed})[2]
    puts = sorted(k for k in listed if k.expiry == expiry and k.option_type.value == "P")
    calls = sorted(k for k in listed if k.expiry == expiry and k.option_type.value == "C")
    by_strike = lambda keys, strike: next(k for k in keys if k.strike == strike)  # noqa: E731
    legs = [(Side.BUY, by_strike(puts, 80000)), (Side.SELL, by_strike(puts, 90000)),
            (Side.SELL, by_strike(calls, 110000)), (Side.BUY, by_strike(calls, 120000))]
    return [Leg(side, Decimal("0.1"), key) for side, key in legs]


def combo_against_legged(rtt: float, runs: int) -> dict:
    """The same all-Deribit condor executed legged (4 orders) and as one combo order, alternately.

    Per run: orders sent, legging window (seconds), and the net cost against the legs' mid prices
    at planning time (USD, fees included; > 0 is worse than mid).
    """
    from gps_core.combo import choose_combos
    from gps_core.engine import Engine, ExecutionOptions
    from gps_core.journal import Journal
    from gps_core.plugins import load_host
    from gps_core.report import result_to_json
    from gps_core.routing import plan_strategy
    from gps_core.service import Context, fetch_quotes
    from gps_core.strategy import Strategy

    figures: dict[str, dict[str, list]] = {m: {"orders": [], "window": [], "over_mid": [], "fees": []} for m in ("legged", "combo")}
    with fake_venues(rtt):
        ctx = Context(environ=dict(os.environ))
        host = load_host(ctx.environ)
        ctx._host = host
        venues = {"deribit": host.venue("deribit")}
        ctx.authenticate(venues["deribit"])
        strategy = Strategy(legs=tuple(deribit_condor_legs(host)), name="iron condor")
        with tempfile.TemporaryDirectory() as home:
            for run in range(runs + 1):  # the first run of each warms connections and is dropped
                for mode in ("legged", "combo"):
                    plan = plan_strategy(strategy, fetch_quotes(strategy, list(venues.values())),
                                         max_slippage=Decimal("0.05"))
                    mid = sum((p.side.sign * p.quantity * (p.book.bids[0].price + p.book.asks[0].price) / 2
                               * p.usd_per_unit for p in plan.legs), Decimal(0))
                    plan = choose_combos(plan, venues, "never" if mode == "legged" else "always", create=True)
                    with Journal(Path(home), f"combo-{mode}-{run}") as journal:
                        result = Engine(venues, journal, ExecutionOptions(timeout=10)).execute(plan)
                    assert result.all_filled, [o.state for o in result.legs]
                    report = result_to_json(result, "live")
                    if run:
                        figures[mode]["orders"].append(report["totals"]["orders_sent"])
                        figures[mode]["window"].append(result.legging_window)
                        figures[mode]["over_mid"].append(float(Decimal(report["totals"]["net_cost_usd"]) - mid))
                        figures[mode]["fees"].append(float(report["totals"]["fees_usd"]))
    return {mode: {"orders_sent": summary(f["orders"]), "legging_window_over_R": summary([w / rtt for w in f["window"]]),
                   "net_cost_minus_mid_usd": summary(f["over_mid"]), "fees_usd": summary(f["fees"])}
            for mode, f in figures.items()}


class InstantVenue:
    """An in-memory venue that fills every order at once: what is left is gps's own cost."""

    def __init__(self, name: str):
        from gps_core.model import Capability, VenueInfo

        self.name = name
        self.info = VenueInfo(name=name, paper=True, capabilities=frozenset({Capability.GTC}))

    def place(self, order):
        from gps_core.model import OrderSnapshot, VenueOrderStatus

        return OrderSnapshot(order.client_order_id, "v", VenueOrderStatus.FILLED, order.quantity, order.quantity,
                             order.limit_price)

    def order_status(self, order):
        return self.place(order)

    def cancel(self, order):
        return self.place(order)


def per_order_overhead(runs: int, executions: int = 200) -> list[float]:
    """Milliseconds of engine + journal + state machine per order, placing 4-leg plans on an instant venue."""
    sys.path.insert(0, str(ROOT / "tests"))
    from builders import book, key, usd_instrument

    from gps_core.engine import Engine, ExecutionOptions
    from gps_core.journal import Journal
    from gps_core.model import Side
    from gps_core.routing import Quote, plan_strategy
    from gps_core.strategy import Leg, Strategy

    keys = [key(str(s)) for s in (90000, 95000, 105000, 110000)]
    strategy = Strategy(legs=tuple(Leg(Side.BUY if i % 2 == 0 else Side.SELL, Decimal(1), k) for i, k in enumerate(keys)))
    quotes = {i: [Quote("instant", usd_instrument("instant", k),
                        book(usd_instrument("instant", k), bids=[("95", "10")], asks=[("100", "10")]))]
              for i, k in enumerate(keys)}
    plan = plan_strategy(strategy, quotes)
    venues = {"instant": InstantVenue("instant")}
    results = []
    with tempfile.TemporaryDirectory() as home:
        for run in range(runs):
            started = time.perf_counter()
            for n in range(executions):
                with Journal(Path(home), f"o-{run}-{n}") as journal:
                    Engine(venues, journal, ExecutionOptions()).execute(plan)
            results.append((time.perf_counter() - started) / (executions * len(keys)) * 1000)
    return results


def command_times(argv: list[str], runs: int, env: dict | None = None) -> list[float]:
    times = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, env=env)
        times.append(time.perf_counter() - started)
    return times[1:]


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt", type=float, default=0.05, help="injected round-trip time R, seconds (default 0.05)")
    parser.add_argument("--runs", type=int, default=7, help="runs per measurement (default 7)")
    parser.add_argument("--json-out", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--only", choices=["combo"], help="run only this measurement")
    args = parser.parse_args()
    r, runs = args.rtt, args.runs
    out: dict = {"machine": machine(), "rtt_seconds": r, "runs": runs}
    step: Callable[[str], None] = lambda text: print(f"... {text}", file=sys.stderr, flush=True)  # noqa: E731

    step("condor on Deribit: one combo order against four legged orders")
    out["combo_against_legged"] = combo = combo_against_legged(r, runs)
    print(f"machine: {out['machine']['cpu']}, {out['machine']['cores']} cores, Python {out['machine']['python']}")
    print(f"R = {r * 1000:.0f} ms, {runs} runs each (median, min-max)")
    for mode in ("legged", "combo"):
        f = combo[mode]
        print(f"condor on Deribit, {mode:6}: orders sent {f['orders_sent']['median']:.0f}, legging window / R "
              f"{fmt(f['legging_window_over_R'])}, net cost - mid {fmt(f['net_cost_minus_mid_usd'], ' USD')} "
              f"of which fees {f['fees_usd']['median']:.2f} USD")
    if args.only == "combo":
        if args.json_out:
            args.json_out.write_text(json.dumps(out, indent=2))
        return

    step("legging window, concurrent")
    concurrent = [w / r for w in legging_windows(r, runs, sequential=False)]
    step("legging window, sequential baseline")
    sequential = [w / r for w in legging_windows(r, runs, sequential=True)]
    step("end-to-end gps execute")
    walls, starts = end_to_end(r, runs)
    step("per-order overhead at R = 0")
    overhead = per_order_overhead(runs)
    step("CLI start-up")
    python = [str(BIN / "python")]
    click_import = command_times(python + ["-c", "import click"], runs)
    help_times = command_times([str(BIN / "gps"), "--help"], runs)
    venues_times = command_times([str(BIN / "gps"), "venues"], runs)
    bare = command_times(python + ["-c", "pass"], runs)
    eth = command_times(python + ["-c", "import eth_account"], runs)

    out["legging_window_over_R"] = summary(concurrent)
    out["sequential_legging_window_over_R"] = summary(sequential)
    out["execute_wall_over_R"] = summary([w / r for w in walls])
    out["execute_wall_minus_startup_over_R"] = summary([(w - s) / r for w, s in zip(walls, starts)])
    out["per_order_overhead_ms"] = summary(overhead)
    out["help_over_import_click"] = summary([h / statistics.median(click_import) for h in help_times])
    out["venues_over_import_click"] = summary([v / statistics.median(click_import) for v in venues_times])
    out["import_click_s"] = summary(click_import)
    out["eth_account_import_s"] = summary([e - statistics.median(bare) for e in eth])

    print(f"machine: {out['machine']['cpu']}, {out['machine']['cores']} cores, Python {out['machine']['python']}")
    print(f"R = {r * 1000:.0f} ms, {runs} runs each (median, min-max)")
    print(f"legging window / R, 4-leg condor on Deribit+Aevo, concurrent: {fmt(out['legging_window_over_R'])}  target <= 1.3")
    print(f"legging window / R, sequential baseline:                      {fmt(out['sequential_legging_window_over_R'])}")
    print(f"gps execute wall time / R:                                    {fmt(out['execute_wall_over_R'])}")
    print(f"gps execute wall time minus start-up / R:                     {fmt(out['execute_wall_minus_startup_over_R'])}")
    print(f"per-order framework overhead at R = 0:                        {fmt(out['per_order_overhead_ms'], ' ms')}  target <= 1.5 ms")
    print(f"gps --help / python -c 'import click':                        {fmt(out['help_over_import_click'])}  target <= 1.5")
    print(f"gps venues / python -c 'import click':                        {fmt(out['venues_over_import_click'])}  target <= 2.5")
    print(f"python -c 'import click':                                     {fmt(out['import_click_s'], ' s')}")
    print(f"eth-account import (beyond interpreter start):                {fmt(out['eth_account_import_s'], ' s')}")
    if args.json_out:
        args.json_out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
