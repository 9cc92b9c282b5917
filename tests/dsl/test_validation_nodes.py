"""The node registry: every table of node types (edges, resting nodes, condition fields, the
types validation names) comes from the node classes, parsed or as written alike."""

import pytest

from sojourn.dsl.definition import JourneyDefinition
from sojourn.dsl.nodes import NODE_TYPES, AnyNode, written_values
from sojourn.dsl.validation import DefinitionError, validate_definition

EVERY_NODE = {"name": "every node", "nodes": [
    {"id": "intro", "type": "send", "subject": "Hi", "text": "Hello", "next": "pause", "on_failure": "end"},
    {"id": "pause", "type": "wait", "duration": "1d", "next": "opened"},
    {"id": "opened", "type": "branch", "condition": {"opened": "intro"}, "then": "clicked", "else": "which"},
    {"id": "which", "type": "branch", "cases": [{"when": {"tag": "vip"}, "then": "mark"},
                                                {"when": {"clicked": "intro"}, "then": "clicked"}],
     "default": "end"},
    {"id": "clicked", "type": "wait_for", "event": {"clicked": "intro"}, "timeout": "2d",
     "on_event": "mark", "on_timeout": "end"},
    {"id": "mark", "type": "tag", "tag": "engaged", "next": "subject"},
    {"id": "subject", "type": "split", "arms": [{"id": "a", "next": "end"}, {"id": "b", "weight": 2, "next": "end"}]},
    {"id": "end", "type": "exit"},
]}


def test_the_registry_is_the_node_union():
    assert set(NODE_TYPES) == {"send", "wait", "wait_for", "branch", "split", "tag", "exit"}
    assert set(NODE_TYPES.values()) == set(AnyNode.__args__)
    assert {name for name, node in NODE_TYPES.items() if node.rests} == {"wait", "wait_for"}
    covered = {node["type"] for node in EVERY_NODE["nodes"]}
    assert covered == set(NODE_TYPES), "add the new node type to EVERY_NODE"


@pytest.mark.parametrize("raw", EVERY_NODE["nodes"], ids=[node["id"] for node in EVERY_NODE["nodes"]])
def test_edges_of_a_parsed_node_are_its_written_edges(raw):
    node = JourneyDefinition.model_validate(EVERY_NODE).node_map()[raw["id"]]
    written = {path: target for path, target in written_values(raw, node.edge_fields) if target is not None}
    assert node.edges() == written


def test_edges_of_each_form():
    nodes = JourneyDefinition.model_validate(EVERY_NODE).node_map()
    assert nodes["intro"].edges() == {"next": "pause", "on_failure": "end"}
    assert nodes["opened"].edges() == {"then": "clicked", "else": "which"}
    assert nodes["which"].edges() == {"cases.0.then": "mark", "cases.1.then": "clicked", "default": "end"}
    assert nodes["clicked"].edges() == {"on_event": "mark", "on_timeout": "end"}
    assert nodes["subject"].edges() == {"arms.0.next": "end", "arms.1.next": "end"}
    assert nodes["end"].edges() == {}


def test_validation_follows_every_declared_edge_and_condition():
    validate_definition(EVERY_NODE)
    broken = {**EVERY_NODE, "nodes": [
        {**node, "cases": [{"when": {"clicked": "nowhere"}, "then": "nowhere"}]} if node["id"] == "which" else node
        for node in EVERY_NODE["nodes"]]}
    with pytest.raises(DefinitionError) as raised:
        validate_definition(broken)
    assert [(p.node, p.field) for p in raised.value.problems] == [
        ("which", "cases.0.then"), ("which", "cases.0.when.clicked")]
