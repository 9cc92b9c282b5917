"""The split node's activity: which arm a contact takes."""

from dataclasses import dataclass

ASSIGN_ARM_ACTIVITY = "assign_arm"


@dataclass(kw_only=True)
class ArmRequest:
    """The arm of `node_id` for the contact: the one recorded, else drawn from `weights` and recorded."""

    journey_id: str
    version: int
    node_id: str
    contact_id: int
    weights: list[tuple[str, float]]  # (arm id, weight) as the run's version defines them
    winner: dict | None = None  # the split's `winner` rule: {"metric", "after" | "sample"}
    allocation: str = "weights"  # or "thompson"
