"""Request dependencies: settings, the database (engine and session), the Temporal client, the
services built once at startup (triggers, previews, engagement signals), API keys and their scopes."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from temporalio.client import Client

from api.errors import ApiError
from sojourn.services.engagement_signals import EngagementSignals
from sojourn.services.preview import Previewer
from sojourn.services.triggers import Triggers
from sojourn.settings import ApiKey, Scope, Settings


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


def authenticated(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    if credentials is None:
        raise HTTPException(401, "missing API key: send 'Authorization: Bearer <key>'",
                            headers={"WWW-Authenticate": "Bearer"})
    presented = credentials.credentials.encode()
    # Every key is compared, so the time taken says nothing about which one nearly matched.
    matches = [key for key in settings.api_keys if hmac.compare_digest(presented, key.secret.encode())]
    if not matches:
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
    return matches[0]


CallerDep = Annotated[ApiKey, Depends(authenticated)]

# A router's `dependencies=API_KEY`: every route under it needs a valid key. Routers without it
# authenticate otherwise (webhook signatures, signed tracking tokens) or are public.
API_KEY = [Depends(authenticated)]


class Needs:
    """A route's scope rule: the scopes that may call it besides admin, which may call anything.
    `api/routing.py` gives each API-key route one: reads (GET) take viewer or editor, other
    methods editor, unless the route declares its own in `dependencies=[...]`."""

    def __init__(self, *scopes: Scope) -> None:
        self.scopes = tuple(scope for scope in Scope if scope in (*scopes, Scope.admin))

    def described(self) -> str:
        return " or ".join(self.scopes)

    def __call__(self, caller: CallerDep) -> None:
        if caller.scope not in self.scopes:
            raise ApiError(403, "forbidden", f"this needs an API key with scope {self.described()}; "
                           f"this key's scope is {caller.scope}",
                           [{"field": "scope", "needed": list(self.scopes), "scope": caller.scope}])


READ = Depends(Needs(Scope.viewer, Scope.editor))
EDIT = Depends(Needs(Scope.editor))
INGEST = Depends(Needs(Scope.ingest, Scope.editor))  # contacts and events written by a system of record
ADMIN = Depends(Needs())  # erasure and the audit log
