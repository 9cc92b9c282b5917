"""The editor's reading of a definition as it is being written: the parser's line and column,
each problem's line, and a diagram of whatever can be drawn of a definition that is not valid."""

from __future__ import annotations

from api.console.drafts import as_yaml, draft_graph, line_of, read

TEXT = """name: Draft
nodes:
  - id: start
    type: send
    subject: Hi
    text: hi
    next: ab
  - id: ab
    type: split
    arms:
      - {id: x, next: done}
      - id: y
        next: gone
  - type: wait
    duration: 2d
    next: done
  - id: done
    type: exit
"""


def test_text_that_is_not_yaml_names_the_parsers_line_and_column():
    draft = read("name: [Hi\nnodes: []\n")
    assert draft.definition is None and (draft.line, draft.column) == (2, 6)
    assert draft.unreadable.message.startswith("not valid YAML at line 2, column 6: ")
    assert "duplicate key 'next'" in read("name: a\nnodes:\n- id: a\n  next: b\n  next: c\n").unreadable.message
    assert "aliases are not accepted" in read("name: &n a\nnodes: *n\n").unreadable.message
    assert read("").unreadable.message.startswith("the definition is empty")
    assert read("- a list").unreadable.message.startswith("a journey definition must be a mapping")


def test_each_problem_has_the_line_of_its_field_or_of_the_closest_part_written():
    definition = read(TEXT).definition
    assert line_of(TEXT, definition, "start", "next") == 7
    assert line_of(TEXT, definition, "ab", "arms.1.next") == 13
    assert line_of(TEXT, definition, "nodes[2]", "") == 14  # a node without an id, by its position
    assert line_of(TEXT, definition, "start", "channel") == 3  # not written: the node itself
    assert line_of(TEXT, definition, None, "name") == 1
    assert line_of(TEXT, definition, "nowhere", "") is None


def test_a_definition_that_is_not_valid_is_drawn_as_far_as_it_can_be():
    graph = draft_graph(read(TEXT).definition)
    assert [(node["id"], node["type"]) for node in graph["nodes"]] == [
        ("start", "send"), ("ab", "split"), ("nodes[2]", "wait"), ("done", "exit"), ("gone", "missing")]
    assert graph["edges"] == [{"from": "start", "to": "ab", "way": "next"}, {"from": "ab", "to": "done", "way": "x"},
                              {"from": "ab", "to": "gone", "way": "y"}, {"from": "nodes[2]", "to": "done", "way": "next"}]


def test_a_stored_definition_shows_name_first_and_each_nodes_id_and_type_first():
    stored = {"nodes": [{"next": "b", "text": "t", "type": "send", "id": "a"}], "name": "N", "priority": 0}
    assert as_yaml(stored).splitlines()[:4] == ["name: N", "priority: 0", "nodes:", "- id: a"]
    assert read(as_yaml(stored)).definition == stored
