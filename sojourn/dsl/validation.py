"""The one check of a journey definition, shared by the API (422) and `sojourn validate`.

Graph and template rules run on the raw mapping, not on the parsed model, so that one bad
duration does not hide an unknown `next` three nodes later: an author fixing a definition
should see every problem in one pass.
"""

from __future__ import annotations

import difflib
import json
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from sojourn.dsl.definition import (
    BranchNode,
    ExitNode,
    JourneyDefinition,
    SendNode,
    TagNode,
    WaitForNode,
    WaitNode,
)
from sojourn.dsl.links import extract_links, is_trackable
from sojourn.dsl.templating import check_template, template_strings, translate_legacy
from sojourn.errors import Invalid

_NODE_MODELS: dict[str, type[BaseModel]] = {
    "send": SendNode,
    "wait": WaitNode,
    "wait_for": WaitForNode,
    "branch": BranchNode,
    "tag": TagNode,
    "exit": ExitNode,
}
_EDGE_FIELDS = {
    "send": ("next", "on_failure"),
    "wait": ("next",),
    "tag": ("next",),
    "wait_for": ("on_event", "on_timeout"),
    "branch": ("then", "else"),
    "exit": (),
}
# A node of unknown type might use any of these; following them avoids a cascade of
# "unreachable" problems behind the one real mistake.
_ANY_EDGE_FIELDS = ("next", "on_event", "on_timeout", "then", "else")
_CONDITION_FIELD = {"wait_for": "event", "branch": "condition"}
_PAUSING_TYPES = {"wait", "wait_for"}
_EMAIL_FIELDS = ("subject", "html", "text")
_CHANNEL_FIELDS = ("sms", "push", "line", "webhook")
_Graph = dict[str, list[tuple[str, str]]]  # node id -> [(edge field, target id)]
_Report = Callable[["_RawNode | None", str, str], None]
_ID_ADAPTER = TypeAdapter(Annotated[(str, *SendNode.model_fields["id"].metadata)])


class Problem(BaseModel):
    """One thing wrong with a definition.

    `node` is the node id (`nodes[3]` when it has no valid id, None for the journey itself);
    `field` is a dotted path inside it, "" meaning the node (or journey) as a whole.
    """

    node: str | None
    field: str
    message: str

    def __str__(self) -> str:
        return self.message


class DefinitionError(Invalid):
    code = "invalid_definition"

    def __init__(self, problems: list[Problem]):
        super().__init__(f"the journey definition has {len(problems)} problem(s)",
                         details=[problem.model_dump() for problem in problems])
        self.problems = problems
        self.args = ("\n".join(problem.message for problem in problems),)


def _problem(node: str | None, field: str, detail: str) -> Problem:
    if node is None:
        where = "journey"
    elif node.startswith("nodes["):
        where = node
    else:
        where = f"node {node!r}"
    if field:
        where += f" field {field!r}"
    return Problem(node=node, field=field, message=f"{where}: {detail}")


@dataclass
class _RawNode:
    index: int
    data: dict[str, Any]
    id: str | None  # any string id, even an ill-formed one, so references to it resolve
    label: str  # the id if well-formed, else nodes[index]
    type: str | None


def _raw_nodes(raw: dict[str, Any]) -> list[_RawNode]:
    items = raw.get("nodes")
    if not isinstance(items, list):
        return []
    nodes = []
    for index, data in enumerate(items):
        if not isinstance(data, dict):
            continue
        node_id = data.get("id") if isinstance(data.get("id"), str) else None
        node_type = data.get("type") if data.get("type") in _NODE_MODELS else None
        nodes.append(_RawNode(index, data, node_id, _label(index, data), node_type))
    return nodes


def _label(index: int, data: Any) -> str:
    node_id = data.get("id") if isinstance(data, dict) else None
    try:
        return _ID_ADAPTER.validate_python(node_id)
    except ValidationError:
        return f"nodes[{index}]"


# --- pydantic errors -------------------------------------------------------------------


def _model_at(model: type[BaseModel] | None, path: tuple[Any, ...]) -> type[BaseModel] | None:
    for part in path:
        if model is None:
            return None
        fields = model.model_fields.items()
        field = next((f for name, f in fields if (f.alias or name) == part), None)
        annotation = field.annotation if field is not None else None
        is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        model = annotation if is_model else None
    return model


def _allowed(model: type[BaseModel] | None) -> str:
    if model is None:
        return ""
    names = [field.alias or name for name, field in model.model_fields.items()]
    return "; allowed fields: " + ", ".join(names)


