"""The ``gps`` command line.

Only ``click`` is imported at start-up; the engine, plugins and venue code load when a
command needs them, so ``gps --help`` stays fast and works with a broken plugin installed.

Exit codes: 0 all legs filled (or the command succeeded), 1 the execution did not
complete (or a venue failed), 2 bad input or usage.
"""

from __future__ import annotations

import functools
import logging
import sys
from decimal import Decimal, InvalidOperation

import click

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE = 0, 1, 2


def _say(text: str = "", *, err: bool = False) -> None:
    """Print a line, best effort: a closed or broken stdout/stderr never turns into a traceback.

    On failure the stream's descriptor is pointed at /dev/null, so neither later prints nor
    the interpreter's final flush fail again; the exit code stays the command's own.
    """
    stream = sys.stderr if err else sys.stdout
    if stream is None:  # started with the stream closed (`2>&-`) and not reopened by main()
        return
    try:
        click.echo(text, err=err)
        stream.flush()
    except (OSError, ValueError, AttributeError):
        _silence(stream)


def _silence(stream) -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _echo_json(data) -> None:
    from .codec import dumps

    _say(dumps(data, indent=2))


def _fail(message: str, code: int, *, as_json: bool = False) -> None:
    """One line on stderr and exit ``code``; with ``as_json`` also ``{"error", "exit_code"}`` on stdout."""
    from .secrets import redact_known

    text = redact_known(message)
    _say(f"gps: error: {text}", err=True)
    if as_json:
        from .codec import dumps

        _say(dumps({"error": text, "exit_code": code}))
    sys.exit(code)


def handles_errors(command):
    """Turn gps errors into one-line messages and exit codes; never a traceback for bad input."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from .errors import (
            AuthenticationError,
            BadInput,
            ConfigurationError,
            GpsError,
            RoutingError,
            VenuesUnreachable,
        )

        # Errors raised before anything was printed get a JSON answer on stdout too with --json.
        as_json = bool(kwargs.get("as_json"))
        try:
            return command(*args, **kwargs)
        except VenuesUnreachable as exc:  # a failed venue call, not bad input
            _fail(str(exc), EXIT_INCOMPLETE, as_json=as_json)
        except (BadInput, RoutingError, ConfigurationError, AuthenticationError) as exc:
            _fail(str(exc), EXIT_USAGE, as_json=as_json)
        except GpsError as exc:
            _fail(str(exc), EXIT_INCOMPLETE, as_json=as_json)
        except KeyboardInterrupt as exc:
            _say("gps: aborted", err=True)
            sys.exit(getattr(exc, "exit_code", 130))
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - a bug: say so on one line; -v shows the traceback
            if logging.getLogger().isEnabledFor(logging.DEBUG):
                import traceback

                from .secrets import redact_known

                _say(redact_known(traceback.format_exc()), err=True)
            _fail(f"internal error ({type(exc).__name__}: {exc}); re-run with -v for details", EXIT_INCOMPLETE)

    return wrapper


def _decimal_option(name: str, value: str | None, *, percent: bool = False, positive: bool = False) -> Decimal | None:
    if value is None:
        return None
    from .errors import BadInput

    try:
        number = Decimal(str(value).strip().rstrip("%"))
    except InvalidOperation:
        raise BadInput(f"{name}: {value!r} is not a number") from None
    if positive and not (number.is_finite() and number > 0 and number.adjusted() <= 15):
        raise BadInput(f"{name}: must be a positive number, got {value!r}")
    if not number.is_finite() or number < 0 or number.adjusted() > 15:
        raise BadInput(f"{name}: must be a non-negative number below 1e15, got {value!r}")
    return number / 100 if percent else number


def _slippage_option(value: str | None) -> Decimal | None:
    """``--max-slippage`` as a fraction, its bounds checked before any venue is asked (BadInput/RoutingError)."""
    from .errors import BadInput
    from .money import format_decimal
    from .routing import check_before_pricing

    try:  # one range message for every number out of range, negative or too large
        number = Decimal(str(value).strip().rstrip("%")) if value is not None else None
    except InvalidOperation:
        number = None
    if number is not None and number.is_finite() and not 0 <= number < 100:
        raise BadInput(f"--max-slippage must be at least 0% and below 100%, got {format_decimal(number)}%")
    slippage = _decimal_option("--max-slippage", value, percent=True)
    if slippage is not None:
        check_before_pricing(slippage)
    return slippage


def _progress(quiet: bool):
    if quiet:
        return lambda message: None
    return lambda message: _say(f"gps: {message}", err=True)


class CliInteraction:
    """The terminal side of :mod:`gps_core.execution`: progress and plan on stderr, confirmation."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.progress = _progress(quiet)

    def show_plan(self, plan: dict) -> None:
        if not self.quiet:
            from .render import plan_text

            _say(plan_text(plan), err=True)

    def confirm(self, venues: list[str]) -> bool:
        from .errors import BadInput

        question = f"Send LIVE orders to {', '.join(venues)}?"
        if not sys.stdin.isatty():
            return _confirm_on_terminal(question)
        try:
            return click.confirm(question, default=False, err=True)
        except click.Abort:  # Ctrl-C or end of input at the prompt: a refusal like "n", nothing was sent
            _say(err=True)  # end the prompt's line so the refusal is a line of its own
            import signal

            from .shutdown import StopRequested, pending_stop

            stop = pending_stop()
            if stop is not None and stop != signal.SIGINT:  # SIGTERM/SIGHUP: a stop, not an answer
                raise StopRequested(stop) from None
            return False


