"""Secrets: every command, with canary credentials, leaks no canary anywhere gps writes.

Checked: stdout, stderr (also with ``-v`` debug logging), every file under GPS_HOME (journal,
paper stores, caches), for successes and failures, including a venue that echoes the secret
back in an error message, and the bearer tokens the fake Deribit issued.
"""

from __future__ import annotations

import json
import os

import pytest

from gps_core.secrets import Secret
from reliability.ledger import Row

CANARIES = {
    "DERIBIT_CLIENT_ID": "canaryid-5be1f0c2",
    "DERIBIT_CLIENT_SECRET": "canarysecret-9d41e7a3b2",
    "AEVO_API_KEY": "canaryapikey-0a9f3c71d2",
    "AEVO_API_SECRET": "canaryapisecret-6e2b58f4c1",
    "AEVO_SIGNING_KEY": "0x" + "5eca1ab1e" * 7 + "c",
    "AEVO_WALLET_KEY": "0x" + "c0ffee42" * 8,  # the fake account's wallet (only its address goes to gps)
}


def _needles(harness) -> list[str]:
    values = [v for k, v in CANARIES.items() if k != "AEVO_WALLET_KEY"]
    values += [v[2:] for v in values if v.startswith("0x")]
    if harness.name == "deribit":
        with harness.exchange.lock:
            values += list(harness.exchange._tokens) + list(harness.exchange._refresh)
    return values


def _leaks(harness, outputs: list[str]) -> list[str]:
    texts = list(outputs)
    for root, _, files in os.walk(harness.home):
        for name in files:
            if name == "credentials.toml":  # where the secrets are meant to be
                continue
            with open(os.path.join(root, name), encoding="utf-8", errors="replace") as handle:
                texts.append(handle.read())
    return [needle for needle in _needles(harness) for text in texts if needle in text]


def _harness(make_harness, venue: str):
    if venue == "deribit":
        return make_harness("deribit", client_id=CANARIES["DERIBIT_CLIENT_ID"],
                            client_secret=CANARIES["DERIBIT_CLIENT_SECRET"])
    return make_harness("aevo", credentials={k: v for k, v in CANARIES.items() if k.startswith("AEVO_")})


def _echo_secret_in_reject(harness, symbol: str) -> None:
    """The venue's reject message repeats a secret (a hostile or buggy venue)."""
    if harness.name == "deribit":
        harness.exchange.faults.aim(symbol, "reject", code=10009, message=f"bad key {CANARIES['DERIBIT_CLIENT_SECRET']}")
    else:
        harness.fake.aim(symbol, "reject", code=f"INVALID_SECRET_{CANARIES['AEVO_API_SECRET']}", status=400)


@pytest.mark.parametrize("venue", ["deribit", "aevo"])
def test_no_command_leaks_a_canary(venue, make_harness, gps_process, ledger):
    harness = _harness(make_harness, venue)
    env = harness.env()
    a, b = harness.instruments(2)
    legs = ["--leg", f"buy {harness.quantity} {a}", "--leg", f"sell {harness.quantity} {b}"]
    outputs, codes = [], []

    def run(*args: str) -> None:
        done = gps_process(list(args), env)
        outputs.extend([done.stdout, done.stderr])
        codes.append(done.code)

    run("venues", "--json")
    run("quote", "--venue", venue, *legs)
    run("-v", "execute", "--venue", venue, "--yes", "--timeout", "2", *legs)
    run("execute", "--venue", venue, "--yes", "--json", "--timeout", "2", *legs)
    _echo_secret_in_reject(harness, b)
    run("-v", "execute", "--venue", venue, "--yes", "--json", "--timeout", "2", *legs)
    run("-v", "status", "last")
    run("-v", "cancel", "last", "--json")
    run("-v", "recover", "--json")
    run("journal", "--json")
    run("show", "last", "--json")
    run("-v", "doctor")
    run("-v", "execute", "--venue", venue, "--yes", "--leg", "buy 0.1 NOT-AN-INSTRUMENT")
    bad = {**env, **{k: "wrong-" + v for k, v in CANARIES.items() if k.startswith(venue.upper()) and "WALLET" not in k}}
    if venue == "aevo":
        bad["AEVO_SIGNING_KEY"] = "0x" + "ab" * 32
    done = gps_process(["-v", "execute", "--venue", venue, "--yes", *legs], bad)
    outputs.extend([done.stdout, done.stderr])

    assert codes[2:4] == [0, 0] and codes[4] == 1, codes  # the run really traded, then hit the reject
    assert any("DEBUG" in text for text in outputs)  # debug logging was on
    leaks = _leaks(harness, outputs)
    ledger.add(Row(
        "secrets", venue, "13 commands incl. -v, failures, echoed secret", leaks=len(leaks),
        placed=len(harness.orders()), outcome=f"exit codes {codes}"))
    assert leaks == []


def test_a_credentials_file_readable_by_others_is_refused(make_harness, gps_process, ledger):
    harness = _harness(make_harness, "deribit")
    env = {k: v for k, v in harness.env().items() if not k.startswith("DERIBIT_CLIENT")}
    harness.home.mkdir(parents=True, exist_ok=True)
    path = harness.home / "credentials.toml"
    path.write_text(f'DERIBIT_CLIENT_ID = "{CANARIES["DERIBIT_CLIENT_ID"]}"\n'
                    f'DERIBIT_CLIENT_SECRET = "{CANARIES["DERIBIT_CLIENT_SECRET"]}"\n')
    a, = harness.instruments(1)
    args = ["execute", "--venue", "deribit", "--yes", "--json", "--quiet", "--timeout", "2", "--leg", f"buy 0.2 {a}"]
    os.chmod(path, 0o644)
    refused = gps_process(args, env)
    assert refused.code == 2 and "chmod 600" in refused.stderr and len(refused.stderr.splitlines()) == 1
    assert harness.orders() == []
    os.chmod(path, 0o600)
    accepted = gps_process(args, env)
    assert accepted.code == 0, accepted.stderr
    leaks = _leaks(harness, [refused.stdout, refused.stderr, accepted.stdout, accepted.stderr])
    ledger.add(Row("secrets", "deribit", "credentials.toml mode 644 refused, 600 used", leaks=len(leaks),
                   placed=len(harness.orders()), outcome=f"exit {refused.code}, then {accepted.code}"))
    assert leaks == []


def test_a_secret_is_masked_everywhere_python_shows_it():
    secret = Secret(CANARIES["DERIBIT_CLIENT_SECRET"])
    shown = [repr(secret), str(secret), f"{secret}", f"{secret!r}", "%s" % secret, repr({"k": secret})]
    assert not [text for text in shown if CANARIES["DERIBIT_CLIENT_SECRET"] in text]
    with pytest.raises(TypeError):
        json.dumps({"k": secret})
