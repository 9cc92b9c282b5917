"""The one check of a journey definition, shared by the API (422) and `sojourn validate`.

Every problem is found in one pass, so an author fixing a definition sees them all: pydantic's
errors in the author's words (`schema`), the graph rules (`graph`), the rules only new
definitions must keep (`rules`) and the content rules (`templates`), each reading the nodes
as written (`problems`). What it names outside itself (`references`: segments, webhook URLs)
is for the caller to check against the database and the settings. Callers import from here.
"""

from __future__ import annotations

from pydantic import ValidationError

from sojourn.dsl.definition import JourneyDefinition
from sojourn.dsl.validation.files import StrictYamlLoader, load_definition_file
from sojourn.dsl.validation.graph import graph_problems
from sojourn.dsl.validation.problems import DefinitionError, Found, Problem, got, problem, raw_nodes, reporter
from sojourn.dsl.validation.references import segment_references, webhook_urls
from sojourn.dsl.validation.rules import rule_problems
from sojourn.dsl.validation.schema import schema_problems
from sojourn.dsl.validation.templates import template_problems

__all__ = ["DefinitionError", "Problem", "StrictYamlLoader", "load_definition_file", "problem", "segment_references",
           "validate_definition", "webhook_urls"]


def validate_definition(raw: dict) -> JourneyDefinition:
    """Parse and check a definition; raise DefinitionError listing every problem found."""
    if not isinstance(raw, dict):
        detail = "a journey definition must be a mapping with `name` and `nodes`" + got(raw)
        raise DefinitionError([problem(None, "", detail)])
    found: Found = []
    definition = None
    try:
        definition = JourneyDefinition.model_validate(raw)
    except ValidationError as error:
        found.extend(schema_problems(error, raw))
    nodes = raw_nodes(raw)
    report = reporter(found)
    graph_problems(raw, nodes, report)
    rule_problems(raw, nodes, report)
    template_problems(nodes, report)
    if found:
        ordered = sorted(found, key=lambda pair: pair[0])  # stable: journey first, then by node
        unique = {item.message: item for _, item in reversed(ordered)}
        raise DefinitionError(list(reversed(unique.values())))
    assert definition is not None
    return definition
