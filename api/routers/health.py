"""GET /healthz: each component's state; 503 when any is down."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import EngineDep, SettingsDep, TemporalDep
from sojourn.services import health

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(engine: EngineDep, client: TemporalDep, settings: SettingsDep) -> JSONResponse:
    components = await health.components(engine, client, settings)
    healthy = all(v == "ok" for v in components.values())
    return JSONResponse({"status": "ok" if healthy else "degraded", "components": components},
                        status_code=200 if healthy else 503)
