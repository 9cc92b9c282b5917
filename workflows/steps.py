"""How a run records its steps (sojourn/contracts/steps.py) without calling an activity per node.

Each node's step opens when the run enters the node and closes when it enters the next one or
ends. Closed steps wait in memory and ride on the next activity the run calls anyway (the send,
the run's end); only before it rests (a wait, a `wait_for`, a deferred send) does the run write
them itself, with one local activity, so a resting run is counted where it rests.

Part of the journey interpreter (workflows/interpreter.py): deterministic, passed through the sandbox.
"""

from __future__ import annotations

import dataclasses

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from sojourn.contracts.journey import JourneyInput, PathStep, SentMessage
    from sojourn.contracts.statuses import MessageStatus
    from sojourn.contracts.steps import (
        BEST_TIME,
        CANCELLED,
        DEFERRED,
        EXITED,
        LATE,
        RECORD_STEPS_ACTIVITY,
        RunSteps,
        Step,
    )
    from workflows.options import DATA_OPTIONS

_DEFERRED_PREFIX = "deferred until "
_LATE_PREFIX = "late by "
_BEST_TIME_PREFIX = "best time "


class StepRecording:
    """The step part of `JourneyInterpreter`, which owns the run's memory declared here."""

    _input: JourneyInput
    _path: list[PathStep]
    _messages: list[SentMessage]
    _started_at: str
    _exit_reason: str | None

    def _init_steps(self, unwritten: list[Step], taken: int) -> None:
        self._recording = self._input.record_steps
        self._unwritten = list(unwritten)
        self._steps_taken = taken
        self._open_step: Step | None = None
        self._open_step_written: Step | None = None  # as last written, to skip writing it unchanged

    def _open(self, node_id: str, node_type: str) -> None:
        if not self._recording:
            return
        self._close()
        self._steps_taken += 1
        self._open_step = Step(seq=self._steps_taken, node=node_id, type=node_type,
                               entered_at=workflow.now().isoformat())

    def _close(self, ending: str | None = None) -> None:
        """Close the open step with its way out (`ending`: the run ended there instead)."""
        step = self._open_step
        if step is None:
            return
        outcome, reason = self._way_out(step)
        # A run that ends mid-node left by its end, except a send it made: that message went.
        if ending is not None and (step.type != "send" or outcome in (None, DEFERRED, BEST_TIME)):
            outcome, reason = ending, self._exit_reason
        self._unwritten.append(dataclasses.replace(step, left_at=workflow.now().isoformat(), outcome=outcome,
                                                   reason=reason))
        self._open_step = self._open_step_written = None

    def _way_out(self, step: Step) -> tuple[str | None, str | None]:
        """The way out the node's handler noted on the path, made a funnel's category."""
        noted = self._path[-1].outcome if self._path and self._path[-1].node == step.node else None
        if noted is None:
            return None, None
        if step.type == "send":
            if noted.startswith(_DEFERRED_PREFIX):
                return DEFERRED, noted.split(": ", 1)[-1]
            if noted.startswith(_BEST_TIME_PREFIX):
                return BEST_TIME, noted
            message = self._messages[-1] if self._messages and self._messages[-1].node == step.node else None
            reason = message.reason if message and noted in (MessageStatus.SKIPPED, MessageStatus.FAILED) else None
            return str(noted), reason
        if noted.startswith(_LATE_PREFIX):
            return LATE, noted
        if step.type in ("branch", "split", "wait_for"):
            return noted, None
        return None, None  # one way out (a tag's weight is no way out)

    def _end_steps(self, status: str) -> RunSteps | None:
        """Close the last step as the run ends; every step not written yet."""
        if not self._recording:
            return None
        self._close(EXITED if status == "exited" else CANCELLED if status == "cancelled" else None)
        return self._take_steps()

    def _take_steps(self) -> RunSteps | None:
        """The steps to write now, the open one as it stands; None when nothing changed."""
        if not self._recording:
            return None
        steps = list(self._unwritten)
        if self._open_step is not None:
            current = dataclasses.replace(self._open_step, **dict(zip(("outcome", "reason"),
                                                                      self._way_out(self._open_step))))
            if current != self._open_step_written:
                steps.append(current)
                self._open_step_written = current
        if not steps:
            return None
        self._unwritten = []
        info = workflow.info()
        return RunSteps(run_id=info.first_execution_run_id, journey_id=self._input.journey_id,
                        version=self._input.version, contact_id=self._input.contact_id,
                        started_at=self._started_at, steps=steps)

    async def _before_rest(self, node_id: str) -> None:
        """Write what the run did so far, with where it now rests."""
        steps = self._take_steps()
        if steps is not None:
            await workflow.execute_local_activity(RECORD_STEPS_ACTIVITY, steps, summary=f"{node_id}: steps",
                                                  **DATA_OPTIONS)

    def _steps_to_carry(self) -> list[Step]:
        """Continuing as new between two nodes: the last one is left, and its step goes along."""
        self._close()
        return self._unwritten
