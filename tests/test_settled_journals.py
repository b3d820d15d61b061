"""The pre-flight checks skip journals known to be closed and settled, and never one that changed."""
import json

import pytest
from click.testing import CliRunner

import gps_core.recovery as recovery
from gps_core.cli import cli

pytest.importorskip("gps_venue_dryrun")


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("GPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun")
    monkeypatch.delenv("GPS_DRYRUN_FAULTS", raising=False)
    return tmp_path / "home"


def gps(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _legs():
    from gps_venue_dryrun.market import current_market

    call = next(i.symbol for i in current_market({}).instruments("BTC") if i.symbol.endswith("-100000-C"))
    return ["--leg", f"buy 0.1 {call}", "--leg", f"sell 0.1 {call[:-1]}P"]


def _reads(monkeypatch) -> list:
    seen: list = []
    original = recovery.read_events
    monkeypatch.setattr(recovery, "read_events", lambda path, *a, **k: seen.append(path.name) or original(path, *a, **k))
    return seen


def test_a_finished_settled_journal_is_read_once_then_skipped(env, monkeypatch):
    for _ in range(2):
        assert gps("execute", "--venue", "dryrun", "--json", "--quiet", *_legs()).exit_code == 0
    journals = sorted((env / "journal").glob("*.jsonl"))
    assert len(journals) == 2
    recorded = json.loads((env / "cache" / "settled-journals.json").read_text())["journals"]
    assert set(recorded) == {journals[0].name}  # learnt by the second run's checks
    reads = _reads(monkeypatch)
    assert recovery.unsettled_orders(env) == []
    assert reads == [journals[1].name]  # the newest, read once more, then remembered too
    reads.clear()
    assert recovery.unsettled_orders(env) == [] and recovery.interrupted_executions(env) == []
    assert reads == []


def test_a_settled_journal_that_changes_is_read_again_and_refuses_the_next_run(env):
    assert gps("execute", "--venue", "dryrun", "--json", "--quiet", *_legs()).exit_code == 0
    journal = next((env / "journal").glob("*.jsonl"))
    assert recovery.unsettled_orders(env) == [] and recovery.interrupted_executions(env) == []
    # The same file without its closing event: what it says now is an execution that never finished.
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(line for line in lines if '"execution_finished"' not in line))
    assert recovery.interrupted_executions(env) == [journal]
    refused = gps("execute", "--venue", "dryrun", "--json", "--quiet", *_legs())
    assert refused.exit_code == 2 and "did not finish" in refused.output


def test_an_unreadable_record_means_every_journal_is_read(env, monkeypatch):
    assert gps("execute", "--venue", "dryrun", "--json", "--quiet", *_legs()).exit_code == 0
    (env / "cache" / "settled-journals.json").write_text('{"version": 1, "journals": {"2026')
    reads = _reads(monkeypatch)
    assert recovery.unsettled_orders(env) == []
    assert len(reads) == 1
