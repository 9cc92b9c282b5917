"""Links in a message's HTML: which there are, and which of them are web links that may be tracked.

Pure: validation checks a definition's links with it, and delivery rewrites them.
"""

from __future__ import annotations

import html as htmllib
import re

# An <a> start tag; quoted attribute values may contain ">".
_A_TAG = re.compile(r"<a(?=[\s/>])((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.IGNORECASE)
_ATTRIBUTE = re.compile(
    r"([^\s\"'>/=]+)(?:\s*=\s*(?:\"(?P<dq>[^\"]*)\"|'(?P<sq>[^']*)'|(?P<uq>[^\s\"'=<>`]+)))?"
)
_WEB_LINK = re.compile(r"^https?://", re.IGNORECASE)


def hrefs(html: str):
    """Yield (href attribute span in `html`, unescaped href value) for every <a> tag."""
    for tag in _A_TAG.finditer(html):
        offset = tag.start(1)
        for attribute in _ATTRIBUTE.finditer(tag.group(1)):
            if attribute.group(1).lower() != "href":
                continue
            value = next((v for v in attribute.group("dq", "sq", "uq") if v is not None), "")
            span = (offset + attribute.start(), offset + attribute.end())
            yield span, htmllib.unescape(value).strip()
            break


def extract_links(html: str) -> list[str]:
    """Every <a href> value in `html`, unescaped, in document order."""
    return [url for _, url in hrefs(html)]


def is_trackable(url: str) -> bool:
    """Only web links are tracked; mailto:, tel: and #anchors must keep working as they are."""
    return bool(_WEB_LINK.match(url))
