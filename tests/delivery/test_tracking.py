import re
import uuid

from sojourn.delivery.tokens import sign, verify
from sojourn.delivery.tracking import instrument_html, is_unsubscribe_link, parse_tracking_token, unsubscribe_url
from sojourn.dsl.links import extract_links

SECRET = "track-secret"
BASE = "https://t.example.com"
MESSAGE = uuid.UUID("0f8b7c1e-1111-4222-8333-944445555666")

HTML = """<html><body>
<a href="https://shop.example/gifts?a=1&amp;b=2" class="btn">Gifts</a>
<A HREF='http://shop.example/sale'>Sale</A>
<a class="x" href="https://shop.example/gifts?a=1&amp;b=2">Again</a>
<a href="mailto:help@shop.example">Mail</a>
<a href="tel:+886212345678">Call</a>
<a href="#top">Top</a>
<abbr title="a href=https://no.example">x</abbr>
</body></html>"""


def _tokens(html, kind):
    return re.findall(rf"{re.escape(BASE)}/t/{kind}/([A-Za-z0-9_.-]+)", html)


def test_links_are_rewritten_and_listed():
    html, urls = instrument_html(HTML, MESSAGE, BASE, SECRET)
    assert urls == ["https://shop.example/gifts?a=1&b=2", "http://shop.example/sale"]
    clicks = _tokens(html, "c")
    assert [verify(token, SECRET) for token in clicks] == [
        f"c:{MESSAGE}:0",
        f"c:{MESSAGE}:1",
        f"c:{MESSAGE}:0",
    ]
    assert "shop.example/gifts" not in html and "shop.example/sale" not in html
    assert 'class="btn"' in html and 'class="x"' in html


def test_non_web_links_are_left_alone():
    html, _ = instrument_html(HTML, MESSAGE, BASE, SECRET)
    for untouched in ('href="mailto:help@shop.example"', 'href="tel:+886212345678"', 'href="#top"',
                      'title="a href=https://no.example"'):
        assert untouched in html


def test_open_pixel_before_body_end():
    html, _ = instrument_html(HTML, MESSAGE, BASE, SECRET)
    pixel = re.search(
        r'<img src="([^"]+)" width="1" height="1" alt="" style="display:none"></body>', html
    )
    assert pixel is not None
    token = pixel.group(1).removeprefix(f"{BASE}/t/o/")
    assert verify(token, SECRET) == f"o:{MESSAGE}"


def test_open_pixel_appended_without_body():
    html, urls = instrument_html("<p>Hi</p>", MESSAGE, BASE + "/", SECRET)
    assert urls == []
    assert html.startswith("<p>Hi</p><img src=\"https://t.example.com/t/o/")


def test_parse_tracking_tokens():
    html, _ = instrument_html(HTML, MESSAGE, BASE, SECRET)
    assert parse_tracking_token(_tokens(html, "c")[1], [SECRET]) == ("clicked", MESSAGE, 1)
    assert parse_tracking_token(_tokens(html, "o")[0], [SECRET]) == ("opened", MESSAGE, None)


def test_parse_rejects_forged_and_malformed():
    html, _ = instrument_html(HTML, MESSAGE, BASE, SECRET)
    assert parse_tracking_token(_tokens(html, "c")[0], ["other-secret"]) is None
    for payload in ["x:" + str(MESSAGE), f"o:{MESSAGE}:1", f"c:{MESSAGE}", f"c:{MESSAGE}:-1",
                    f"c:{MESSAGE}:one", "o:not-a-uuid", f"c:{MESSAGE}:\u0661"]:
        assert parse_tracking_token(sign(payload, SECRET), [SECRET]) is None, payload
    assert parse_tracking_token("garbage", [SECRET]) is None


def test_extract_links_unescapes():
    assert extract_links('<a href="https://x.example/?a=1&amp;b=2">x</a><a name="n">y</a>') == [
        "https://x.example/?a=1&b=2"
    ]


def test_rewritten_href_is_valid_html():
    html, _ = instrument_html('<a href=https://x.example/p>x</a>', MESSAGE, BASE, SECRET)
    link = r'<a href="https://t\.example\.com/t/c/[A-Za-z0-9_.-]+">x</a>'
    assert re.fullmatch(link + "<img .*>", html)


def test_unsubscribe_links_are_never_tracked():
    ours = unsubscribe_url(BASE, MESSAGE, SECRET)
    written_out = "HTTPS://T.example.com/u/anything"
    html, urls = instrument_html(f'<a href="{ours}">Leave</a> <a href="{written_out}">Leave</a> '
                                 '<a href="https://t.example.com/unsubscribe">Theirs</a>', MESSAGE, BASE, SECRET)
    assert f'href="{ours}"' in html and f'href="{written_out}"' in html
    assert urls == ["https://t.example.com/unsubscribe"]  # not our route: tracked like any link
    assert not is_unsubscribe_link("https://other.example/u/x", BASE)
    assert is_unsubscribe_link("https://app.example/sojourn/u/x", "https://app.example/sojourn/")
    assert not is_unsubscribe_link("https://app.example/u/x", "https://app.example/sojourn")
