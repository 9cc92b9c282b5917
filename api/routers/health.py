"""GET /healthz: each component's state; 503 when any is down."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from api.deps import EngineDep, SettingsDep, TemporalDep
from api.routing import resource_router
from sojourn.services import health

router = resource_router(tags=["health"], api_key=False)


@router.get("/healthz")
async def healthz(engine: EngineDep, client: TemporalDep, settings: SettingsDep) -> JSONResponse:
    components = await health.components(engine, client, settings)
    healthy = all(v == "ok" for v in components.values())
    return JSONResponse({"status": "ok" if healthy else "degraded", "components": components},
                        status_code=200 if healthy else 503)
