"""A `sojourn worker` process serves its own metrics (messages by channel and status, send
latency, deferrals, rate-limit waits and refusals) and the Temporal SDK's on the ports its settings
name; scraped over HTTP before and after a journey sends three messages at once under a rate of
one a second and defers a fourth, each moved by exactly that."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import httpx

from sojourn.dev.postgres import free_port
from sojourn.settings import Settings

from helpers import create_active_journey, enroll, put_contact, single_send, zone_at
from metrics_scrape import Samples, dashboard_metrics, moved, scrape, value


def _environment(settings: Settings, temporal_address: str, port: int, temporal_port: int) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": settings.database_url, "TEMPORAL_ADDRESS": temporal_address,
            "TASK_QUEUE": settings.task_queue, "SMTP_HOST": settings.smtp_host, "SMTP_PORT": str(settings.smtp_port),
            "PUBLIC_BASE_URL": settings.public_base_url, "TRACKING_SECRET": settings.tracking_secret,
            "QUIET_HOURS": "22:00-08:00", "CHANNEL_RATES": '{"email": 1}', "WORKER_METRICS_PORT": str(port),
            "WORKER_TEMPORAL_METRICS_PORT": str(temporal_port)}


async def _when_up(url: str, worker, log: Path) -> Samples:
    deadline = time.monotonic() + 60
    while True:
        assert worker.returncode is None, log.read_text()
        assert time.monotonic() < deadline, f"{url} not up in 60 s\n{log.read_text()}"
        try:
            return await scrape(url)
        except httpx.TransportError:
            await asyncio.sleep(0.3)


async def _until(url: str, done, timeout: float = 30) -> Samples:
    deadline = time.monotonic() + timeout
    while not done(samples := await scrape(url)) and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
    return samples


async def test_a_worker_serves_its_metrics_and_the_sdks(api, settings, temporal_env, smtp_sink, tmp_path, unique):
    ours, sdk = free_port(), free_port()
    ours_url, sdk_url = f"http://127.0.0.1:{ours}/metrics", f"http://127.0.0.1:{sdk}/metrics"
    log = tmp_path / "worker.log"
    env = _environment(settings, temporal_env.client.service_client.config.target_host, ours, sdk)
    worker = await asyncio.create_subprocess_exec(sys.executable, "-m", "worker", env=env,
                                                  stdout=asyncio.subprocess.DEVNULL, stderr=log.open("w"))
    try:
        before, sdk_before = await _when_up(ours_url, worker, log), await _when_up(sdk_url, worker, log)
        journey = f"wm-{unique}"
        await create_active_journey(api, journey, single_send(f"Metrics {unique}"))
        days = [f"day{n}-{unique}" for n in range(3)]
        for day in days:  # at noon where they live, whatever the hour here: quiet hours are 22:00-08:00
            await put_contact(api, day, email=f"{day}@example.com", time_zone=zone_at(12))
        await put_contact(api, f"night-{unique}", email=f"night-{unique}@example.com", time_zone=zone_at(23))
        await enroll(api, journey, *days, f"night-{unique}")

        email = {"channel": "email"}
        after = await _until(ours_url, lambda now: moved(before, now, "sojourn_messages_total", **email,
                                                         status="sent") >= 3
                             and moved(before, now, "sojourn_messages_total", **email, status="deferred") >= 1)
        sdk_after = await _until(sdk_url, lambda now: value(now, "temporal_workflow_completed_total",
                                                            task_queue=settings.task_queue) >= 1)
    finally:
        if worker.returncode is None:
            worker.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.wait(), 30)

    assert moved(before, after, "sojourn_messages_total", **email, status="sent") == 3
    assert moved(before, after, "sojourn_messages_total", **email, status="deferred") == 1
    assert moved(before, after, "sojourn_send_deferrals_total", **email, cause="quiet_hours") == 1
    assert moved(before, after, "sojourn_send_duration_seconds_count", **email) == 3  # the ones handed over
    # Three at once at one a second: a slot within the second ahead is waited for, a later one
    # is given back to Temporal (its retry then waits or is given back again, hence at least).
    assert moved(before, after, "sojourn_rate_limit_wait_seconds_count", **email) >= 1
    assert moved(before, after, "sojourn_rate_limited_total", **email) >= 1
    assert "Traceback" not in log.read_text()  # a full channel is expected: no SDK traceback per attempt
    # The SDK's own: the sent contacts' runs completed; the deferred one sleeps until morning.
    assert moved(sdk_before, sdk_after, "temporal_workflow_completed_total", task_queue=settings.task_queue) == 3
    assert value(sdk_after, "temporal_workflow_task_schedule_to_start_latency_count",
                 task_queue=settings.task_queue) >= 2
    # Every SDK metric the Grafana dashboard reads is one this worker's SDK endpoint exports.
    assert {name for name in dashboard_metrics() if name.startswith("temporal_")} <= {name for name, _ in sdk_after}
