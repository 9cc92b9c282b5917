"""Enrolling a whole segment into a journey: pages of contacts, each page
one activity that starts their runs with bounded concurrency (or, for a journey that is a
single send, sends the page's messages itself); pausable, resumable, cancellable, and
continued-as-new as its history grows. Its progress is a query."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from sojourn.contracts.enrollment import (
        COUNT_AUDIENCE_ACTIVITY,
        ENROLL_PAGE_ACTIVITY,
        PAUSE_SIGNAL,
        PROGRESS_QUERY,
        RESUME_SIGNAL,
        EnrolledPage,
        EnrollmentInput,
        EnrollmentProgress,
        EnrollPage,
    )
    from workflows.options import COUNT_AUDIENCE_OPTIONS, ENROLL_PAGE_OPTIONS

PAGES_BEFORE_CONTINUE = 100
ERRORS_KEPT = 20


@workflow.defn(name="EnrollmentWorkflow")
class EnrollmentWorkflow:
    @workflow.init
    def __init__(self, input: EnrollmentInput) -> None:
        self._state = input
        self._paused = False
        self._status = "counting"

    @workflow.run
    async def run(self, input: EnrollmentInput) -> EnrollmentProgress:
        state = self._state
        if not state.enrollment_id:
            state.enrollment_id = workflow.info().workflow_id.rsplit("/", 1)[-1]
        if state.started_at is None:
            state.started_at = workflow.now().isoformat()
        if state.total is None:
            state.total = await workflow.execute_activity(
                COUNT_AUDIENCE_ACTIVITY,
                EnrollPage(journey_id=state.journey_id, segment_id=state.segment_id, enrollment_id=state.enrollment_id,
                           task_queue=state.task_queue, after_id=None, limit=0),
                result_type=int, **COUNT_AUDIENCE_OPTIONS)
        self._status = "running"  # `progress` says paused while a pause holds it
        for _ in range(PAGES_BEFORE_CONTINUE):
            await workflow.wait_condition(lambda: not self._paused)
            page = await workflow.execute_activity(
                ENROLL_PAGE_ACTIVITY,
                EnrollPage(journey_id=state.journey_id, segment_id=state.segment_id, enrollment_id=state.enrollment_id,
                           task_queue=state.task_queue, after_id=state.after_id, limit=state.page_size,
                           keyed=state.keyed, delivery=state.delivery),
                result_type=EnrolledPage,
                **ENROLL_PAGE_OPTIONS,
            )
            state.enrolled += page.enrolled
            state.existing += page.existing
            state.failed += page.failed
            state.sent += page.sent
            state.skipped += page.skipped
            state.held += page.held
            state.mode = page.mode
            state.errors = (state.errors + page.errors)[-ERRORS_KEPT:]
            if page.last_id is None:
                self._status = "completed"
                return self.progress()
            state.after_id = page.last_id
        workflow.continue_as_new(dataclasses.replace(state))

    @workflow.signal(name=PAUSE_SIGNAL)
    def pause(self) -> None:
        self._paused = True

    @workflow.signal(name=RESUME_SIGNAL)
    def resume(self) -> None:
        self._paused = False

    @workflow.query(name=PROGRESS_QUERY)
    def progress(self) -> EnrollmentProgress:
        state = self._state
        done = state.enrolled + state.existing + state.failed
        seconds = (workflow.now() - datetime.fromisoformat(state.started_at)).total_seconds() if state.started_at else 0
        return EnrollmentProgress(
            journey_id=state.journey_id, segment_id=state.segment_id, enrollment_id=state.enrollment_id,
            status="paused" if self._paused and self._status != "completed" else self._status,
            total=state.total, enrolled=state.enrolled, existing=state.existing, failed=state.failed,
            errors=state.errors, started_at=state.started_at,
            per_second=round(done / seconds, 1) if seconds > 0 else None,
            mode=state.mode, sent=state.sent, skipped=state.skipped, held=state.held)
