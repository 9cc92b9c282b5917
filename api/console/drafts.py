"""A definition as someone is writing it in the console's editor: read from YAML text as the API
reads a YAML body, each problem placed at the line of its node and field, and a graph of
whatever can be drawn of it, valid or not, so the diagram follows the text as it is typed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from sojourn.data.ingest.text import TOO_DEEP, json_problem
from sojourn.dsl.nodes import NODE_TYPES, written_values
from sojourn.dsl.validation import Problem, StrictYamlLoader, problem
from sojourn.dsl.validation.problems import raw_nodes

# How a way out of a node is named on the diagram (as api/console/diagram.py names them).
_WAYS = {"on_event": "event", "on_timeout": "timeout", "on_late": "late", "on_failure": "failed"}


@dataclass(frozen=True)
class Draft:
    """The text read: its definition, or the problem that kept it from being read."""

    definition: dict | None
    unreadable: Problem | None = None
    line: int | None = None  # where the text stopped being YAML (1-based)
    column: int | None = None


def read(text: str) -> Draft:
    """YAML text as the API reads an application/yaml body (aliases and repeated keys refused,
    values as they would be in JSON); the parser's line and column if it is not YAML."""
    try:
        data = yaml.load(text, Loader=StrictYamlLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        reason = error.problem or error.context or "not YAML"
        if mark is None:
            return Draft(None, _unreadable(f"not valid YAML: {reason}"))
        line, column = mark.line + 1, mark.column + 1
        return Draft(None, _unreadable(f"not valid YAML at line {line}, column {column}: {reason}"), line, column)
    except yaml.YAMLError as error:
        return Draft(None, _unreadable(f"not valid YAML: {error}"))
    except RecursionError:
        return Draft(None, _unreadable(f"not valid YAML: {TOO_DEEP}"))
    if data is None:
        return Draft(None, _unreadable("the definition is empty: write its `name` and `nodes`"))
    try:
        data = json.loads(json.dumps(data, default=str))  # dates and times as the API's YAML bodies have them
    except (ValueError, RecursionError):
        return Draft(None, _unreadable(f"not valid YAML: {TOO_DEEP}"))
    if found := json_problem(data):
        where, why = found
        return Draft(None, problem(None, where, why))
    if not isinstance(data, dict):
        return Draft(None, _unreadable("a journey definition must be a mapping with `name` and `nodes`"))
    return Draft(data)


def _unreadable(message: str) -> Problem:
    return Problem(node=None, field="", message=message)


def as_yaml(definition: dict) -> str:
    """A stored definition as the editor shows it: YAML with the name first and the nodes last,
    each node's id and type first (the database keeps keys in an order of its own)."""
    ordered = {"name": definition.get("name"), **definition}
    if isinstance(definition.get("nodes"), list):
        del ordered["nodes"]
        ordered["nodes"] = [_leading(node, ("id", "type")) for node in definition["nodes"]]
    return yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True, width=4096)  # no folded lines


def _leading(node: Any, keys: tuple[str, ...]) -> Any:
    if not isinstance(node, dict):
        return node
    return {**{key: node[key] for key in keys if key in node}, **node}


def line_of(text: str, definition: dict, node: str | None, field: str) -> int | None:
    """The line (1-based) where `field` of `node` (an id or "nodes[N]"; None: the journey) is
    written, or of the closest part of it that is; None if the text cannot be composed."""
    try:
        root = yaml.compose(text, Loader=StrictYamlLoader)  # noqa: S506 - a SafeLoader subclass
    except (yaml.YAMLError, RecursionError):
        return None
    if root is None:
        return None
    path: list[str] = []
    if node is not None:
        index = _node_index(definition, node)
        if index is None:
            return None
        path = ["nodes", str(index)]
    path += [part for part in field.split(".") if part]
    found = root.start_mark.line
    current: yaml.Node | None = root
    for part in path:
        current, mark = _child(current, part)
        if current is None:
            break
        found = mark
    return found + 1


def _node_index(definition: dict, node: str) -> int | None:
    if node.startswith("nodes[") and node.endswith("]") and node[6:-1].isdigit():
        return int(node[6:-1])
    return next((raw.index for raw in raw_nodes(definition) if raw.id == node), None)


def _child(node: yaml.Node | None, part: str) -> tuple[yaml.Node | None, int]:
    """The composed child `part` of `node` and the line of its key (or item)."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == part:
                return value, key.start_mark.line
    elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
        item = node.value[int(part)]
        return item, item.start_mark.line
    return None, 0


def draft_graph(definition: dict) -> dict[str, Any]:
    """The nodes and edges that can be read from a definition, valid or not: nodes as written
    (an ill-formed one by its position), their ways out, and a `missing` node for each target
    that no node has, so a `next` to nowhere shows where it points."""
    nodes, edges = [], []
    for raw in raw_nodes(definition):
        key = raw.id if raw.id is not None else raw.label
        if any(existing["id"] == key for existing in nodes):
            continue  # a repeated id: the problems list says so; the diagram draws the first
        detail = _detail(raw.data) if raw.type else "unknown type"
        nodes.append({"id": key, "type": raw.type or "unknown", "detail": detail})
        fields = NODE_TYPES[raw.type].edge_fields if raw.type else ()
        for path, target in written_values(raw.data, fields):
            if isinstance(target, str) and target:
                edges.append({"from": key, "to": target, "way": _way(raw.data, path)})
    known = {node["id"] for node in nodes}
    for target in dict.fromkeys(edge["to"] for edge in edges if edge["to"] not in known):
        nodes.append({"id": target, "type": "missing", "detail": "no node has this id"})
    return {"nodes": nodes, "edges": edges}


def _way(data: dict, path: str) -> str:
    parts = path.split(".")
    if parts[0] == "arms" and len(parts) == 3:
        arms = data.get("arms")
        arm = arms[int(parts[1])] if isinstance(arms, list) and int(parts[1]) < len(arms) else None
        return str(arm.get("id")) if isinstance(arm, dict) and arm.get("id") else f"arm {parts[1]}"
    if parts[0] == "cases" and len(parts) == 3:
        return f"case {parts[1]}"
    return _WAYS.get(path, path)


def _detail(data: dict) -> str:
    """What the node does as written, in a few words (the channel, the wait)."""
    kind = data.get("type")
    if kind == "send":
        channels = data.get("channel", "email")
        return " or ".join(map(str, channels)) if isinstance(channels, list) else str(channels)
    if kind == "wait":
        for name in ("duration", "until", "at"):
            if data.get(name) is not None:
                return f"{'wait' if name == 'duration' else name} {data[name]}"
    if kind == "wait_for":
        return f"wait up to {data.get('timeout')}"
    return str(kind)
