"""`gps execute --report PATH`: the report JSON besides the journal, written atomically; a path
that cannot be written is refused before anything is sent (checked at the venues' books of record)."""

import json
import os
import stat

import pytest
from click.testing import CliRunner

from gps_core.cli import cli
from gps_core.instruments import OptionKey

deribit_fake = pytest.importorskip("gps_venue_deribit.testing.fake_server")
dryrun_market = pytest.importorskip("gps_venue_dryrun.market")


def gps(*args):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def paper(gps_home, monkeypatch):
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun")
    market = dryrun_market.current_market(dict(os.environ))
    listed = sorted(market.instruments("BTC"), key=lambda i: (i.key.expiry, i.key.strike))
    return gps_home, listed[len(listed) // 2].key.name


def journal_events(home):
    files = sorted((home / "journal").glob("*.jsonl")) if (home / "journal").exists() else []
    return [json.loads(line) for path in files for line in path.read_text().splitlines() if line.strip()]


def test_report_file_is_the_execution_report(paper, tmp_path):
    home, name = paper
    target = tmp_path / "out" / "report.json"
    target.parent.mkdir()
    result = gps("execute", "--venue", "dryrun", "--yes", "--json", "--quiet", "--report", str(target),
                 "--leg", f"buy 0.1 {name}")
    assert result.exit_code == 0, result.output
    written = json.loads(target.read_text())
    assert written == json.loads(result.stdout)
    finished = [e for e in journal_events(home) if e.get("event") == "execution_finished"]
    assert finished and finished[-1]["report"] == written
    assert os.listdir(target.parent) == ["report.json"]  # no temporary file left behind
    assert (home / "dryrun").is_dir()  # where the paper venue keeps its orders


def test_report_replaces_an_existing_file(paper, tmp_path):
    _, name = paper
    target = tmp_path / "report.json"
    target.write_text("old")
    result = gps("execute", "--venue", "dryrun", "--yes", "--quiet", "--report", str(target), "--leg", f"buy 0.1 {name}")
    assert result.exit_code == 0, result.output
    assert json.loads(target.read_text())["all_filled"] is True


@pytest.mark.parametrize("where", ["missing-dir/report.json", "."])
def test_unwritable_report_path_is_refused_before_anything_is_sent(paper, tmp_path, where):
    home, name = paper
    path = tmp_path / where
    result = gps("execute", "--venue", "dryrun", "--yes", "--report", str(path), "--leg", f"buy 0.1 {name}")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("gps: error: --report ")
    assert journal_events(home) == []  # no execution was started
    assert not (home / "dryrun").exists()  # the paper venue's store of orders was never written


def test_report_on_the_deribit_fake_and_refusal_before_any_order(tmp_path, monkeypatch):
    server = deribit_fake.FakeDeribit().start()
    try:
        for key, value in {"GPS_HOME": str(tmp_path / "home"), "GPS_LOAD_PLUGINS": "deribit",
                           "DERIBIT_BASE_URL": server.url, "DERIBIT_CLIENT_ID": server.state.client_id,
                           "DERIBIT_CLIENT_SECRET": server.state.client_secret}.items():
            monkeypatch.setenv(key, value)
        names = server.state.instrument_names("BTC")
        name = OptionKey.parse(names[len(names) // 2]).name
        bad = gps("execute", "--yes", "--quiet", "--report", str(tmp_path / "nope" / "r.json"), "--leg", f"buy 0.1 {name}")
        assert bad.exit_code == 2 and sum(server.state.placed.values()) == 0
        target = tmp_path / "r.json"
        good = gps("execute", "--yes", "--quiet", "--report", str(target), "--leg", f"buy 0.1 {name}")
        assert good.exit_code == 0, good.output
        report = json.loads(target.read_text())
        assert sum(server.state.placed.values()) == 1
        assert [(o["venue"], o["instrument"], o["filled"]) for o in report["legs"]] == [("deribit", name, "0.1")]
    finally:
        server.stop()


def paper_orders(home):
    dryrun = pytest.importorskip("gps_venue_dryrun")
    return dryrun.DryRunVenue(environ={"GPS_HOME": str(home)}).broker().orders()


@pytest.mark.parametrize("kind", ["fifo", "socket", "empty"])
def test_a_report_path_that_is_no_regular_file_is_refused_and_left_alone(paper, tmp_path, kind):
    """A device, fifo or socket is never replaced by a file (as root `--report /dev/null` made /dev/null a
    file); tested on a fifo and a socket made here, never on a system path."""
    import socket

    home, name = paper
    path = tmp_path / "special"
    holder = None
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        holder = socket.socket(socket.AF_UNIX)
        holder.bind(str(path))
    try:
        result = gps("execute", "--venue", "dryrun", "--yes", "--report", "" if kind == "empty" else str(path),
                     "--leg", f"buy 0.1 {name}")
        assert result.exit_code == 2, result.output
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("gps: error: --report"), result.stderr
        assert paper_orders(home) == [] and journal_events(home) == []
        if kind == "fifo":
            assert stat.S_ISFIFO(os.lstat(path).st_mode) and "a fifo" in result.stderr
        elif kind == "socket":
            assert stat.S_ISSOCK(os.lstat(path).st_mode)
    finally:
        if holder is not None:
            holder.close()


def test_a_report_through_a_symlink_keeps_the_link_and_the_file_mode(paper, tmp_path):
    home, name = paper
    real = tmp_path / "real.json"
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    result = gps("execute", "--venue", "dryrun", "--yes", "--quiet", "--json", "--report", str(link),
                 "--leg", f"buy 0.1 {name}")
    assert result.exit_code == 0, result.output
    assert [o.status.value for o in paper_orders(home)] == ["filled"]
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert json.loads(real.read_text()) == json.loads(result.stdout)
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []  # no temporary file left behind


def test_close_refuses_a_fifo_report_before_anything_is_sent(paper, tmp_path):
    home, name = paper
    opened = gps("execute", "--venue", "dryrun", "--yes", "--quiet", "--leg", f"buy 0.1 {name}")
    assert opened.exit_code == 0, opened.output
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result = gps("close", "last", "--yes", "--report", str(fifo))
    assert result.exit_code == 2 and "a fifo" in result.stderr, result.output
    assert len(paper_orders(home)) == 1 and stat.S_ISFIFO(os.lstat(fifo).st_mode)
