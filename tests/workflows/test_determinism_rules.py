"""Journey runs are not sandboxed (workflows/journey.py), so nothing at run time stops workflow
code from reading the clock, drawing random numbers or reaching the machine: this reads the
workflow modules' source and refuses those, which replay would only catch once a history
diverged. Time, randomness and ids come from workflow.now(), workflow.random(), workflow.uuid4()."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
# Modules whose every use in a workflow is nondeterministic or reaches outside the run.
REFUSED_MODULES = {"random", "time", "uuid", "os", "socket", "subprocess", "threading", "secrets", "httpx",
                   "sqlalchemy", "asyncpg", "aiosmtplib"}
# Calls that read the wall clock.
REFUSED_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today")}


def problems(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names
                      if a.name.split(".")[0] in REFUSED_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in REFUSED_MODULES:
            found.append(f"line {node.lineno}: from {node.module} import ...")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and isinstance(node.func.value, ast.Name) and (node.func.value.id, node.func.attr) in REFUSED_CALLS):
            found.append(f"line {node.lineno}: {node.func.value.id}.{node.func.attr}()")
    return found


@pytest.mark.parametrize("module", sorted(p.name for p in WORKFLOWS.glob("*.py")))
def test_workflow_modules_read_neither_the_clock_nor_chance_nor_the_machine(module):
    assert problems((WORKFLOWS / module).read_text()) == []


@pytest.mark.parametrize("source, said", [
    ("from datetime import datetime\nwhen = datetime.now()", "line 2: datetime.now()"),
    ("import random\n", "line 1: import random"),
    ("from time import monotonic\n", "line 1: from time import ..."),
    ("import uuid as u\n", "line 1: import uuid"),
])
def test_the_rules_catch_what_they_name(source, said):
    assert problems(source) == [said]
