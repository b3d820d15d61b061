"""Drills: one execution at a time per GPS_HOME, decided at the moment of sending.

Real ``gps execute`` processes against the Deribit fake; the fake's book of record must hold
the orders of one execution only, and the refused process exits 2 naming the other's PID.
"""

from __future__ import annotations

import os
import pty
import subprocess
import time

from reliability.conftest import GPS, process_env

WAIT = 30.0


def _execution_ids(harness) -> set[str]:
    """The executions that have orders at the venue (``gps-<execution>-L1-1`` -> ``<execution>``)."""
    return {o.client_order_id.rsplit("-", 2)[0] for o in harness.orders() if o.client_order_id}


def _command(harness, symbols, *extra) -> list[str]:
    legs = [a for side, sym in zip(("buy", "sell"), symbols) for a in ("--leg", f"{side} {harness.quantity} {sym}")]
    return [str(GPS), "execute", "--venue", harness.name, *extra, *legs]


def _wait(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_executions_started_together_only_one_sends(make_harness):
    harness = make_harness("deribit")
    symbols = harness.instruments(2)
    for symbol in symbols:  # every order rests: the first execution is still running when the second decides
        harness.exchange.faults.aim(symbol, "partial", times=2, fill="0")
    env = process_env(harness.env())
    command = _command(harness, symbols, "--yes", "--json", "--timeout", "4")
    children = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
    done = [child.communicate(timeout=90) for child in children]
    codes = sorted(child.returncode for child in children)

    assert len(_execution_ids(harness)) == 1, harness.orders()
    assert codes == [1, 2], done  # the one that ran timed out (its orders rested); the other refused
    refused = next(i for i, child in enumerate(children) if child.returncode == 2)
    other = children[1 - refused]
    assert f"running in process {other.pid}" in done[refused][1], done[refused][1]
    assert "Traceback" not in done[refused][1]


def test_an_execution_confirmed_while_another_runs_sends_nothing(make_harness, tmp_path):
    harness = make_harness("deribit")
    symbols = harness.instruments(2)
    env = process_env(harness.env())
    master, slave = pty.openpty()  # the confirmation prompt needs a terminal
    prompt_err = tmp_path / "prompt.err"
    with open(prompt_err, "w") as err:
        waiting = subprocess.Popen(_command(harness, symbols, "--timeout", "4"), env=env, stdin=slave,
                                   stdout=subprocess.PIPE, stderr=err, text=True)
    os.close(slave)
    try:
        _wait(lambda: "Send LIVE orders" in prompt_err.read_text() or waiting.poll() is not None, "the prompt")
        assert waiting.poll() is None, prompt_err.read_text()
        for symbol in symbols:
            harness.exchange.faults.aim(symbol, "partial", fill="0")
        running = subprocess.Popen(_command(harness, symbols, "--yes", "--json", "--timeout", "6"), env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait(lambda: sum(o.is_open for o in harness.orders()) == 2, "the running execution's orders resting")
        os.write(master, b"y\n")
        waiting.communicate(timeout=60)
        running.communicate(timeout=60)
    finally:
        os.close(master)
    err = prompt_err.read_text()

    assert waiting.returncode == 2, err
    assert f"another execution is running in process {running.pid}; nothing was sent" in err
    assert len(_execution_ids(harness)) == 1 and len(harness.orders()) == 2, harness.orders()
    assert running.returncode == 1  # its orders rested until its timeout, then were cancelled


import pytest  # noqa: E402
import signal  # noqa: E402


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_a_stop_signal_at_the_confirmation_prompt_says_nothing_was_sent(make_harness, tmp_path, signame):
    harness = make_harness("deribit")
    symbols = harness.instruments(2)
    master, slave = pty.openpty()
    err_path = tmp_path / "prompt.err"
    with open(err_path, "w") as err:
        child = subprocess.Popen(_command(harness, symbols), env=process_env(harness.env()), stdin=slave,
                                 stdout=subprocess.PIPE, stderr=err, text=True)
    os.close(slave)
    try:
        _wait(lambda: "Send LIVE orders" in err_path.read_text() or child.poll() is not None, "the prompt")
        child.send_signal(getattr(signal, signame))
        child.communicate(timeout=60)
    finally:
        os.close(master)
    err = err_path.read_text()

    assert child.returncode == 128 + getattr(signal, signame), err
    assert f"gps: stopped by {signame} before anything was sent" in err, err
    assert harness.orders() == []
