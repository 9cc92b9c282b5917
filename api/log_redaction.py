"""Tracking and unsubscribe tokens stay out of logs: whoever reads an access log must not be able
to click, open or unsubscribe on a reader's behalf. `/t/o/<token>`, `/t/c/<token>` and
`/u/<token>` are logged with the token replaced by a placeholder."""

from __future__ import annotations

import logging
import re

PLACEHOLDER = "<token>"

# The route's path at the start of a text, after a space, quote or `=`, or after a URL's host;
# so `/v1/contacts/u/runs` (a contact named "u") is left alone.
_TOKEN_PATH = re.compile(r"""((?:^|[\s"'=(]|://[^/\s"']+)(?:/t/[oc]|/u)/)[^\s"'?#/]+""")


def redact(text: str) -> str:
    return _TOKEN_PATH.sub(rf"\1{PLACEHOLDER}", text)


class TokenRedaction(logging.Filter):
    """Rewrites a record's message and its string arguments (uvicorn's access log passes the
    path as an argument) before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: redact(value) if isinstance(value, str) else value
                           for key, value in record.args.items()}
        return True


def install() -> None:
    """On uvicorn's access log, and on the root logger's handlers (every log of ours reaches them);
    installing twice adds nothing."""
    targets: list[logging.Filterer] = [logging.getLogger("uvicorn.access"), *logging.getLogger().handlers]
    for target in targets:
        if not any(isinstance(existing, TokenRedaction) for existing in target.filters):
            target.addFilter(TokenRedaction())
