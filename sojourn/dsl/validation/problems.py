"""What the checks report, and the nodes as written that they read.

The rules run on the raw mapping, not on the parsed model, so that one bad duration does not
hide an unknown `next` three nodes later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from sojourn.dsl.nodes import NODE_TYPES, SendNode
from sojourn.errors import Invalid

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


def problem(node: str | None, field: str, detail: str) -> Problem:
    if node is None:
        where = "journey"
    elif node.startswith("nodes["):
        where = node
    else:
        where = f"node {node!r}"
    if field:
        where += f" field {field!r}"
    return Problem(node=node, field=field, message=f"{where}: {detail}")


def got(value: Any) -> str:
    """What an author wrote where something else belongs, briefly."""
    if isinstance(value, (dict, list)):
        return f" (got a {'mapping' if isinstance(value, dict) else 'list'})"
    text = repr(value)
    return f" (got {text[:60] + '...' if len(text) > 60 else text})"


@dataclass
class RawNode:
    index: int
    data: dict[str, Any]
    id: str | None  # any string id, even an ill-formed one, so references to it resolve
    label: str  # the id if well-formed, else nodes[index]
    type: str | None  # a known node type, else None


# Each found problem with the index of its node (-1: the journey), to order them by node.
Found = list[tuple[int, Problem]]
Report = Callable[[RawNode | None, str, str], None]


def raw_nodes(raw: dict[str, Any]) -> list[RawNode]:
    items = raw.get("nodes")
    if not isinstance(items, list):
        return []
    nodes = []
    for index, data in enumerate(items):
        if not isinstance(data, dict):
            continue
        node_id = data.get("id") if isinstance(data.get("id"), str) else None
        node_type = data.get("type") if data.get("type") in NODE_TYPES else None
        nodes.append(RawNode(index, data, node_id, node_label(index, data), node_type))
    return nodes


def node_label(index: int, data: Any) -> str:
    node_id = data.get("id") if isinstance(data, dict) else None
    try:
        return _ID_ADAPTER.validate_python(node_id)
    except ValidationError:
        return f"nodes[{index}]"


def reporter(found: Found) -> Report:
    """A `report(node, field, detail)` that adds to `found`."""

    def report(node: RawNode | None, field: str, detail: str) -> None:
        if node is None:
            found.append((-1, problem(None, field, detail)))
        else:
            found.append((node.index, problem(node.label, field, detail)))

    return report
