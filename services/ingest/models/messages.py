from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import Field, model_validator

from services.ingest.models.applications import ApplicationIn
from services.ingest.models.common import (
    ApiModel,
    Channel,
    EventTypeName,
    InModel,
    ListQuery,
    QueryModel,
    StatusCodeClass,
    TriggerType,
    Uid,
)
from shared.status import MessageStatus

ChannelList = Annotated[list[Channel], Field(min_length=1, max_length=5)]
# Svix's tag pattern (no commas: group commit relies on that).
Tag = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[a-zA-Z0-9\-_./\\#]+$")]
TagList = Annotated[list[Tag], Field(min_length=1, max_length=5)]


class MessageIn(InModel):
    event_id: Uid | None = None
    event_type: EventTypeName
    payload: dict[str, Any]
    channels: ChannelList | None = None
    application: ApplicationIn | None = None
    tags: TagList | None = None
    payload_retention_period: int | None = Field(None, ge=1, le=90)
    # At most the 90 days payloadRetentionPeriod may ask for (Svix caps that field at 90).
    payload_retention_hours: int | None = Field(None, ge=1, le=90 * 24)

    @model_validator(mode="after")
    def _one_retention(self) -> MessageIn:
        # Svix: payloadRetentionPeriod and payloadRetentionHours are mutually exclusive.
        if self.payload_retention_period is not None and self.payload_retention_hours is not None:
            raise ValueError("payloadRetentionPeriod and payloadRetentionHours are mutually exclusive")
        return self

    def payload_expires_at(self, created_at: datetime) -> datetime | None:
        """When the payload is expunged; None leaves it to the history retention."""
        if self.payload_retention_hours is not None:
            return created_at + timedelta(hours=self.payload_retention_hours)
        if self.payload_retention_period is not None:
            return created_at + timedelta(days=self.payload_retention_period)
        return None


class MessageOut(ApiModel):
    event_id: str | None = None
    event_type: str
    payload: dict[str, Any]
    channels: list[str] | None = None
    id: str
    timestamp: datetime
    tags: list[str] | None = None


class CreateMessageQuery(QueryModel):
    with_content: bool = True


class GetMessageQuery(QueryModel):
    with_content: bool = True


class MessageListQuery(ListQuery):
    channel: Channel | None = None
    before: datetime | None = None
    after: datetime | None = None
    with_content: bool = True
    tag: str | None = None
    event_types: list[EventTypeName] | None = None


class MessageAttemptOut(ApiModel):
    url: str
    response: str
    response_status_code: int
    response_duration_ms: int
    status: MessageStatus
    status_text: str
    trigger_type: TriggerType
    msg_id: str
    endpoint_id: str
    id: str
    timestamp: datetime
    msg: MessageOut | None = None


class AttemptListQuery(ListQuery):
    status: MessageStatus | None = None
    status_code_class: StatusCodeClass | None = None
    channel: Channel | None = None
    tag: str | None = None
    endpoint_id: str | None = None
    before: datetime | None = None
    after: datetime | None = None
    with_content: bool = False
    with_msg: bool = False
    expanded_statuses: bool = True
    event_types: list[EventTypeName] | None = None


class MessageEndpointOut(ApiModel):
    id: str
    status: MessageStatus
    status_text: str
    next_attempt: datetime | None = None
    url: str
    description: str
    throttle_rate: int | None = None
    uid: str | None = None
    disabled: bool = False
    event_types: list[str] | None = None
    channels: list[str] | None = None
    created_at: datetime
    updated_at: datetime


class EndpointMessageOut(ApiModel):
    status: MessageStatus
    status_text: str
    next_attempt: datetime | None = None
    event_id: str | None = None
    event_type: str
    payload: dict[str, Any]
    channels: list[str] | None = None
    id: str
    timestamp: datetime
    tags: list[str] | None = None


class EndpointMessageListQuery(ListQuery):
    channel: Channel | None = None
    tag: str | None = None
    status: MessageStatus | None = None
    before: datetime | None = None
    after: datetime | None = None
    with_content: bool = True
    event_types: list[EventTypeName] | None = None
