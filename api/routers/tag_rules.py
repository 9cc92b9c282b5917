"""Tagging rules (the analysis playbook): who carries a tag, how strong; run nightly or by hand."""

from __future__ import annotations

from fastapi import Response

from api.deps import CallerDep, SessionDep, SettingsDep, TemporalDep
from api.routing import resource_router
from api.schemas.common import ResourceId
from api.schemas.tag_rules import TagRuleIn, TagRuleOut, TagRuleRunRequest
from sojourn.contracts.tagging import TagRuleSummary
from sojourn.services import tag_rules

router = resource_router(prefix="/v1/tag-rules", tags=["tags"])


@router.put("/{rule_id}", response_model=TagRuleOut, responses={201: {"model": TagRuleOut}})
async def put_rule(rule_id: ResourceId, body: TagRuleIn, session: SessionDep, client: TemporalDep,
                   settings: SettingsDep, response: Response, caller: CallerDep) -> dict:
    """Create or replace a rule; the nightly run (00:00, BRAND_TIME_ZONE) is scheduled with the first."""
    rule, created = await tag_rules.put_rule(session, client, settings.brand_time_zone, settings.task_queue, rule_id,
                                             body.tag, body.filter,
                                             body.weight.model_dump(mode="json", exclude_none=True), actor=caller.name)
    if created:
        response.status_code = 201
    return rule


@router.get("", response_model=list[TagRuleOut])
async def list_rules(session: SessionDep) -> list[dict]:
    return await tag_rules.list_rules(session)


@router.get("/{rule_id}", response_model=TagRuleOut)
async def get_rule(rule_id: ResourceId, session: SessionDep) -> dict:
    return await tag_rules.get_rule(session, rule_id)


@router.delete("/{rule_id}", status_code=204)
async def delete_rule(rule_id: ResourceId, session: SessionDep, caller: CallerDep) -> Response:
    """The rule and the tags it gave."""
    await tag_rules.delete_rule(session, rule_id, actor=caller.name)
    return Response(status_code=204)


@router.post("/run", response_model=list[TagRuleSummary])
async def run_rules(body: TagRuleRunRequest, client: TemporalDep, settings: SettingsDep) -> list[TagRuleSummary]:
    """Apply every rule for a day now and wait for the result; running a day again changes nothing."""
    return await tag_rules.run_rules(client, settings.task_queue, body.day.isoformat() if body.day else None)