def _got(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return f" (got a {'mapping' if isinstance(value, dict) else 'list'})"
    text = repr(value)
    return f" (got {text[:60] + '...' if len(text) > 60 else text})"


def _detail(error: dict[str, Any], model: type[BaseModel] | None) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field" + _allowed(model)
    if kind == "missing":
        return "required field is missing"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        expected = ", ".join(_NODE_MODELS)
        if kind == "union_tag_not_found":
            return f"missing node type; use one of {expected}"
        return f"unknown node type {error['ctx']['tag']!r}; use one of {expected}"
    if kind in ("model_attributes_type", "model_type", "dict_type"):
        return "must be a mapping" + _got(error.get("input"))
    message = error["msg"].removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    if kind == "value_error":
        return message
    return message + _got(error.get("input"))


# Tagged unions put their tag in error locations (`condition.engagement.opened`,
# `when.filter.and.and.0.attribute.op`); authors know only the fields they wrote.
_UNION_FIELDS = {"event", "condition", "when", "not"}
_UNION_TAGS = {"engagement", "event", "filter", "and", "or", "not", "attribute", "tag", "segment"}


def _without_union_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    kept: list[Any] = []
    previous, previous_was_tag = None, False
    for part in loc:
        is_tag = part in _UNION_TAGS and (
            (previous in _UNION_FIELDS and not previous_was_tag)
            or (previous == "filter" and previous_was_tag)
            or (isinstance(previous, int) and len(kept) >= 2 and kept[-2] in ("and", "or"))
        )
        if not is_tag:
            kept.append(part)
        previous, previous_was_tag = part, is_tag
    return tuple(kept)


def _pydantic_problems(error: ValidationError, raw: dict[str, Any]) -> list[tuple[int, Problem]]:
    items = raw.get("nodes") if isinstance(raw.get("nodes"), list) else []
    found = []
    for item in error.errors():
        loc = _without_union_tags(tuple(item["loc"]))
        if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int):
            index, rest = loc[1], loc[2:]
            node_model = None
            # Discriminated unions put the node type in the location: nodes.3.wait.duration.
            if rest and rest[0] in _NODE_MODELS:
                node_model, rest = _NODE_MODELS[rest[0]], rest[1:]
            if item["type"] in ("union_tag_invalid", "union_tag_not_found"):
                rest = ("type",)
            model = _model_at(node_model, rest[:-1])
            label = _label(index, items[index] if index < len(items) else None)
            field = ".".join(str(part) for part in rest)
            found.append((index, _problem(label, field, _detail(item, model))))
        else:
            field = ".".join(str(part) for part in loc)
            model = _model_at(JourneyDefinition, loc[:-1])
            found.append((-1, _problem(None, field, _detail(item, model))))
    return found


# --- graph and template rules ----------------------------------------------------------


def _reach(graph: _Graph, start: str) -> set[str]:
    """Nodes reachable from `start` by one or more edges."""
    seen: set[str] = set()
    queue = deque(target for _, target in graph.get(start, ()))
    while queue:
        node = queue.popleft()
        if node not in seen:
            seen.add(node)
            queue.extend(target for _, target in graph.get(node, ()))
    return seen


def _cycle_path(graph: _Graph, start: str, within: set[str]) -> list[tuple[str, str]]:
    """The shortest cycle through `start` inside `within`, as (field, target) steps."""
    parents: dict[str, tuple[str, str]] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for field, target in graph.get(node, ()):
            if target not in within or target in parents:
                continue
            parents[target] = (node, field)
            if target == start:
                steps, current = [], start
                while True:
                    previous, via = parents[current]
                    steps.append((via, current))
                    current = previous
                    if current == start:
                        return steps[::-1]
            queue.append(target)
    return []


