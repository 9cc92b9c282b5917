"""A render is bounded in steps, characters and time, and says which limit it went over."""

import pytest

from sojourn.dsl import template_limits
from sojourn.dsl.templating import TemplateRenderError, check_template, render, render_json, render_message

NESTED_LOOPS = "{% for i in range(10**4) %}{% for j in range(10**4) %}{% endfor %}{% endfor %}"
STEPS = "template does more than 100,000 steps"
CHARACTERS = "longer than 1,000,000 characters"


def refused(source, context=None):
    with pytest.raises(TemplateRenderError) as caught:
        render(source, context or {})
    return str(caught.value)


def test_nested_loops_each_within_the_range_limit_are_refused_at_validation():
    assert check_template(NESTED_LOOPS) == f"fails for every contact: {STEPS}"


def test_a_loop_over_a_huge_contact_attribute_fails_the_render():
    source = "{% for tag in contact.tags %}{{ tag }}{% endfor %}"
    assert refused(source, {"contact": {"tags": ["x"] * 200_000}}) == STEPS
    # The same loop over a contact's usual few tags renders.
    assert render(source, {"contact": {"tags": ["a", "b"]}}) == "ab"


@pytest.mark.parametrize("source", [
    "{{ range(99999) | join(',') }}",  # a filter goes through every item
    "{% for x in range(99999) | map('string') | select %}{{ x }}{% endfor %}{{ range(9) | list }}",
    "{{ 'x' | center(10**9) }}",
    "{{ 'x'.center(10**9) }}",
    "{% for i in range(1000) %}{{ contact.tags | sort | first }}{% endfor %}",
    "{% macro tree(n) %}{% for i in range(10) if n %}{{ tree(n - 1) }}{% endfor %}{% endmacro %}{{ tree(6) }}",
])
def test_work_that_escapes_loops_is_counted(source):
    assert refused(source, {"contact": {"tags": list(range(1000))}}) == STEPS


@pytest.mark.parametrize("source", [
    "{% set a = 'x' * 100000 %}{% set b = a ~ a ~ a ~ a ~ a %}{{ b ~ b ~ b }}",
    "{% set a = 'x' * 100000 %}{% set b = a + a + a + a + a %}{{ b + b + b }}",
    "{{ ('x' * 100000).replace('x', 'xxxxxxxxxxxx') }}",
    "{{ ('x' * 100000) | replace('x', 'xxxxxxxxxxxx') }}",
])
def test_a_text_too_long_for_a_message_is_not_built(source):
    assert CHARACTERS in refused(source)


@pytest.mark.parametrize("source", ["{{ '%0999999999d' % 1 }}", "{{ '{:>999999999}'.format(1) }}",
                                    "{{ '%0999999999d' | format(1) }}", "{{ '%.1000000f' % 1 }}"])
def test_huge_format_widths_are_refused(source):
    assert "format width of 1,000,000 characters or more" in refused(source)


def test_output_is_bounded_as_it_is_rendered():
    source = "{% for i in range(20000) %}{{ line }}{% endfor %}"
    assert refused(source, {"line": "y" * 100}) == "template renders more than 1,000,000 characters"


def test_the_parts_of_a_message_share_one_budget():
    loop = "{% for i in range(40000) %}{% endfor %}ok"
    assert render(loop, {}) == "ok"
    with pytest.raises(TemplateRenderError, match=STEPS):
        render_message(loop, loop, loop, {})


def test_json_content_is_bounded_too():
    with pytest.raises(TemplateRenderError, match=STEPS):
        render_json({"title": "hi", "body": [NESTED_LOOPS]}, {})


def test_work_no_hook_sees_is_stopped_by_the_clock(monkeypatch):
    monkeypatch.setattr(template_limits, "MAX_SECONDS", 0.0)
    assert "takes longer than 0 s to render" in refused("{% for i in range(9) %}{{ i }}{% endfor %}")


@pytest.mark.parametrize("source, expected", [
    ("{% for i in range(3) %}{{ loop.index }}/{{ loop.length }}{{ '!' if loop.last }} {% endfor %}", "1/3 2/3 3/3! "),
    ("{% for x in [1, [2, [3]]] recursive %}{{ loop(x) if x is iterable else x }}{% endfor %}", "123"),
    ("{% for i in range(5) if i is odd %}{{ i }}{% else %}none{% endfor %}", "13"),
    ("{% for i in [] %}{{ i }}{% else %}none{% endfor %}", "none"),
    ("{% for k, v in {'a': 1}.items() %}{{ k }}={{ v }}{% endfor %}", "a=1"),
    ("{{ [3, 1, 2] | sort | join('-') }} {{ 'Hi %s' % 'you' }} {{ 'a' ~ 1 }} {{ [1] + [2] }}",
     "1-2-3 Hi you a1 [1, 2]"),
    ("{{ '{:>5}'.format(7) }}|{{ 'ab' | replace('a', 'c') }}|{{ 'x' | center(3) }}", "    7|cb| x "),
    ("{% for i in range(10**4) %}{% endfor %}done", "done"),
    ("{{ 'Order 12345678: %s' % 'paid' }} {{ 'Call 0912345678 {}'.format('now') }}",
     "Order 12345678: paid Call 0912345678 now"),
])
def test_ordinary_templates_render_as_before(source, expected):
    assert render(source, {}) == expected
    assert check_template(source) is None
