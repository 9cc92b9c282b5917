"""Who gets no marketing message: the journey's holdout (a stable share of its entrants, by
contact and journey) and the brand's control group (a stable share of contacts, by contact
alone, `GLOBAL_CONTROL_PERCENT`). Transactional messages, and calls to systems (webhooks),
are never held out."""

from __future__ import annotations

from sojourn.contracts.send import SendRequest
from sojourn.dsl.channels import SPECS
from sojourn.dsl.experiments import held_out, stable_point
from sojourn.dsl.nodes import SendNode

JOURNEY_HOLDOUT = "held out: the journey's holdout"
GLOBAL_CONTROL = "held out: the brand's control group"


def holdout_reason(request: SendRequest, node: SendNode, global_control_percent: float) -> str | None:
    """Why the message is held out, or None when it may go."""
    if node.transactional or not SPECS[node.channels[0]].person:
        return None
    holdout = request.holdout
    if holdout and held_out(stable_point(request.contact_id, request.journey_id), holdout["percent"]):
        return JOURNEY_HOLDOUT
    if global_control_percent and held_out(stable_point(request.contact_id), global_control_percent):
        return GLOBAL_CONTROL
    return None
