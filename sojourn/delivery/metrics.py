"""What the send path counts, for the worker's /metrics (Prometheus, through `prometheus_client`'s
default registry: the worker serves it, see `worker/metrics.py`). Labels are channel names,
message statuses and hold causes: a few values each, never an id or an address."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

MESSAGES = Counter(
    "sojourn_messages", "Outcomes the send path recorded, by channel and status (`retrying`: an attempt that "
    "failed and will be retried; `sending` marks are not counted, their outcome is)", ["channel", "status"])
SEND_SECONDS = Histogram(
    "sojourn_send_duration_seconds", "Time a provider took to take one message (the hand-over, whatever its "
    "outcome), by channel", ["channel"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
RATE_LIMIT_WAIT_SECONDS = Histogram(
    "sojourn_rate_limit_wait_seconds", "Waits for a channel's next rate slot within the second ahead, by channel",
    ["channel"], buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1))
RATE_LIMITED = Counter(
    "sojourn_rate_limited", "Send attempts given back to Temporal to retry later because the channel's rate "
    "had no slot within a second, by channel", ["channel"])
DEFERRALS = Counter(
    "sojourn_send_deferrals", "Messages deferred (the run sleeps until the hold ends), by channel and cause "
    "(quiet_hours, frequency_cap)", ["channel", "cause"])
