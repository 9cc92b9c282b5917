"""How much one render may do: a budget of steps, characters and time.

A template runs once per contact on a worker and once at validation on the API, so one that
loops too much or builds huge strings must fail, with a reason its author can act on, before it
stalls either. A step is one loop iteration, call, filter, attribute or item lookup, or one
element (or hundred characters) of data handed to a call or filter. The sandbox's hooks and a
code generator that wraps every `for` loop's iterable do the counting, so nothing a template
iterates escapes it. The thread's CPU clock is the backstop for work no hook sees (comparing huge strings).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from types import GeneratorType
from typing import Any, Callable

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame

MAX_STEPS = 100_000
MAX_CHARACTERS = 1_000_000
# Of the rendering thread's own CPU time, so that a busy machine does not fail a template.
MAX_SECONDS = 1.0
# How long a caller waits for a render it runs in a thread: the render's own clock stops it
# after MAX_SECONDS of work; this covers a single long operation between two of its checks.
WAIT_SECONDS = 10.0

# What a call or filter may go through item by item; other objects (Jinja's `Undefined`, `loop`)
# are handed over as they are.
_COLLECTIONS = (list, tuple, dict, set, frozenset, range, type({}.keys()), type({}.values()), type({}.items()))
# Strings are handled at C speed: a hundred characters cost about what one element does.
_CHARACTERS_PER_STEP = 100
# Filters whose later int argument is a width or count that their work grows with.
_SIZED_FILTERS = frozenset({"batch", "center", "indent", "slice", "truncate", "wordwrap"})
# A width or precision in a format string (`%0999999999d`, `{:>999999999}`) allocates that many
# characters; other numbers in the text (an order number) are no concern.
_WIDTH_DIGITS = len(str(MAX_CHARACTERS))
_HUGE_WIDTH = re.compile(r"%%[-+ #0]*(\d*\.)?\d{%d,}|\{[^{}]*:[^{}]*?\d{%d,}" % (_WIDTH_DIGITS, _WIDTH_DIGITS))


class TemplateTooCostly(Exception):
    """A render went over its budget; the message says which limit, in the author's terms."""


class _Budget:
    __slots__ = ("steps_left", "deadline")

    def __init__(self) -> None:
        self.steps_left = MAX_STEPS
        self.deadline = time.thread_time() + MAX_SECONDS


_budget: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


@contextmanager
def budget() -> Iterator[None]:
    """Everything rendered inside shares one budget: a fresh one, or the one already open (the
    subject, html and text of one message share theirs)."""
    if _budget.get() is not None:
        yield
        return
    token = _budget.set(_Budget())
    try:
        yield
    finally:
        _budget.reset(token)


def charge(steps: int = 1) -> None:
    current = _budget.get()
    if current is None:
        return
    current.steps_left -= steps
    if current.steps_left < 0:
        raise TemplateTooCostly(f"template does more than {MAX_STEPS:,} steps")
    if time.thread_time() > current.deadline:
        raise TemplateTooCostly(f"template takes longer than {MAX_SECONDS:g} s to render")


def check_output(chunks: Iterable[str]) -> str:
    """The rendered text, stopped as soon as it grows too long to be a message."""
    parts, length = [], 0
    for chunk in chunks:
        length += len(chunk)
        if length > MAX_CHARACTERS:
            raise TemplateTooCostly(f"template renders more than {MAX_CHARACTERS:,} characters")
        parts.append(chunk)
    return "".join(parts)


def cost(value: Any) -> int:
    """Steps to charge for handing `value` to a call or filter that may go through all of it."""
    if isinstance(value, str):
        return len(value) // _CHARACTERS_PER_STEP
    if isinstance(value, _COLLECTIONS):
        return len(value)
    return 0


def counted(iterable: Any) -> Iterator[Any]:
    """`iterable`, charging a step for each item taken from it."""
    for item in iterable:
        charge()
        yield item


def metered(value: Any) -> Any:
    """Charge for an argument: all of it if sized, item by item if a generator (`map`, `select`)."""
    if isinstance(value, GeneratorType):
        return counted(value)
    charge(cost(value))
    return value


def checked_size(value: Any) -> Any:
    """`value`, unless it is a string too long to be part of any message."""
    if isinstance(value, str):
        checked_size_of(len(value))
    return value


def charge_counts(values: Iterable[Any]) -> None:
    """Charge the ints among a call's arguments: widths and counts the work grows with."""
    charge(sum(value for value in values if isinstance(value, int) and not isinstance(value, bool) and value > 0))


def check_format(pattern: Any) -> None:
    if isinstance(pattern, str) and _HUGE_WIDTH.search(pattern):
        raise TemplateTooCostly(f"a format width of {MAX_CHARACTERS:,} characters or more is not allowed")


def check_replacement(text: Any, old: Any, new: Any) -> None:
    """Refuse a `replace` whose result would be too long, before it is built."""
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        occurrences = len(text) + 1 if not old else text.count(old)
        checked_size_of(len(text) + occurrences * (len(new) - len(old)))


def checked_size_of(length: int) -> None:
    if length > MAX_CHARACTERS:
        raise TemplateTooCostly(f"template makes a text longer than {MAX_CHARACTERS:,} characters")


def bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` charging for what it is given and refusing too long a result."""
    # Jinja passes a context, eval context or environment first to filters marked to want one.
    first = 1 if getattr(function, "jinja_pass_arg", None) is not None else 0
    sized = name in _SIZED_FILTERS

    @wraps(function)  # keeps `jinja_pass_arg`, which tells Jinja what to pass first
    def bounded(*args: Any, **kwargs: Any) -> Any:
        passed, value, rest = args[:first], args[first] if len(args) > first else None, args[first + 1:]
        charge(1)
        if sized:
            charge_counts((*rest, *kwargs.values()))
        if name == "replace" and len(rest) >= 2:
            check_replacement(value, rest[0], rest[1])
        if name == "format":
            check_format(value)
        if len(args) > first:
            args = (*passed, metered(value), *rest)
        return checked_size(function(*args, **kwargs))

    return bounded


class BoundedCodeGenerator(CodeGenerator):
    """Compiles every `for` loop to iterate `environment.counted(...)`: the one place every
    loop, plain, filtered, recursive or nested in a macro, takes its items from."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loop_iterables: set[int] = set()

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        # Jinja allows no custom node types, so the loops' iterables are marked by identity.
        self._loop_iterables = {id(loop.iter) for loop in node.find_all(nodes.For)}
        super().visit_Template(node, frame)

    def visit(self, node: nodes.Node, *args: Any, **kwargs: Any) -> Any:
        if id(node) not in self._loop_iterables:
            return super().visit(node, *args, **kwargs)
        self.write("environment.counted(")
        super().visit(node, *args, **kwargs)
        self.write(")")
        return None

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # `a ~ b` builds its string out of the sandbox's sight: check what it built.
        self.write("environment.checked_size(")
        super().visit_Concat(node, frame)
        self.write(")")
