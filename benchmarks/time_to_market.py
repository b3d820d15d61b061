"""Time to market: from `gps execute` to every leg acknowledged, and the figures around it.

One command, a few minutes, one table, one JSON file. Every figure is measured against the fake
Deribit and Aevo servers running in a separate process (``fake_venues.py``) with a round trip R
added to every request; everything on gps's side is its real code (CLI, plugins, HTTP clients,
router, engine, journal). It measures; it asserts nothing.

    python benchmarks/time_to_market.py                        # about 2-4 minutes
    python benchmarks/time_to_market.py --runs 9 --json-out results.json

What it measures (medians, with min-max):

* ``gps execute`` of a 4-leg Deribit iron condor (``--venue deribit --combo never``, warm: the
  entry-point and instrument caches filled by a first run), process start to exit, at R = 50 ms
  and R = 150 ms; fitted as ``fixed + k x R``; against ``python -c "import click, requests"``
  timed in the same run. A cold run (empty ``GPS_HOME``) is shown beside it.
* legging window (first order leaving to last acknowledgement) / R: 8 Deribit legs at R = 10 ms,
  and the 4-leg condor split over Deribit and Aevo at R = 50 ms. An order "leaves" when it is
  handed to its plugin's ``gps_place``, or, for an order prepared with ``gps_prepare_place``,
  when its request is written (its preparation comes before, for every leg, and is part of the
  time to market). With it, the send spread of the 8 legs: first to last order leaving, in ms.
* ``gps quote`` of one leg with 150 and with 7,000 BTC options listed on Deribit (warm and cold).
* ``gps quote`` of the 4-leg condor on Deribit and Aevo together against the slower venue alone.
* ``gps --help`` and ``gps venues`` against ``python -c "import click"``.
* framework cost per order (engine, journal with fsync, state machine) on an in-memory venue
  that fills at once: wall and CPU time.
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
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as shared  # noqa: E402 - the other benchmark's helpers (legs, instant venue)

BIN = Path(sys.executable).parent
GPS = str(BIN / "gps")


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def bytecode_written() -> dict:
    """This environment, minus ``PYTHONDONTWRITEBYTECODE``: an installed gps has its bytecode
    compiled, so a measured run must not recompile every module at each start."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


@contextmanager
def fakes(rtt: float, btc_listed: int = 0):
    """The fake venues in a child process; yields the environment gps needs (plus a fresh GPS_HOME)."""
    args = [sys.executable, str(HERE / "fake_venues.py"), "--rtt", str(rtt)]
    if btc_listed:
        args += ["--btc-listed", str(btc_listed)]
    child = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        env = json.loads(child.stdout.readline())
        with tempfile.TemporaryDirectory() as home:
            yield {**bytecode_written(), **env, "GPS_HOME": home, "GPS_DISABLE_PLUGINS": "dryrun"}
    finally:
        child.stdin.close()
        child.wait(timeout=30)


def timed(argv: list[str], env: dict, *, check: bool = True) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])}... exited {done.returncode}: {done.stderr[-1500:]}")
    return elapsed


