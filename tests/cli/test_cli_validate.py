"""`sojourn validate` as an author runs it: the installed command, real files, exit codes."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

SOJOURN = Path(sysconfig.get_path("scripts")) / "sojourn"

GOOD = """\
name: Welcome
nodes:
  - id: hello
    type: send
    subject: "Hi {{ first_name }}"
    text: Welcome aboard
    next: wait_1d
  - id: wait_1d
    type: wait
    duration: 1d
    next: done
  - id: done
    type: exit
"""

BAD = """\
name: Broken
nodes:
  - id: hello
    type: send
    subject: Hi
    text: Welcome
    colour: red
    next: wiat
  - id: wait_1d
    type: wait
    duration: forever
    next: done
  - id: done
    type: exit
"""


def validate(*paths: Path) -> subprocess.CompletedProcess:
    command = [str(SOJOURN)] if SOJOURN.exists() else [sys.executable, "-m", "sojourn.cli"]
    return subprocess.run([*command, "validate", *map(str, paths)], capture_output=True, text=True, timeout=60)


def test_a_valid_file_prints_ok_and_exits_0(tmp_path):
    good = tmp_path / "welcome.yaml"
    good.write_text(GOOD)
    result = validate(good)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{good}: OK (Welcome, 3 nodes)"]


def test_every_problem_is_printed_with_file_node_and_field(tmp_path):
    good, bad = tmp_path / "welcome.yaml", tmp_path / "broken.yaml"
    good.write_text(GOOD)
    bad.write_text(BAD)
    result = validate(good, bad)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{good}: OK (Welcome, 3 nodes)"
    problems = lines[1:]
    assert all(line.startswith(f"{bad}: node '") for line in problems), problems
    assert any(line.startswith(f"{bad}: node 'hello' field 'colour': unknown field") for line in problems)
    assert f"{bad}: node 'hello' field 'next': unknown node 'wiat'" in problems
    assert any(line.startswith(f"{bad}: node 'wait_1d' field 'duration': invalid duration 'forever'")
               for line in problems)


def test_unreadable_and_malformed_files_are_problems_too(tmp_path):
    malformed = tmp_path / "malformed.yaml"
    malformed.write_text("name: x\nnodes: [\n")
    missing = tmp_path / "missing.yaml"
    result = validate(malformed, missing)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{malformed}: invalid YAML at line 3")
    assert lines[1].startswith(f"{missing}: cannot read file")


def test_the_shipped_examples_are_valid():
    examples = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))
    assert len(examples) >= 2
    done = subprocess.run([str(SOJOURN), "validate", *map(str, examples)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": OK (") == len(examples)
