"""The verifier's own knobs, next to Hookline's shared ``Settings`` and with its prefix.

``HOOKLINE_VERIFIER_HOST``, ``HOOKLINE_VERIFIER_TRUSTED_PROXIES`` (CIDRs whose
``X-Forwarded-For`` is believed; empty: none), ``HOOKLINE_VERIFIER_REPLAY_RETENTION``
(how long a message id is remembered when the scheme signs no timestamp, e.g. ``3d``),
``HOOKLINE_VERIFIER_MAX_CONCURRENT`` (inbound webhooks received at once; past it, 503
with ``Retry-After`` before the body is read).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.settings import parse_duration

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class VerifierSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOOKLINE_VERIFIER_", extra="ignore")

    host: str = "0.0.0.0"
    trusted_proxies: Annotated[list[str], NoDecode] = []
    # GitHub lets a delivery be redelivered by hand for three days.
    replay_retention: Annotated[float, NoDecode] = Field(3 * 86400.0, gt=0)
    replay_cleanup_seconds: float = Field(300.0, gt=0)
    # Each request in flight holds a socket, its body (up to the source's cap) and maybe a
    # pool connection: the ceiling bounds the memory an inbound burst can take.
    max_concurrent: int = Field(256, ge=1)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _cidrs(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for item in value or []:  # type: ignore[union-attr]
            ipaddress.ip_network(item, strict=False)  # a clear ValueError
        return value

    @field_validator("replay_retention", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str) else value

    def proxy_networks(self) -> tuple[Network, ...]:
        return tuple(ipaddress.ip_network(c, strict=False) for c in self.trusted_proxies)
