"""Reading a definition from a .yaml, .yml or .json file, refusing duplicate keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from sojourn.dsl.validation.problems import DefinitionError, Problem

# The parsers recurse once per level; a file deeper than the stack is no journey definition.
_TOO_DEEP = "nested too deeply"


class StrictYamlLoader(yaml.SafeLoader):
    """Journey YAML: a repeated key is refused (YAML silently keeps the last of two equal keys; a
    second `next:` is almost always a slip), and so is any alias (`*name`, `<<: *name`): each one
    expands to a copy of what it names, so a few hundred bytes of nested aliases ("billion
    laughs") become gigabytes in memory. A definition writes each value out."""

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            alias = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"aliases are not accepted (*{alias.anchor}): write the value out", alias.start_mark)
        return super().compose_node(parent, index)

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
        except RecursionError:
            raise _file_error(path, f"invalid JSON: {_TOO_DEEP}") from None
    else:
        try:
            data = yaml.load(text, Loader=StrictYamlLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            detail = f"invalid YAML{where}: {error.problem or error.context}"
            raise _file_error(path, detail) from error
        except yaml.YAMLError as error:
            raise _file_error(path, f"invalid YAML: {error}") from error
        except RecursionError:
            raise _file_error(path, f"invalid YAML: {_TOO_DEEP}") from None
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        raise _file_error(path, f"a journey definition must be a mapping, found {found}")
    # The body of POST /v1/journeys, {id, definition}, is a valid file too.
    if set(data) == {"id", "definition"} and isinstance(data["definition"], dict):
        return data["definition"]
    return data
