"""Fixtures of the reliability suite: venue harnesses, the gps command line, the ledger."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reliability.harness import HARNESSES, READ_TIMEOUT
from reliability.ledger import Ledger, results_path

GPS = Path(sys.executable).with_name("gps")


@pytest.fixture(scope="session")
def ledger():
    book = Ledger()
    yield book
    path = results_path()
    if path is not None:
        book.write(path)


@pytest.fixture
def make_harness(tmp_path):
    """``make_harness(name, **options)``: a venue harness with its own GPS_HOME, stopped afterwards."""
    made = []

    def make(name: str, **options):
        harness = HARNESSES[name](tmp_path / f"home-{len(made)}", **options)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()


@pytest.fixture
def short_http_timeouts() -> dict[str, str]:
    """Settings giving the HTTP plugins a short read timeout, through their own settings."""
    return {"DERIBIT_READ_TIMEOUT": str(READ_TIMEOUT), "AEVO_READ_TIMEOUT": str(READ_TIMEOUT)}


@dataclasses.dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        return json.loads(self.stdout)


def clean_env(extra: dict[str, str]) -> dict[str, str | None]:
    """Only the given gps/venue variables: unset every other one a developer may have exported."""
    prefixes = ("GPS_", "DERIBIT_", "AEVO_")
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith(prefixes)}
    env.update(extra)
    return env


@pytest.fixture
def gps():
    """``gps(args, env)``: run the CLI in this process (click's CliRunner)."""

    def run(args: list[str], env: dict[str, str]) -> Run:
        result = CliRunner().invoke(__import__("gps_core.cli", fromlist=["cli"]).cli, args, env=clean_env(env))
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Run(result.exit_code, result.stdout, result.stderr)

    return run


def process_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GPS_", "DERIBIT_", "AEVO_"))}
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def gps_process():
    """``gps_process(args, env)``: run the installed ``gps`` in a child process and wait for it."""

    def run(args: list[str], env: dict[str, str], timeout: float = 60) -> Run:
        done = subprocess.run([str(GPS), *args], env=process_env(env), capture_output=True, text=True, timeout=timeout)
        return Run(done.returncode, done.stdout, done.stderr)

    return run
