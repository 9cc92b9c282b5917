from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def open_dir() -> Iterator[Path]:
    """A folder for the embedded Postgres, which runs as another user when we are root. Not under
    pytest's own temporary folder: every pytest run, a concurrent one too, makes that private again
    and would shut Postgres out mid-start."""
    path = Path(tempfile.mkdtemp(prefix="sojourn-dev-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