#: The controlling terminal, where a confirmation is asked when stdin is a pipe.
TTY = "/dev/tty"


def _has_terminal() -> bool:
    """A controlling terminal can be opened (``/dev/tty``), whatever stdin is."""
    try:
        with open(TTY, "rb"):
            return True
    except OSError:
        return False


def _confirm_on_terminal(question: str) -> bool:
    """Ask on the controlling terminal when stdin is not one (the strategy was piped in with ``-``).

    The question goes to stderr, the answer is read from ``/dev/tty``; only ``y``/``yes`` says
    yes; end of input or Ctrl-C is a no. No terminal at all: BadInput (re-run with --yes).
    """
    from .errors import BadInput

    try:
        tty = open(TTY, "r", encoding="utf-8", errors="replace")
    except OSError:
        raise BadInput("live orders need confirmation: re-run with --yes") from None
    with tty:
        click.echo(f"{question} [y/N]: ", nl=False, err=True)
        try:
            answer = tty.readline()
        except KeyboardInterrupt:
            answer = ""
        if not answer.endswith("\n"):
            _say(err=True)  # end the prompt's line so the refusal is a line of its own
    return answer.strip().lower() in ("y", "yes")


def strategy_options(command):
    """The ways to give a strategy: a file, --leg specs, --card for decision logs, --size."""
    command = click.argument("strategy_file", required=False, type=click.Path(dir_okay=False, allow_dash=True))(command)
    command = click.option("--leg", "legs", multiple=True, metavar="SPEC",
                           help='A leg: "buy 1 BTC-27MAR26-70000-C" (repeatable).')(command)
    command = click.option("--card", type=click.Choice(["best", "safer", "upside"]),
                           help="Which card of an Options GPS decision log (default: best).")(command)
    command = click.option("--size", default=None, metavar="N", help="Multiply every quantity by N.")(command)
    return command


def build_strategy(strategy_file, legs, card, size):
    from pathlib import Path

    from .errors import BadInput
    from .strategy import load_strategy, strategy_from_specs

    if strategy_file and _looks_like_leg_spec(strategy_file) and not Path(strategy_file).exists():
        # click took a leg spec given without its own --leg as the STRATEGY_FILE argument
        raise BadInput(f"{strategy_file!r} was taken as a strategy file name, not a leg: put --leg before "
                       f'each leg (--leg "buy 1 ..." --leg "sell 1 ...")')
    if strategy_file and legs:
        raise BadInput("give either a strategy file or --leg options, not both")
    if strategy_file:
        strategy = load_strategy(Path(strategy_file), card)
    elif legs:
        if card:
            raise BadInput("--card applies to Options GPS decision logs, not to --leg")
        strategy = strategy_from_specs(list(legs))
    else:
        raise BadInput('no strategy: give a strategy file or --leg "buy 1 BTC-27MAR26-70000-C"')
    factor = _decimal_option("--size", size, positive=True)
    if factor is not None:
        strategy = strategy.scaled(factor)
    return strategy


def _looks_like_leg_spec(text: str) -> bool:
    """``buy 0.1 BTC-...``: a side, then more words (a file name rarely starts with "buy ")."""
    words = text.split()
    return len(words) >= 2 and words[0].lower() in ("buy", "sell")


class FiniteFloatRange(click.FloatRange):
    """A float range that also refuses ``nan`` and infinities (which compare false to every bound)."""

    def convert(self, value, param, ctx):
        import math

        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def _plain(text: str | None) -> str | None:
    """Docstrings use reStructuredText literals (``gps execute``); the terminal shows plain text."""
    return None if text is None else text.replace("``", "").replace("`", "")


