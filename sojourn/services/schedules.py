"""Scheduled journeys: one Temporal Schedule per journey whose entry is a `schedule`, kept in
step with the journey. Each firing starts an enrollment workflow over the `audience` segment."""

from __future__ import annotations

import logging

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
)
from temporalio.service import RPCError, RPCStatusCode

from sojourn.contracts.enrollment import EnrollmentInput, enrollment_workflow_id
from sojourn.contracts.tagging import TAGGING_WORKFLOW_ID, TaggingRequest
from sojourn.dsl.definition import JourneyDefinition
from sojourn.dsl.definition import Schedule as JourneySchedule
from sojourn.dsl.send_windows import WEEKDAYS, parse_local_time
from sojourn.dsl.validation import DefinitionError, problem
from sojourn.errors import SojournError, UpstreamFailed
from sojourn.services.temporal_reach import TemporalUnavailable, out_of_reach

log = logging.getLogger(__name__)


def schedule_id(journey_id: str) -> str:
    return f"journey-schedule/{journey_id}"


def _schedule(journey_id: str, definition: JourneyDefinition, task_queue: str, paused: bool) -> Schedule:
    entry = definition.entry
    return Schedule(
        # Temporal appends each firing's time to this id: the enrollment takes it as its own id.
        action=ScheduleActionStartWorkflow(
            "EnrollmentWorkflow",
            EnrollmentInput(journey_id=journey_id, segment_id=entry.audience, enrollment_id="", task_queue=task_queue,
                            keyed=False),
            id=enrollment_workflow_id(journey_id, "firing"), task_queue=task_queue),
        spec=_spec(entry.schedule, start_at=entry.starts_at, end_at=entry.ends_at),
        # A firing that finds the last one still enrolling waits for it, once.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.BUFFER_ONE),
        state=ScheduleState(paused=paused, note="journey paused" if paused else None),
    )


def _spec(schedule: JourneySchedule, **bounds) -> ScheduleSpec:
    if schedule.cron is not None:
        return ScheduleSpec(cron_expressions=[schedule.cron], time_zone_name=schedule.time_zone, **bounds)
    calendar = schedule.calendar
    at = parse_local_time(calendar.at)

    def every(values) -> list[ScheduleRange]:
        return [ScheduleRange(value) for value in values]

    listed = {}  # a field left out is every value (ScheduleCalendarSpec's default)
    if calendar.weekdays:
        # Temporal counts the week from Sunday (0); ours starts on Monday.
        listed["day_of_week"] = every((WEEKDAYS.index(day) + 1) % 7 for day in calendar.weekdays)
    if calendar.days:
        listed["day_of_month"] = every(calendar.days)
    if calendar.months:
        listed["month"] = every(calendar.months)
    return ScheduleSpec(calendars=[ScheduleCalendarSpec(hour=every([at.hour]), minute=every([at.minute]), **listed)],
                        time_zone_name=schedule.time_zone, **bounds)


def _refusal(err: Exception) -> SojournError:
    """Temporal's answer in the API's terms: the definition's fault (422), Temporal out of reach
    (503), or anything else Temporal refused (502)."""
    status = err.status if isinstance(err, RPCError) else None
    if status == RPCStatusCode.INVALID_ARGUMENT:
        return DefinitionError([problem(None, "entry.schedule", f"Temporal refused the schedule: {err.message}")])
    if out_of_reach(err):
        return TemporalUnavailable("Temporal is unavailable, so the journey's schedule cannot be changed; "
                                   "nothing was changed, try again")
    return UpstreamFailed(f"Temporal refused the journey's schedule: {status.name}: {err.message}")


async def sync(client: Client, journey_id: str, status: str, definition: JourneyDefinition, task_queue: str,
               version_changed: bool = False) -> None:
    """Make the journey's schedule match its status and newest version: none unless the entry is
    a schedule and the journey is active or paused; paused with the journey. Raises the refusal
    to answer (`_refusal`) if Temporal does not do it."""
    try:
        await _sync(client, journey_id, status, definition, task_queue, version_changed)
    except RPCError as err:
        raise _refusal(err) from err
    except RuntimeError as err:
        if not out_of_reach(err):
            raise
        raise _refusal(err) from err


async def _sync(client: Client, journey_id: str, status: str, definition: JourneyDefinition, task_queue: str,
                version_changed: bool) -> None:
    handle = client.get_schedule_handle(schedule_id(journey_id))
    scheduled = definition.entry is not None and definition.entry.schedule is not None
    if status == "draft" or (not scheduled and not version_changed):
        return  # a draft was never scheduled; only a new version can leave behind an older one's schedule
    if not (scheduled and status in ("active", "paused")):
        try:
            await handle.delete()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
        return
    schedule = _schedule(journey_id, definition, task_queue, paused=status == "paused")
    try:
        await client.create_schedule(schedule_id(journey_id), schedule)
    except ScheduleAlreadyRunningError:
        await handle.update(lambda _: ScheduleUpdate(schedule=schedule))


TAGGING_SCHEDULE_ID = "tagging-nightly"


async def ensure_tagging(client: Client, brand_time_zone: str, task_queue: str) -> None:
    """The nightly analysis (tagging, then the models) at 00:00 in the brand's time zone, made when a
    worker starts and again with each tag rule (a deployment whose schedule was deleted gets it back)."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow("TaggingWorkflow", TaggingRequest(), id=TAGGING_WORKFLOW_ID,
                                           task_queue=task_queue),
        spec=ScheduleSpec(cron_expressions=["0 0 * * *"], time_zone_name=brand_time_zone),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP))
    try:
        await client.create_schedule(TAGGING_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        pass
