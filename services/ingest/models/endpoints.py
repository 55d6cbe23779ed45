from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AliasChoices, Field, StringConstraints

from services.ingest.models.common import (
    ApiModel,
    Channel,
    EventTypeName,
    InModel,
    Metadata,
    QueryModel,
    ThrottleRate,
    Uid,
)
from shared import signing
from shared.target_policy import TargetRefused, check_url_syntax

# Svix: base64 of random bytes, optionally prefixed with whsec_; or an Ed25519 private key,
# whsk_ + base64 of its 32-byte seed (or libsodium's 64 bytes), signing v1a.
SECRET_PATTERN = r"^(whsec_|whsk_)?[a-zA-Z0-9+/=]{32,100}$"
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}$")
# Headers Hookline sets itself or that would break the request framing.
_RESERVED = {"host", "content-length", "content-type", "transfer-encoding", "connection"}
_RESERVED_PREFIXES = ("webhook-", "svix-")


def _check_url(url: str) -> str:
    try:
        check_url_syntax(url)
    except TargetRefused as exc:
        raise ValueError(str(exc)) from exc
    return url


def _check_headers(headers: dict[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        lower = name.lower()
        if not _HEADER_NAME.match(name):
            raise ValueError(f"header name {name!r} is not a valid HTTP header name")
        if lower in _RESERVED or lower.startswith(_RESERVED_PREFIXES):
            raise ValueError(f"header {name!r} is set by Hookline and cannot be overridden")
        if any(ch in value for ch in "\r\n\0"):
            raise ValueError(f"header {name!r} contains a line break or NUL character")
        if len(value) > 8192:
            raise ValueError(f"header {name!r} is longer than 8192 characters")
    return headers


Url = Annotated[str, StringConstraints(min_length=1, max_length=65536), AfterValidator(_check_url)]
Headers = Annotated[dict[str, str], AfterValidator(_check_headers)]


def _check_secret(secret: str) -> str:
    if signing.is_private_key(secret):
        signing.private_key(secret)  # InvalidSecret (a ValueError) names what is wrong
    return secret


Secret = Annotated[str, StringConstraints(pattern=SECRET_PATTERN), AfterValidator(_check_secret)]
EventTypeList = Annotated[list[EventTypeName], Field(min_length=1)]
ChannelList = Annotated[list[Channel], Field(min_length=1, max_length=10)]
Description = Annotated[str, StringConstraints(max_length=4096)]

# Older SDKs send the deprecated ``filterTypes``; Svix's server still accepts it.
_EVENT_TYPES = Field(None, validation_alias=AliasChoices("eventTypes", "filterTypes", "event_types"))


class EndpointIn(InModel):
    url: Url
    description: Description = ""
    throttle_rate: ThrottleRate | None = None
    uid: Uid | None = None
    disabled: bool = False
    event_types: EventTypeList | None = _EVENT_TYPES
    channels: ChannelList | None = None
    secret: Secret | None = None
    metadata: Metadata = Field(default_factory=dict)
    headers: Headers = Field(default_factory=dict)
    # Hookline's extension (docs/ordering.md): deliver one at a time, in message order.
    ordered: bool = False


class EndpointUpdate(InModel):
    url: Url
    description: Description = ""
    throttle_rate: ThrottleRate | None = None
    uid: Uid | None = None
    disabled: bool = False
    event_types: EventTypeList | None = _EVENT_TYPES
    channels: ChannelList | None = None
    metadata: Metadata = Field(default_factory=dict)
    # Left as it is when not sent: Svix SDKs never send it, and a PUT from one of them
    # must not turn ordering off.
    ordered: bool | None = None


class EndpointPatch(InModel):
    url: Url | None = None
    description: Description | None = None
    throttle_rate: ThrottleRate | None = None
    uid: Uid | None = None
    disabled: bool | None = None
    event_types: EventTypeList | None = _EVENT_TYPES
    channels: ChannelList | None = None
    metadata: Metadata | None = None
    secret: Secret | None = None
    ordered: bool | None = None


class EndpointOut(ApiModel):
    id: str
    metadata: Metadata
    url: str
    description: str
    throttle_rate: int | None = None
    uid: str | None = None
    disabled: bool = False
    event_types: list[str] | None = None
    channels: list[str] | None = None
    created_at: datetime
    updated_at: datetime
    ordered: bool = False


class EndpointHeadersIn(InModel):
    headers: Headers


class EndpointHeadersPatchIn(InModel):
    headers: Headers
    delete_headers: list[str] | None = None


class EndpointHeadersOut(ApiModel):
    headers: dict[str, str]
    sensitive: list[str]


class EndpointSecretOut(ApiModel):
    key: str


class EndpointSecretRotateIn(InModel):
    key: Secret | None = None
    # Svix: between 0 (immediate expiry) and 7 days; 24 hours by default.
    grace_period_seconds: int | None = Field(None, ge=0, le=604800)


class EndpointStats(ApiModel):
    success: int
    pending: int
    sending: int
    fail: int
    canceled: int


class StatsQuery(QueryModel):
    since: datetime | None = None
    until: datetime | None = None


class RecoverIn(InModel):
    since: datetime
    until: datetime | None = None


class RecoverOut(ApiModel):
    id: str
    status: str
    task: str
    updated_at: datetime
