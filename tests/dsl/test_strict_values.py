"""Booleans are strict everywhere in the journey language: "yes", "off" or 1 is not a boolean."""

import typing

import pytest
from pydantic import BaseModel
from pydantic.types import Strict

from sojourn.dsl.definition import JourneyDefinition
from sojourn.dsl.validation import DefinitionError, validate_definition

DONE = {"id": "done", "type": "exit"}


def located(raw):
    with pytest.raises(DefinitionError) as caught:
        validate_definition(raw)
    return {(p.node, p.field): p.message for p in caught.value.problems}


def send(**fields):
    return {"id": "a", "type": "send", "subject": "Hi", "text": "Hi", "next": "done", **fields}


@pytest.mark.parametrize("value", ["yes", "true", "off", 1, 0, 1.0])
def test_send_flags_take_only_true_or_false(value):
    found = located({"name": "x", "nodes": [send(transactional=value, track=value), DONE]})
    assert {("a", "transactional"), ("a", "track")} <= set(found)
    assert "valid boolean" in found[("a", "transactional")]


def test_goal_exit_takes_only_true_or_false():
    found = located({"name": "x", "goal": {"event": "bought", "exit": "no"}, "nodes": [DONE]})
    assert (None, "goal.exit") in found


def test_true_and_false_are_still_booleans():
    definition = validate_definition({"name": "x", "goal": {"event": "bought", "exit": False},
                                      "nodes": [send(transactional=True, track=False), DONE]})
    assert definition.nodes[0].transactional is True and definition.goal.exit is False


def test_an_exists_flag_is_true_or_false_not_a_number():
    branch = {"id": "b", "type": "branch", "condition": {"and": [
        {"attribute": "phone", "op": "exists", "value": 1}, {"attribute": "email", "op": "exists", "value": True}]},
        "then": "done", "else": "done"}
    found = located({"name": "x", "entry": {"event": "signup", "where": [
        {"property": "coupon", "op": "exists", "value": 0}]}, "nodes": [branch, DONE]})
    assert set(found) == {(None, "entry.where.0.value"), ("b", "condition.and.0.value")}


def _bool_fields(model: type[BaseModel], seen: set) -> list[str]:
    """`Model.field` of each bool field, in `model` and every model its fields hold, that is not strict."""
    if model in seen:
        return []
    seen.add(model)
    lax = []
    for name, field in model.model_fields.items():
        if field.annotation is bool and not any(isinstance(m, Strict) and m.strict for m in field.metadata):
            lax.append(f"{model.__name__}.{name}")
        for inner in _types_in(field.annotation):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                lax += _bool_fields(inner, seen)
    return lax


def _types_in(annotation) -> list:
    found = [annotation]
    for arg in typing.get_args(annotation):
        found += _types_in(arg)
    return found


def test_every_boolean_of_the_language_is_strict():
    seen: set = set()
    assert _bool_fields(JourneyDefinition, seen) == []
    assert len(seen) > 20  # the walk reached the nodes, their content and the filters
