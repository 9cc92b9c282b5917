"""Rules on the journey as a graph: node ids, edges, reachability, loops that never rest, and
the engagement conditions that name an earlier send (and a link in it)."""

from __future__ import annotations

import difflib
from collections import deque
from typing import Any

from sojourn.dsl.links import extract_links, is_trackable
from sojourn.dsl.nodes import NODE_TYPES, written_values
from sojourn.dsl.templating import translate_legacy
from sojourn.dsl.validation.problems import RawNode, Report

_Graph = dict[str, list[tuple[str, str]]]  # node id -> [(edge field, target id)]

# A node of unknown type might use any of these; following them avoids a cascade of
# "unreachable" problems behind the one real mistake.
_ANY_EDGE_FIELDS = tuple(dict.fromkeys(path for node in NODE_TYPES.values() for path in node.edge_fields
                                       if "*" not in path))
_RESTING_TYPES = {name for name, node in NODE_TYPES.items() if node.rests}


def graph_problems(raw: dict[str, Any], nodes: list[RawNode], report: Report) -> None:
    first: dict[str, RawNode] = {}
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


def _edges(node: RawNode) -> list[tuple[str, Any]]:
    """(field path, target as written) of every outgoing edge."""
    if node.type is None:
        return [(field, node.data.get(field)) for field in _ANY_EDGE_FIELDS]
    return written_values(node.data, NODE_TYPES[node.type].edge_fields)


def _conditions(node: RawNode) -> list[tuple[str, dict]]:
    """(field path, condition mapping) pairs the node decides on."""
    if node.type is None:
        return []
    return [(path, value) for path, value in written_values(node.data, NODE_TYPES[node.type].condition_fields)
            if isinstance(value, dict)]


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


def _unknown(name: str, known: dict[str, RawNode]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"unknown node {name!r}" + (f"; did you mean {close[0]!r}?" if close else "")


def _loop_problems(first: dict[str, RawNode], graph: _Graph, report: Report) -> None:
    # A cycle of nodes where a run never rests would spin the workflow until its history overflows.
    busy = {
        node_id: [
            (field, target)
            for field, target in graph.get(node_id, ())
            if first[target].type not in _RESTING_TYPES
        ]
        for node_id, node in first.items()
        if node.type not in _RESTING_TYPES
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


def _condition_problems(nodes: list[RawNode], first: dict[str, RawNode], graph: _Graph, report: Report) -> None:
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


def _link_problem(node: RawNode, field: str, link: Any, send: RawNode, report: Report) -> None:
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


def _is_templated(url: str) -> bool:
    return "{{" in url or "{%" in url or translate_legacy(url) != url
