"""Every router of the API is a `resource_router`: its routes check what Postgres would refuse
before a service sees it, and document the refusals they can answer.

- Text in the path and the query (NUL, lone surrogates) is refused with a 422 naming it.
- A JSON body is parsed once, strictly (no NaN or Infinity), and refused with a 422 naming
  the field if it is nested more than `MAX_JSON_DEPTH` levels deep or holds text Postgres
  refuses; a body nested deeper than the parser's stack is refused the same way.
- Every route behind the API key has one scope rule (`api/deps.py` `Needs`): the one it declares
  in `dependencies=[INGEST]` or `[ADMIN]`, else viewer or editor for a GET and editor for any
  other method (admin may always). A key without the scope gets 403 naming the scopes needed.
- The OpenAPI lists, in the error shape, 401 and 403 (with the scopes) on routes behind the API
  key, 404 on routes that name a resource in their path, 422 on routes that take input, and 409
  where the route says so.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.utils import get_flat_params
from fastapi.openapi.constants import REF_PREFIX
from fastapi.routing import APIRoute

from api.deps import API_KEY, EDIT, READ, Needs, authenticated
from api.errors import checked_json, invalid_input
from api.schemas.common import ErrorOut
from sojourn.data.ingest.text import text_problem


def refusal(description: str) -> dict[str, Any]:
    """An OpenAPI response in the error shape."""
    return {"model": ErrorOut, "description": description}


UNAUTHORIZED = refusal("No API key, or not a valid one.")
NOT_FOUND = refusal("Nothing by the id in the path.")
INVALID = refusal("The request is invalid; `details` names each field and what is wrong with it.")


def conflict(description: str) -> dict[int, dict[str, Any]]:
    """`responses=conflict(...)` on a route that can answer 409."""
    return {409: refusal(description)}


def _media_type(response_class: Any) -> str | None:
    if isinstance(response_class, DefaultPlaceholder):
        response_class = response_class.value
    return getattr(response_class, "media_type", None)


def _as_json(response: dict[str, Any]) -> dict[str, Any]:
    if response.get("model") is not ErrorOut:
        return response
    schema = {"$ref": f"{REF_PREFIX}{ErrorOut.__name__}"}  # in the components: every API-key route lists it
    return {"description": response["description"], "content": {"application/json": {"schema": schema}}}


class _CheckedRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            # A json.JSONDecodeError goes on to FastAPI, which says where the syntax broke.
            self._json = checked_json(await self.body())
        return self._json


def _scope_rule(kwargs: dict[str, Any]) -> Needs | None:
    """The route's scope rule, after adding the default one to `kwargs["dependencies"]` if it
    is behind the API key and declares none; None for routes that authenticate otherwise."""
    dependencies = list(kwargs.get("dependencies") or [])
    called = [dependency.dependency for dependency in dependencies]
    if authenticated not in called:
        return None
    declared = [rule for rule in called if isinstance(rule, Needs)]
    if declared:
        return declared[0]
    default = READ if set(kwargs.get("methods") or ()) <= {"GET", "HEAD"} else EDIT
    kwargs["dependencies"] = [*dependencies, default]
    return default.dependency


class CheckedRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        responses = {**({404: NOT_FOUND} if "{" in path else {}), **(kwargs.get("responses") or {})}
        if rule := _scope_rule(kwargs):
            responses[403] = refusal(f"The API key's scope may not do this: it needs {rule.described()}.")
        if _media_type(kwargs.get("response_class")) not in (None, "application/json"):
            # FastAPI would document a model under the route's own media type (an HTML page, an
            # image); refusals are JSON whatever the route answers when it succeeds.
            responses = {status: _as_json(response) for status, response in responses.items()}
        kwargs["responses"] = responses
        super().__init__(path, endpoint, **kwargs)
        takes_input = (self.body_field is not None or "requestBody" in (self.openapi_extra or {})
                       or bool(get_flat_params(self.dependant)))
        if not takes_input:
            self.responses.pop(422, None)
            self.response_fields.pop(422, None)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            for kind, params in (("path", request.path_params.items()), ("query", request.query_params.multi_items())):
                for name, value in params:
                    if isinstance(value, str) and (problem := text_problem(value)):
                        raise invalid_input(f"{kind}.{name}", problem, "invalid_text")
            return await handler(_CheckedRequest(request.scope, request.receive))

        return checked


def resource_router(*, api_key: bool = True, **kwargs: Any) -> APIRouter:
    """An APIRouter (`prefix`, `tags`... as usual) of checked routes; `api_key=False` for routes
    that authenticate otherwise (signatures, signed tokens) or are public; `dependencies=[ADMIN]`
    (or another scope rule) for a router whose every route needs that scope."""
    responses = {422: INVALID, **({401: UNAUTHORIZED} if api_key else {}), **kwargs.pop("responses", {})}
    dependencies = [*(API_KEY if api_key else []), *kwargs.pop("dependencies", [])]
    return APIRouter(route_class=CheckedRoute, dependencies=dependencies, responses=responses, **kwargs)
