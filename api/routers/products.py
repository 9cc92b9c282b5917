"""Products: the catalogue (put, import, read, list, delete). Events name products by sku."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query, Request, Response

from api.deps import INGEST, EngineDep, SessionDep, SettingsDep
from api.errors import ApiError
from api.routers.contacts import IMPORT_TYPES
from api.routing import resource_router
from api.schemas.common import Page
from api.schemas.contacts import ImportResult
from api.schemas.products import ProductIn, ProductOut
from sojourn.data.ingest.text import EXTERNAL_ID_MAX
from sojourn.data.products.table import Product
from sojourn.services import products

router = resource_router(prefix="/v1/products", tags=["products"])

Sku = Annotated[str, Path(min_length=1, max_length=EXTERNAL_ID_MAX, description="The product's sku.")]


@router.post("/import", response_model=ImportResult, openapi_extra={"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string"},
                 "example": "sku,name,category,brand,price,currency,skin_type\n"
                            "s-1,玻尿酸保湿精华液,Skin care > Face > Serums,Aqua,590,TWD,oily\n"},
    "application/x-ndjson": {"schema": {"type": "string"},
                             "example": '{"sku": "s-1", "name": "Hydrating serum", "category": ["Skin care", "Face"],'
                                        ' "price": 19.9, "currency": "USD", "skin_type": "oily"}\n'},
}}}, responses={415: {"description": "Not CSV or NDJSON."}, 422: {"description": "No usable CSV header."}},
             dependencies=[INGEST])
async def import_product_file(request: Request, engine: EngineDep, settings: SettingsDep) -> dict:
    """Upsert products from a CSV (`text/csv`, first line names the columns, one `sku`) or NDJSON
    (`application/x-ndjson`, one object per line) body, streamed like `POST /v1/contacts/import`.

    `sku`, `name` (required), `description`, `category` (`Skin care > Face`, or a list in NDJSON),
    `brand`, `price` and `currency` are the product's fields; every other column is an attribute.
    A row is the whole product: what it leaves out is cleared. Bad rows are listed by line
    number, field and reason; the others are loaded, committed in chunks (re-running is safe)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = IMPORT_TYPES.get(content_type)
    if fmt is None:
        raise ApiError(415, "unsupported_media_type",
                       f"send the file as text/csv or application/x-ndjson, not '{content_type or 'nothing'}'")
    return (await products.import_file(engine, request.stream(), fmt, settings.usage_currency)).as_dict()


@router.put("/{sku}", response_model=ProductOut, dependencies=[INGEST], responses={201: {"model": ProductOut}})
async def put_product(sku: Sku, body: ProductIn, engine: EngineDep, settings: SettingsDep,
                      response: Response) -> dict[str, Any]:
    """Create or replace the product (idempotent: 201 when created, else 200). A bad field (a
    negative price, a price that is not a number, an unknown currency...) is a 422 naming it."""
    values = {name: getattr(body, name) for name in body.model_fields_set - {"attributes"}}
    product, created = await products.put(engine, sku, values, body.attributes, settings.usage_currency)
    if created:
        response.status_code = 201
    return product


@router.get("/{sku}", response_model=ProductOut)
async def get_product(sku: Sku, session: SessionDep) -> Product:
    return await products.get(session, sku)


@router.delete("/{sku}", status_code=204)
async def delete_product(sku: Sku, session: SessionDep) -> Response:
    await products.remove(session, sku)
    return Response(status_code=204)


@router.get("", response_model=Page[ProductOut])
async def list_products(session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                        cursor: str | None = None) -> dict:
    """Every product by sku, a page at a time."""
    return await products.page(session, limit, cursor)
