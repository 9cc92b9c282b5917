"""What a definition names outside itself, as written, for the checks that need the database or
the settings: the segments it enters from or branches on, the URLs its webhooks call."""

from __future__ import annotations

from typing import Any

from sojourn.dsl.nodes import NODE_TYPES, written_values
from sojourn.dsl.validation.problems import raw_nodes

# (node label, or None for the journey; field path; what it names)
Reference = tuple[str | None, str, str]


def segment_references(raw: dict[str, Any]) -> list[Reference]:
    """Every segment the definition names: its entry `segment` or `audience`, and the segment
    filters of its branch conditions (inside `and`, `or` and `not` too)."""
    found: list[Reference] = []
    entry = raw.get("entry")
    if isinstance(entry, dict):
        found += [(None, f"entry.{field}", entry[field]) for field in ("segment", "audience")
                  if isinstance(entry.get(field), str)]
    for node in raw_nodes(raw):
        if node.type is None:
            continue
        for path, condition in written_values(node.data, NODE_TYPES[node.type].condition_fields):
            found += [(node.label, field, name) for field, name in _segments_in(condition, path)]
    return found


def _segments_in(condition: Any, at: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    stack = [(at, condition)]
    while stack:
        path, value = stack.pop()
        if not isinstance(value, dict):
            continue
        if isinstance(value.get("segment"), str):
            found.append((f"{path}.segment", value["segment"]))
        for kind in ("and", "or"):
            if isinstance(value.get(kind), list):
                stack += [(f"{path}.{kind}.{index}", item) for index, item in enumerate(value[kind])]
        stack.append((f"{path}.not", value.get("not")))
    return sorted(found)


def webhook_urls(raw: dict[str, Any]) -> list[Reference]:
    """The `webhook.url` of every send whose channel is `webhook`."""
    found: list[Reference] = []
    for node in raw_nodes(raw):
        channel = node.data.get("channel")
        content = node.data.get("webhook")
        if node.type == "send" and "webhook" in (channel if isinstance(channel, list) else [channel]) \
                and isinstance(content, dict) \
                and isinstance(content.get("url"), str) and content["url"].startswith(("https://", "http://")):
            found.append((node.label, "webhook.url", content["url"]))
    return found
