"""The worker's Prometheus endpoints, two ports side by side:

- WORKER_METRICS_PORT: Sojourn's own metrics (messages by channel and status, send latency,
  rate-limit waits, deferrals: `sojourn/delivery/metrics.py`), served by `prometheus_client`.
- WORKER_TEMPORAL_METRICS_PORT: the Temporal SDK's (workflow task latency, schedule-to-start,
  slots, polls...), served by the SDK's core through its runtime telemetry.

Two ports rather than one: the SDK's metrics live in its Rust core, which serves them itself;
one port would mean proxying and re-parsing that endpoint on every scrape. Prometheus scrapes
two targets per worker as easily as one.

A port that cannot be bound (taken by another worker on the same host) is logged as an error and
left off: metrics are for watching the worker, and a worker that cannot serve them still runs
journeys; the missing target shows as down in Prometheus."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import start_http_server
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from sojourn.settings import Settings

log = logging.getLogger(__name__)


@contextmanager
def serving_metrics(settings: Settings) -> Iterator[None]:
    """Sojourn's metrics on WORKER_METRICS_PORT while the block runs (port 0: none)."""
    if not settings.worker_metrics_port:
        yield
        return
    try:
        server, thread = start_http_server(settings.worker_metrics_port, settings.worker_metrics_host)
    except OSError as err:
        log.error("worker metrics not served: cannot listen on %s:%s: %s", settings.worker_metrics_host,
                  settings.worker_metrics_port, err)
        yield
        return
    log.info("worker metrics at http://%s:%s/metrics", settings.worker_metrics_host, settings.worker_metrics_port)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def temporal_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime exporting the SDK's metrics on WORKER_TEMPORAL_METRICS_PORT, for the
    worker's client (None: port 0, or the port is taken; the SDK's default runtime then)."""
    if not settings.worker_temporal_metrics_port:
        return None
    address = f"{settings.worker_metrics_host}:{settings.worker_temporal_metrics_port}"
    try:
        # Seconds, as every other duration in Prometheus (the SDK's default is milliseconds).
        runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address,
                                                                             durations_as_seconds=True)))
    except Exception as err:  # noqa: BLE001 - the core reports a taken port as a generic error
        log.error("Temporal SDK metrics not served: cannot listen on %s: %s", address, err)
        return None
    log.info("Temporal SDK metrics at http://%s/metrics", address)
    return runtime
