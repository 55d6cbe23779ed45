from __future__ import annotations

from datetime import datetime

from pydantic import Field

from services.ingest.models.common import ApiModel, InModel, Metadata, QueryModel, ThrottleRate, Uid


class ApplicationIn(InModel):
    name: str = Field(min_length=1, max_length=256)
    throttle_rate: ThrottleRate | None = None
    uid: Uid | None = None
    metadata: Metadata = Field(default_factory=dict)


class ApplicationPatch(InModel):
    name: str | None = Field(None, min_length=1, max_length=256)
    throttle_rate: ThrottleRate | None = None
    uid: Uid | None = None
    metadata: Metadata | None = None


class ApplicationOut(ApiModel):
    uid: str | None = None
    name: str
    throttle_rate: int | None = None
    id: str
    created_at: datetime
    updated_at: datetime
    metadata: Metadata


class CreateAppQuery(QueryModel):
    get_if_exists: bool = False
