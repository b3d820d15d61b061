"""A live execution whose strategy is piped in (``gps execute -``) asks its confirmation on the
controlling terminal: the question on stderr, the answer read from ``/dev/tty``. Without any
terminal it still says "re-run with --yes". Run as a real process with a pseudo-terminal as its
controlling terminal, against the fake Deribit server; the check is the fake's book of record."""

import fcntl
import json
import os
import pty
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

deribit_fake = pytest.importorskip("gps_venue_deribit.testing.fake_server")

GPS = str(Path(sys.executable).with_name("gps"))


@pytest.fixture
def deribit(tmp_path):
    server = deribit_fake.FakeDeribit().start()
    env = dict(os.environ, GPS_HOME=str(tmp_path / "home"), GPS_LOAD_PLUGINS="deribit",
               DERIBIT_BASE_URL=server.url, DERIBIT_CLIENT_ID=server.state.client_id,
               DERIBIT_CLIENT_SECRET=server.state.client_secret)
    env.pop("DERIBIT_TESTNET", None)
    yield server.state, env
    server.stop()


def strategy(state) -> bytes:
    name = state.instrument_names("BTC")[0]
    return json.dumps({"name": "one call", "legs": [{"side": "buy", "quantity": "0.1", "instrument": name}]}).encode()


def run_with_terminal(env, stdin: bytes, answer: bytes):
    """Run ``gps execute -`` with ``stdin`` piped in and a pty as its controlling terminal; type
    ``answer`` on the terminal once the question is on stderr. Bounded by deadlines."""
    master, slave = pty.openpty()

    def take_terminal():
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    process = subprocess.Popen([GPS, "execute", "-", "--timeout", "5"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                               preexec_fn=take_terminal, pass_fds=(slave,))
    os.close(slave)
    try:
        process.stdin.write(stdin)
        process.stdin.close()
        process.stdin = None  # communicate() must not flush it again
        stderr = b""
        deadline = time.monotonic() + 60
        while b"Send LIVE orders" not in stderr and time.monotonic() < deadline:
            ready, _, _ = select.select([process.stderr], [], [], 1)
            if ready:
                chunk = os.read(process.stderr.fileno(), 4096)
                if not chunk:
                    break
                stderr += chunk
        assert b"Send LIVE orders to deribit? [y/N]" in stderr, stderr.decode()
        os.write(master, answer)
        out, rest = process.communicate(timeout=60)
        return process.returncode, out.decode(), (stderr + rest).decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        os.close(master)


def test_yes_on_the_terminal_sends_the_orders(deribit):
    state, env = deribit
    code, out, err = run_with_terminal(env, strategy(state), b"y\n")
    assert code == 0, err
    assert sum(state.placed.values()) == 1 and len(state.orders) == 1
    assert "ALL LEGS FILLED" in out


def test_no_on_the_terminal_sends_nothing(deribit):
    state, env = deribit
    code, _, err = run_with_terminal(env, strategy(state), b"n\n")
    assert code == 2
    assert "not confirmed; nothing was sent" in err
    assert sum(state.placed.values()) == 0 and state.orders == {}


def test_without_any_terminal_it_asks_for_yes(deribit):
    state, env = deribit
    run = subprocess.run([GPS, "execute", "-"], input=strategy(state), capture_output=True, env=env,
                         timeout=60, start_new_session=True)  # a new session has no controlling terminal
    assert run.returncode == 2
    assert run.stderr.decode().strip().splitlines()[-1] == "gps: error: live orders need confirmation: re-run with --yes"
    assert sum(state.placed.values()) == 0 and state.orders == {}
