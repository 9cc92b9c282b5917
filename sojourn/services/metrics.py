"""What ingestion and engagement count, for the API's /metrics (Prometheus, through
`prometheus_client`'s default registry, which `api/metrics.py` serves). Labels take a few values
each (outcomes, engagement kinds, sources), never an id or an address."""

from __future__ import annotations

from prometheus_client import Counter

EVENTS = Counter(
    "sojourn_events_ingested", "Events posted to the API, by outcome: accepted (stored), duplicate (an event_id "
    "stored before) or rejected", ["outcome"])
ENGAGEMENT = Counter(
    "sojourn_engagement_events", "Engagement stored (a repeat a provider sent again is not), by kind (opened, "
    "clicked, delivered, bounced, complained), source (pixel, link, webhook) and whether it looked automated",
    ["kind", "source", "automated"])


def count_ingested(accepted: int, duplicates: int, rejected: int) -> None:
    for outcome, count in (("accepted", accepted), ("duplicate", duplicates), ("rejected", rejected)):
        if count:
            EVENTS.labels(outcome).inc(count)
