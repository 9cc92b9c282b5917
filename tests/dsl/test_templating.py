import pytest

from sojourn.dsl.templating import (
    RenderedMessage,
    TemplateRenderError,
    check_template,
    reads_contact_extras,
    render,
    render_message,
    template_context,
)

CONTACT = {
    "external_id": "c-1",
    "email": "ann@example.com",
    "phone": None,
    "first_name": "Ann",
    "last_name": "Lee",
    "time_zone": "Asia/Taipei",
    "attributes": {"plan": "pro", "email": "spoofed@evil.example", "items": 3},
}


@pytest.fixture
def context():
    return template_context(CONTACT)


def test_fields_at_top_level_and_under_contact(context):
    source = "{{ first_name }} {{ contact.last_name }} {{ contact.plan }}"
    assert render(source, context) == "Ann Lee pro"


def test_attributes_do_not_override_fields(context):
    assert render("{{ contact.email }}", context) == "ann@example.com"


def test_attribute_named_like_a_dict_method(context):
    assert render("{{ contact.items }}", context) == "3"


def test_missing_values_render_empty(context):
    source = "[{{ nickname }}][{{ contact.nickname }}][{{ contact.a.b }}][{{ phone }}]"
    assert render(source, context) == "[][][][]"


def test_default_filter(context):
    assert render("{{ contact.nickname | default('friend') }}", context) == "friend"
    assert render("{{ phone | default('none') }}", context) == "none"
    assert render("{{ first_name | default('friend') }}", context) == "Ann"


@pytest.mark.parametrize("source, expected", [
    ("Hi %first_name%", "Hi Ann"),
    ("Hi %name%", "Hi Ann"),
    ("%first_name% %last_name% <%email%>", "Ann Lee <ann@example.com>"),
    ("Your plan: %plan%", "Your plan: pro"),
    ("Hi %unknown_thing%!", "Hi !"),
])
def test_legacy_placeholders(context, source, expected):
    assert render(source, context) == expected


@pytest.mark.parametrize(
    "source", ["100% cotton", "50% off, 30% more", "100%", "{%if 1%}x{%endif%} 5%"]
)
def test_percent_signs_are_left_alone(context, source):
    expected = source.replace("{%if 1%}x{%endif%}", "x")
    assert render(source, context) == expected


def test_html_autoescapes_contact_data():
    context = template_context({**CONTACT, "first_name": '<script>alert("x")</script>'})
    html = render("<p>Hi {{ first_name }}</p>", context, html=True)
    assert html == "<p>Hi &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</p>"
    assert render("Hi {{ first_name }}", context) == 'Hi <script>alert("x")</script>'


def test_legacy_placeholder_is_escaped_in_html():
    context = template_context({**CONTACT, "first_name": "<b>"})
    assert render("<p>%name%</p>", context, html=True) == "<p>&lt;b&gt;</p>"


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ contact.__class__ }}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ contact.update({'email': 'x'}) }}",
    "{{ 'a' * 10000000 }}",
    "{{ 9 ** 9999 }}",
])
def test_sandbox_escapes_are_blocked(context, source):
    with pytest.raises(TemplateRenderError):
        render(source, context)


def test_runtime_error_never_half_renders(context):
    with pytest.raises(TemplateRenderError, match="ZeroDivisionError"):
        render("Hello {{ first_name }} {{ 1 / 0 }}", context)


def test_syntax_error_message_has_line():
    message = check_template("Hello\n{{ first_name }\n")
    assert message is not None and message.startswith("line 2:")


def test_unclosed_block_is_reported():
    assert "endif" in check_template("{% if first_name %}Hi")


def test_valid_template_has_no_error():
    assert check_template("Hi {{ first_name | default('there') }} %name% 100%") is None


def test_render_raises_on_syntax_error(context):
    with pytest.raises(TemplateRenderError, match="line 1"):
        render("{{ first_name", context)


def test_render_message(context):
    message = render_message(
        "Hi {{ first_name }},\r\n{{ contact.plan }}\n", "<b>{{ first_name }}</b>", None, context
    )
    assert message == RenderedMessage(subject="Hi Ann, pro", html="<b>Ann</b>", text=None)


def test_render_message_strips_newlines_from_contact_data():
    context = template_context({**CONTACT, "first_name": "Ann\r\nBcc: victim@example.com"})
    message = render_message("Hi {{ first_name }}", None, "x", context)
    assert "\n" not in message.subject and "\r" not in message.subject


def test_none_renders_empty_not_none():
    assert render("[{{ value }}]", {"value": None}) == "[]"


def test_dates_in_the_contacts_time_zone(context):
    assert render("{{ '2026-05-01T01:30:00+00:00' | local('%Y-%m-%d %H:%M') }}", context) == "2026-05-01 09:30"
    utc = template_context({**CONTACT, "time_zone": None})
    assert render("{{ '2026-05-01T01:30:00+00:00' | local('%H:%M') }}", utc) == "01:30"
    with pytest.raises(TemplateRenderError, match="not a datetime"):
        render("{{ contact.plan | local }}", context)


def test_money_and_defaults(context):
    assert render("{{ 1234.5 | money }} {{ -3 | money('EUR') }} {{ 980 | money('JPY') }} {{ 2 | money('CHF') }}",
                  context) == "$1,234.50 -€3.00 ¥980 2.00 CHF"
    assert render("{{ contact.balance | default(0) | money }}", context) == "$0.00"
    with pytest.raises(TemplateRenderError, match="not a number"):
        render("{{ contact.plan | money }}", context)


@pytest.mark.parametrize(("node", "reads"), [
    ({"subject": "Hi {{ first_name }}", "text": "Our news", "sms": {"text": "{{ contact.city }}"}}, False),
    ({"subject": "Hi", "html": "{% for p in recommend(3) %}{{ p.name }}{% endfor %}"}, True),
    ({"subject": "Hi", "push": {"title": "{{ predictions['ltv.expected_value'] }}"}}, True),
    ({"subject": "{% if tags['vip'] > 0 %}VIP{% endif %}"}, True),
    ({"subject": "{{ broken", "text": "tags"}, False),
])
def test_a_send_node_loads_the_contacts_extras_only_when_a_template_reads_them(node, reads):
    assert reads_contact_extras({"id": "n", "type": "send", **node}) is reads
