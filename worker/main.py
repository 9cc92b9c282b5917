"""Builds and runs the worker: journey workflows plus the activities they call."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import Worker

from activities.best_send_time import BestSendTimeActivities
from activities.enrollment import ContactsEnrollmentActivities, EnrollmentActivities
from activities.experiments import ExperimentActivities
from activities.journey_data import JourneyDataActivities
from activities.models import ModelsActivities
from activities.send import SendActivities
from activities.simulation import SimulationActivities
from activities.tagging import TaggingActivities
from sojourn.data.db import create_engine
from sojourn.delivery.channels.registry import build_channels
from sojourn.delivery.send import AfterAccepted, Sender
from sojourn.delivery.smtp_pool import SmtpPool
from sojourn.logs import configure_logging
from sojourn.services import schedules
from sojourn.services.batch_send import BatchSender
from sojourn.services.best_send_time import BestSendTimes
from sojourn.services.contact_enrollments import ContactChunks
from sojourn.services.enrollment_pages import EnrollmentPages
from sojourn.services.experiments import Assignments
from sojourn.services.heartbeat import heartbeat
from sojourn.services.journey_data import JourneyData
from sojourn.services.payload_codec import connect
from sojourn.services.simulated_decisions import SimulatedDecisions
from sojourn.services.tagging import Tagging
from sojourn.settings import Settings, get_settings
from worker.metrics import serving_metrics, temporal_runtime
from workflows.contacts_enrollment import ContactsEnrollmentWorkflow
from workflows.enrollment import EnrollmentWorkflow
from workflows.journey import JourneyWorkflow
from workflows.models import ModelsWorkflow
from workflows.simulation import SimulationWorkflow
from workflows.tagging import TaggingWorkflow

log = logging.getLogger(__name__)

WORKFLOWS = [JourneyWorkflow, EnrollmentWorkflow, ContactsEnrollmentWorkflow, TaggingWorkflow, SimulationWorkflow,
             ModelsWorkflow]


def build_activities(client: Client, engine: AsyncEngine, settings: Settings, sender: Sender) -> list[Callable]:
    """Every activity the workflows call, over services built once for this worker."""
    journey_data = JourneyData(engine, settings.brand_time_zone)
    send = SendActivities(sender, journey_data)
    data = JourneyDataActivities(journey_data)
    enrollment = EnrollmentActivities(EnrollmentPages(engine, client, BatchSender(sender, client)))
    contact_lists = ContactsEnrollmentActivities(ContactChunks(engine, client))
    tagging = TaggingActivities(Tagging(engine, settings.brand_time_zone))
    simulation = SimulationActivities(SimulatedDecisions(engine, settings))
    experiments = ExperimentActivities(Assignments(engine, settings.global_control_percent))
    models = ModelsActivities(engine, settings)
    best_times = BestSendTimeActivities(BestSendTimes(engine, settings))
    return [best_times.best_send_time, experiments.assign_arm, send.send, send.send_email, data.evaluate_conditions,
            data.next_local_time, data.tag_contact, data.record_steps, data.record_run_end, enrollment.count_audience,
            enrollment.enroll_page, contact_lists.enroll_contacts,
            tagging.run_tag_rules, simulation.simulate_send, simulation.simulate_conditions,
            simulation.simulate_next_local_time, simulation.simulate_tag, simulation.simulate_arm,
            models.nightly_day, models.plan_models, models.run_model_step,
            simulation.simulate_best_send_time]


@asynccontextmanager
async def journey_worker(
    client: Client,
    engine: AsyncEngine,
    settings: Settings,
    task_queue: str | None = None,
    after_accepted: AfterAccepted | None = None,
    **worker_options,
) -> AsyncIterator[Worker]:
    """A running worker for `task_queue`; stops (finishing in-flight tasks) on exit, then
    closes the SMTP pool and HTTP client it opened (the engine is the caller's)."""
    smtp = SmtpPool(settings)
    # Redirects are not followed: a provider or webhook must not bounce a request elsewhere.
    http = httpx.AsyncClient(follow_redirects=False, timeout=settings.provider_timeout)
    sender = Sender(engine, settings, build_channels(settings, smtp, http), after_accepted=after_accepted)
    worker_options.setdefault("max_cached_workflows", settings.worker_max_cached_workflows)
    worker = Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=WORKFLOWS,
        activities=build_activities(client, engine, settings, sender),
        **worker_options,
    )
    try:
        async with worker:
            yield worker
    finally:
        await smtp.close()
        await http.aclose()


async def serve(settings: Settings) -> None:
    if runtime := temporal_runtime(settings):
        # Before the client: its worker reports through the runtime it was made with.
        Runtime.set_default(runtime, error_if_already_set=False)
    engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
    client = await connect(settings, engine)
    # The nightly tagging, and the models run it starts, happen on every deployment, rules or not.
    await schedules.ensure_tagging(client, settings.brand_time_zone, settings.task_queue)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        # In-flight sends get time to finish (and record) before the process exits.
        async with journey_worker(client, engine, settings, graceful_shutdown_timeout=timedelta(seconds=20)):
            log.info("worker polling task queue %r on %s", settings.task_queue, settings.temporal_address)
            with serving_metrics(settings):
                async with heartbeat(settings.worker_health_file):
                    await stop.wait()
            log.info("worker stopping")
    finally:
        await engine.dispose()


def run() -> None:
    settings = get_settings()
    configure_logging(settings.log_format)
    asyncio.run(serve(settings))
