"""Request dependencies: settings, the database (engine and session), the Temporal client, the
services built once at startup (triggers, previews, engagement signals), API-key auth."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from temporalio.client import Client

from sojourn.services.engagement_signals import EngagementSignals
from sojourn.services.preview import Previewer
from sojourn.services.triggers import Triggers
from sojourn.settings import Settings


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _temporal(request: Request) -> Client:
    return request.app.state.temporal


async def _engine(request: Request) -> AsyncEngine:
    return request.app.state.engine


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


async def _triggers(request: Request) -> Triggers:
    return request.app.state.triggers


async def _previewer(request: Request) -> Previewer:
    return request.app.state.previewer


async def _engagement_signals(request: Request) -> EngagementSignals:
    return request.app.state.engagement_signals


SettingsDep = Annotated[Settings, Depends(_settings)]
TemporalDep = Annotated[Client, Depends(_temporal)]
EngineDep = Annotated[AsyncEngine, Depends(_engine)]
SessionDep = Annotated[AsyncSession, Depends(_session)]
TriggersDep = Annotated[Triggers, Depends(_triggers)]
PreviewerDep = Annotated[Previewer, Depends(_previewer)]
EngagementSignalsDep = Annotated[EngagementSignals, Depends(_engagement_signals)]

_bearer = HTTPBearer(auto_error=False)


def require_api_key(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    if credentials is None:
        raise HTTPException(401, "missing API key: send 'Authorization: Bearer <key>'",
                            headers={"WWW-Authenticate": "Bearer"})
    presented = credentials.credentials.encode()
    if not any(hmac.compare_digest(presented, key.encode()) for key in settings.api_keys):
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})


# A router's `dependencies=API_KEY`: every route under it needs a valid key. Routers without it
# authenticate otherwise (webhook signatures, signed tracking tokens) or are public.
API_KEY = [Depends(require_api_key)]
