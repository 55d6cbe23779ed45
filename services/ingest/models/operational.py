"""Operational webhook endpoints, as the ``svix`` SDK's ``operational_webhook_endpoint``
sends and reads them: an endpoint without channels, subscribed to Svix's operational
event types (``shared/operational.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from services.ingest.models.common import ApiModel, InModel, Metadata, ThrottleRate, Uid
from services.ingest.models.endpoints import _EVENT_TYPES, Description, Headers, Secret, Url
from shared.operational import EVENT_TYPES


def _known_types(types: list[str]) -> list[str]:
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown:
        known = ", ".join(EVENT_TYPES)
        raise ValueError(f"not an operational event type: {', '.join(unknown)} (one of {known})")
    return types


OperationalEventTypes = Annotated[list[str], Field(min_length=1), AfterValidator(_known_types)]


class OperationalWebhookEndpointUpsertIn(InModel):
    url: Url
    description: Description = ""
    throttle_rate: ThrottleRate | None = None
    uid: Uid | None = None
    disabled: bool = False
    event_types: OperationalEventTypes | None = _EVENT_TYPES
    metadata: Metadata = Field(default_factory=dict)


class OperationalWebhookEndpointIn(OperationalWebhookEndpointUpsertIn):
    secret: Secret | None = None
    headers: Headers = Field(default_factory=dict)


class OperationalWebhookEndpointOut(ApiModel):
    id: str
    url: str
    description: str
    throttle_rate: int | None = None
    uid: str | None = None
    disabled: bool = False
    event_types: list[str] | None = None
    created_at: datetime
    updated_at: datetime
    metadata: Metadata


class OperationalWebhookEndpointHeadersIn(InModel):
    headers: Headers


class OperationalWebhookEndpointHeadersOut(ApiModel):
    headers: dict[str, str]
    sensitive: list[str]


class OperationalWebhookEndpointSecretIn(InModel):
    key: Secret | None = None
    # Svix: between 0 (immediate expiry) and 7 days; 24 hours by default.
    grace_period_seconds: int | None = Field(None, ge=0, le=604800)


class OperationalWebhookEndpointSecretOut(ApiModel):
    key: str