@contextmanager
def environment(env: dict):
    """``env`` as the process environment (the plugins read their settings from it)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def pick(env: dict, choose):
    """``choose(host)`` with a plugin host of its own, made in ``env`` (legs for a measurement)."""
    from gps_core.plugins import load_host

    with environment(env):
        return choose(load_host(env))


def leg_args(legs) -> list[str]:
    out: list[str] = []
    for leg in legs:
        out += ["--leg", leg.describe()]
    return out


# --- measurements ----------------------------------------------------------------------


def execute_times(rtt: float, runs: int) -> dict:
    """Warm and cold `gps execute` of the Deribit condor, and the import baseline, at one R."""
    with fakes(rtt) as env:
        legs = pick(env, shared.deribit_condor_legs)
        argv = [GPS, "execute", "--venue", "deribit", "--yes", "--json", "--quiet", "--combo", "never", *leg_args(legs)]
        timed(argv, env)  # warm-up: caches filled, files in the page cache
        warm = [timed(argv, env) for _ in range(runs)]
        cold = []
        for _ in range(max(2, runs // 3)):
            with tempfile.TemporaryDirectory() as home:
                cold.append(timed(argv, {**env, "GPS_HOME": home}))
        baseline = [timed([str(BIN / "python"), "-c", "import click, requests"], env) for _ in range(runs)]
    return {"warm_s": summary(warm), "cold_s": summary(cold), "import_click_requests_s": summary(baseline)}


def legging_window_deribit(rtt: float, runs: int, legs_count: int = 8, spreads: list | None = None) -> list[float]:
    """Legging window / R of ``legs_count`` Deribit legs (puts and calls around the index), in process.

    ``spreads`` (optional) gets each run's send spread: first to last order leaving, in ms.
    """
    from gps_core.engine import Engine, ExecutionOptions
    from gps_core.journal import Journal
    from gps_core.model import Side
    from gps_core.routing import plan_strategy
    from gps_core.service import Context, fetch_quotes
    from gps_core.strategy import Leg, Strategy

    with fakes(rtt) as env, environment(env):
        ctx = Context(environ=dict(env))
        deribit = ctx.host.venue("deribit")
        ctx.authenticate(deribit)
        listed = [i.key for i in deribit.list_instruments("BTC")]
        expiry = sorted({k.expiry for k in listed})[2]
        strikes = [80000, 85000, 90000, 95000, 105000, 110000, 115000, 120000][:legs_count]
        keys = [next(k for k in listed if k.expiry == expiry and k.strike == s
                     and k.option_type.value == ("P" if s < 100000 else "C")) for s in strikes]
        strategy = Strategy(legs=tuple(Leg(Side.BUY if n % 2 else Side.SELL, Decimal("0.1"), k)
                                       for n, k in enumerate(keys)), name=f"{legs_count} legs")
        windows = []
        for run in range(runs + 1):  # the first run warms the connections and is dropped
            plan = plan_strategy(strategy, fetch_quotes(strategy, [deribit]), max_slippage=Decimal("0.05"))
            with Journal(Path(env["GPS_HOME"]), f"legs-{run}") as journal:
                result = Engine({"deribit": deribit}, journal, ExecutionOptions(timeout=10)).execute(plan)
            assert result.all_filled, [o.state for o in result.legs]
            if run:
                windows.append(result.legging_window / rtt)
                if spreads is not None:
                    sent = [o.sent_at for o in result.legs]
                    spreads.append((max(sent) - min(sent)).total_seconds() * 1000)
        return windows


def legging_window_condor(rtt: float, runs: int) -> list[float]:
    """Legging window / R of the condor split over Deribit (2 legs) and Aevo (2 legs)."""
    return [w / rtt for w in shared.legging_windows(rtt, runs, sequential=False)]


def quote_scaling(rtt: float, runs: int) -> dict:
    """`gps quote` of one Deribit leg with 150 and with 7,000 BTC options listed, warm and cold."""
    out = {}
    for listed in (150, 7000):
        with fakes(rtt, btc_listed=listed) as env:
            legs = pick(env, shared.deribit_condor_legs)[:1]
            argv = [GPS, "quote", "--venue", "deribit", "--json", "--quiet", *leg_args(legs)]
            timed(argv, env)
            warm = [timed(argv, env) for _ in range(runs)]
            cold = []
            for _ in range(runs):
                with tempfile.TemporaryDirectory() as home:
                    cold.append(timed(argv, {**env, "GPS_HOME": home}))
        out[listed] = {"warm_s": summary(warm), "cold_s": summary(cold)}
    return out


def quote_venues(rtt: float, runs: int) -> dict:
    """`gps quote` of the 4-leg condor on Deribit, on Aevo, and on both (every leg asked of each)."""
    with fakes(rtt) as env:
        legs = pick(env, shared.condor_legs)
        out = {}
        for selection in ("deribit", "aevo", "deribit,aevo"):
            argv = [GPS, "quote", "--venue", selection, "--json", "--quiet", *leg_args(legs)]
            timed(argv, env)
            out[selection] = summary([timed(argv, env) for _ in range(runs)])
    return out


def cli_times(runs: int) -> dict:
    env = bytecode_written()
    python = str(BIN / "python")
    return {"import_click_s": summary(shared.command_times([python, "-c", "import click"], runs, env)),
            "help_s": summary(shared.command_times([GPS, "--help"], runs, env)),
            "venues_s": summary(shared.command_times([GPS, "venues"], runs, env))}


def per_order_cost(runs: int, executions: int = 100) -> dict:
    """Wall and CPU milliseconds per order of engine + journal + state machine (instant venue)."""
    cpu_before = time.process_time()
    wall = shared.per_order_overhead(runs, executions)
    cpu = (time.process_time() - cpu_before) / (runs * executions * 4) * 1000
    return {"wall_ms": summary(wall), "cpu_ms_mean": cpu}


# --- report ----------------------------------------------------------------------------


def machine() -> dict:
    info = shared.machine()
    try:
        info["load_average"] = list(os.getloadavg())
    except OSError:
        info["load_average"] = None
    return info


def fmt(s: dict, scale: float = 1.0, digits: int = 2) -> str:
    return f"{s['median'] * scale:.{digits}f} ({s['min'] * scale:.{digits}f}-{s['max'] * scale:.{digits}f})"


def ratio(a: dict, b: float) -> dict:
    return {k: (v / b if k != "runs" else v) for k, v in a.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per figure (default 5)")
    parser.add_argument("--json-out", type=Path, default=Path("time-to-market.json"),
                        help="write the figures here (default time-to-market.json)")
    args = parser.parse_args()
    runs = args.runs
    say = lambda text: print(f"... {text}", file=sys.stderr, flush=True)  # noqa: E731
    started = time.perf_counter()
    out: dict = {"date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "command": " ".join([Path(sys.executable).name, *sys.argv]), "machine_before": machine(), "runs": runs}

    say("gps execute, Deribit condor, R = 50 ms and R = 150 ms")
    e50, e150 = execute_times(0.05, runs), execute_times(0.15, runs)
    k = (e150["warm_s"]["median"] - e50["warm_s"]["median"]) / 0.10
    fixed = e50["warm_s"]["median"] - k * 0.05
    baseline = statistics.median([e50["import_click_requests_s"]["median"], e150["import_click_requests_s"]["median"]])
    # The same fit on the fastest run of each: on a shared machine the minimum is the least disturbed.
    k_min = (e150["warm_s"]["min"] - e50["warm_s"]["min"]) / 0.10
    fixed_min = e50["warm_s"]["min"] - k_min * 0.05
    baseline_min = min(e50["import_click_requests_s"]["min"], e150["import_click_requests_s"]["min"])
    out["execute"] = {"r50": e50, "r150": e150, "fit": {"k_round_trips": k, "fixed_s": fixed,
                                                        "import_click_requests_s": baseline},
                      "fit_on_minima": {"k_round_trips": k_min, "fixed_s": fixed_min,
                                        "import_click_requests_s": baseline_min}}
    say("legging window, 8 Deribit legs at R = 10 ms")
    spreads: list[float] = []
    out["legging_8_legs_r10_over_R"] = summary(legging_window_deribit(0.01, max(runs, 7), spreads=spreads))
    out["send_spread_8_legs_ms"] = summary(spreads)
    say("legging window, 4-leg condor on Deribit + Aevo at R = 50 ms")
    out["legging_condor_r50_over_R"] = summary(legging_window_condor(0.05, runs))
    say("gps quote, one leg, 150 vs 7,000 listed BTC options")
    out["quote_listing"] = quote_scaling(0.05, runs)
    say("gps quote, 4 legs, one venue vs two")
    out["quote_venues"] = quote_venues(0.05, runs)
    say("CLI start-up")
    out["cli"] = cli_times(runs)
    say("framework cost per order")
    out["per_order"] = per_order_cost(runs)
    out["machine_after"] = machine()
    out["elapsed_s"] = time.perf_counter() - started
    args.json_out.write_text(json.dumps(out, indent=2, default=str))

    ql, qv, cli = out["quote_listing"], out["quote_venues"], out["cli"]
    slowest = max(qv["deribit"]["median"], qv["aevo"]["median"])
    rows = [
        ("time to market, warm, R = 50 ms (s)", fmt(e50["warm_s"], 1, 3), "", None),
        ("time to market, warm, R = 150 ms (s)", fmt(e150["warm_s"], 1, 3), "", None),
        ("  fitted k (round trips on the critical path)", f"{k:.2f}", "<= 2.2", k <= 2.2),
        ("  fitted fixed (ms)", f"{fixed * 1000:.0f}", f"<= {(baseline + 0.04) * 1000:.0f} "
         f"(import click, requests {baseline * 1000:.0f} + 40)", fixed <= baseline + 0.04),
        ("  fit on the fastest runs: k", f"{k_min:.2f}", "<= 2.2", k_min <= 2.2),
        ("  fit on the fastest runs: fixed (ms)", f"{fixed_min * 1000:.0f}",
         f"<= {(baseline_min + 0.04) * 1000:.0f} (import click, requests {baseline_min * 1000:.0f} + 40)",
         fixed_min <= baseline_min + 0.04),
        ("time to market, cold GPS_HOME, R = 50 ms (s)", fmt(e50["cold_s"], 1, 3), "", None),
        ("legging window / R, 8 legs, R = 10 ms", fmt(out["legging_8_legs_r10_over_R"]), "<= 1.2",
         out["legging_8_legs_r10_over_R"]["median"] <= 1.2),
        ("  send spread, first to last of the 8 legs leaving (ms)", fmt(out["send_spread_8_legs_ms"]), "", None),
        ("legging window / R, 4-leg condor, R = 50 ms", fmt(out["legging_condor_r50_over_R"]), "<= 1.1",
         out["legging_condor_r50_over_R"]["median"] <= 1.1),
        ("gps quote 1 leg, 150 listed, warm (ms)", fmt(ql[150]["warm_s"], 1000, 0), "", None),
        ("gps quote 1 leg, 7,000 listed, warm (ms)", fmt(ql[7000]["warm_s"], 1000, 0), "", None),
        ("  7,000 / 150, warm", f"{ql[7000]['warm_s']['median'] / ql[150]['warm_s']['median']:.2f}", "<= 1.3",
         ql[7000]["warm_s"]["median"] / ql[150]["warm_s"]["median"] <= 1.3),
        ("  7,000 / 150, cold", f"{ql[7000]['cold_s']['median'] / ql[150]['cold_s']['median']:.2f}", "<= 1.3",
         ql[7000]["cold_s"]["median"] / ql[150]["cold_s"]["median"] <= 1.3),
        ("gps quote 4 legs: deribit / aevo / both (ms)",
         f"{qv['deribit']['median'] * 1000:.0f} / {qv['aevo']['median'] * 1000:.0f} / "
         f"{qv['deribit,aevo']['median'] * 1000:.0f}", "", None),
        ("  both / slower alone", f"{qv['deribit,aevo']['median'] / slowest:.2f}", "<= 1.3",
         qv["deribit,aevo"]["median"] / slowest <= 1.3),
        ("gps --help / import click", fmt(ratio(cli["help_s"], cli["import_click_s"]["median"])), "<= 1.5",
         cli["help_s"]["median"] / cli["import_click_s"]["median"] <= 1.5),
        ("gps venues / import click", fmt(ratio(cli["venues_s"], cli["import_click_s"]["median"])), "<= 2.5",
         cli["venues_s"]["median"] / cli["import_click_s"]["median"] <= 2.5),
        ("python -c 'import click' (ms)", fmt(cli["import_click_s"], 1000, 0), "", None),
        ("per-order framework wall (ms)", fmt(out["per_order"]["wall_ms"]), "<= 1.5",
         out["per_order"]["wall_ms"]["median"] <= 1.5),
        ("per-order framework CPU, mean (ms)", f"{out['per_order']['cpu_ms_mean']:.2f}", "<= 1.5",
         out["per_order"]["cpu_ms_mean"] <= 1.5),
    ]
    print(f"{out['date_utc']}  {out['command']}")
    m = out["machine_before"]
    print(f"{m['cpu']}, {m['cores']} cores, Python {m['python']}; load average before "
          f"{m['load_average']}, after {out['machine_after']['load_average']}; {runs} runs per figure, "
          f"median (min-max); {out['elapsed_s']:.0f} s")
    width = max(len(r[0]) for r in rows)
    print(f"| {'measure'.ljust(width)} | result | target | met |")
    print(f"|{'-' * (width + 2)}|---|---|---|")
    for name, value, target, met in rows:
        print(f"| {name.ljust(width)} | {value} | {target} | {'' if met is None else ('yes' if met else 'NO')} |")
    print(f"JSON: {args.json_out}")


if __name__ == "__main__":
    main()
