"""What every benchmark needs: the embedded stack in a temp dir, contacts, counting, RSS.

`bench_stack()` starts, in a fresh temporary directory:

- embedded Postgres with the migrations applied,
- the Temporal dev server on a SQLite *file* with the WAL pragmas (the default
  embedded set-up, not the faster in-memory store), headless, on free ports,
- the SMTP sink in its own process (`python -m sojourn.dev.smtp_sink`), so
  the provider's work does not share the worker's event loop,

and yields a `Stack` with a Temporal client, a database engine and `Settings`
pointing at all of it. Everything is stopped and the directory removed on exit
(`keep=True` keeps the directory, logs included, for a post-mortem).

Benchmarks never wait on `handle.result()` for many runs at once: those long
polls exhaust the namespace's poller limit and starve the worker (measured: see docs/benchmarks.md).
They count with visibility instead (`wait_for_count`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from sojourn.data import db
from sojourn.data.models import Contact, MailboxMessage
from sojourn.dev.postgres import EmbeddedPostgres, free_port
from sojourn.dev.temporal import TemporalDevServer, terminate
from sojourn.services.payload_codec import with_codec
from sojourn.settings import Settings

log = logging.getLogger("bench")

BENCH_DIR = Path(__file__).resolve().parent
DATABASE = "sojourn"
# The journey API enrolls at most this many ids per call.
ENROLL_CHUNK = 1000


@dataclass
class Stack:
    data_dir: Path
    postgres: EmbeddedPostgres
    temporal: TemporalDevServer
    sink: subprocess.Popen
    client: Client
    engine: AsyncEngine
    settings: Settings

    @property
    def database_url(self) -> str:
        return self.settings.database_url

    def worker_env(self, task_queue: str) -> dict[str, str]:
        """Environment for a worker child process (`Settings` reads these)."""
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.settings.database_url,
            TEMPORAL_ADDRESS=self.settings.temporal_address,
            TEMPORAL_NAMESPACE=self.settings.temporal_namespace,
            TASK_QUEUE=task_queue,
            SMTP_HOST=self.settings.smtp_host,
            SMTP_PORT=str(self.settings.smtp_port),
        )
        return env


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The SDK warns about every slow task on an overloaded machine; keep the output readable.
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    logging.getLogger("httpx").setLevel(logging.WARNING)


@asynccontextmanager
async def bench_stack(keep: bool = False) -> AsyncIterator[Stack]:
    data_dir = Path(tempfile.mkdtemp(prefix="sojourn-bench-"))
    data_dir.chmod(0o755)  # Postgres runs as an unprivileged user when we are root
    postgres = EmbeddedPostgres(data_dir / "pg", free_port())
    temporal = TemporalDevServer(db_path=data_dir / "temporal" / "temporal.db", port=free_port(), ui_port=None,
                                 log_path=data_dir / "logs" / "temporal.log")
    sink: subprocess.Popen | None = None
    engine: AsyncEngine | None = None
    try:
        await asyncio.to_thread(postgres.start)
        await asyncio.to_thread(postgres.create_database, DATABASE)
        database_url = postgres.url(DATABASE)
        await asyncio.to_thread(db.upgrade, database_url)
        log.info("postgres on port %s, migrated", postgres.port)

        temporal.start()
        client = await temporal.wait_ready()
        log.info("temporal dev server on %s (SQLite file, WAL, synchronous=normal)", temporal.address)

        smtp_port = free_port()
        sink = _start_sink(database_url, smtp_port, data_dir / "logs" / "smtp-sink.log")
        await _wait_listening("127.0.0.1", smtp_port, sink)
        log.info("SMTP sink on port %s", smtp_port)

        engine = db.create_engine(database_url)
        settings = Settings(
            data_dir=data_dir,
            database_url=database_url,
            temporal_address=temporal.address,
            task_queue=f"bench-{os.getpid()}",
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            smtp_username=None,
            smtp_password=None,
            smtp_use_tls=False,
            smtp_start_tls=False,
            public_base_url="http://sojourn.bench",
        )
        # The enrolling "API" encrypts journey inputs as the real one does.
        yield Stack(data_dir, postgres, temporal, sink, with_codec(client, engine, settings), engine, settings)
    finally:
        if engine is not None:
            await engine.dispose()
        if sink is not None:
            await asyncio.to_thread(terminate, sink)
        await asyncio.to_thread(temporal.stop)
        await asyncio.to_thread(postgres.stop)
        if keep:
            log.info("kept %s", data_dir)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def _start_sink(database_url: str, port: int, log_path: Path) -> subprocess.Popen:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "sojourn.dev.smtp_sink", "--host", "127.0.0.1", "--port", str(port),
             "--database-url", database_url],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )


async def _wait_listening(host: str, port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process {process.args} exited with {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            await asyncio.sleep(0.1)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


async def add_contacts(engine: AsyncEngine, prefix: str, count: int) -> list[str]:
    """Insert `count` contacts with an email address; returns their external ids."""
    ids = [f"{prefix}-{i:06d}" for i in range(count)]
    async with engine.begin() as conn:
        for start in range(0, count, 5000):
            await conn.execute(insert(Contact), [
                {"external_id": ext, "email": f"{ext}@bench.example", "first_name": f"Contact {i}",
                 "attributes": {}}
                for i, ext in enumerate(ids[start:start + 5000], start)
            ])
    return ids


def chunks(items: list, size: int = ENROLL_CHUNK) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


async def wait_for_count(client: Client, query: str, target: int, timeout: float,
                         interval: float = 0.5, label: str = "") -> float:
    """Poll visibility every `interval` s until `query` counts `target`; returns time.time() then."""
    deadline = time.monotonic() + timeout
    last_logged = 0.0
    count = 0
    while True:
        count = (await client.count_workflows(query)).count
        now = time.time()
        if count >= target:
            return now
        if time.monotonic() > deadline:
            raise TimeoutError(f"{label or query}: {count}/{target} after {timeout:.0f}s")
        if time.monotonic() - last_logged > 5:
            log.info("%s: %d/%d", label or query, count, target)
            last_logged = time.monotonic()
        await asyncio.sleep(interval)


async def last_close_time(client: Client, query: str) -> datetime | None:
    """The latest close time among the workflows `query` matches (exact end of a run)."""
    latest: datetime | None = None
    async for execution in client.list_workflows(query, page_size=1000):
        if execution.close_time is not None and (latest is None or execution.close_time > latest):
            latest = execution.close_time
    return latest


async def mailbox_count(engine: AsyncEngine, subject_prefix: str) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(MailboxMessage).where(
            MailboxMessage.subject.startswith(subject_prefix)))).scalar_one()


class WorkerProcess:
    """`bench/worker_process.py` as a child process on `task_queue`, stopped with SIGTERM on exit."""

    def __init__(self, stack: Stack, kind: str, task_queue: str, max_cached_workflows: int | None = None,
                 metrics: bool = False) -> None:
        self.stack = stack
        self.kind = kind
        self.task_queue = task_queue
        self.max_cached_workflows = max_cached_workflows
        self.metrics_port = free_port() if metrics else None
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def __aenter__(self) -> WorkerProcess:
        args = [sys.executable, str(BENCH_DIR / "worker_process.py"), "--kind", self.kind]
        if self.max_cached_workflows is not None:
            args += ["--max-cached-workflows", str(self.max_cached_workflows)]
        if self.metrics_port is not None:
            args += ["--metrics-port", str(self.metrics_port)]
        log_path = self.stack.data_dir / "logs" / f"worker-{self.task_queue}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as errors:
            self.process = subprocess.Popen(args, env=self.stack.worker_env(self.task_queue), stdout=subprocess.PIPE,
                                            stderr=errors, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            line = await asyncio.wait_for(asyncio.to_thread(self.process.stdout.readline), timeout=60)
            if line.strip() != b"READY":
                raise RuntimeError(f"{self.kind} worker did not start (exit {self.process.poll()}); see {log_path}")
        except BaseException:
            await asyncio.to_thread(terminate, self.process)
            raise
        log.info("%s worker pid %s on %s", self.kind, self.pid, self.task_queue)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.process is not None:
            code = await asyncio.to_thread(terminate, self.process, 30.0)
            if code not in (0, None):
                log.warning("%s worker exited with %s", self.kind, code)

    async def metric(self, name: str) -> float:
        """The sum of a Prometheus metric the worker's SDK runtime exports (needs `metrics=True`)."""
        assert self.metrics_port is not None
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10)).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and line[len(name):len(name) + 1] in ("{", " "):
                total += float(line.rsplit(" ", 1)[1])
        return total


