"""An enrollment's work, page by page: count the segment, then enroll each page of it (one
run per contact, or the page's messages in a batch when the journey is a single send)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from sojourn.contracts.enrollment import ERRORS_PER_PAGE, EnrolledPage, EnrollPage
from sojourn.data import segments
from sojourn.data.db import session_factory
from sojourn.dsl.definition import JourneyDefinition
from sojourn.errors import Conflict
from sojourn.services.batch_send import BatchSender
from sojourn.services.journeys import enter, get_journey, get_version


class JourneyNotActive(Conflict):
    """The journey was paused or archived since the enrollment started."""


class EnrollmentPages:
    def __init__(self, engine: AsyncEngine, client: Client, batches: BatchSender) -> None:
        self._sessions = session_factory(engine)
        self._client = client
        self._batches = batches

    async def count_audience(self, segment_id: str) -> int:
        """How many contacts the segment has now; segments.SegmentNotFound if it is gone."""
        async with self._sessions() as session:
            return await segments.count(session, {"segment": segment_id})

    async def enroll_page(self, page: EnrollPage, *, heartbeat: Callable[..., None]) -> EnrolledPage:
        """Start the runs of the next `limit` contacts of the segment after `after_id` that the
        journey's re-entry rule lets in (a page done twice finds its runs there already). A journey that is a single
        send goes out from here instead, in a batch (unless `delivery` asks for runs).

        `heartbeat` is called as the page progresses. Raises JourneyNotActive, and
        segments.SegmentNotFound if the segment is gone."""
        async with self._sessions() as session:
            journey = await get_journey(session, page.journey_id)
            if journey.status != "active":
                raise JourneyNotActive(f"journey '{page.journey_id}' is {journey.status}")
            version = await get_version(session, page.journey_id, journey.latest_version)
            definition = JourneyDefinition.model_validate(version.definition)
            single = definition.single_send() if page.delivery == "auto" else None
            mode = "batch" if single is not None else "runs"
            contacts = await segments.contacts(session, {"segment": page.segment_id}, page.limit, page.after_id)
            if not contacts:
                return EnrolledPage(last_id=None, mode=mode)
            last_id = contacts[-1].id
            if single is not None:
                return await self._batches.send_page(session, page, version, definition, single, contacts,
                                                     heartbeat=heartbeat)
            # Keyed by the enrollment (a page done twice finds its runs), but whether a contact
            # may enter at all is the journey's re-entry rule over all of their runs.
            results = await enter(session, self._client, page.task_queue, page.journey_id, version, contacts,
                                  key=page.enrollment_id if page.keyed else None, progress=heartbeat)
        failed = [r for r in results if r.status == "failed"]
        return EnrolledPage(
            last_id=last_id,
            enrolled=sum(r.status == "started" for r in results),
            existing=sum(r.status == "existing" for r in results),
            failed=len(failed),
            errors=[f"{r.contact}: {r.error}" for r in failed[:ERRORS_PER_PAGE]],
        )
