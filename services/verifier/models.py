"""The sources API's JSON: camelCase like the rest of Hookline."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Annotated, Generic, Self, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

from shared.schemes import Scheme, check_secret

T = TypeVar("T")

# No dots: the source id is the first word of the routing key ``<source_id>.<type>``.
SOURCE_ID_PATTERN = r"^[A-Za-z0-9_\-]{1,64}$"
MAX_BODY_BYTES = 32 * 1024 * 1024
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-^_`|~0-9A-Za-z]{1,128}$")


def _network(text: str) -> str:
    return str(ipaddress.ip_network(text.strip(), strict=False))


def _header_name(name: str) -> str:
    if not _HEADER_NAME.match(name):
        raise ValueError(f"{name!r} is not a valid HTTP header name")
    return name


SourceId = Annotated[str, StringConstraints(pattern=SOURCE_ID_PATTERN)]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=512)]
Cidr = Annotated[str, AfterValidator(_network)]
HeaderName = Annotated[str, AfterValidator(_header_name)]


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class SourceFields(ApiModel):
    # Unknown fields are refused: a misspelt ``allowedCidrs`` must not silently open a source.
    model_config = ConfigDict(extra="forbid")

    scheme: Scheme
    secrets: Annotated[list[Secret], Field(min_length=1, max_length=10)] | None = Field(
        None, description="Omitted: one is generated (not for stripe, whose secret Stripe makes)."
    )
    allowed_cidrs: Annotated[list[Cidr], Field(max_length=100)] = []
    max_body_bytes: int | None = Field(
        None, ge=1, le=MAX_BODY_BYTES, description="Omitted: HOOKLINE_MAX_PAYLOAD_BYTES."
    )
    tolerance_seconds: int = Field(300, ge=1, le=86400)
    header_name: HeaderName | None = Field(None, description="The token scheme's header.")

    @model_validator(mode="after")
    def _fits_scheme(self) -> Self:
        if (self.scheme is Scheme.TOKEN) != (self.header_name is not None):
            raise ValueError("headerName is required for the token scheme and only for it")
        for secret in self.secrets or []:
            try:
                check_secret(self.scheme, secret)
            except ValueError as exc:
                raise ValueError(f"secrets: {exc}") from exc
        return self


class SourceIn(SourceFields):
    id: SourceId | None = Field(None, description="Omitted: a generated src_ id.")

    @model_validator(mode="after")
    def _stripe_brings_its_secret(self) -> Self:
        if self.scheme is Scheme.STRIPE and self.secrets is None:
            raise ValueError("a stripe source needs the signing secret Stripe shows for the endpoint")
        return self


class SourceUpdate(SourceFields):
    """A full replacement, except that omitted ``secrets`` keep the current ones."""


class SourceOut(ApiModel):
    id: str
    scheme: Scheme
    secrets: list[str]
    allowed_cidrs: list[str]
    max_body_bytes: int
    tolerance_seconds: int
    header_name: str | None
    created_at: datetime
    updated_at: datetime


class SourceListQuery(BaseModel):
    limit: int = Field(50, ge=1, le=250)
    iterator: str | None = Field(None, max_length=64)


class ListResponse(ApiModel, Generic[T]):
    data: list[T]
    iterator: str | None
    prev_iterator: str | None = None
    done: bool
