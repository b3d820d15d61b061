"""Drill: the journal file deleted while a real ``gps execute`` runs is named in its report, exit 1."""

from __future__ import annotations

from reliability.test_reliability_stops import _start, assert_ends_safe


def test_a_journal_deleted_mid_run_is_named_in_the_report(make_harness):
    harness = make_harness("deribit")
    drill = _start(harness, 2, (1,), timeout=3)
    drill.wait_resting(2, 1)
    journal = next((harness.home / "journal").glob("*.jsonl"))
    events = journal.read_text()  # kept to check the venue against it
    journal.unlink()
    code, report, err = drill.finish()

    assert code == 1 and report is not None, err
    assert any("was deleted while the execution ran" in f for f in report["journal_failures"]), report
    journal.write_text(events)  # the audit reads what the journal held before it went
    assert_ends_safe(drill, report, journal_intact=False)
