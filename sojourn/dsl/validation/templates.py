"""Rules on a send node's content: every template compiles, and no email part is empty."""

from __future__ import annotations

import time

from sojourn.dsl.channels import CONTENT_CHANNELS, SYSTEM_CHANNELS
from sojourn.dsl.templating import check_template, template_strings
from sojourn.dsl.validation.problems import RawNode, Report

_EMAIL_FIELDS = ("subject", "html", "text")
# A system channel's `url` is where it calls, not a template the contact sees.
_SYSTEM_URLS = {f"{name}.url" for name in SYSTEM_CHANNELS}
# Each template's render is bounded on its own; this bounds a definition with very many of them
# (in the checking thread's CPU time, which a busy machine does not eat into).
MAX_CHECKING_SECONDS = 5.0


def template_problems(nodes: list[RawNode], report: Report) -> None:
    deadline = time.thread_time() + MAX_CHECKING_SECONDS
    for node in nodes:
        if node.type != "send":
            continue
        for field in _EMAIL_FIELDS:
            source = node.data.get(field)
            if field != "subject" and isinstance(source, str) and not source.strip():
                # Mail clients show an empty html part instead of the text part.
                report(node, field, "is empty; give it content or leave it out")
        sources = [(field, node.data.get(field)) for field in _EMAIL_FIELDS]
        sources += [found for field in CONTENT_CHANNELS if isinstance(node.data.get(field), dict)
                    for found in template_strings(node.data[field], field) if found[0] not in _SYSTEM_URLS]
        for field, source in sources:
            if not isinstance(source, str) or (field in _EMAIL_FIELDS[1:] and not source.strip()):
                continue
            if time.thread_time() > deadline:
                report(node, field, f"not checked: the journey's templates take longer than "
                                    f"{MAX_CHECKING_SECONDS:g} s to check; make them simpler or fewer")
                return
            error = check_template(source)
            if error is not None:
                report(node, field, f"template error at {error}")
