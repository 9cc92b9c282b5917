import copy
import json

import pytest

from sojourn.dsl.definition import JourneyDefinition
from sojourn.dsl.validation import (
    DefinitionError,
    load_definition_file,
    validate_definition,
)

PAGE = '<html><body><p>Hi</p><a href="https://shop.example/gifts">Gifts</a></body></html>'

MOTHERS_DAY = {
    "name": "Mother's Day 2026",
    "nodes": [
        {"id": "announce", "type": "send", "subject": "Mother's Day is coming", "html": PAGE,
         "next": "wait_2d"},
        {"id": "wait_2d", "type": "wait", "duration": "2d", "next": "opened_announce"},
        {"id": "opened_announce", "type": "branch", "condition": {"opened": "announce"},
         "then": "offer", "else": "reminder"},
        {"id": "offer", "type": "send", "subject": "Your gift offer", "html": PAGE,
         "text": "Gifts: https://shop.example/gifts", "next": "wait_5d"},
        {"id": "reminder", "type": "send",
         "subject": "{{ first_name }}, Mother's Day is almost here",
         "html": PAGE, "next": "wait_5d"},
        {"id": "wait_5d", "type": "wait", "duration": "5d", "next": "opened_offer"},
        {"id": "opened_offer", "type": "branch", "condition": {"opened": "offer"},
         "then": "last_chance", "else": "done"},
        {"id": "last_chance", "type": "send", "subject": "Last chance", "text": "Order today",
         "next": "wait_3d"},
        {"id": "wait_3d", "type": "wait", "duration": "3d", "next": "thanks"},
        {"id": "thanks", "type": "send", "subject": "Thank you", "text": "Thanks!", "next": "done"},
        {"id": "done", "type": "exit"},
    ],
}


def journey(*nodes, **fields):
    return {"name": "test", "nodes": list(nodes), **fields}


def send(node_id, next_="done", **fields):
    node = {"id": node_id, "type": "send", "subject": "Hello", "html": PAGE, "next": next_}
    return {**node, **fields}


def wait(node_id, next_="done", duration="1d"):
    return {"id": node_id, "type": "wait", "duration": duration, "next": next_}


DONE = {"id": "done", "type": "exit"}


def problems(raw):
    with pytest.raises(DefinitionError) as caught:
        validate_definition(raw)
    return caught.value.problems


def located(raw):
    return {(problem.node, problem.field) for problem in problems(raw)}


def test_mothers_day_definition_is_valid():
    definition = validate_definition(copy.deepcopy(MOTHERS_DAY))
    assert isinstance(definition, JourneyDefinition)
    assert definition.start_id == "announce"


def test_unknown_field_in_node():
    found = problems(journey(send("a", colour="red"), DONE))
    assert [(p.node, p.field) for p in found] == [("a", "colour")]
    assert found[0].message.startswith("node 'a' field 'colour': unknown field")


def test_unknown_field_in_condition_and_journey():
    raw = journey(
        send("a", next_="b"),
        {"id": "b", "type": "branch", "condition": {"opened": "a", "when": "now"},
         "then": "done", "else": "done"},
        DONE,
        owner="me",
    )
    assert located(raw) == {("b", "condition.when"), (None, "owner")}


def test_duplicate_node_ids():
    found = problems(journey(send("a", next_="b"), wait("b"), send("a"), DONE))
    assert [(p.node, p.field) for p in found] == [("a", "id")]
    assert "nodes[0]" in found[0].message


def test_start_naming_unknown_node():
    found = problems(journey(send("a"), DONE, start="begin"))
    assert [(p.node, p.field) for p in found] == [(None, "start")]
    assert found[0].message == "journey field 'start': unknown node 'begin'"


@pytest.mark.parametrize(
    "node, field",
    [
        (send("s", next_="nope"), "next"),
        (wait("s", next_="nope"), "next"),
        ({"id": "s", "type": "wait_for", "event": {"opened": "first"}, "timeout": "1d",
          "on_event": "nope", "on_timeout": "done"}, "on_event"),
        ({"id": "s", "type": "wait_for", "event": {"opened": "first"}, "timeout": "1d",
          "on_event": "done", "on_timeout": "nope"}, "on_timeout"),
        ({"id": "s", "type": "branch", "condition": {"opened": "first"},
          "then": "nope", "else": "done"}, "then"),
        ({"id": "s", "type": "branch", "condition": {"opened": "first"},
          "then": "done", "else": "nope"}, "else"),
    ],
)
def test_reference_to_unknown_node(node, field):
    found = [p for p in problems(journey(send("first", next_="s"), node, DONE)) if p.node == "s"]
    assert [(p.node, p.field) for p in found] == [("s", field)]
    assert found[0].message == f"node 's' field '{field}': unknown node 'nope'"


