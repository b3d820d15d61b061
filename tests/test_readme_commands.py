"""Every command the README shows runs as written after its two set-up commands.

The README's first block (``bash scripts/demo.sh``, ``bash scripts/test.sh``) sets up; this test
runs the demo in a scratch copy of the repository (its set-up step replaced by this checkout's
virtual environment, so nothing is installed), then every other line of every ``bash`` block of
the README, in order, in one shell, from that copy, with a fresh HOME, no gps or venue
variables set but the venues' base URLs (pointed at a closed local port: offline, hermetic). Each must exit 0. Only the lines that need Options GPS itself (``cd
venth/tools/options-gps``, ``python main.py ... | gps ...``) are left out; the README's next
block runs the same gps command on that program's saved output.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NEEDS_OPTIONS_GPS = re.compile(r"^(cd venth/|python main\.py)")


def readme_commands(text: str) -> list[str]:
    """The shell lines of every ``bash`` block but the first (set-up), continuations joined."""
    blocks = re.findall(r"^```bash\n(.*?)^```", text, flags=re.M | re.S)
    lines: list[str] = []
    for block in blocks[1:]:
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                lines.append(line.strip())
    return lines


def test_the_readme_set_up_block_is_the_demo_and_the_tests():
    blocks = re.findall(r"^```bash\n(.*?)^```", (ROOT / "README.md").read_text(), flags=re.M | re.S)
    assert [line.split("#")[0].strip() for line in blocks[0].splitlines()] == [
        "bash scripts/demo.sh", "bash scripts/test.sh"]


def test_every_readme_command_runs_as_written(tmp_path):
    commands = readme_commands((ROOT / "README.md").read_text())
    runnable = [c for c in commands if not NEEDS_OPTIONS_GPS.match(c)]
    assert len(commands) - len(runnable) == 3, [c for c in commands if NEEDS_OPTIONS_GPS.match(c)]
    assert sum(c.startswith("gps ") or " gps " in c for c in runnable) >= 15
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "demo.sh", repo / "scripts" / "demo.sh")
    (repo / "scripts" / "setup.sh").write_text("# set up already: .venv is this checkout's\n")
    (repo / ".venv").symlink_to(Path(sys.executable).parents[1])
    (repo / "examples").symlink_to(ROOT / "examples")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GPS_", "DERIBIT_", "AEVO_", "VIRTUAL_ENV", "PYTEST_"))}
    env["HOME"] = str(tmp_path / "home")
    # hermetic: the real venues are unreachable here as on a machine offline, so the --dry-run
    # line takes its documented offline fallback and no test ever asks a real exchange
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    env["DERIBIT_BASE_URL"] = env["AEVO_BASE_URL"] = closed
    demo = subprocess.run(["bash", "scripts/demo.sh"], cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr
    script = ["set -o pipefail", "exec 3>&1"]
    for number, command in enumerate(runnable):  # the command on a line of its own: its comment ends there
        script += [f"exec >{number}.out 2>{number}.err", command,
                   f"rc=$?; [ $rc -eq 0 ] || {{ echo \"line {number} exit $rc\" >&3; exit 1; }}"]
    run = subprocess.run(["bash", "-c", "\n".join(script)], cwd=repo, env=env, capture_output=True, text=True,
                         timeout=900)
    failed = re.match(r"line (\d+) exit (\d+)", run.stdout)
    if failed:
        number = int(failed[1])
        output = (repo / f"{number}.out").read_text() + (repo / f"{number}.err").read_text()
        pytest.fail(f"README command exits {failed[2]}: {runnable[number]}\n{output}")
    assert run.returncode == 0, run.stdout + run.stderr
    # `gps journal` in the README's shell sees the demo's execution (the oldest in demo-home)
    journal = sorted(p.stem for p in (repo / "demo-home" / "journal").glob("*.jsonl"))
    demo_id = min(journal, key=lambda name: name.replace("-", "."))
    listing = (repo / f"{runnable.index(next(c for c in runnable if c.startswith('gps journal')))}.out").read_text()
    assert demo_id in listing and "(dry-run demo)" in listing
    assert not (tmp_path / "home" / ".local" / "state" / "gps").exists()  # nothing leaked into the default home
