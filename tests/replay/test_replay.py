"""Recorded histories must replay on the current interpreter: a non-deterministic
change to the journey workflow fails here, before it reaches running journeys."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from sojourn.contracts.journey import JourneyInput, JourneyState
from worker.main import WORKFLOWS
from workflows.journey import JourneyWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def _history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def test_there_are_recorded_histories():
    assert len(HISTORIES) >= 8


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path):
    await Replayer(workflows=WORKFLOWS).replay_workflow(_history(path))


@workflow.defn(name="JourneyWorkflow", sandboxed=False)
class _ReorderedJourney(JourneyWorkflow):
    """An unpatched change: every wait sleeps one extra second first."""

    @workflow.run
    async def run(self, input: JourneyInput) -> JourneyState:
        return await super().run(input)

    async def _wait(self, node) -> str:
        await asyncio.sleep(1)
        return await super()._wait(node)


async def test_an_unpatched_change_fails_replay():
    with pytest.raises(Exception, match="[Nn]ondeterminism|NonDeterminism|nondeterministic"):
        await Replayer(workflows=[_ReorderedJourney]).replay_workflow(
            _history(Path(__file__).parent / "histories" / "mothers_day_opener.json"))
