"""The nightly tagging workflow's interface."""

from dataclasses import dataclass

RUN_TAG_RULES_ACTIVITY = "run_tag_rules"
TAGGING_WORKFLOW_ID = "tagging/nightly"


@dataclass(kw_only=True)
class TaggingRequest:
    """Apply every tagging rule for `day` (YYYY-MM-DD); None: the day that just ended in the brand's zone."""

    day: str | None = None


@dataclass(kw_only=True)
class TagRuleSummary:
    rule_id: str
    tag: str
    day: str
    tagged: int
    changed: int
    removed: int