def test_unknown_node_suggests_close_id():
    found = problems(journey(send("a", next_="wiat2"), wait("wait2"), DONE))
    assert "did you mean 'wait2'?" in found[0].message


def test_unreachable_node():
    found = problems(journey(send("a"), send("orphan"), DONE))
    assert [(p.node, p.field) for p in found] == [("orphan", "")]
    assert "unreachable" in found[0].message


def test_unreachable_from_explicit_start():
    assert located(journey(send("a", next_="b"), send("b"), DONE, start="b")) == {("a", "")}


def test_loop_without_wait():
    raw = journey(
        send("a", next_="b"),
        {"id": "b", "type": "branch", "condition": {"opened": "a"}, "then": "done", "else": "a"},
        DONE,
    )
    found = problems(raw)
    assert [(p.node, p.field) for p in found] == [("a", "next")]
    assert "a -> b -> a" in found[0].message


def test_self_loop_without_wait():
    found = problems(journey(send("a", next_="a"), DONE, start="a"))
    assert ("a", "next") in {(p.node, p.field) for p in found}


@pytest.mark.parametrize("pause", [
    wait("pause", next_="b"),
    {"id": "pause", "type": "wait_for", "event": {"opened": "a"}, "timeout": "2d",
     "on_event": "done", "on_timeout": "b"},
])
def test_loop_with_a_wait_is_allowed(pause):
    raw = journey(
        send("a", next_="pause"),
        pause,
        {"id": "b", "type": "branch", "condition": {"opened": "a"}, "then": "done", "else": "a"},
        DONE,
    )
    assert isinstance(validate_definition(raw), JourneyDefinition)


def test_condition_naming_a_non_send_node():
    raw = journey(
        send("a", next_="w"),
        wait("w", next_="b"),
        {"id": "b", "type": "branch", "condition": {"opened": "w"}, "then": "done", "else": "done"},
        DONE,
    )
    found = problems(raw)
    assert [(p.node, p.field) for p in found] == [("b", "condition.opened")]
    assert "'w' is a wait node" in found[0].message


def test_condition_naming_unknown_node():
    raw = journey(
        send("a", next_="b"),
        {"id": "b", "type": "wait_for", "event": {"clicked": "ghost"}, "timeout": "1d",
         "on_event": "done", "on_timeout": "done"},
        DONE,
    )
    assert located(raw) == {("b", "event.clicked")}


def test_condition_naming_a_later_send():
    raw = journey(
        {"id": "b", "type": "branch", "condition": {"opened": "later"},
         "then": "later", "else": "done"},
        send("later"),
        DONE,
    )
    found = problems(raw)
    assert [(p.node, p.field) for p in found] == [("b", "condition.opened")]
    assert "does not come before" in found[0].message


def test_condition_on_untracked_send():
    raw = journey(
        send("a", next_="b", track=False),
        {"id": "b", "type": "branch", "condition": {"opened": "a"}, "then": "done", "else": "done"},
        DONE,
    )
    assert located(raw) == {("b", "condition.opened")}


def _clicked(html, link):
    return journey(
        send("a", next_="b", html=html),
        {"id": "b", "type": "wait_for", "event": {"clicked": "a", "link": link}, "timeout": "3d",
         "on_event": "done", "on_timeout": "done"},
        DONE,
    )


def test_clicked_link_not_in_html():
    found = problems(_clicked(PAGE, "https://shop.example/other"))
    assert [(p.node, p.field) for p in found] == [("b", "event.link")]
    assert "https://shop.example/gifts" in found[0].message


def test_clicked_link_in_html_passes():
    html = '<a href="https://shop.example/?a=1&amp;b=2">x</a>'
    assert validate_definition(_clicked(html, "https://shop.example/?a=1&b=2"))


def test_clicked_link_check_skipped_for_templated_href():
    html = '<a href="https://shop.example/u/{{ contact.external_id }}">x</a>'
    assert validate_definition(_clicked(html, "https://shop.example/anything"))


def test_clicked_link_that_is_not_tracked():
    mail = "mailto:help@shop.example"
    found = problems(_clicked(f'<a href="{mail}">mail</a>', mail))
    assert [(p.node, p.field) for p in found] == [("b", "event.link")]
    assert "not tracked" in found[0].message


@pytest.mark.parametrize("node, field", [
    (wait("w", duration="2 days"), "duration"),
    (wait("w", duration="0d"), "duration"),
    ({"id": "w", "type": "wait_for", "event": {"opened": "a"}, "timeout": "soon",
      "on_event": "done", "on_timeout": "done"}, "timeout"),
])
def test_bad_duration(node, field):
    found = problems(journey(send("a", next_="w"), node, DONE))
    assert [(p.node, p.field) for p in found] == [("w", field)]
    assert "duration" in found[0].message


