"""Activity option presets: the timeouts and retry policy of each kind of activity a workflow
calls, passed as `workflow.execute_activity(NAME, input, **SEND_OPTIONS)`.

Retry policies name their final errors from `ErrorType`, the enum the raise sites use.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypedDict

from temporalio import workflow
from temporalio.common import RetryPolicy

# Passed through the sandbox: pure modules, loaded once per worker (not once per cached run).
with workflow.unsafe.imports_passed_through():
    from sojourn.contracts.errors import ErrorType


class ActivityOptions(TypedDict, total=False):
    start_to_close_timeout: timedelta
    schedule_to_close_timeout: timedelta
    heartbeat_timeout: timedelta  # not for local activities
    retry_policy: RetryPolicy


# Sends retry with backoff for as long as a day of provider trouble; a message that cannot be
# built or is refused for good fails at once and the run moves on.
SEND_OPTIONS = ActivityOptions(
    start_to_close_timeout=timedelta(seconds=60),
    schedule_to_close_timeout=timedelta(days=1),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=5),
        non_retryable_error_types=[ErrorType.TEMPLATE, ErrorType.PERMANENT_DELIVERY, ErrorType.CONTACT_NOT_FOUND],
    ),
)

# A run's database reads and writes (local activities): quick, retried through a database restart.
DATA_OPTIONS = ActivityOptions(
    start_to_close_timeout=timedelta(seconds=30),
    schedule_to_close_timeout=timedelta(hours=1),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(seconds=30),
        non_retryable_error_types=[ErrorType.INVALID_FILTER],
    ),
)

# A page retried after a crash starts the same runs again: their ids already exist, so they
# come back as "existing", never as second runs.
_PAGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=[ErrorType.JOURNEY_NOT_ACTIVE, ErrorType.SEGMENT_NOT_FOUND],
)
COUNT_AUDIENCE_OPTIONS = ActivityOptions(start_to_close_timeout=timedelta(minutes=5), retry_policy=_PAGE_RETRY)
ENROLL_PAGE_OPTIONS = ActivityOptions(
    start_to_close_timeout=timedelta(minutes=10),
    heartbeat_timeout=timedelta(seconds=60),
    retry_policy=_PAGE_RETRY,
)

# Tag rules are idempotent per day, so a retry (or a whole re-run) only redoes work.
TAG_RULES_OPTIONS = ActivityOptions(
    start_to_close_timeout=timedelta(hours=2),
    heartbeat_timeout=timedelta(minutes=5),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=5),
        maximum_interval=timedelta(minutes=5),
        maximum_attempts=10,
    ),
)

# A model step reads every contact and fits a model: up to an hour, heartbeating as it goes (a
# silent step lost its worker). It is idempotent for its day, so a retry only redoes work; a step
# that cannot run (ModelStepInvalid) fails at once and the nightly run goes on to the next.
MODEL_STEP_OPTIONS = ActivityOptions(
    start_to_close_timeout=timedelta(hours=1),
    heartbeat_timeout=timedelta(minutes=2),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=30),
        maximum_interval=timedelta(minutes=5),
        maximum_attempts=3,
        non_retryable_error_types=[ErrorType.MODEL_STEP_INVALID],
    ),
)
# The plan (which steps) and the nightly day are quick answers from the worker's own settings.
MODEL_PLAN_OPTIONS = ActivityOptions(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=20,
                             non_retryable_error_types=[ErrorType.MODEL_STEP_INVALID]),
)
