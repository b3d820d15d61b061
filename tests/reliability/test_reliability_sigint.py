"""Ctrl-C: the first cancels working orders, journals it, reports and exits non-zero; a second
exits at once and still leaves a journal that ``gps recover`` settles in agreement with the venue."""

from __future__ import annotations

import json
import signal
import subprocess
import time

from reliability.audit import audit, journal_events, net_position
from reliability.conftest import GPS, process_env
from reliability.scenarios import SIDES


def _start(harness, *faults: str) -> tuple[subprocess.Popen, list[str]]:
    symbols = harness.instruments(len(SIDES))
    harness.add_faults(f"never_fill x1@{symbols[-1]}", *(f.format(symbol=symbols[-1]) for f in faults))
    legs = [a for s, sym in zip(SIDES, symbols) for a in ("--leg", f"{s} {harness.quantity} {sym}")]
    child = subprocess.Popen([str(GPS), "execute", "--venue", "dryrun", "--yes", "--json", "--timeout", "60", *legs],
                             env=process_env(harness.env()), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return child, symbols


def _wait_until_monitoring(harness, child) -> None:
    """Every leg acknowledged in the journal: gps is watching the resting one."""
    for _ in range(400):
        updates = {e["client_order_id"] for e in journal_events(harness.home) if e["event"] == "order_update"}
        if len(updates) == len(SIDES) or child.poll() is not None:
            break
        time.sleep(0.05)
    assert child.poll() is None and len(updates) == len(SIDES)


def _finish(child, timeout: float = 30) -> tuple[int, str, str]:
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
        raise AssertionError(f"gps did not exit after Ctrl-C: {err}")
    return child.returncode, out, err


def test_ctrl_c_cancels_journals_reports_and_exits_nonzero(make_harness, ledger):
    harness = make_harness("dryrun")
    child, symbols = _start(harness)
    _wait_until_monitoring(harness, child)
    child.send_signal(signal.SIGINT)
    code, out, err = _finish(child)

    assert code == 1, err
    report = json.loads(out)
    assert report["interrupted"] is True and report["all_filled"] is False
    assert report["legs"][-1]["status"] == "cancelled"
    kinds = [e["event"] for e in journal_events(harness.home)]
    assert "interrupted" in kinds and kinds[-1] == "execution_finished"
    assert kinds.index("interrupted") < kinds.index("cancel_requested")
    found = audit(harness, report)
    ledger.from_audit("sigint", "dryrun", "Ctrl-C while monitoring", found, f"exit {code}, cancelled and unwound")
    assert found.clean, found.explain()
    assert not [o for o in found.venue_orders if o.is_open]
    assert net_position(found.venue_orders) == {}  # the two filled legs were unwound


def test_second_ctrl_c_exits_at_once_and_leaves_a_recoverable_journal(make_harness, gps_process, ledger):
    harness = make_harness("dryrun")
    child, _ = _start(harness, "latency=1500ms@{symbol}")  # every call about the resting leg is slow
    _wait_until_monitoring(harness, child)
    child.send_signal(signal.SIGINT)
    time.sleep(0.3)
    child.send_signal(signal.SIGINT)
    code, out, err = _finish(child)

    assert code == 130 and out == "", err
    assert "aborted" in err and "Traceback" not in err
    for path in (harness.home / "journal").glob("*.jsonl"):
        text = path.read_text()
        assert text.endswith("\n") and all(json.loads(line) for line in text.splitlines())
    recovered = gps_process(["recover", "--json", "--cancel-working", "--settle-after", "0"], harness.env())
    data = recovered.json()
    assert data["live"] == [] and data["exposures"] == [] and recovered.code == 1, recovered.stderr  # incomplete
    found = audit(harness, live=set(data["live"]))
    ledger.from_audit("sigint", "dryrun", "second Ctrl-C during the cancel, then recover", found,
                      f"exit {code}, recover cancelled {len(data['orders'])}")
    assert found.clean, found.explain()
    assert not [o for o in found.venue_orders if o.is_open]
