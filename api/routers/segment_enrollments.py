"""Enrolling a whole segment into a journey: an enrollment workflow, with its progress."""

from __future__ import annotations

from fastapi import Response

from api.deps import SessionDep, SettingsDep, TemporalDep
from api.routing import conflict, resource_router
from api.schemas.common import ResourceId
from api.schemas.enrollments import EnrollmentControlOut, SegmentEnrollmentOut, SegmentEnrollmentRequest
from sojourn.services import enrollments

router = resource_router(prefix="/v1/journeys/{journey_id}/segment-enrollments", tags=["journeys"])

_ENDED = conflict("The enrollment is not running any more.")


@router.post("", status_code=202, response_model=SegmentEnrollmentOut,
             responses=conflict("The journey is not active."))
async def enroll_segment(journey_id: ResourceId, body: SegmentEnrollmentRequest, session: SessionDep,
                         client: TemporalDep, settings: SettingsDep) -> dict:
    """Enroll every contact of a segment, in pages, by an enrollment workflow; one run per contact
    per enrollment. Answers at once; follow it with GET."""
    return await enrollments.start(session, client, settings.task_queue, journey_id, body.segment,
                                   body.enrollment_id, body.page_size, body.delivery)


@router.get("/{enrollment_id}", response_model=SegmentEnrollmentOut)
async def get_enrollment(journey_id: ResourceId, enrollment_id: ResourceId, client: TemporalDep) -> dict:
    return await enrollments.progress(client, journey_id, enrollment_id)


@router.post("/{enrollment_id}/pause", status_code=202, response_model=EnrollmentControlOut, responses=_ENDED)
async def pause(journey_id: ResourceId, enrollment_id: ResourceId, client: TemporalDep) -> EnrollmentControlOut:
    """Stops after the page in progress (runs already started go on); GET shows `paused`."""
    await enrollments.pause(client, journey_id, enrollment_id)
    return EnrollmentControlOut(enrollment_id=enrollment_id, requested="pause")


@router.post("/{enrollment_id}/resume", status_code=202, response_model=EnrollmentControlOut, responses=_ENDED)
async def resume(journey_id: ResourceId, enrollment_id: ResourceId, client: TemporalDep) -> EnrollmentControlOut:
    await enrollments.resume(client, journey_id, enrollment_id)
    return EnrollmentControlOut(enrollment_id=enrollment_id, requested="resume")


@router.delete("/{enrollment_id}", status_code=204, responses=_ENDED)
async def cancel(journey_id: ResourceId, enrollment_id: ResourceId, client: TemporalDep) -> Response:
    """Enrolls nobody more; runs already started go on (cancel those one by one)."""
    await enrollments.cancel(client, journey_id, enrollment_id)
    return Response(status_code=204)
