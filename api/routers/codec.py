"""POST /codec/decode: Temporal's codec-server protocol, so the Web UI and `temporal` CLI show
journey payloads decoded to an operator holding an API key."""

from __future__ import annotations

from fastapi import Request, Response
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from api.deps import ADMIN, TemporalDep
from api.errors import ApiError
from api.routing import resource_router
from sojourn.services import payload_codec

router = resource_router(prefix="/codec", tags=["codec"], dependencies=[ADMIN])  # decoded payloads are personal data

_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["payloads"], "properties": {"payloads": {"type": "array", "items": {
        "type": "object", "properties": {"metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                                         "data": {"type": "string", "description": "base64"}}}}}}}}}}


@router.post("/decode", openapi_extra=_BODY, responses={200: {"description": "The same payloads, decoded where "
                                                               "their contact's key still exists."}})
async def decode(request: Request, client: TemporalDep) -> Response:
    """Payloads as Temporal's JSON (`{"payloads": [{"metadata": {...}, "data": "<base64>"}]}`),
    answered decoded; a payload whose contact was erased comes back as it was."""
    try:
        payloads = json_format.Parse(await request.body(), Payloads())
    except (json_format.ParseError, ValueError, RecursionError) as err:  # not JSON, not UTF-8, too deep
        raise ApiError(422, "invalid_payloads", f"not Temporal payloads JSON: {err}") from None
    decoded = await payload_codec.decode_for_operator(client, payloads.payloads)
    return Response(json_format.MessageToJson(Payloads(payloads=decoded)), media_type="application/json")
