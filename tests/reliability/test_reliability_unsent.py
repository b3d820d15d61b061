"""Drill: a journal that cannot record the first order's intent means nothing is sent, and says so.

A real ``gps execute`` runs with ``RLIMIT_FSIZE`` (SIGXFSZ ignored, so writes fail with EFBIG)
just above what ``execution_started`` and ``plan`` take, measured by an identical execution in
another GPS_HOME first: the intents cannot be written. The Deribit fake's book of record must
hold no order of it, the error must say nothing was sent, and the next ``gps execute`` must run
without asking for ``gps recover``.
"""

from __future__ import annotations

import resource
import signal
import subprocess

from reliability.conftest import GPS, process_env


def _limited(size: int):
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))
    return limit


def test_a_journal_that_cannot_record_the_intents_sends_nothing_and_closes(make_harness, tmp_path):
    harness = make_harness("deribit")
    symbols = harness.instruments(2)
    legs = [a for side, sym in zip(("buy", "sell"), symbols) for a in ("--leg", f"{side} {harness.quantity} {sym}")]
    command = [str(GPS), "execute", "--venue", "deribit", "--yes", "--timeout", "10", *legs]
    probe_home = tmp_path / "probe"
    probe = subprocess.run(command, env=process_env({**harness.env(), "GPS_HOME": str(probe_home)}),
                           capture_output=True, text=True, timeout=90)
    assert probe.returncode == 0, probe.stderr
    lines = next((probe_home / "journal").glob("*.jsonl")).read_bytes().splitlines(keepends=True)
    assert [line.split(b'"event":"')[1].split(b'"')[0] for line in lines[:3]] == \
        [b"execution_started", b"plan", b"order_intent"]
    limit = len(lines[0]) + len(lines[1]) + 60  # room for the start and the plan, not for an intent
    before = {o.client_order_id for o in harness.orders()}

    done = subprocess.run(command, env=process_env(harness.env()), capture_output=True, text=True, timeout=90,
                          preexec_fn=_limited(limit))

    assert {o.client_order_id for o in harness.orders()} == before  # nothing of it reached the venue
    assert done.returncode == 1, done.stderr
    assert "nothing was sent: the journal could not be written" in done.stderr, done.stderr
    assert "cancelled" not in done.stdout + done.stderr and "Traceback" not in done.stderr
    again = subprocess.run(command, env=process_env(harness.env()), capture_output=True, text=True, timeout=90)
    assert again.returncode == 0, again.stderr  # no `gps recover` asked for
