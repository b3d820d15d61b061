"""``gps positions`` and ``gps close``: what is held, and offsetting what an execution holds.

Registered on the ``gps`` group by :mod:`gps_core.cli`; imports only ``click`` at start-up.
"""

from __future__ import annotations

import sys

import click

from .cli import (EXIT_INCOMPLETE, EXIT_OK, CliInteraction, FiniteFloatRange, _echo_json, _has_terminal, _say,
                  _slippage_option, _warn_unjournaled, _write_report_file, cli, handles_errors)


@cli.command("positions")
@click.option("--venue", default="all", show_default=True, help="all, a venue name, or a comma-separated list.")
@click.option("--underlying", default=None, metavar="COIN", help="Only positions on this underlying (BTC).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handles_errors
def positions_cmd(venue, underlying, as_json) -> None:
    """Show open positions per venue and instrument, from each venue's own record.

    Per instrument: signed quantity (negative is short), average price in its currency, mark,
    unrealised P&L in USD, and the gps executions whose journaled fills still hold it. Options
    that expired while held are settled by the venue and no longer listed (the paper venue
    settles them at intrinsic value against its index; --json lists them under "settled"). Live
    venues need their credentials: one with none set is listed as "not configured" and not
    asked. A venue whose plugin cannot report positions is listed as "positions unavailable".
    Exit 1 when a venue could not be asked (or one named with --venue is not configured).

    \b
    Examples:
      gps positions
      gps positions --venue dryrun --json
    """
    from .positions import journal_holdings, positions_report, simulated_positions, venue_positions
    from .service import Context

    ctx = Context()
    venues = ctx.host.venues() if venue == "all" else [ctx.host.venue(n.strip()) for n in venue.split(",") if n.strip()]
    if not venues:
        from .errors import GpsError

        raise GpsError("no venue is installed: gps install dryrun")  # exit 1, as gps doctor
    if underlying:
        _refuse_unlisted_underlying(underlying, ctx.host.venues())
    answers = venue_positions(ctx, venues, underlying.upper() if underlying else None)
    for answer in simulated_positions(ctx, venues):
        answer.positions = [p for p in answer.positions
                            if not underlying or (p.key is not None and p.key.underlying == underlying.upper())]
        answers.append(answer)
    paper = [v.name for v in ctx.host.venues() if v.info.paper]
    report = positions_report(answers, journal_holdings(ctx.home, paper))
    # A venue named on purpose must answer; with "all", one never configured is only listed as such.
    failed = [v for v in report["venues"] if v["status"] == "failed"
              or (v["status"] == "not_configured" and venue != "all")]
    if as_json:
        _echo_json(report)
    else:
        _say(positions_text(report))
    sys.exit(EXIT_INCOMPLETE if failed else EXIT_OK)


def positions_text(report: dict) -> str:
    from .render import table

    rows, lines = [], []
    for v in report["venues"]:
        if v["status"] == "unavailable":
            lines.append(f"{v['venue']}: positions unavailable")
        elif v["status"] == "not_configured":
            lines.append(f"{v['venue']}: {v['error']}")
        elif v["status"] == "failed":
            error = v["error"].removeprefix(f"{v['venue']}: ")
            lines.append(f"{v['venue']}: could not ask for positions: {error}")
        elif not v["positions"]:
            lines.append(f"{v['venue']}: no open positions")
        settled = v.get("settled") or []
        if settled:
            names = ", ".join(f"{s['instrument']} ({s['quantity']})" for s in settled)
            lines.append(f"{v['venue']}: settled at expiry, no longer held: {names} (details: --json)")
        for p in v["positions"]:
            pnl = p["unrealized_pnl_usd"]
            rows.append((v["venue"], p["instrument"], p["quantity"],
                         f"{p['average_price']} {p['price_currency']}" if p["average_price"] is not None else "-",
                         f"{p['mark_price']} {p['price_currency']}" if p["mark_price"] is not None else "-",
                         "-" if pnl is None else (f"-${pnl[1:]}" if pnl.startswith("-") else f"${pnl}"),
                         _opened_by(p["executions"])))
    out = []
    if rows:
        out.append(table(["VENUE", "INSTRUMENT", "QTY", "AVG PRICE", "MARK", "UNREALISED P&L", "OPENED BY (QTY)"], rows))
    return "\n".join(out + lines)


#: executions named per row of the text table (the rest are counted; --json lists them all)
OPENED_BY_SHOWN = 1


def _opened_by(executions: list[dict]) -> str:
    """``20261129T223632.988779-8e7bff (0.1), … +3 more (--json)``: a bounded OPENED BY cell."""
    if not executions:
        return "-"
    shown = ", ".join(f"{e['execution_id']} ({e['quantity']})" for e in executions[:OPENED_BY_SHOWN])
    more = len(executions) - OPENED_BY_SHOWN
    return shown + (f" +{more} more (--json)" if more > 0 else "")


@cli.command("close")
@click.argument("execution_id", default="last")
@click.option("--leg", "legs", multiple=True, metavar="INSTRUMENT[:QTY]",
              help="Close only this instrument (repeatable), or only QTY contracts of it.")
@click.option("--max-slippage", default="2", show_default=True, metavar="PCT",
              help="Worst price accepted, in % from the best price; sent as the limit price.")
@click.option("--timeout", default=30.0, show_default=True, type=FiniteFloatRange(min=0.1, max=86400),
              help="Seconds to wait for fills before cancelling.")
@click.option("--tif", type=click.Choice(["gtc", "ioc"]), default="gtc", show_default=True, help="Time in force.")
@click.option("--dry-run", is_flag=True, help="Show what would be closed and the plan; send and journal nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation before live orders.")
@click.option("--allow-unsettled", is_flag=True,
              help="Close even though an earlier execution that no process runs has unsettled orders "
                   "(never alongside a running execution).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--report", "report_path", default=None, metavar="PATH",
              help="Also write the close's execution report JSON to PATH (checked before anything is sent).")
@click.option("-q", "--quiet", is_flag=True, help="No plan or progress on stderr.")
@handles_errors
def close_cmd(execution_id, legs, max_slippage, timeout, tif, dry_run, yes, allow_unsettled, as_json, report_path,
              quiet) -> None:
    """Offset what an execution still holds (default: the last one).

    What it holds is its filled legs net of its unwinds and earlier closes, capped by what each
    venue's positions endpoint says is held there — never more, and the difference is named.
    Each leg goes to the venue holding it, reduce-only where the venue supports it, planned,
    confirmed, slippage-capped, journaled (as an execution that names the one it closes) and
    reported like gps execute. Short legs are bought back first, then longs sold, one after
    the other: a close that stops part way never leaves a short uncovered (one left so on
    purpose by --leg is named UNCOVERED in the plan). What to close is worked out again under
    the execution lock: if another close of it ran meanwhile, nothing is sent (exit 2). A
    close refuses while the execution has a working order of its own. A leg that closes stays
    closed when another does not (no unwind). An execution that holds nothing: one line, exit 0.

    \b
    Examples:
      gps close last --dry-run
      gps close 20261124T160405.123456-3f9a1c --leg BTC-25JUN27-95000-C:0.05 --yes
    """
    from .closing import close_is_live, close_request, parse_leg_selection, plan_close, recheck
    from .execution import preflight, prepare, run
    from .render import plan_text, report_text
    from .service import Context

    from .report_file import check_writable

    report_target = check_writable(report_path) if report_path is not None else None
    slippage = _slippage_option(max_slippage)
    parse_leg_selection(legs)  # refused before any journal or venue is read
    ctx = Context()
    ui = CliInteraction(quiet)
    if not dry_run:
        preflight(ctx, allow_unsettled=allow_unsettled, closing=True)
        if not yes and not sys.stdin.isatty() and not _has_terminal() and close_is_live(ctx, execution_id):
            from .errors import BadInput

            raise BadInput("live orders need confirmation: re-run with --yes (nothing was asked of any venue)")
    plan = plan_close(ctx, execution_id, legs)
    for note in plan.notes:
        ui.progress(note)
    if not as_json:
        for line in plan.settled:
            _say(line)
    if not plan.to_send:
        if as_json:
            _echo_json({"close": plan.to_json(), "plan": None, "report": None})
        elif plan.settled:
            _say(f"Execution {plan.execution_id} holds nothing else to close.")
        else:
            _say(f"Execution {plan.execution_id} holds nothing to close.")
        sys.exit(EXIT_OK)
    request = close_request(plan, max_slippage=slippage, timeout=timeout, time_in_force=tif, yes=yes,
                            allow_unsettled=allow_unsettled, recheck=recheck(ctx, plan, legs))
    if dry_run:
        quiet_ui = CliInteraction(True)
        prepared = prepare(ctx, request, quiet_ui)
        if as_json:
            _echo_json({"close": plan.to_json(), "plan": prepared.plan_json, "report": None})
        else:
            _say(plan_text(prepared.plan_json))
            _say(dry_run_hint(ctx, plan.execution_id, legs, max_slippage, timeout, tif, allow_unsettled))
        sys.exit(EXIT_OK)
    outcome = run(ctx, prepare(ctx, request, ui), ui)
    if report_target is not None:
        _write_report_file(report_target, outcome.report)
    if as_json:
        _echo_json({"close": plan.to_json(), "report": outcome.report, "execution_id": outcome.execution_id})
        _warn_unjournaled(outcome.journal_errors)
    else:
        _say(report_text(outcome.report))
        _say(f"Closes execution {plan.execution_id}.")
    sys.exit(EXIT_OK if outcome.succeeded and not outcome.journal_errors else EXIT_INCOMPLETE)


def dry_run_hint(ctx, execution_id: str, legs, max_slippage: str, timeout: float, tif: str,
                 allow_unsettled: bool) -> str:
    """The line after a close's dry run: the command that sends exactly the close previewed.

    Every option that shapes the close is repeated (``--leg``, ``--max-slippage``, ``--timeout``,
    ``--tif``, ``--allow-unsettled``). When that command would be refused now (an unsettled or
    running execution), the refusal is said instead of a command that would fail.
    """
    import shlex

    from .errors import BadInput
    from .execution import preflight

    try:
        preflight(ctx, allow_unsettled=allow_unsettled, closing=True)
    except BadInput as refused:
        return f"Dry run: nothing was sent. A close would be refused now: {refused}"
    words = ["gps", "close", execution_id]
    for spec in legs:
        words += ["--leg", spec.strip()]
    if max_slippage.strip() != "2":
        words += ["--max-slippage", max_slippage.strip()]
    if timeout != 30.0:
        words += ["--timeout", f"{timeout:g}"]
    if tif != "gtc":
        words += ["--tif", tif]
    if allow_unsettled:
        words.append("--allow-unsettled")
    return f"Dry run: nothing was sent. `{shlex.join(words)}` sends this close."


def _refuse_unlisted_underlying(underlying: str, venues) -> None:
    """``--underlying DOGE``: refused in one line (exit 2) when no installed venue trades it."""
    from .errors import BadInput

    coin = underlying.strip().upper()
    traded = set()
    for v in venues:
        traded |= {u.upper() for u in (getattr(v.info, "underlyings", None) or ())}
    if traded and coin not in traded:
        raise BadInput(f"--underlying {underlying}: no installed venue lists {coin} options "
                       f"(they list {', '.join(sorted(traded))})")