def _unknown(name: str, known: dict[str, _RawNode]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"unknown node {name!r}" + (f"; did you mean {close[0]!r}?" if close else "")


def _is_templated(url: str) -> bool:
    return "{{" in url or "{%" in url or translate_legacy(url) != url


def _rule_problems(raw: dict[str, Any]) -> list[tuple[int, Problem]]:
    nodes = _raw_nodes(raw)
    found: list[tuple[int, Problem]] = []

    def report(node: _RawNode | None, field: str, detail: str) -> None:
        if node is None:
            found.append((-1, _problem(None, field, detail)))
        else:
            found.append((node.index, _problem(node.label, field, detail)))

    first: dict[str, _RawNode] = {}
    for node in nodes:
        if node.id is None:
            continue
        if node.id in first:
            earlier = first[node.id].index
            report(node, "id", f"duplicate node id; nodes[{earlier}] already uses {node.id!r}")
        else:
            first[node.id] = node

    graph: _Graph = {}
    for node in nodes:
        for field, target in _edges(node):
            if not isinstance(target, str):
                continue
            if target not in first:
                report(node, field, _unknown(target, first))
            elif first.get(node.id or "") is node:
                graph.setdefault(node.id, []).append((field, target))

    start = raw.get("start")
    start_id: str | None = None
    if isinstance(start, str):
        if start in first:
            start_id = start
        else:
            report(None, "start", _unknown(start, first))
    elif start is None and nodes and nodes[0].index == 0:
        start_id = nodes[0].id

    if start_id is not None:
        reachable = _reach(graph, start_id) | {start_id}
        for node_id, node in first.items():
            if node_id not in reachable:
                report(node, "", f"unreachable from the start node {start_id!r}")

    _loop_problems(first, graph, report)
    _condition_problems(nodes, first, graph, report)
    entry = raw.get("entry")
    if not (isinstance(entry, dict) and entry.get("event")):
        for node in nodes:
            if node.type == "wait" and node.data.get("relative_to") == "event":
                report(node, "relative_to", "`relative_to: event` needs an `entry` event to count from")
    _send_problems(nodes, report)
    return found


def _edges(node: _RawNode) -> list[tuple[str, Any]]:
    """(field path, target) of every outgoing edge, including a branch's `cases`."""
    edges = [(field, node.data.get(field)) for field in _EDGE_FIELDS.get(node.type or "", _ANY_EDGE_FIELDS)]
    if node.type == "branch":
        cases = node.data.get("cases")
        if isinstance(cases, list):
            edges += [(f"cases.{i}.then", case.get("then")) for i, case in enumerate(cases) if isinstance(case, dict)]
        edges.append(("default", node.data.get("default")))
    return edges


def _conditions(node: _RawNode) -> list[tuple[str, dict]]:
    """(field path, engagement condition) pairs the node decides on."""
    found = []
    container = _CONDITION_FIELD.get(node.type or "")
    if container and isinstance(node.data.get(container), dict):
        found.append((container, node.data[container]))
    if node.type == "branch" and isinstance(node.data.get("cases"), list):
        found += [(f"cases.{i}.when", case["when"]) for i, case in enumerate(node.data["cases"])
                  if isinstance(case, dict) and isinstance(case.get("when"), dict)]
    return found


def _loop_problems(first: dict[str, _RawNode], graph: _Graph, report: _Report) -> None:
    # A cycle of nodes that never pause would spin the workflow until its history overflows.
    busy = {
        node_id: [
            (field, target)
            for field, target in graph.get(node_id, ())
            if first[target].type not in _PAUSING_TYPES
        ]
        for node_id, node in first.items()
        if node.type not in _PAUSING_TYPES
    }
    reach = {node_id: _reach(busy, node_id) for node_id in busy}
    reported: set[str] = set()
    for node_id in busy:
        if node_id in reported or node_id not in reach[node_id]:
            continue
        component = {other for other in reach[node_id] if node_id in reach.get(other, ())}
        reported |= component
        steps = _cycle_path(busy, node_id, component)
        route = " -> ".join([node_id, *(target for _, target in steps)])
        detail = f"loop without a wait: {route}; add a wait or wait_for node to it"
        report(first[node_id], steps[0][0], detail)


def _condition_problems(
    nodes: list[_RawNode], first: dict[str, _RawNode], graph: _Graph, report: _Report
) -> None:
    reach_cache: dict[str, set[str]] = {}
    for node, container, condition in ((n, c, cond) for n in nodes for c, cond in _conditions(n)):
        for kind in ("opened", "clicked"):
            name = condition.get(kind)
            if not isinstance(name, str):
                continue
            field = f"{container}.{kind}"
            send = first.get(name)
            if send is None:
                report(node, field, _unknown(name, first))
                continue
            if send.type != "send":
                described = f"a {send.type} node" if send.type else "not a send node"
                detail = f"{name!r} is {described}; conditions can only name a send node"
                report(node, field, detail)
                continue
            if name not in reach_cache:
                reach_cache[name] = _reach(graph, name)
            if node.id not in reach_cache[name]:
                detail = f"send {name!r} does not come before this node on any path from the start"
                report(node, field, detail)
            elif send.data.get("track") is False:
                report(node, field, f"send {name!r} has `track: false`, so it is never {kind}")
            if kind == "clicked":
                _link_problem(node, f"{container}.link", condition.get("link"), send, report)


def _link_problem(node: _RawNode, field: str, link: Any, send: _RawNode, report: _Report) -> None:
    if not isinstance(link, str):
        return
    html = send.data.get("html")
    if not isinstance(html, str):
        report(node, field, f"send {send.id!r} has no html, so it has no link {link!r} to click")
        return
    links = extract_links(html)
    # A templated href could render to anything, so only literal links can be checked.
    if any(_is_templated(url) for url in links):
        return
    tracked = [url for url in dict.fromkeys(links) if is_trackable(url)]
    if link.strip() in tracked:
        return
    if link.strip() in links:
        report(node, field, f"link {link!r} is not tracked; only http(s) links record clicks")
        return
    listed = ", ".join(repr(url) for url in tracked) if tracked else "none"
    detail = f"link {link!r} is not in the html of send {send.id!r}; its links: {listed}"
    report(node, field, detail)


def _send_problems(nodes: list[_RawNode], report: _Report) -> None:
    for node in nodes:
        if node.type != "send":
            continue
        for field in _EMAIL_FIELDS:
            source = node.data.get(field)
            if field != "subject" and isinstance(source, str) and not source.strip():
                # Mail clients show an empty html part instead of the text part.
                report(node, field, "is empty; give it content or leave it out")
        sources = [(field, node.data.get(field)) for field in _EMAIL_FIELDS]
        sources += [found for field in _CHANNEL_FIELDS if isinstance(node.data.get(field), dict)
                    for found in template_strings(node.data[field], field) if found[0] != "webhook.url"]
        for field, source in sources:
            if not isinstance(source, str) or (field in _EMAIL_FIELDS[1:] and not source.strip()):
                continue
            error = check_template(source)
            if error is not None:
                report(node, field, f"template error at {error}")


# --- entry points ----------------------------------------------------------------------


def validate_definition(raw: dict) -> JourneyDefinition:
    """Parse and check a definition; raise DefinitionError listing every problem found."""
    if not isinstance(raw, dict):
        detail = "a journey definition must be a mapping with `name` and `nodes`" + _got(raw)
        raise DefinitionError([_problem(None, "", detail)])
    found: list[tuple[int, Problem]] = []
    definition = None
    try:
        definition = JourneyDefinition.model_validate(raw)
    except ValidationError as error:
        found.extend(_pydantic_problems(error, raw))
    found.extend(_rule_problems(raw))
    if found:
        ordered = sorted(found, key=lambda pair: pair[0])  # stable: journey first, then by node
        unique = {problem.message: problem for _, problem in reversed(ordered)}
        raise DefinitionError(list(reversed(unique.values())))
    assert definition is not None
    return definition


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML silently keeps the last of two equal keys; a second `next:` is almost always a slip."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
        return super().construct_mapping(node, deep)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _file_error(path: Path, detail: str) -> DefinitionError:
    return DefinitionError([Problem(node=None, field="", message=f"{path}: {detail}")])


def load_definition_file(path: str | Path) -> dict:
    """Read a definition from a .yaml, .yml or .json file; DefinitionError if it cannot be read."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise _file_error(path, "unsupported file type; use .yaml, .yml or .json")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise _file_error(path, f"cannot read file: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise _file_error(path, "file is not UTF-8 text") from error
    if suffix == ".json":
        try:
            data = json.loads(text, object_pairs_hook=_unique_pairs)
        except json.JSONDecodeError as error:
            where = f"line {error.lineno}, column {error.colno}"
            raise _file_error(path, f"invalid JSON at {where}: {error.msg}") from error
        except ValueError as error:
            raise _file_error(path, f"invalid JSON: {error}") from error
    else:
        try:
            data = yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            detail = f"invalid YAML{where}: {error.problem or error.context}"
            raise _file_error(path, detail) from error
        except yaml.YAMLError as error:
            raise _file_error(path, f"invalid YAML: {error}") from error
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        raise _file_error(path, f"a journey definition must be a mapping, found {found}")
    # The body of POST /v1/journeys, {id, definition}, is a valid file too.
    if set(data) == {"id", "definition"} and isinstance(data["definition"], dict):
        return data["definition"]
    return data
