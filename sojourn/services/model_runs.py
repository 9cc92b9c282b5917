"""What one nightly model step reports, whichever model it fits: the version it stored (None when
no version could be used, `reason` says why), how many contacts it scored and how many stored
values changed (0 on a re-run of the same day)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ModelRun:
    model: str
    version: int | None
    contacts: int
    changed: int
    reason: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
