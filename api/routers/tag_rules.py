"""Tagging rules (the analysis playbook): who carries a tag, how strong; run nightly or by hand."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response
from sqlalchemy import delete, select

from api.deps import SessionDep, SettingsDep, TemporalDep
from api.errors import not_found
from api.routers.segments import segment_error
from api.schemas import TagRuleIn, TagRuleOut, TagRuleRunOut, TagRuleRunRequest
from sojourn.contracts.tagging import TaggingRequest, TagRuleSummary
from sojourn.data import segments
from sojourn.data.models import ContactTag, TagRule, TagRuleRun, utcnow
from sojourn.data.tag_rules import rule_source
from sojourn.services import schedules

router = APIRouter(prefix="/v1/tag-rules", tags=["tags"])


async def _out(session, rule: TagRule) -> TagRuleOut:
    runs = (await session.execute(select(TagRuleRun).where(TagRuleRun.rule_id == rule.id)
                                  .order_by(TagRuleRun.id.desc()).limit(30))).scalars()
    return TagRuleOut(id=rule.id, tag=rule.tag, filter=rule.filter, weight=rule.weight,
                      runs=[TagRuleRunOut(**r.model_dump()) for r in runs])


@router.put("/{rule_id}", response_model=TagRuleOut, responses={201: {"model": TagRuleOut}})
async def put_rule(rule_id: str, body: TagRuleIn, session: SessionDep, client: TemporalDep, settings: SettingsDep,
                   response: Response) -> TagRuleOut:
    """Create or replace a rule; the nightly run (00:00, BRAND_TIME_ZONE) is scheduled with the first."""
    try:
        checked = await segments.checked_filter(session, body.filter)
    except segments.SegmentError as exc:
        raise segment_error(exc) from exc
    rule = await session.get(TagRule, rule_id)
    if rule is None:
        rule = TagRule(id=rule_id, tag=body.tag)
        response.status_code = 201
    rule.tag, rule.filter = body.tag, segments.stored_form(checked)
    rule.weight, rule.updated_at = body.weight.model_dump(mode="json", exclude_none=True), utcnow()
    session.add(rule)
    await session.commit()
    await schedules.ensure_tagging(client, settings.brand_time_zone, settings.task_queue)
    return await _out(session, rule)


@router.get("", response_model=list[TagRuleOut])
async def list_rules(session: SessionDep) -> list[TagRuleOut]:
    return [await _out(session, r) for r in (await session.execute(select(TagRule).order_by(TagRule.id))).scalars()]


@router.get("/{rule_id}", response_model=TagRuleOut)
async def get_rule(rule_id: str, session: SessionDep) -> TagRuleOut:
    rule = await session.get(TagRule, rule_id)
    if rule is None:
        raise not_found(f"tag rule '{rule_id}'")
    return await _out(session, rule)


@router.delete("/{rule_id}", status_code=204)
async def delete_rule(rule_id: str, session: SessionDep) -> Response:
    """The rule and the tags it gave."""
    rule = await session.get(TagRule, rule_id)
    if rule is None:
        raise not_found(f"tag rule '{rule_id}'")
    await session.execute(delete(ContactTag).where(ContactTag.source == rule_source(rule_id)))
    await session.delete(rule)
    await session.commit()
    return Response(status_code=204)


@router.post("/run", response_model=list[TagRuleSummary])
async def run_rules(body: TagRuleRunRequest, client: TemporalDep, settings: SettingsDep) -> list[TagRuleSummary]:
    """Apply every rule for a day now and wait for the result; running a day again changes nothing."""
    return await client.execute_workflow(
        "TaggingWorkflow", TaggingRequest(day=body.day.isoformat() if body.day else None),
        id=f"tagging/manual-{uuid.uuid4().hex[:12]}", task_queue=settings.task_queue, result_type=list[TagRuleSummary])
