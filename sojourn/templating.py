"""Message templates: one sandboxed Jinja2 environment shared by validation and sending.

Templates are written by marketers, not developers, so they run in Jinja's immutable
sandbox, and every failure (syntax, sandbox violation, runtime error) becomes a
`TemplateRenderError` instead of a half-rendered message going out.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, Template, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

# The template name decides autoescaping, so one environment serves HTML and plain text.
_HTML_NAME = "message.html"
_TEXT_NAME = "message.txt"

CONTACT_FIELDS = ("external_id", "email", "phone", "first_name", "last_name", "time_zone")

# Jinja constructs are matched first so that `{%endif%}` is never read as a placeholder.
_LEGACY = re.compile(
    r"(?P<jinja>\{%-?\s*raw\s*-?%\}.*?\{%-?\s*endraw\s*-?%\}|\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\})"
    r"|%(?P<name>[A-Za-z_][A-Za-z0-9_]*)%",
    re.DOTALL,
)
_LEGACY_ALIASES = {"name": "first_name"}

# Limits that keep a hostile or careless template from exhausting a worker's memory or CPU.
_MAX_EXPONENT = 100
_MAX_SEQUENCE_PRODUCT = 100_000


class TemplateRenderError(Exception):
    """A template could not be compiled or rendered; nothing should be sent."""


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        # `contact.items` must be the contact's "items" attribute, not dict.items.
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # The stock sandbox returns an Undefined that Chainable/lenient undefined renders as
        # an empty string, hiding the attempt; a message built from it must not go out.
        kind = type(obj).__name__
        raise SecurityError(f"access to attribute {attribute!r} of {kind!r} is not allowed")

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**":
            if isinstance(right, (int, float)) and abs(right) > _MAX_EXPONENT:
                raise SecurityError(f"exponent {right!r} is too large")
            return operator.pow(left, right)
        for sequence, count in ((left, right), (right, left)):
            if isinstance(sequence, (str, list, tuple)) and isinstance(count, int):
                if len(sequence) * count > _MAX_SEQUENCE_PRODUCT:
                    raise SecurityError("repeated sequence would be too long")
        return operator.mul(left, right)


_env = _Environment(
    autoescape=lambda name: name == _HTML_NAME,
    undefined=ChainableUndefined,
    # Optional attributes often hold None; marketers expect an empty string, not "None".
    finalize=lambda value: "" if value is None else value,
    keep_trailing_newline=True,
)


def translate_legacy(source: str) -> str:
    """Turn `%first_name%`-style placeholders into Jinja, leaving `100%` and Jinja tags alone."""

    def replace(match: re.Match[str]) -> str:
        if match.group("jinja") is not None:
            return match.group("jinja")
        name = _LEGACY_ALIASES.get(match.group("name"), match.group("name"))
        return "{{ contact[%r] }}" % name

    return _LEGACY.sub(replace, source)


@lru_cache(maxsize=1024)
def _compile(source: str, html: bool) -> Template:
    # Compiling is far slower than rendering and the same template goes to every contact.
    name = _HTML_NAME if html else _TEXT_NAME
    code = _env.compile(translate_legacy(source), name=name)
    return _env.template_class.from_code(_env, code, _env.make_globals(None), None)


def check_template(source: str) -> str | None:
    """The syntax error in `source` as a human message with its line, or None if it compiles."""
    try:
        _compile(source, False)
    except TemplateSyntaxError as error:
        return f"line {error.lineno}: {error.message}"
    return None


def template_context(contact: Mapping[str, Any]) -> dict[str, Any]:
    """The variables a template sees: `contact` (fields and attributes) and the fields directly."""
    fields = {
        key: value for key, value in contact.items() if key != "attributes" and value is not None
    }
    attributes = contact.get("attributes") or {}
    merged = {key: value for key, value in attributes.items() if value is not None}
    # Fields win: an attribute called "email" must not change where the message goes.
    merged.update(fields)
    return {**fields, "contact": merged}


def render(source: str, context: Mapping[str, Any], html: bool = False) -> str:
    try:
        return _compile(source, html).render(context)
    except Exception as error:  # noqa: BLE001 - any failure must stop the send, never leak
        raise TemplateRenderError(_describe(error)) from error


def _describe(error: Exception) -> str:
    if isinstance(error, TemplateSyntaxError):
        return f"line {error.lineno}: {error.message}"
    if isinstance(error, SecurityError):
        return f"not allowed in templates: {error}"
    return f"{type(error).__name__}: {error}"


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    html: str | None
    text: str | None


_NEWLINES = re.compile(r"\s*[\r\n]+\s*")


def render_message(
    subject: str, html: str | None, text: str | None, context: Mapping[str, Any]
) -> RenderedMessage:
    # A newline in a subject would let contact data inject mail headers.
    rendered_subject = _NEWLINES.sub(" ", render(subject, context)).strip()
    return RenderedMessage(
        subject=rendered_subject,
        html=render(html, context, html=True) if html is not None else None,
        text=render(text, context) if text is not None else None,
    )
