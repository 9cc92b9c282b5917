"""Message templates: one sandboxed Jinja2 environment shared by validation and sending.

Templates are written by marketers, not developers, so they run in Jinja's immutable
sandbox, within a budget of steps, characters and time (`template_limits`), and every failure
(syntax, sandbox violation, runtime error, budget spent) becomes a `TemplateRenderError`
instead of a half-rendered message going out.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import (
    ChainableUndefined,
    StrictUndefined,
    Template,
    TemplateSyntaxError,
    UndefinedError,
    nodes,
    pass_context,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from sojourn.dsl import template_limits
from sojourn.dsl.template_limits import TemplateTooCostly, charge, checked_size, metered

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
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = template_limits.BoundedCodeGenerator
    # What the bounded code generator's loops and concatenations call.
    counted = staticmethod(template_limits.counted)
    checked_size = staticmethod(checked_size)

    def getattr(self, obj: Any, attribute: str) -> Any:
        charge()
        # `contact.items` must be the contact's "items" attribute, not dict.items.
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        charge()
        return super().getitem(obj, argument)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        charge()
        if isinstance(getattr(__obj, "__self__", None), str):
            # A string method's int argument is a width or count (`center`, `zfill`, `ljust`).
            template_limits.charge_counts(args)
            if getattr(__obj, "__name__", None) == "replace" and len(args) >= 2:
                template_limits.check_replacement(__obj.__self__, args[0], args[1])
        args = tuple(metered(arg) for arg in args)
        kwargs = {key: metered(value) for key, value in kwargs.items()}
        return checked_size(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Any:
        wrapper = super().wrap_str_format(value)
        if wrapper is not None:
            template_limits.check_format(value.__self__)
        return wrapper

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # The stock sandbox returns an Undefined that Chainable/lenient undefined renders as
        # an empty string, hiding the attempt; a message built from it must not go out.
        kind = type(obj).__name__
        raise SecurityError(f"access to attribute {attribute!r} of {kind!r} is not allowed")

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        charge()
        if operator_ == "+":
            if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
                template_limits.checked_size_of(len(left) + len(right))
            return operator.add(left, right)
        if operator_ == "%":
            template_limits.check_format(left)
            return checked_size(operator.mod(left, right))
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


_CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "TWD": "NT$", "CNY": "¥", "KRW": "₩"}
_NO_CENTS = {"JPY", "KRW", "TWD"}


@pass_context
def _local(context: Any, value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A datetime (or ISO string) in the contact's time zone: `{{ event.occurred_at | local("%b %d") }}`."""
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        when = None
    if not isinstance(when, datetime):
        raise ValueError(f"local: {value!r} is not a datetime")
    try:
        zone = ZoneInfo(context.get("time_zone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return (when if when.tzinfo else when.replace(tzinfo=ZoneInfo("UTC"))).astimezone(zone).strftime(fmt)


def _money(value: Any, currency: str = "USD") -> str:
    """`{{ 1234.5 | money("EUR") }}` -> `€1,234.50`; currencies without cents are whole."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"money: {value!r} is not a number") from None
    code = currency.upper()
    places = 0 if code in _NO_CENTS else 2
    number = f"{abs(amount).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):,}"
    sign = "-" if amount < 0 else ""
    symbol = _CURRENCY_SYMBOLS.get(code)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {code}"


# `recommend(n)` shows the first n of the products the message context holds under this key.
RECOMMENDED = "recommended_products"
RECOMMEND_MAX = 50


@pass_context
def _recommend(context: Any, n: Any = 3) -> list[Any]:
    """`{% for product in recommend(3) %}`: up to n of the contact's recommended products."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= RECOMMEND_MAX:
        raise ValueError(f"recommend(n): n must be a whole number from 1 to {RECOMMEND_MAX}, not {n!r}")
    products = context.get(RECOMMENDED)
    return list(products[:n]) if isinstance(products, list) else []


class TagWeights(dict):
    """A contact's tags by weight; a tag the contact does not have weighs 0, so that
    `{% if tags["affinity:topic:sun-care"] > 0.5 %}` is simply false for them."""

    def __missing__(self, tag: Any) -> float:
        return 0.0


_env.globals["recommend"] = _recommend
_env.filters.update(local=_local, money=_money)
_env.filters = {name: template_limits.bounded_filter(name, function) for name, function in _env.filters.items()}

# The same sandbox, but any use of a missing value raises: rendering a template here with no
# data tells apart what fails for want of a contact's data (fine) from what fails for everyone.
_strict_env = _env.overlay(undefined=StrictUndefined)


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
    with template_limits.budget():  # Jinja computes constant expressions while compiling
        code = _env.compile(translate_legacy(source), name=name)
    return _env.template_class.from_code(_env, code, _env.make_globals(None), None)


def check_template(source: str) -> str | None:
    """What makes `source` fail for every contact (a syntax error with its line, a sandbox
    violation, a filter given a constant it cannot take); None if some contact can render it."""
    try:
        _compile(source, False)
    except TemplateSyntaxError as error:
        return f"line {error.lineno}: {error.message}"
    try:
        with template_limits.budget():  # Jinja computes constant expressions while compiling
            strict = _strict_env.from_string(translate_legacy(source))
        _bounded_render(strict, {})
    except UndefinedError:
        pass  # needs data a contact may have
    except Exception as error:  # noqa: BLE001 - whatever it is, it fails for every contact
        return f"fails for every contact: {_describe(error)}"
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
        return _bounded_render(_compile(source, html), context)
    except Exception as error:
        raise TemplateRenderError(_describe(error)) from error


def _bounded_render(template: Template, context: Mapping[str, Any]) -> str:
    with template_limits.budget():
        return template_limits.check_output(template.root_render_func(template.new_context(context)))


def _describe(error: Exception) -> str:
    if isinstance(error, TemplateTooCostly):
        return str(error)
    if isinstance(error, TemplateSyntaxError):
        return f"line {error.lineno}: {error.message}"
    if isinstance(error, SecurityError):
        return f"not allowed in templates: {error}"
    return f"{type(error).__name__}: {error}"


def template_strings(value: Any, path: str) -> list[tuple[str, str]]:
    """(dotted path, template) of every string inside a JSON value, as `render_json` renders them."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in template_strings(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [found for i, item in enumerate(value) for found in template_strings(item, f"{path}.{i}")]
    return []


# What a message context holds besides the contact's own row, the journey and the event: read
# from the database per message, so only for the messages whose templates name one of them.
CONTACT_EXTRAS = frozenset({"predictions", "tags", "recommend", RECOMMENDED})


@lru_cache(maxsize=4096)
def _names_read(source: str) -> frozenset[str]:
    """Every name the template reads (its own variables too: at worst that loads what it does not
    need; `jinja2.meta` leaves out the environment's globals, `recommend` among them)."""
    try:
        parsed = _env.parse(translate_legacy(source))
    except TemplateSyntaxError:
        return frozenset()  # it cannot render: nothing to load for it
    return frozenset(name.name for name in parsed.find_all(nodes.Name) if name.ctx == "load")


def reads_contact_extras(node: Mapping[str, Any]) -> bool:
    """Whether any template of a send node (its raw definition) reads CONTACT_EXTRAS."""
    return any(_names_read(source) & CONTACT_EXTRAS for _, source in template_strings(node, ""))


def render_json(value: Any, context: Mapping[str, Any]) -> Any:
    """A JSON value with every string rendered as a template (keys and numbers stay as they are)."""
    if isinstance(value, str):
        return render(value, context)
    if isinstance(value, dict):
        return {key: render_json(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render_json(item, context) for item in value]
    return value


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    html: str | None
    text: str | None


_NEWLINES = re.compile(r"\s*[\r\n]+\s*")


def render_message(
    subject: str, html: str | None, text: str | None, context: Mapping[str, Any]
) -> RenderedMessage:
    with template_limits.budget():  # one message, one budget
        # A newline in a subject would let contact data inject mail headers.
        rendered_subject = _NEWLINES.sub(" ", render(subject, context)).strip()
        return RenderedMessage(
            subject=rendered_subject,
            html=render(html, context, html=True) if html is not None else None,
            text=render(text, context) if text is not None else None,
        )
