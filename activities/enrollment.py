"""The enrollment workflows' activities, over `sojourn.services.enrollment_pages` (segments) and
`sojourn.services.contact_enrollments` (contact lists)."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from sojourn.contracts.contact_enrollment import ENROLL_CONTACTS_ACTIVITY, EnrollContacts, EnrolledContacts
from sojourn.contracts.enrollment import COUNT_AUDIENCE_ACTIVITY, ENROLL_PAGE_ACTIVITY, EnrolledPage, EnrollPage
from sojourn.contracts.errors import ErrorType
from sojourn.data.segments import SegmentNotFound
from sojourn.services.contact_enrollments import ContactChunks
from sojourn.services.enrollment_pages import EnrollmentPages, JourneyNotActive
from sojourn.services.journeys import JourneyConflict


def _missing_segment(segment_id: str) -> ApplicationError:
    return ApplicationError(f"segment '{segment_id}' does not exist", type=ErrorType.SEGMENT_NOT_FOUND,
                            non_retryable=True)


class EnrollmentActivities:
    def __init__(self, pages: EnrollmentPages) -> None:
        self._pages = pages

    @activity.defn(name=COUNT_AUDIENCE_ACTIVITY)
    async def count_audience(self, page: EnrollPage) -> int:
        try:
            return await self._pages.count_audience(page.segment_id)
        except SegmentNotFound as err:
            raise _missing_segment(page.segment_id) from err

    @activity.defn(name=ENROLL_PAGE_ACTIVITY)
    async def enroll_page(self, page: EnrollPage) -> EnrolledPage:
        try:
            return await self._pages.enroll_page(page, heartbeat=activity.heartbeat)
        except JourneyNotActive as err:
            raise ApplicationError(str(err), type=ErrorType.JOURNEY_NOT_ACTIVE, non_retryable=True) from err
        except SegmentNotFound as err:
            raise _missing_segment(page.segment_id) from err


class ContactsEnrollmentActivities:
    def __init__(self, chunks: ContactChunks) -> None:
        self._chunks = chunks

    @activity.defn(name=ENROLL_CONTACTS_ACTIVITY)
    async def enroll_contacts(self, chunk: EnrollContacts) -> EnrolledContacts:
        try:
            return await self._chunks.enroll(chunk.journey_id, chunk.task_queue, chunk.contacts)
        except JourneyConflict as err:
            raise ApplicationError(str(err), type=ErrorType.JOURNEY_NOT_ACTIVE, non_retryable=True) from err
