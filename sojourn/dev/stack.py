"""`sojourn dev`: the whole stack on one machine, supervised as one process.

Postgres and the Temporal dev server keep their state in the data dir, so stopping
and starting again resumes in-flight journeys. A component that dies is restarted with
backoff (sojourn/dev/supervisor.py) while the others keep running. Every child runs in
its own session: Ctrl-C reaches only the supervisor, which then stops the children in
dependency order (API, worker, sink, Temporal, Postgres) instead of all at once.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from sojourn.data.db import upgrade
from sojourn.dev.postgres import EmbeddedPostgres
from sojourn.dev.supervisor import Backoff, Component, GaveUp, Supervisor, describe_exit
from sojourn.dev.temporal import TemporalDevServer, die_with_parent, terminate
from sojourn.settings import Settings

# Simulations (sojourn/services/simulation.py) run on a clock the server skips forward, which the
# dev server allows per workflow only when told to. A skipped timer then fires after the timer
# queue's time shift (1 s by default): at 10 ms a four-wait journey simulates in about half a
# second instead of four.
TIME_SKIPPING_ARGS = ["--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true",
                      "--dynamic-config-value", 'history.timerProcessorMaxTimeShift="10ms"']

log = logging.getLogger(__name__)

DATABASE = "sojourn"


class StackError(RuntimeError):
    """The stack could not start (port taken, component failed to come up)."""


class _StopRequested(BaseException):
    """Raised from the SIGINT/SIGTERM handler, like KeyboardInterrupt, to unwind startup or supervision."""


@dataclass
class StackConfig:
    data_dir: Path
    postgres_port: int = 5433
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    smtp_port: int = 1025
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    worker: bool = True
    api: bool = True
    api_key: str = ""

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> StackConfig:
        """Defaults from settings (hence env vars); non-None `overrides` (CLI flags) win."""
        values: dict[str, object] = {
            "data_dir": settings.data_dir,
            "postgres_port": settings.postgres_port,
            "temporal_port": int(settings.temporal_address.rsplit(":", 1)[1]),
            "temporal_ui_port": settings.temporal_ui_port,
            "smtp_port": settings.smtp_port,
            "api_host": settings.api_host,
            "api_port": settings.api_port,
            "api_key": settings.api_keys[0].secret if settings.api_keys else "",
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["data_dir"] = Path(values["data_dir"]).resolve()
        return cls(**values)

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def database_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.postgres_port}/{DATABASE}"

    @property
    def api_url(self) -> str:
        host = "127.0.0.1" if self.api_host in ("0.0.0.0", "::") else self.api_host
        return f"http://{host}:{self.api_port}"

    def child_env(self) -> dict[str, str]:
        """Point the worker, API and sink at the embedded components, whatever the shell says."""
        env = dict(os.environ)
        # Real-provider credentials from the shell would make the worker log in to the sink.
        for key in ("SMTP_USERNAME", "SMTP_PASSWORD"):
            env.pop(key, None)
        env.update({
            "DATA_DIR": str(self.data_dir),
            "DATABASE_URL": self.database_url,
            "TEMPORAL_ADDRESS": f"127.0.0.1:{self.temporal_port}",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.smtp_port),
            "SMTP_USE_TLS": "false",
            "SMTP_START_TLS": "false",
            "API_HOST": self.api_host,
            "API_PORT": str(self.api_port),
            "PYTHONUNBUFFERED": "1",  # logs reach the files as they happen
            "ENVIRONMENT": "development",  # the embedded stack runs on development secrets
        })
        env.setdefault("PUBLIC_BASE_URL", self.api_url)
        return env

    def banner(self) -> str:
        lines = [f"Sojourn dev stack is up (data: {self.data_dir}, logs: {self.logs_dir})"]
        if self.api:
            lines += [f"  API           {self.api_url}   docs: {self.api_url}/docs",
                      f"  API key       Authorization: Bearer {self.api_key}"]
        lines += [
            f"  Temporal      127.0.0.1:{self.temporal_port}   UI: http://127.0.0.1:{self.temporal_ui_port}",
            f"  Mailbox       smtp://127.0.0.1:{self.smtp_port}   "
            + (f"{self.api_url}/v1/dev/mailbox or " if self.api else "") + "`sojourn mailbox`",
            f"  Postgres      postgresql://postgres@127.0.0.1:{self.postgres_port}/{DATABASE}",
        ]
        if not self.worker:
            lines.append("  Worker        not started (--no-worker): run `sojourn worker` yourself")
        lines.append("Press Ctrl-C to stop.")
        return "\n".join(lines)


@dataclass
class Stack:
    config: StackConfig
    backoff: Backoff = field(default_factory=Backoff)
    postgres: EmbeddedPostgres | None = None
    temporal: TemporalDevServer | None = None
    components: list[Component] = field(default_factory=list)  # in start order
    _lock: object | None = None

    def __post_init__(self) -> None:
        self.supervisor = Supervisor(self.components, self.backoff)

    def start(self) -> None:
        config = self.config
        config.logs_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        self._stop_orphaned_postgres()
        self._check_ports()

        # Temporal boots while Postgres starts and migrates; we wait for it afterwards.
        self.temporal = TemporalDevServer(
            config.data_dir / "temporal.db", port=config.temporal_port, ui_port=config.temporal_ui_port,
            log_path=config.logs_dir / "temporal.log", parent_death_signal=True, extra_args=TIME_SKIPPING_ARGS,
        )
        temporal = Component("temporal", self._launch_temporal, self.log_path("temporal"))
        self.components.append(temporal)
        self.temporal.start()
        temporal.process, temporal.started_at = self.temporal.process, time.monotonic()

        self.postgres = EmbeddedPostgres(config.data_dir / "postgres", config.postgres_port)
        self._link_log("postgres", self.postgres.data_dir / "postgres.log")
        postgres = Component("postgres", self._launch_postgres, self.log_path("postgres"))
        self.components.insert(0, postgres)  # first to start, last to stop
        log.info("starting Postgres on port %s", config.postgres_port)
        self.supervisor.start(postgres)
        self.postgres.create_database(DATABASE)
        log.info("applying migrations")
        upgrade(config.database_url)

        asyncio.run(self.temporal.wait_ready())

        python = sys.executable
        self._spawn("smtp-sink", [python, "-m", "sojourn.dev.smtp_sink", "--host", "127.0.0.1",
                                  "--port", str(config.smtp_port), "--database-url", config.database_url])
        self._wait_for_port("smtp-sink", config.smtp_port)
        if config.worker:
            self._spawn("worker", [python, "-m", "worker"])
        if config.api:
            self._spawn("api", [python, "-m", "api"])
            self._wait_for_api()

    def supervise(self, poll: float = 0.5) -> None:
        """Restart components that die, until one is given up on (`GaveUp`) or a stop is requested."""
        self.supervisor.run(poll)

    def stop(self) -> None:
        # The reverse of start order: api, worker, sink, then Temporal and Postgres.
        for component in reversed(self.components):
            if component.name == "postgres":
                self.postgres.stop()  # its own fast shutdown, not SIGTERM's smart one
            elif component.process is not None:
                terminate(component.process, timeout=15)
            if component.process is not None:
                log.info("%s stopped (%s)", component.name, describe_exit(component.process.returncode))

    def log_path(self, name: str) -> Path:
        return self.config.logs_dir / f"{name}.log"

    def component(self, name: str) -> Component:
        return next(c for c in self.components if c.name == name)

    def _launch_temporal(self) -> subprocess.Popen:
        self.temporal.start()
        try:
            asyncio.run(self.temporal.wait_ready())
        except BaseException:
            terminate(self.temporal.process)
            raise
        return self.temporal.process

    def _launch_postgres(self) -> subprocess.Popen:
        try:
            self.postgres.start()
        except BaseException:
            self.postgres.stop()  # one that started but never answered would hold the port for the next try
            raise
        return self.postgres.process

    def _spawn(self, name: str, args: list[str]) -> None:
        log.info("starting %s", name)

        def launch() -> subprocess.Popen:
            with open(self.log_path(name), "ab") as out:
                return subprocess.Popen(
                    args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=self.config.child_env(), start_new_session=True, preexec_fn=die_with_parent,
                )

        component = Component(name, launch, self.log_path(name))
        self.supervisor.start(component)
        self.components.append(component)

    def _take_lock(self) -> None:
        # Two supervisors on one data dir would run two Temporal servers on one SQLite file.
        handle = open(self.config.data_dir / "stack.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise StackError(f"another `sojourn dev` is running on {self.config.data_dir}") from None
        self._lock = handle  # held until this process exits

    def _stop_orphaned_postgres(self, timeout: float = 20.0) -> None:
        """Stop a Postgres left running on our data dir by a supervisor that was killed.

        The other children die with the supervisor (parent-death signal), but Postgres
        drops that setting when it switches user. Holding the lock proves no live stack owns it.
        """
        pgdata = EmbeddedPostgres(self.config.data_dir / "postgres", self.config.postgres_port).pgdata
        try:
            pid = int((pgdata / "postmaster.pid").read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            return
        if not cmdline or not cmdline[0].endswith(b"/postgres") or str(pgdata).encode() not in cmdline:
            return
        log.warning("stopping Postgres (pid %s) left running by a previous `sojourn dev`", pid)
        os.kill(pid, signal.SIGINT)  # fast shutdown
        deadline = time.monotonic() + timeout
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)

    def _check_ports(self) -> None:
        c = self.config
        wanted = {"postgres": ("127.0.0.1", c.postgres_port), "temporal": ("127.0.0.1", c.temporal_port),
                  "temporal ui": ("127.0.0.1", c.temporal_ui_port), "smtp sink": ("127.0.0.1", c.smtp_port)}
        if c.api:
            wanted["api"] = (c.api_host, c.api_port)
        taken = []
        for name, (host, port) in wanted.items():
            with socket.socket() as sock:
                # As the servers do: connections in TIME_WAIT from a previous run don't block the port.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((host, port))
                except OSError:
                    taken.append(f"{name} ({host}:{port})")
        if taken:
            raise StackError(f"ports already in use: {', '.join(taken)}; another stack running? "
                             "Choose others with --*-port flags or env vars")

    def _link_log(self, name: str, target: Path) -> None:
        # EmbeddedPostgres writes its own log; expose it beside the others.
        link = self.log_path(name)
        if not link.is_symlink():
            link.unlink(missing_ok=True)
            link.symlink_to(os.path.relpath(target, link.parent))

    def _ensure_alive(self, name: str) -> None:
        child = self.component(name)
        if child.process.poll() is not None:
            raise StackError(f"{name} exited with {child.process.returncode} while starting; "
                             f"see {child.log_path}\n{tail(child.log_path)}")

    def _wait_for_port(self, name: str, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._ensure_alive(name)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise StackError(f"{name} did not listen on port {port} in {timeout}s; see {self.log_path(name)}")

    def _wait_for_api(self, timeout: float = 60.0) -> None:
        """Ready when /healthz answers; healthy (200) too when a worker should be polling."""
        url = f"{self.config.api_url}/healthz"
        deadline = time.monotonic() + timeout
        answer: httpx.Response | None = None
        while time.monotonic() < deadline:
            self._ensure_alive("api")
            if self.config.worker:
                self._ensure_alive("worker")
            try:
                answer = httpx.get(url, timeout=5)
                if answer.status_code == 200 or not self.config.worker:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        if answer is None:
            raise StackError(f"api did not answer {url} in {timeout}s; see {self.log_path('api')}")
        log.warning("api is up but not healthy: %s", answer.text)


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _raise_stop(signum: int, frame: object) -> None:
    raise _StopRequested(signal.Signals(signum).name)


def _ignore(signum: int, frame: object) -> None:
    log.warning("%s received while stopping; still stopping", signal.Signals(signum).name)


def run(config: StackConfig, on_ready: Callable[[str], None] = lambda banner: None,
        backoff: Backoff | None = None) -> int:
    """Start the stack, call `on_ready(banner)`, supervise; 0 after SIGINT/SIGTERM, 1 on any failure
    (a component that failed to start, or kept dying after restarts)."""
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    stack = Stack(config, backoff or Backoff())
    code = 1
    try:
        stack.start()
        on_ready(config.banner())
        stack.supervise()
    except GaveUp as gave_up:
        log_path = gave_up.component.log_path
        log.error("%s; stopping the stack. Last lines of %s:\n%s", gave_up, log_path, tail(log_path))
    except _StopRequested as stop:
        log.info("%s: stopping", stop)
        code = 0
    except (StackError, RuntimeError, TimeoutError, subprocess.CalledProcessError) as err:
        log.error("the stack failed to start: %s", err)
    except Exception:
        log.exception("the stack failed to start")
    finally:
        for sig in previous:
            signal.signal(sig, _ignore)
        try:
            stack.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return code