class PlainHelpCommand(click.Command):
    """A command whose --help shows its docstring and option help without markup backticks."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.help, self.short_help = _plain(self.help), _plain(self.short_help)
        for param in self.params:
            if isinstance(getattr(param, "help", None), str):
                param.help = _plain(param.help)


# click >= 8.2 raises this for a bare group; 8.1 printed the help and exited 0 by itself.
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


class GpsGroup(PlainHelpCommand, click.Group):
    """The ``gps`` group: usage errors are one line, ``gps: error: ...``, with exit code 2.

    Its commands and subgroups get plain-text help (:class:`PlainHelpCommand`).
    """

    command_class = PlainHelpCommand
    group_class = type

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except _NO_ARGS_IS_HELP as exc:  # bare `gps` or `gps plugin`: the help, not an error
            _say(exc.ctx.get_help() if exc.ctx else "")
            sys.exit(EXIT_OK)
        except click.ClickException as exc:
            _say(f"gps: error: {' '.join(exc.format_message().split())} (see --help)", err=True)
            sys.exit(exc.exit_code)
        except (click.Abort, KeyboardInterrupt):
            _say("gps: aborted", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else EXIT_OK)


@click.group(cls=GpsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Debug logging on stderr (secrets are masked).")
@click.version_option(package_name="gps-core", prog_name="gps")
def cli(verbose: bool) -> None:
    """gps: execute multi-leg crypto option strategies on the best venues.

    \b
    Examples:
      gps venues
      gps quote --leg "buy 0.1 BTC-25DEC26-100000-C" --leg "sell 0.1 BTC-25DEC26-110000-C"
      gps execute --venue dryrun --yes examples/call-spread.json
      gps execute examples/options-gps-decision.json --card safer --size 2 --max-loss 500 --dry-run
      gps journal
      gps show last

    State (journals, paper orders, credentials.toml) lives in $GPS_HOME.
    """
    if verbose:
        from .secrets import install_log_redaction

        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
        install_log_redaction()


# --- venues ------------------------------------------------------------------------------


@cli.group("venues", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
@handles_errors
def venues_cmd(ctx, as_json: bool) -> None:
    """List installed venues (and broken ones, with their error).

    \b
    Example:
      gps venues --json
    """
    if ctx.invoked_subcommand:
        return
    from .plugins import load_host
    from .render import venues_table

    host = load_host()
    records = []
    for record in sorted(host.records.values(), key=lambda r: (r.group, r.name)):
        data = record.to_json()
        if record.info:
            info = record.info
            data["paper"] = info.paper
            data["underlyings"] = list(info.underlyings)
            data["price_currencies"] = list(info.price_currencies)
            data["client_id_kind"] = info.client_id_kind.value
            data["detail"] = (f"{info.title or info.name}: {'paper, ' if info.paper else ''}"
                              f"{'/'.join(info.underlyings)} priced in {'/'.join(info.price_currencies)}")
        records.append(data)
    if as_json:
        venue_records = [r for r in records if r["group"] == "gps.venues"]
        _echo_json([{k: r.get(k) for k in ("name", "distribution", "version", "ok", "error", "paper",
                                           "underlyings", "price_currencies", "client_id_kind")}
                    for r in venue_records])
    else:
        _say(venues_table(records))


@venues_cmd.command("certify")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handles_errors
def certify_cmd(name, as_json) -> None:
    """Run the conformance suite against an installed venue's own fake venue, offline.

    The real venue is never contacted: a pass says the plugin keeps gps's rules (one order per
    client order id, unknown outcomes reported as such, secrets never shown) against the fake
    its harness provides, not that the fake answers like the real venue.

    The venue's distribution provides a test harness under the entry-point group
    gps.harnesses (see docs/writing-a-venue.md).

    \b
    Example:
      gps venues certify dryrun
    """
    from importlib import metadata

    from .errors import ConfigurationError
    from .render import table
    from .testing.conformance import certify

    from .plugins import VENUE_GROUP, PluginHost

    host = PluginHost(environ={"GPS_LOAD_PLUGINS": name})
    host.load_entry_points()
    record = host.records.get(name)
    if record is None or record.group != VENUE_GROUP:
        raise ConfigurationError(f"venue {name!r} is not installed (gps venues lists those that are)")
    if not record.ok:
        raise ConfigurationError(f"venue {name!r} does not load, so it cannot be certified: {record.error}")
    found = [ep for ep in metadata.entry_points(group="gps.harnesses") if ep.name == name]
    if not found:
        raise ConfigurationError(f"venue {name!r} provides no conformance harness (entry-point group gps.harnesses)")
    try:
        harness_class = found[0].load()
    except Exception as exc:  # noqa: BLE001
        raise ConfigurationError(f"harness of {name!r} failed to import: {type(exc).__name__}: {exc}") from None
    results = certify(harness_class)
    counts = {k: sum(r.outcome == k for r in results) for k in ("passed", "failed", "skipped")}
    dist = found[0].dist
    against = {
        "harness": found[0].value,
        "distribution": f"{dist.metadata['Name']} {dist.version}" if dist is not None else None,
        "fake": getattr(harness_class, "certified_against", "") or "the fake venue its harness provides",
        "real_venue_contacted": False,
    }
    if as_json:
        _echo_json({"venue": name, "certified": counts["failed"] == 0, "counts": counts,
                    "certified_against": against, "checks": [r.to_json() for r in results]})
    else:
        _say(table(["CHECK", "RESULT", "DETAIL"], [(r.id, r.outcome.upper(), r.detail) for r in results]))
        verdict = "CERTIFIED" if counts["failed"] == 0 else "NOT CERTIFIED"
        _say(f"{verdict}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
        _say(f"Checked against {against['fake']} (harness {against['harness']}"
             f"{', from ' + against['distribution'] if against['distribution'] else ''}), offline. No real "
             "venue was contacted: this shows the plugin keeps gps's rules against that fake, not that "
             "the fake answers like the live venue.")
    sys.exit(EXIT_OK if counts["failed"] == 0 else EXIT_INCOMPLETE)


# --- quote -------------------------------------------------------------------------------


@cli.command("quote")
@strategy_options
@click.option("--venue", default="auto", show_default=True, help="auto, a venue name, or a comma-separated list.")
@click.option("--max-slippage", default="2", show_default=True, metavar="PCT", help="Slippage cap for the plan, in %.")
@click.option("--combo", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="Trade the legs routed to one venue as one combo order: when no worse, always, or never.")
@click.option("--one-venue", is_flag=True,
              help="Route every leg to the one venue that lists them all, at the best total cost.")
@click.option("--max-premium-drift", default=None, metavar="PCT",
              help="Refuse a leg whose executable price is more than PCT % (and $5) off its card premium.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@handles_errors
def quote_cmd(strategy_file, legs, card, size, venue, max_slippage, combo, one_venue, max_premium_drift, as_json,
              quiet) -> None:
    """Show every venue's book for each leg, and the plan gps would execute.

    Progress goes to stderr while the quotes are fetched: what is asked, and which venue
    answered or failed (-q silences it).

    \b
    Example:
      gps quote --leg "buy 0.1 BTC-25DEC26-100000-C" --venue auto
    """
    from .combo import choose_combos
    from .errors import RoutingError, VenuesUnreachable
    from .paper import paper_market_time
    from .render import plan_text, quotes_text
    from .report import plan_to_json
    from .routing import plan_strategy
    from .service import Context, price_strategy

    strategy = build_strategy(strategy_file, legs, card, size)
    slippage = _slippage_option(max_slippage)  # checked before any venue is asked
    drift = _decimal_option("--max-premium-drift", max_premium_drift)
    ctx = Context()
    pricing = price_strategy(ctx, strategy, venue, progress=_progress(quiet))  # which venue answered or failed
    quotes = pricing.quotes
    rows = []
    for index, leg in enumerate(strategy.legs):
        for q in quotes[index]:
            row = {"leg": index + 1, "instrument": leg.instrument.name, "venue": q.venue, "note": q.error}
            if q.book is not None:
                bid = q.book.bids[0].price if q.book.bids else None
                ask = q.book.asks[0].price if q.book.asks else None
                unit = q.book.usd_per_unit
                row.update({
                    "venue_symbol": q.instrument.symbol,
                    "price_currency": q.instrument.price_currency,
                    "bid": None if bid is None else f"{bid.normalize():f}",
                    "ask": None if ask is None else f"{ask.normalize():f}",
                    "bid_usd": None if bid is None else f"{bid * unit:.2f}",
                    "ask_usd": None if ask is None else f"{ask * unit:.2f}",
                    "depth": [len(q.book.bids), len(q.book.asks)],
                })
            elif not q.error:
                row["note"] = "not listed" + (f" ({q.nearest})" if q.nearest else "")
            rows.append(row)
    plan_json, error, code = None, None, EXIT_OK
    try:
        plan = plan_strategy(strategy, quotes, max_slippage=slippage, market=pricing.market,
                             now=paper_market_time(pricing.venues, quotes), one_venue=one_venue,
                             max_premium_drift=drift)
        plan_json = plan_to_json(choose_combos(plan, {v.name: v for v in pricing.venues}, combo, create=False))
    except VenuesUnreachable as exc:  # a failed venue call, exit 1 as in `gps execute`
        error, code = str(exc), EXIT_INCOMPLETE
    except RoutingError as exc:  # a leg no venue lists, a book too thin: exit 2 as in `gps execute`
        error, code = str(exc), EXIT_USAGE
    if as_json:
        _echo_json({"quotes": rows, "plan": plan_json, "error": error})
    else:
        _say(quotes_text(rows))
        _say()
        _say(plan_text(plan_json) if plan_json else f"No plan: {error}")
    sys.exit(code)


# --- chain -------------------------------------------------------------------------------


@cli.command("chain")
@click.argument("underlying")
@click.option("--expiry", default=None, metavar="DATE", help="An expiry (25DEC26 or 2026-12-25): list its strikes.")
@click.option("--venue", default="auto", show_default=True, help="auto, a venue name, or a comma-separated list.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handles_errors
def chain_cmd(underlying, expiry, venue, as_json) -> None:
    """List the option chain: expiries across venues, or one expiry's strikes with bid/ask/mark/IV.

    \b
    Examples:
      gps chain BTC
      gps chain BTC --expiry 25DEC26 --venue deribit,aevo
    """
    from .chain_text import run_chain

    code = run_chain(underlying, expiry, venue, as_json, say=_say, progress=_progress(False))
    sys.exit(code)


# --- execute -----------------------------------------------------------------------------


@cli.command("execute")
@strategy_options
@click.option("--venue", default="auto", show_default=True,
              help="auto (best venue per leg), a venue name, or a comma-separated list.")
@click.option("--max-slippage", default="2", show_default=True, metavar="PCT",
              help="Worst price accepted, in % from the best price; sent as the limit price.")
@click.option("--max-loss", default=None, metavar="USD", help="Refuse a plan whose worst loss at expiry is larger.")
@click.option("--one-venue", is_flag=True,
              help="Route every leg to the one venue that lists them all, at the best total cost.")
@click.option("--max-premium-drift", default=None, metavar="PCT",
              help="Refuse a leg whose executable price is more than PCT % (and $5) off its card premium.")
@click.option("--timeout", default=30.0, show_default=True, type=FiniteFloatRange(min=0.1, max=86400),
              help="Seconds to wait for fills before cancelling.")
@click.option("--on-partial", type=click.Choice(["unwind", "keep"]), default="unwind", show_default=True,
              help="What to do with filled legs when the strategy cannot complete.")
@click.option("--tif", type=click.Choice(["gtc", "ioc"]), default="gtc", show_default=True, help="Time in force.")
@click.option("--sequential", is_flag=True, help="Place legs one after another (each must fill first).")
@click.option("--combo", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="Trade the legs routed to one venue as one combo order: when no worse, always, or never.")
@click.option("--dry-run", is_flag=True, help="Real venues' market data, fills simulated on paper. No credentials.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation before live orders.")
@click.option("--force", is_flag=True, help="Execute even if the decision log says no trade.")
@click.option("--allow-unsettled", is_flag=True,
              help="Execute even though an earlier execution has orders whose state is not settled.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.option("--report", "report_path", default=None, metavar="PATH",
              help="Also write the execution report JSON to PATH (checked before anything is sent).")
@click.option("-q", "--quiet", is_flag=True, help="No plan or progress on stderr.")
@handles_errors
def execute_cmd(strategy_file, legs, card, size, venue, max_slippage, max_loss, one_venue, max_premium_drift, timeout,
                on_partial, tif, sequential, combo, dry_run, yes, force, allow_unsettled, as_json, report_path,
                quiet) -> None:
    """Price every leg on every venue, route, place, watch, cancel or unwind, and journal it.

    \b
    Examples:
      gps execute --venue dryrun --yes --leg "buy 0.1 BTC-25DEC26-100000-C" --leg "sell 0.1 BTC-25DEC26-110000-C"
      gps execute examples/call-spread.json --max-slippage 1 --max-loss 2000 --timeout 60
      gps execute examples/options-gps-decision.json --card best --dry-run --json
    """
    from .execution import ExecutionRequest, preflight, prepare, run
    from .render import report_text
    from .report_file import check_writable
    from .service import Context

    report_target = check_writable(report_path) if report_path is not None else None
    strategy = build_strategy(strategy_file, legs, card, size)
    slippage = _slippage_option(max_slippage)  # checked before any venue is asked
    request = ExecutionRequest(
        strategy=strategy, venue=venue, max_slippage=slippage,
        max_loss=_decimal_option("--max-loss", max_loss), one_venue=one_venue,
        max_premium_drift=_decimal_option("--max-premium-drift", max_premium_drift), timeout=timeout,
        on_partial=on_partial, time_in_force=tif, sequential=sequential, dry_run=dry_run, yes=yes, force=force,
        allow_unsettled=allow_unsettled, combo=combo)
    ctx = Context()
    ui = CliInteraction(quiet)
    _refuse_live_early(ctx, request)
    outcome = _run_or_stop(lambda: (preflight(ctx, allow_unsettled=allow_unsettled),
                                     run(ctx, prepare(ctx, request, ui), ui))[1])
    if report_target is not None:
        _write_report_file(report_target, outcome.report)
    if as_json:
        _echo_json(outcome.report)
    else:
        _say(report_text(outcome.report))
    if as_json and outcome.journal_errors:  # the text report names them itself
        _warn_unjournaled(outcome.journal_errors)
    sys.exit(EXIT_OK if outcome.succeeded and not outcome.journal_errors else EXIT_INCOMPLETE)


def _run_or_stop(start):
    """``start()`` under a stop-signal handler until the execution's own takes over (see ``execution.run``).

    SIGTERM, SIGHUP or SIGINT while quotes are fetched, at the confirmation prompt (SIGINT there
    is a refusal, exit 2) or before the first order is journaled ends the command with
    ``gps: stopped by SIGTERM before anything was sent`` and exit 128 + the signal's number.
    """
    from .shutdown import Shutdown, StopRequested

    outcome = None
    try:
        with Shutdown("gps: aborted at once; nothing was sent"):
            outcome = start()
    except StopRequested as stop:
        if outcome is None:  # run() let it through: the engine had not started, nothing was sent
            _say(f"gps: stopped by {stop.signal_name} before anything was sent", err=True)
            sys.exit(stop.exit_code)
    return outcome


def _write_report_file(target, report: dict) -> None:
    """``--report``: the orders are out, so a failure here is a warning (the journal has the report)."""
    from .report_file import write_report

    try:
        write_report(target, report)
    except OSError as exc:
        _say(f"gps: WARNING: could not write the report to {target} ({exc.strerror or exc}); "
             f"it is in the journal: gps show {report.get('execution_id', 'last')}", err=True)


def _refuse_live_early(ctx, request) -> None:
    """Refusals of a live run that need no quote, said before any venue is asked (BadInput, exit 2).

    The venues ``--venue`` selects are all live or all paper (see ``Context.select_venues``), so a
    live selection without ``--dry-run`` is a live run: a no-trade decision log needs ``--force``,
    and without ``--yes`` the confirmation needs a terminal. The same checks run again after
    planning (``gps_core.execution``); these only make them early.
    """
    from .errors import BadInput
    from .strategy import require_traded_underlyings

    venues = ctx.select_venues(request.venue)
    if request.dry_run or not any(not v.info.paper for v in venues):
        return
    strategy = request.strategy
    require_traded_underlyings(strategy, ctx.host.venues() if request.venue == "auto" else venues,
                               ctx.host.venues(), ctx.host.skipped_venues)  # said first
    if strategy.no_trade and not request.force:
        reason = strategy.no_trade_reason or "no reason given"
        raise BadInput(f"the decision log says no trade ({reason}); pass --force to execute anyway")
    if not request.yes and not sys.stdin.isatty() and not _has_terminal():
        raise BadInput("live orders need confirmation: re-run with --yes")


# --- status / cancel ---------------------------------------------------------------------


def _order_rows(results) -> list[dict]:
    rows = []
    for order, snapshot, error in results:
        request = order.request
        rows.append({
            "client_order_id": request.client_order_id,
            "role": order.role,
            "venue": request.venue,
            "instrument": request.instrument.display_name,
            "side": request.side.value,
            "quantity": f"{request.quantity.normalize():f}",
            "journal_state": order.state.value,
            "venue_status": snapshot.status.value if snapshot else None,
            "filled": f"{snapshot.filled_quantity.normalize():f}" if snapshot else None,
            "average_price": (f"{snapshot.average_price.normalize():f}"
                              if snapshot and snapshot.average_price is not None else None),
            "error": error,
        })
    return rows


def _print_orders(rows: list[dict], as_json: bool, execution_id: str) -> None:
    from .render import table

    if as_json:
        _echo_json({"execution_id": execution_id, "orders": rows})
        return
    _say(f"Execution {execution_id}:")
    _say(table(["CLIENT ORDER ID", "VENUE", "INSTRUMENT", "SIDE", "QTY", "FILLED", "VENUE STATUS", "JOURNAL", "NOTE"],
                     [(r["client_order_id"], r["venue"], r["instrument"], r["side"], r["quantity"], r["filled"] or "-",
                       r["venue_status"] or "-", r["journal_state"], r["error"] or "") for r in rows]))


@cli.command("status")
@click.argument("execution_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handles_errors
def status_cmd(execution_id, as_json) -> None:
    """Ask the venues about every order of an execution (default: the last one).

    Read-only: safe while the execution is running (it says which process drives it).

    \b
    Example:
      gps status 20261124T160405.123456-3f9a1c
    """
    from .journal import find_journal, lock_holder
    from .service import Context, refresh_orders

    ctx = Context()
    path = find_journal(ctx.home, execution_id)
    rows = _order_rows(refresh_orders(ctx, path))
    pid = lock_holder(path)
    if as_json:
        _echo_json({"execution_id": path.stem, "running_pid": pid, "orders": rows})
    else:
        _print_orders(rows, False, path.stem)
        if pid is not None:
            _say(f"Execution {path.stem} is running in process {pid or '?'}.")
    sys.exit(EXIT_OK if all(r["error"] is None for r in rows) else EXIT_INCOMPLETE)


@cli.command("cancel")
@click.argument("execution_id", default="last")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handles_errors
def cancel_cmd(execution_id, as_json) -> None:
    """Cancel every order of an execution that is still working (default: the last one).

    When none is working, says so ("nothing to cancel") and exits 0.

    Refuses (exit 2, nothing sent) while the process that runs the execution is alive:
    stop that process instead (it cancels on SIGTERM/SIGINT). Each cancel is sent even if
    the journal cannot record it; what was not journaled is named and the exit code is 1.

    \b
    Example:
      gps cancel last
    """
    from .journal import ExecutionLock, Journal, find_journal
    from .service import Context, refresh_orders

    ctx = Context()
    path = find_journal(ctx.home, execution_id)
    errors: list[str] = []
    sent: list[str] = []
    with ExecutionLock.acquire(path):
        try:
            journal = Journal(ctx.home, path.stem)
        except OSError as exc:
            journal = None
            errors.append(f"cannot open the journal: {exc.strerror or exc}")
        try:
            results = refresh_orders(ctx, path, cancel=True, journal=journal, journal_errors=errors, cancels_sent=sent)
        finally:
            if journal is not None:
                journal.close()
    rows = _order_rows(results)
    nothing = not sent and bool(rows) and all(_not_working(r) for r in rows)
    if as_json:
        _echo_json({"execution_id": path.stem, "orders": rows, "cancels_sent": sent, "nothing_to_cancel": nothing,
                    "journal_errors": errors})
    elif nothing:
        which = "its only order is" if len(rows) == 1 else f"all {len(rows)} orders are"
        done = "filled, rejected or closed" if any(r["venue_status"] is None for r in rows) else "filled or closed"
        _say(f"Nothing to cancel in execution {path.stem}: {which} {done} ({_status_counts(rows)}).")
    else:
        _print_orders(rows, False, path.stem)
    _warn_unjournaled(errors)
    still = [r for r in rows if r["venue_status"] == "open"]
    sys.exit(EXIT_OK if not still and not errors else EXIT_INCOMPLETE)


def _plural(count: int, noun: str) -> str:
    return noun if count == 1 else f"{noun}s"


#: journal states of an order that never reached the venue's book: nothing there to cancel
_NEVER_PLACED = ("rejected", "denied")


def _not_working(row: dict) -> bool:
    """The venue says the order is done, or it never reached the venue (rejected or denied, not found there)."""
    if row["error"] is None:
        return row["venue_status"] != "open"
    return row["venue_status"] is None and row["journal_state"] in _NEVER_PLACED


def _status_counts(rows: list[dict]) -> str:
    """``2 filled, 1 rejected``: the venues' statuses of ``rows`` (or the journal's, for an order the
    venue never had), most common first."""
    from collections import Counter

    return ", ".join(f"{n} {status}" for status, n in
                     Counter(r["venue_status"] or r["journal_state"] for r in rows).most_common())


def _warn_unjournaled(errors: list[str]) -> None:
    if errors:
        _say(f"gps: WARNING: {len(errors)} action(s) were taken but NOT JOURNALED (the venue has them, "
             "the journal does not):", err=True)
        for problem in errors:
            _say(f"gps:   {problem}", err=True)


@cli.command("recover")
@click.option("--cancel-working", is_flag=True,
              help="Cancel working orders at once instead of watching them until the execution's deadline.")
@click.option("--settle-after", default=60.0, show_default=True, type=FiniteFloatRange(min=0),
              help="Seconds after sending when an order the venue does not know counts as never placed.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handles_errors
def recover_cmd(cancel_working, settle_after, as_json) -> None:
    """Finish what a killed gps left behind: settle its orders, then do what it would have done.

    Asks each venue about every journaled order whose fate is not known (by its client
    order id) and journals the answer. Then, for each interrupted execution (and each
    finished one that left an order unknown), it watches working orders until the
    execution's own deadline (its start + its --timeout; --cancel-working: at once), cancels
    them, applies its --on-partial policy (unwind or keep) to the filled legs, and closes it
    in the journal. It prints every order whose state is still unknown and every open
    position an incomplete strategy leaves, per venue and instrument. An execution whose
    process is still running is left alone, naming its PID (exit 1). Exit 0 only when every
    execution it finished completed and nothing is live, unknown, exposed, unjournaled or
    left alone.

    \b
    Example:
      gps recover --cancel-working
    """
    from .recovery import recover
    from .service import Context

    ctx = Context()
    from .shutdown import Shutdown

    with Shutdown():  # a stop signal ends the watch early, through the engine's cancel/unwind path
        outcome = recover(ctx, settle_after=settle_after, cancel_working=cancel_working, progress=_progress(False))
    if as_json:
        _echo_json(outcome.to_json())
    else:
        _say(_recovery_text(outcome))
    _warn_unjournaled(outcome.journal_errors)
    sys.exit(EXIT_OK if outcome.clean else EXIT_INCOMPLETE)


def _recovery_text(outcome) -> str:
    from .render import legs_filled_text, table

    rows = [s.to_json() for s in outcome.settlements]
    lines = []
    for r in outcome.running:
        lines.append(f"Execution {r['execution_id']} is running in process {r['pid'] or '?'}: left alone.")
    if not rows and not outcome.closed:
        if outcome.running:  # it skipped something: never "nothing to recover"
            lines.append("Nothing else to recover; run `gps recover` again once the running execution has ended.")
        else:
            lines.append("Nothing to recover: every journaled order is settled.")
    if rows:
        lines.append(table(["EXECUTION", "CLIENT ORDER ID", "VENUE", "INSTRUMENT", "SIDE", "QTY", "FILLED", "WAS", "NOW",
                            "NOTE"],
                           [(r["execution_id"], r["client_order_id"], r["venue"], r["instrument"], r["side"],
                             r["quantity"], r["filled"] or "-", r["before"],
                             r["after"].upper() if r["live"] else r["after"], r["note"]) for r in rows]))
    for e in outcome.closed:
        exposed = [x for x in outcome.exposures if x["execution_id"] == e["execution_id"]]
        if e["complete"]:
            state = "complete"
        elif exposed:
            state = "INCOMPLETE: it leaves the OPEN POSITION below"
        elif e["filled_orders"]:
            state = "INCOMPLETE; what filled was unwound: flat"
        else:
            state = "INCOMPLETE; nothing filled"
        lines.append(f"Execution {e['execution_id']} was finished by recover: {legs_filled_text(e)}, {state}")
        for o in e["filled_orders"]:
            lines.append(f"  {o['client_order_id']}: {o['side']} {o['filled']} {o['instrument']} filled")
    if outcome.live:
        lines.append(f"STILL WORKING at the venue: {', '.join(outcome.live)} (gps recover --cancel-working cancels them)")
    for u in outcome.unknown:
        lines.append(f"STATE UNKNOWN: {u['client_order_id']} on {u['venue']} {u['instrument']}: {u['note']}")
    for failure in outcome.failures:
        lines.append(f"NOT FINISHED: {failure}")
    for x in outcome.exposures:
        lines.append(f"OPEN POSITION left by execution {x['execution_id']}: {x['venue']} {x['instrument']} "
                     f"{x['position']} (strategy incomplete)")
    return "\n".join(lines)


@cli.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handles_errors
def doctor_cmd(as_json) -> None:
    """Explain what is wrong with the installation: broken plugins, conflicts, permissions.

    Works even when a plugin is broken (it never lets one stop it).

    \b
    Example:
      gps -v doctor
    """
    from .doctor import diagnose

    findings = diagnose()
    problems = [f for f in findings if f.level == "problem"]
    if as_json:
        _echo_json({"ok": not problems, "findings": [f.to_json() for f in findings]})
    else:
        marks = {"ok": "ok ", "warning": "WARN", "problem": "FAIL"}
        verbose = logging.getLogger().isEnabledFor(logging.DEBUG)
        for f in findings:
            _say(f"[{marks[f.level]}] {f.topic}: {f.message}")
            if verbose and f.detail:
                _say("       " + f.detail.strip().replace("\n", "\n       "))
        _say("No problems found." if not problems else f"{len(problems)} problem(s) found.")
    sys.exit(EXIT_OK if not problems else EXIT_INCOMPLETE)


@cli.group("plugin")
def plugin_group() -> None:
    """Tools for plugin authors."""


@plugin_group.command("new")
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(file_okay=False), help="Where to write it (default: gps-venue-NAME).")
@click.option("--title", help="Human name of the venue.")
@handles_errors
def plugin_new_cmd(name, directory, title) -> None:
    """Generate a venue package that passes "gps venues certify" out of the box.

    \b
    Example:
      gps plugin new myvenue && gps install -e ./gps-venue-myvenue && gps venues certify myvenue
    """
    from pathlib import Path

    from .scaffold import new_venue_package

    target = Path(directory or f"gps-venue-{name.replace('_', '-')}")
    for path in new_venue_package(name, target, title):
        _say(f"wrote {path}")
    _say(f"Next: gps install -e {target} && gps venues certify {name}")


# --- journal / show ----------------------------------------------------------------------


@cli.command("journal")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="How many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handles_errors
def journal_cmd(limit, as_json) -> None:
    """List recorded executions, newest first.

    \b
    Example:
      gps journal --limit 5
    """
    from .config import gps_home
    from .journal import iter_journals, summarize
    from .render import table

    summaries = [summarize(p) for p in list(iter_journals(gps_home()))[::-1][:limit]]
    if as_json:
        _echo_json([s.to_json() for s in summaries])
        return
    if not summaries:
        _say("No executions yet.")
        return
    _say(table(["EXECUTION", "STARTED", "MODE", "STRATEGY", "VENUES", "LEGS", "RESULT"],
               [(s.execution_id, (s.started or "")[:19], s.mode or "-", s.strategy or "-", ",".join(s.venues),
                 s.legs, s.result) for s in summaries]))


@cli.command("show")
@click.argument("execution_id", default="last")
@click.option("--json", "as_json", is_flag=True,
              help="Print the plan (with its payoff), the report and every journal event as JSON.")
@handles_errors
def show_cmd(execution_id, as_json) -> None:
    """Print one execution from the journal (default: the last one).

    \b
    Example:
      gps show last --json
    """
    from .config import gps_home
    from .events import Event, closing_report, first, last
    from .journal import find_journal, lock_holder, read_events
    from .render import plan_text, recovered_text, report_text

    path = find_journal(gps_home(), execution_id)
    events = read_events(path)
    plan = first(events, Event.PLAN)
    report = closing_report(events)
    recovered = last(events, Event.EXECUTION_RECOVERED)
    if as_json:
        shown_plan = {k: v for k, v in plan.items() if k not in ("ts", "event")} if plan else None
        _echo_json({"execution_id": path.stem, "plan": shown_plan, "report": report, "recovered": recovered,
                    "events": events})
        return
    if plan:
        _say(_render_or_json(plan_text, plan))
        _say()
    if report:
        _say(_render_or_json(report_text, report))
    if recovered:
        _say(_render_or_json(recovered_text, recovered))
    if not report and not recovered:
        pid = lock_holder(path)
        state = f"it is running in process {pid or '?'}" if pid is not None else "it was interrupted"
        _say(f"Execution {path.stem} has no final report ({state}); run `gps status {path.stem}`"
             + ("" if pid is not None else " and `gps recover`") + ".")


def _render_or_json(render, data: dict) -> str:
    """Render ``data``; a record an older or damaged journal shaped differently is shown as JSON instead."""
    try:
        return render(data)
    except Exception:  # noqa: BLE001
        from .codec import dumps

        return dumps(data, indent=2)


from . import cli_install  # noqa: E402,F401 - registers `gps install` and `gps uninstall`
from . import cli_positions  # noqa: E402,F401 - registers `gps positions` and `gps close`


def reopen_closed_streams() -> None:
    """Point a standard descriptor the shell closed (``>&-``, ``2>&-``, ``<&-``) at /dev/null.

    Python leaves ``sys.stdout``/``sys.stderr`` as ``None`` then, and the first file gps opens
    (a journal) would take the free descriptor 1 or 2. With /dev/null in its place every
    output path (progress, report, JSON, prompts, logging) works and is discarded, and the
    exit code stays the command's own.
    """
    import os

    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        try:
            null = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            if getattr(sys, name) is None:
                setattr(sys, name, open(fd, "r" if fd == 0 else "w", closefd=False, errors="replace"))
        except OSError:
            pass


def main() -> None:
    reopen_closed_streams()
    cli(prog_name="gps")


if __name__ == "__main__":
    # Run as ``python -m gps_core.cli``: call the imported module's group, on which the commands of
    # the other cli modules registered (this ``__main__`` copy of the module has none of them).
    from gps_core.cli import main as _main

    _main()
