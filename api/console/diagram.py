"""A journey version's graph with its funnel on each node and edge, for the diagram to draw
(the browser lays it out with dagre). The numbers are the funnel's (GET /v1/journeys/{id}/funnel),
only regrouped: an edge carries the runs that left its node by the way it stands for."""

from __future__ import annotations

from typing import Any

from sojourn.contracts.statuses import MessageStatus
from sojourn.dsl.definition import JourneyDefinition
from sojourn.dsl.nodes import AnyNode, BranchNode, SendNode, SplitNode, WaitForNode, WaitNode

# A send's `next` takes every message that went or was skipped; a failed one too, unless the
# send names an `on_failure`.
_SEND_NEXT = (MessageStatus.SENT, MessageStatus.UNCONFIRMED, MessageStatus.SKIPPED)
_WAYS = {"on_event": "event", "on_timeout": "timeout", "on_late": "late", "on_failure": MessageStatus.FAILED}


def experiments_of(definition: JourneyDefinition) -> bool:
    """Whether the version holds an experiment: a holdout, or a split node."""
    return definition.holdout is not None or any(isinstance(node, SplitNode) for node in definition.nodes)


def graph(definition: JourneyDefinition, funnel: dict, experiments: dict | None = None) -> dict[str, Any]:
    """{"nodes": [...], "edges": [...]}, in the definition's order; a split with results (GET
    /v1/journeys/{id}/experiments) is marked, for the diagram to point at them."""
    counts = {node["id"]: node for node in funnel["nodes"]}
    with_results = {split["node"] for split in (experiments or {}).get("splits", [])}
    nodes, edges = [], []
    for node in definition.nodes:
        numbers = counts.get(node.id) or {"entered": 0, "here": 0, "left": {}, "send": None}
        nodes.append({"id": node.id, "type": node.type, "detail": detail(node), "entered": numbers["entered"],
                      "here": numbers["here"], "send": _send_numbers(numbers.get("send")),
                      "experiment": node.id in with_results})
        for path, target in node.edges().items():
            way, runs = _way(node, path, numbers["left"])
            edges.append({"from": node.id, "to": target, "way": way, "runs": runs})
    return {"nodes": nodes, "edges": edges}


def _way(node: AnyNode, path: str, left: dict[str, int]) -> tuple[str, int]:
    """The edge's name on the diagram and the runs that left by it."""
    parts = path.split(".")
    if isinstance(node, SendNode) and path == "next":
        ways = [*_SEND_NEXT, *(() if node.on_failure else (MessageStatus.FAILED,))]
        return "next", sum(left.get(way, 0) for way in ways)
    if isinstance(node, SplitNode):  # arms.N.next: the arm's id
        way = node.arms[int(parts[1])].id
    elif isinstance(node, BranchNode) and parts[0] == "cases":  # cases.N.then
        way = f"case {parts[1]}"
    else:
        way = _WAYS.get(path, path)
    return str(way), left.get(way, 0)


def _send_numbers(send: dict | None) -> dict[str, int] | None:
    if send is None:
        return None
    return {"sent": send["sent"], "opened": send["opens"]["unique"], "clicked": send["clicks"]["unique"],
            "converted": send["conversions"]}


def detail(node: AnyNode) -> str:
    """What the node does, in a few words: a send's channels, a wait's time."""
    if isinstance(node, SendNode):
        return " or ".join(node.channels)
    if isinstance(node, WaitNode):
        if node.duration is not None:
            return f"wait {node.duration}"
        return f"until {node.until.isoformat()}" if node.until is not None else f"at {node.at}"
    if isinstance(node, WaitForNode):
        return f"wait up to {node.timeout}"
    if isinstance(node, SplitNode):
        return " / ".join(f"{arm.id} {arm.weight:g}" for arm in node.arms)
    if isinstance(node, BranchNode):
        return f"{len(node.arms())} ways"
    return node.type
