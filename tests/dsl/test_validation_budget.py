"""A journey's budget: an amount and a period, nothing looser."""

import pytest

from sojourn.dsl.definition import JourneyDefinition
from sojourn.dsl.validation import DefinitionError, validate_definition

JOURNEY = {"name": "budgeted", "nodes": [{"id": "hello", "type": "send", "channel": "sms",
                                          "sms": {"text": "Hi"}, "next": "done"}, {"id": "done", "type": "exit"}]}


def problems(raw) -> list[tuple[str | None, str, str]]:
    with pytest.raises(DefinitionError) as caught:
        validate_definition(raw)
    return [(p.node, p.field, p.message) for p in caught.value.problems]


@pytest.mark.parametrize("budget", [{"amount": 50, "period": "month"}, {"amount": 0.5, "period": "total"}])
def test_a_budget_is_an_amount_per_month_or_in_total(budget):
    definition = validate_definition({**JOURNEY, "budget": budget})
    assert isinstance(definition, JourneyDefinition)
    assert definition.budget.amount == budget["amount"] and definition.budget.period == budget["period"]


@pytest.mark.parametrize(("budget", "field", "message"), [
    ({"amount": 50}, "budget.period", "required field is missing"),
    ({"period": "month"}, "budget.amount", "required field is missing"),
    ({"amount": 50, "period": "week"}, "budget.period", "'month' or 'total'"),
    ({"amount": 0, "period": "month"}, "budget.amount", "greater than 0"),
    ({"amount": -5, "period": "month"}, "budget.amount", "greater than 0"),
    ({"amount": "50", "period": "month"}, "budget.amount", "valid number"),
    ({"amount": True, "period": "month"}, "budget.amount", "valid number"),
    ({"amount": 50, "period": "month", "currency": "EUR"}, "budget.currency", "unknown field"),
    (50, "budget", "must be a mapping"),
])
def test_a_loose_budget_is_refused_naming_the_field(budget, field, message):
    found = problems({**JOURNEY, "budget": budget})
    assert any(node is None and f == field and message in m for node, f, m in found), found
