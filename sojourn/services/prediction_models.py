"""The fitted versions of every predictive model, with their parameters and metrics."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sojourn.data.predictions import PredictionModel

MODELS_LISTED = 200


async def versions(session: AsyncSession, name: str | None = None) -> list[PredictionModel]:
    """The newest versions first, by model name (at most MODELS_LISTED), of one model or all."""
    query = select(PredictionModel).order_by(PredictionModel.name, PredictionModel.version.desc()).limit(MODELS_LISTED)
    if name is not None:
        query = query.where(PredictionModel.name == name)
    return list((await session.execute(query)).scalars())