_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()  # fields from the state on; the name may hold spaces


def cpu_seconds(pid: int, with_reaped_children: bool = False) -> float:
    """CPU time (user + system) `pid` has used, from /proc; plus its waited-for children's if asked."""
    fields = _stat(pid)
    ticks = int(fields[11]) + int(fields[12])
    if with_reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICKS


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of `pid`, its exited children, and its live children (Postgres: postmaster and backends)."""
    total = cpu_seconds(pid, with_reaped_children=True)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = _stat(int(entry))
                if int(fields[1]) == pid:
                    total += (int(fields[11]) + int(fields[12])) / _TICKS
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
    return total


def cpu_snapshot(stack: Stack, worker_pid: int | None) -> dict[str, float]:
    """CPU seconds used so far by each part of the stack; `driver` is this process."""
    snapshot = {
        "temporal": cpu_seconds(stack.temporal.process.pid),
        "postgres": tree_cpu_seconds(stack.postgres.process.pid),
        "smtp_sink": cpu_seconds(stack.sink.pid),
        "driver": cpu_seconds(os.getpid()),
    }
    if worker_pid is not None and worker_pid != os.getpid():
        snapshot["worker"] = cpu_seconds(worker_pid)
    return snapshot


def cpu_ms_per_run(before: dict[str, float], after: dict[str, float], runs: int) -> dict[str, float]:
    used = {part: (after[part] - before[part]) * 1000 / runs for part in before}
    used["total"] = sum(used.values())
    return {part: round(ms, 2) for part, ms in used.items()}


def rss_kb(pid: int) -> int:
    """Resident set size of `pid` in KiB, from /proc (Linux)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def settled_rss_kb(pid: int, settle: float = 3.0, samples: int = 5, every: float = 0.5) -> int:
    """Median RSS over a few samples, after letting the process go quiet for `settle` s."""
    await asyncio.sleep(settle)
    values = []
    for _ in range(samples):
        values.append(rss_kb(pid))
        await asyncio.sleep(every)
    return int(statistics.median(values))


async def gated(limit: int, items: list, one: Callable) -> list:
    """Run `one(item)` for every item with at most `limit` in flight."""
    gate = asyncio.Semaphore(limit)

    async def run(item):
        async with gate:
            return await one(item)

    return await asyncio.gather(*(run(item) for item in items))


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0]}


def print_result(figures: dict) -> None:
    """The benchmark's last line: `RESULT {json}`."""
    sys.stdout.flush()
    print("RESULT " + json.dumps(figures, sort_keys=False), flush=True)
