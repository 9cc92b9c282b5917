"""Enrolling a list of contacts that is too big to answer inline: chunks of the list, each one
activity through the same enroll path as a direct call; the per-contact results so far are a query."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from sojourn.contracts.contact_enrollment import (
        CONTACT_RESULTS_QUERY,
        ENROLL_CONTACTS_ACTIVITY,
        ContactResult,
        ContactsEnrollmentInput,
        ContactsEnrollmentState,
        EnrollContacts,
        EnrolledContacts,
    )
    from workflows.options import ENROLL_PAGE_OPTIONS


@workflow.defn(name="ContactsEnrollmentWorkflow")
class ContactsEnrollmentWorkflow:
    @workflow.init
    def __init__(self, input: ContactsEnrollmentInput) -> None:
        self._input = input
        self._results: list[ContactResult] = []
        self._version: int | None = None
        self._status = "running"

    @workflow.run
    async def run(self, input: ContactsEnrollmentInput) -> ContactsEnrollmentState:
        for start in range(0, len(input.contacts), input.chunk_size):
            chunk = input.contacts[start:start + input.chunk_size]
            try:
                done = await workflow.execute_activity(
                    ENROLL_CONTACTS_ACTIVITY,
                    EnrollContacts(journey_id=input.journey_id, task_queue=input.task_queue, contacts=chunk),
                    result_type=EnrolledContacts, **ENROLL_PAGE_OPTIONS)
            except ActivityError as err:  # only final refusals get here (the journey was paused or archived)
                reason = str(err.cause or err)
                done = EnrolledContacts(version=None, results=[
                    ContactResult(contact=contact, status="failed", error=reason) for contact in chunk])
            self._version = self._version or done.version
            self._results.extend(done.results)
        self._status = "completed"
        return self.state()

    @workflow.query(name=CONTACT_RESULTS_QUERY)
    def state(self) -> ContactsEnrollmentState:
        return ContactsEnrollmentState(
            journey_id=self._input.journey_id, enrollment_id=self._input.enrollment_id, status=self._status,
            total=len(self._input.contacts), version=self._version, results=list(self._results))
