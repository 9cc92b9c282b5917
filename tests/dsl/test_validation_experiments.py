"""Split nodes and holdouts: strict, each mistake refused naming its node and field."""

import pytest

from sojourn.dsl.definition import JourneyDefinition
from sojourn.dsl.experiments import arm_at, held_out, stable_point
from sojourn.dsl.validation import DefinitionError, validate_definition


def split_journey(arms: object, **fields) -> dict:
    return {"name": "subject test", **fields, "nodes": [
        {"id": "test", "type": "split", "arms": arms},
        {"id": "a", "type": "send", "subject": "A", "text": "a", "next": "done"},
        {"id": "b", "type": "send", "subject": "B", "text": "b", "next": "done"},
        {"id": "done", "type": "exit"},
    ]}


AB = [{"id": "a", "weight": 50, "next": "a"}, {"id": "b", "weight": 50, "next": "b"}]


def problems(raw) -> list[tuple[str | None, str, str]]:
    with pytest.raises(DefinitionError) as caught:
        validate_definition(raw)
    return [(p.node, p.field, p.message) for p in caught.value.problems]


def test_a_split_has_weighted_arms_each_leading_to_a_node():
    definition = validate_definition(split_journey([{"id": "a", "weight": 3, "next": "a"}, {"id": "b", "next": "b"}]))
    split = definition.node_map()["test"]
    assert split.weights() == [("a", 3.0), ("b", 1.0)]
    assert split.edges() == {"arms.0.next": "a", "arms.1.next": "b"}
    assert split.target("b") == "b"


@pytest.mark.parametrize(("arms", "field", "message"), [
    ([{"id": "a", "next": "a"}], "arms", "at least 2 arms; got 1"),
    ([], "arms", "at least 2 arms; got 0"),
    ([{"id": "a", "next": "a"}, {"id": "a", "next": "b"}], "arms", "unique; 'a' repeated"),
    ([{"id": "a", "weight": 0, "next": "a"}, {"id": "b", "next": "b"}], "arms.0.weight", "greater than 0"),
    ([{"id": "a", "weight": -1, "next": "a"}, {"id": "b", "next": "b"}], "arms.0.weight", "greater than 0"),
    ([{"id": "a", "next": "a"}, {"id": "b", "next": "nowhere"}], "arms.1.next", "nowhere"),
    ([{"id": "a", "next": "a"}, {"id": "b"}], "arms.1.next", "required field is missing"),
    ([{"id": "a", "next": "a"}, {"id": "b", "next": "b", "share": 2}], "arms.1.share", "unknown field"),
    ([{"id": "a b", "next": "a"}, {"id": "b", "next": "b"}], "arms.0.id", "pattern"),
    ("a", "arms", "list"),
])
def test_a_wrong_split_is_refused_naming_the_field(arms, field, message):
    found = problems(split_journey(arms))
    assert any(node == "test" and f == field and message in m for node, f, m in found), found


@pytest.mark.parametrize(("holdout", "field", "message"), [
    ({"percent": 0}, "holdout.percent", "greater than 0"),
    ({"percent": 100}, "holdout.percent", "less than 100"),
    ({}, "holdout.percent", "required field is missing"),
    ({"percent": 10, "share": 1}, "holdout.share", "unknown field"),
])
def test_a_wrong_holdout_is_refused_naming_the_field(holdout, field, message):
    found = problems(split_journey(AB, holdout=holdout))
    assert any(node is None and f == field and message in m for node, f, m in found), found


def test_a_holdout_is_a_percent_of_entrants():
    assert validate_definition(split_journey(AB, holdout={"percent": 10})).holdout.percent == 10
    assert JourneyDefinition.model_validate(split_journey(AB)).holdout is None


def test_the_draw_is_stable_and_follows_the_weights():
    assert stable_point(7, "j", "n") == stable_point(7, "j", "n") != stable_point(8, "j", "n")
    points = [stable_point(contact, "journey", "test") for contact in range(20_000)]
    assert all(0 <= p < 1 for p in points)
    arms = [arm_at(p, [("a", 1), ("b", 3)]) for p in points]
    assert 0.23 < arms.count("a") / len(arms) < 0.27
    assert 0.08 < sum(held_out(p, 10) for p in points) / len(points) < 0.12
    assert arm_at(0.999999, [("a", 1), ("b", 1)]) == "b" and arm_at(0.0, [("a", 1), ("b", 1)]) == "a"


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"winner": {"metric": "converted"}}, "winner", "`after` a duration or at a `sample` size"),
    ({"winner": {"after": "7d", "sample": 100}}, "winner", "`after` a duration or at a `sample` size"),
    ({"winner": {"sample": 0}}, "winner.sample", "greater than or equal to 1"),
    ({"winner": {"sample": "100"}}, "winner.sample", "valid integer"),
    ({"winner": {"after": "soon"}}, "winner.after", "duration"),
    ({"winner": {"metric": "clicked", "sample": 10}}, "winner.metric", "'converted'"),
    ({"allocation": "greedy"}, "allocation", "'weights' or 'thompson'"),
    ({"allocation": "thompson", "winner": {"sample": 10}}, "", "use one"),
])
def test_a_wrong_winner_rule_is_refused_naming_the_field(fields, field, message):
    raw = split_journey(AB)
    raw["nodes"][0] |= fields
    found = problems(raw)
    assert any(node == "test" and f == field and message in m for node, f, m in found), found


def test_a_split_may_pick_a_winner_or_allocate_by_thompson_sampling():
    for fields in ({"winner": {"after": "7d"}}, {"winner": {"metric": "converted", "sample": 500}},
                   {"allocation": "thompson"}):
        raw = split_journey(AB)
        raw["nodes"][0] |= fields
        validate_definition(raw)
