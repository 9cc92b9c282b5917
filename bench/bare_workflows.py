"""Bare Temporal baselines for the benchmarks: the same shapes as the journeys, no engine.

Kept in their own module (standard library and temporalio only) because the
workflow sandbox re-imports a workflow's module for every run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow

BARE_SEND_ACTIVITY = "bare_send"


@dataclass
class BareSend:
    recipient: str
    subject: str
    text: str
    html: str


@dataclass
class BareInput:
    recipient: str
    subject_prefix: str
    text: str
    html: str


@workflow.defn(name="BareEnrollWorkflow")
class BareEnrollWorkflow:
    """send -> sleep 1s -> wait for an `opened` signal (1s timeout) -> send: the journey in bench/enroll.py."""

    def __init__(self) -> None:
        self._opened = False

    @workflow.run
    async def run(self, input: BareInput) -> None:
        await self._send(input, "first")
        await workflow.sleep(timedelta(seconds=1))
        try:
            await workflow.wait_condition(lambda: self._opened, timeout=timedelta(seconds=1))
        except asyncio.TimeoutError:
            pass
        await self._send(input, "second")

    @workflow.signal
    def opened(self) -> None:
        self._opened = True

    async def _send(self, input: BareInput, node: str) -> None:
        await workflow.execute_activity(
            BARE_SEND_ACTIVITY,
            BareSend(input.recipient, f"{input.subject_prefix} {node}", input.text, input.html),
            start_to_close_timeout=timedelta(seconds=60),
        )


@workflow.defn(name="BareSleepWorkflow")
class BareSleepWorkflow:
    """A long timer, then a send: the journey in bench/memory.py, without the engine."""

    @workflow.run
    async def run(self, input: BareInput) -> None:
        await workflow.sleep(timedelta(days=30))
        await workflow.execute_activity(
            BARE_SEND_ACTIVITY,
            BareSend(input.recipient, f"{input.subject_prefix} after", input.text, input.html),
            start_to_close_timeout=timedelta(seconds=60),
        )
