"""Drills: a standard stream closed at start (``>&-``, ``2>&-``) changes nothing but the output.

The child really has descriptor 1 or 2 closed (``preexec_fn`` closes it after the pipes are
set up), as a shell's ``>&-`` does; the venue's book of record must hold the full strategy
and the exit code must be the execution's own.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from reliability.audit import net_position
from reliability.conftest import GPS, process_env
from reliability.test_reliability_stops import _start, assert_ends_safe


def _closing(fd: int):
    return lambda: os.close(fd)


@pytest.mark.parametrize("closed", [1, 2], ids=["stdout closed", "stderr closed"])
def test_a_filled_execution_with_a_closed_stream_exits_0(make_harness, closed):
    harness = make_harness("deribit")
    drill = _start(harness, 2, preexec_fn=_closing(closed))
    code, report, err = drill.finish()

    assert code == 0, err
    orders = assert_ends_safe(drill, report)
    assert net_position(orders) == drill.full
    if closed == 1:
        assert "internal error" not in err and "Traceback" not in err, err
        assert "ALL" not in err  # the report went to the closed stdout, not elsewhere
    else:
        assert report is not None and report["all_filled"]


def test_recover_with_stdout_closed_exits_by_what_it_did(make_harness, tmp_path):
    harness = make_harness("deribit")
    done = subprocess.run([str(GPS), "recover", "--cancel-working"], env=process_env(harness.env()),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60,
                          preexec_fn=_closing(1))
    assert done.returncode == 0, done.stderr
    assert "internal error" not in done.stderr


def test_the_journal_never_takes_a_closed_descriptor(make_harness):
    harness = make_harness("deribit")
    drill = _start(harness, 2, preexec_fn=_closing(2))
    code, report, err = drill.finish()
    assert code == 0
    journal = next((harness.home / "journal").glob("*.jsonl"))
    for line in journal.read_text().splitlines():
        json.loads(line)  # nothing but the journal's own events was written into it
