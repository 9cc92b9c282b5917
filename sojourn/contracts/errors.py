"""The types of the `ApplicationError`s activities raise: raise sites and retry policies name
them from here, so a retry policy can never miss a renamed type. The values are stored in
histories and must not change."""

from __future__ import annotations

from enum import StrEnum


class ErrorType(StrEnum):
    # Final: the retry policies list these as non-retryable.
    TEMPLATE = "TemplateError"  # a template failed for this contact
    PERMANENT_DELIVERY = "PermanentDeliveryFailure"  # the provider refused the message for good
    CONTACT_NOT_FOUND = "ContactNotFound"  # erased before its message went out
    INVALID_FILTER = "InvalidFilter"  # a branch condition that cannot be evaluated
    JOURNEY_NOT_ACTIVE = "JourneyNotActive"
    SEGMENT_NOT_FOUND = "SegmentNotFound"
    MODEL_STEP_INVALID = "ModelStepInvalid"  # a nightly model step that cannot run: unknown, or refused its input
    # Retried with backoff (or after the delay the error names).
    TRANSIENT_DELIVERY = "TransientDeliveryFailure"
    UNCONFIRMED_DELIVERY = "UnconfirmedDelivery"  # a repeat-safe channel: the same id again is harmless
    RATE_LIMITED = "RateLimited"
    RUN_NOT_RECORDED_YET = "RunNotRecordedYet"
