"""Bodies of the routes issue 19 adds beside the core resources, as the ``svix`` SDK
spells them: ``EventExampleIn``, ``ReplayIn``/``ReplayOut``, ``EndpointAttemptStats``,
``AppUsageStatsIn``/``Out`` and ``BackgroundTaskOut``."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from services.ingest.models.common import ApiModel, EventTypeName, InModel, ListQuery, QueryModel, Uid


class BackgroundTaskStatus(StrEnum):
    running = "running"
    finished = "finished"
    failed = "failed"


class EventExampleIn(InModel):
    event_type: EventTypeName
    # Which of the schema's ``examples`` to send; the first when absent.
    example_index: int = Field(0, ge=0)
    # Svix reserves this for allow-listed customers; Hookline accepts it from anyone
    # holding the API token (there is no narrower role).
    payload: dict[str, Any] | None = None


class ReplayIn(InModel):
    since: datetime
    until: datetime | None = None


class BackgroundTaskRef(ApiModel):
    """``ReplayOut`` and the start of ``AppUsageStatsOut``: the task, done when answered."""

    id: str
    status: BackgroundTaskStatus
    task: str
    updated_at: datetime


class EndpointAttemptStats(ApiModel):
    success: int
    fail: int
    canceled: int


class AttemptStatsQuery(QueryModel):
    since: datetime | None = None
    until: datetime | None = None


class AppUsageStatsIn(InModel):
    since: datetime
    until: datetime
    app_ids: list[Uid] | None = Field(None, max_length=250)


class AppUsageStatsOut(BackgroundTaskRef):
    unresolved_app_ids: list[str]


class BackgroundTaskOut(BackgroundTaskRef):
    data: dict[str, Any]


class BackgroundTaskListQuery(ListQuery):
    status: BackgroundTaskStatus | None = None
    task: str | None = Field(None, max_length=64)
