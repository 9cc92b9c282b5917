"""One module per resource, each with its `APIRouter`s; the app mounts every router found here,
so a new resource is its router module, its bodies in `api/schemas/` and its service."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator

from fastapi import APIRouter


def every_router(*, dev_mailbox: bool) -> Iterator[APIRouter]:
    """The routers of every module here, by module name; the dev mailbox's only when it is on,
    so a production install (without the `dev` extra) never imports it. Routers with a route
    whose parameter takes '/' (`{external_id:path}`) come last: mounted earlier, such a route
    would swallow the longer routes of the routers after it."""
    routers = []
    for module in pkgutil.iter_modules(__path__):
        if module.name == "dev" and not dev_mailbox:
            continue
        found = vars(importlib.import_module(f"{__name__}.{module.name}")).values()
        routers.extend(value for value in found if isinstance(value, APIRouter))
    yield from sorted(routers, key=lambda router: (_takes_slashes(router), router.prefix not in _FIRST))


# Matched first: every open, click and provider event comes here, and a request is matched
# against the routers in order (routing was a tenth of an open's time in the API when these came last).
_FIRST = ("/t", "/v1/webhooks")


def _takes_slashes(router: APIRouter) -> bool:
    return any(":path}" in getattr(route, "path", "") for route in router.routes)
