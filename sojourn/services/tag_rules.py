"""Tagging rules (the analysis playbook): stored, listed, removed with the tags they gave, and
applied for a day on demand; the nightly run is scheduled with the first rule."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from sojourn.contracts.tagging import TaggingRequest, TagRuleSummary
from sojourn.data import audit, segments
from sojourn.data.models import ContactTag, TagRule, TagRuleRun, utcnow
from sojourn.data.tag_rules import rule_source
from sojourn.errors import NotFound
from sojourn.services import schedules

RECENT_RUNS = 30


class TagRuleNotFound(NotFound):
    def __init__(self, rule_id: str) -> None:
        super().__init__(f"tag rule '{rule_id}' not found")


async def put_rule(session: AsyncSession, client: Client, brand_time_zone: str, task_queue: str, rule_id: str,
                   tag: str, filter: dict[str, Any], weight: dict[str, Any], *,
                   actor: str) -> tuple[dict[str, Any], bool]:
    """Create or replace a rule; the rule and whether it is new."""
    checked = await segments.checked_filter(session, filter)
    rule = await session.get(TagRule, rule_id)
    created = rule is None
    if rule is None:
        rule = TagRule(id=rule_id, tag=tag)
    rule.tag, rule.filter = tag, segments.stored_form(checked)
    rule.weight, rule.updated_at = weight, utcnow()
    session.add(rule)
    audit.record(session, actor, "created" if created else "updated", "tag_rule", rule_id, tag=tag)
    await session.commit()
    await schedules.ensure_tagging(client, brand_time_zone, task_queue)
    return await _view(session, rule), created


async def list_rules(session: AsyncSession) -> list[dict[str, Any]]:
    return [await _view(session, r) for r in (await session.execute(select(TagRule).order_by(TagRule.id))).scalars()]


async def get_rule(session: AsyncSession, rule_id: str) -> dict[str, Any]:
    return await _view(session, await _find(session, rule_id))


async def delete_rule(session: AsyncSession, rule_id: str, *, actor: str) -> None:
    """The rule and the tags it gave."""
    rule = await _find(session, rule_id)
    await session.execute(delete(ContactTag).where(ContactTag.source == rule_source(rule_id)))
    await session.delete(rule)
    audit.record(session, actor, "deleted", "tag_rule", rule_id, tag=rule.tag)
    await session.commit()


async def run_rules(client: Client, task_queue: str, day: str | None) -> list[TagRuleSummary]:
    """Apply every rule for `day` (default: yesterday) now and wait for the result."""
    return await client.execute_workflow(
        "TaggingWorkflow", TaggingRequest(day=day), id=f"tagging/manual-{uuid.uuid4().hex[:12]}",
        task_queue=task_queue, result_type=list[TagRuleSummary])


async def _find(session: AsyncSession, rule_id: str) -> TagRule:
    rule = await session.get(TagRule, rule_id)
    if rule is None:
        raise TagRuleNotFound(rule_id)
    return rule


async def _view(session: AsyncSession, rule: TagRule) -> dict[str, Any]:
    runs = (await session.execute(select(TagRuleRun).where(TagRuleRun.rule_id == rule.id)
                                  .order_by(TagRuleRun.id.desc()).limit(RECENT_RUNS))).scalars()
    return {"id": rule.id, "tag": rule.tag, "filter": rule.filter, "weight": rule.weight,
            "runs": [r.model_dump() for r in runs]}
