"""Request dependencies: settings, database session, Temporal client, API-key auth."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from sojourn.settings import Settings


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _temporal(request: Request) -> Client:
    return request.app.state.temporal


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(_settings)]
TemporalDep = Annotated[Client, Depends(_temporal)]
SessionDep = Annotated[AsyncSession, Depends(_session)]

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
