"""A goal's `value`: the goal event's property that is the conversion's revenue."""

import pytest

from sojourn.dsl.validation import DefinitionError, validate_definition

DONE = {"id": "done", "type": "exit"}


def goal(**fields) -> dict:
    return {"name": "x", "goal": {"event": "purchase", "within": "7d", **fields}, "nodes": [DONE]}


@pytest.mark.parametrize("value", ["amount", "properties", "properties.", "properties.a..b", "event.amount",
                                   "properties.amount ", 12, True])
def test_a_value_that_names_no_event_property_is_refused_where_it_is(value):
    with pytest.raises(DefinitionError) as caught:
        validate_definition(goal(value=value))
    [problem] = caught.value.problems
    assert problem.field == "goal.value"
    if isinstance(value, str):
        assert "like properties.amount" in problem.message


@pytest.mark.parametrize(("properties", "revenue"), [
    ({"amount": 12.5}, 12.5), ({"amount": 3}, 3.0), ({"amount": "12"}, None), ({"amount": True}, None),
    ({}, None), ({"order": {"amount": 4}}, None)])
def test_the_revenue_is_the_named_number_else_none(properties, revenue):
    assert validate_definition(goal(value="properties.amount")).goal.value_of(properties) == revenue


def test_a_nested_property_and_no_value_at_all():
    assert validate_definition(goal(value="properties.order.amount")).goal.value_of({"order": {"amount": 4}}) == 4.0
    assert validate_definition(goal()).goal.value_of({"amount": 4}) is None
