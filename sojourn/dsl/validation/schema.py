"""Pydantic's errors in an author's words: the fields they wrote, the node they wrote them in."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from sojourn.dsl.definition import JourneyDefinition
from sojourn.dsl.nodes import NODE_TYPES
from sojourn.dsl.validation.problems import Found, got, node_label, problem


def schema_problems(error: ValidationError, raw: dict[str, Any]) -> Found:
    items = raw.get("nodes") if isinstance(raw.get("nodes"), list) else []
    found = []
    for item in error.errors():
        loc = _without_union_tags(tuple(item["loc"]))
        if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int):
            index, rest = loc[1], loc[2:]
            node_model = None
            # Discriminated unions put the node type in the location: nodes.3.wait.duration.
            if rest and rest[0] in NODE_TYPES:
                node_model, rest = NODE_TYPES[rest[0]], rest[1:]
            if item["type"] in ("union_tag_invalid", "union_tag_not_found"):
                rest = ("type",)
            model = _model_at(node_model, rest[:-1])
            label = node_label(index, items[index] if index < len(items) else None)
            field = ".".join(str(part) for part in rest)
            found.append((index, problem(label, field, _detail(item, model))))
        else:
            field = ".".join(str(part) for part in loc)
            model = _model_at(JourneyDefinition, loc[:-1])
            found.append((-1, problem(None, field, _detail(item, model))))
    return found


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


def _detail(error: dict[str, Any], model: type[BaseModel] | None) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field" + _allowed(model)
    if kind == "missing":
        return "required field is missing"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        expected = ", ".join(NODE_TYPES)
        if kind == "union_tag_not_found":
            return f"missing node type; use one of {expected}"
        return f"unknown node type {error['ctx']['tag']!r}; use one of {expected}"
    if kind in ("model_attributes_type", "model_type", "dict_type"):
        return "must be a mapping" + got(error.get("input"))
    message = error["msg"].removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    if kind == "value_error":
        return message
    return message + got(error.get("input"))


# Tagged unions put their tag in error locations (`condition.engagement.opened`,
# `when.filter.and.and.0.attribute.op`); authors know only the fields they wrote.
_UNION_FIELDS = {path.rsplit(".", 1)[-1] for node in NODE_TYPES.values() for path in node.condition_fields} | {"not"}
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