@pytest.mark.parametrize("field", ["subject", "html", "text"])
def test_template_syntax_error(field):
    node = send("a", text="ok")
    node[field] = "Hello\n{% if first_name %}{{ first_name }"
    found = problems(journey(node, DONE))
    assert [(p.node, p.field) for p in found] == [("a", field)]
    assert "line 2" in found[0].message


def test_template_doing_too_much_is_refused_with_the_reason():
    loops = "{% for i in range(10**4) %}{% for j in range(10**4) %}{{ i }}{% endfor %}{% endfor %}"
    found = problems(journey(send("a", text=loops), DONE))
    assert [(p.node, p.field) for p in found] == [("a", "text")]
    assert "template does more than 100,000 steps" in found[0].message


def test_checking_many_templates_is_bounded_in_time(monkeypatch):
    from sojourn.dsl.validation import templates
    monkeypatch.setattr(templates, "MAX_CHECKING_SECONDS", 0.0)
    found = problems(journey(send("a"), DONE))
    assert [(p.node, p.field) for p in found] == [("a", "subject")]
    assert "templates take longer than 0 s to check" in found[0].message


def test_send_without_body():
    node = send("a")
    del node["html"]
    found = problems(journey(node, DONE))
    assert [(p.node, p.field) for p in found] == [("a", "")]
    assert "html" in found[0].message and "text" in found[0].message


def test_send_with_empty_html():
    assert located(journey(send("a", html="  \n"), DONE)) == {("a", "html")}


def test_node_without_valid_id_is_reported_by_position():
    raw = journey(send("a", next_="w"), {"type": "wait", "duration": "x", "next": "done"}, DONE)
    assert {("nodes[1]", "id"), ("nodes[1]", "duration")} <= located(raw)


def test_unknown_node_type():
    raw = journey(send("a", next_="x"), {"id": "x", "type": "sms", "next": "done"}, DONE)
    assert located(raw) == {("x", "type")}


def test_every_problem_is_reported():
    raw = copy.deepcopy(MOTHERS_DAY)
    nodes = {node["id"]: node for node in raw["nodes"]}
    nodes["wait_2d"]["duration"] = "2 days"
    nodes["reminder"]["next"] = "wait5d"
    nodes["reminder"]["html"] = "{{ first_name "
    nodes["opened_offer"]["condition"] = {"opened": "wait_3d"}
    nodes["thanks"]["font"] = "serif"
    raw["nodes"].append(send("stray"))
    raw["start"] = "announce"
    assert located(raw) == {
        ("wait_2d", "duration"),
        ("reminder", "next"),
        ("reminder", "html"),
        ("opened_offer", "condition.opened"),
        ("thanks", "font"),
        ("stray", ""),
    }


def test_error_lists_every_problem_in_its_message():
    with pytest.raises(DefinitionError) as caught:
        validate_definition(journey(send("a", next_="x"), send("b", next_="y"), DONE))
    text = str(caught.value)
    assert "node 'a' field 'next': unknown node 'x'" in text
    assert "node 'b' field 'next': unknown node 'y'" in text


def test_definition_that_is_not_a_mapping():
    assert located(["not", "a", "journey"]) == {(None, "")}


def test_load_yaml(tmp_path):
    path = tmp_path / "journey.yaml"
    path.write_text(
        "name: Welcome\n"
        "nodes:\n"
        "  - id: hello\n"
        "    type: send\n"
        "    subject: 'Hi %first_name%'\n"
        "    text: Welcome!\n"
        "    next: done\n"
        "  - {id: done, type: exit}\n"
    )
    definition = validate_definition(load_definition_file(path))
    assert [node.id for node in definition.nodes] == ["hello", "done"]


def test_load_json(tmp_path):
    path = tmp_path / "journey.json"
    path.write_text(json.dumps(MOTHERS_DAY))
    assert load_definition_file(path) == MOTHERS_DAY


def test_load_yml_extension(tmp_path):
    path = tmp_path / "journey.yml"
    path.write_text("name: x\nnodes: []\n")
    assert load_definition_file(path) == {"name": "x", "nodes": []}


@pytest.mark.parametrize("name, text, expected", [
    ("bad.yaml", "name: x\nnodes: [\n", "invalid YAML at line"),
    ("dup.yaml", "name: x\nname: y\nnodes: []\n", "duplicate key 'name'"),
    ("bad.json", '{"name": "x",\n "nodes": [}', "invalid JSON at line 2"),
    ("dup.json", '{"name": "x", "name": "y"}', "duplicate key 'name'"),
    ("list.yaml", "- a\n- b\n", "must be a mapping"),
    ("empty.yaml", "", "must be a mapping, found an empty file"),
    ("journey.toml", "name = 'x'", "unsupported file type"),
])
def test_load_errors_are_clear(tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DefinitionError) as caught:
        load_definition_file(path)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)


def test_load_missing_file(tmp_path):
    with pytest.raises(DefinitionError, match="cannot read file"):
        load_definition_file(tmp_path / "missing.yaml")
