"""Which endpoints a message goes to: a pure decision, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EndpointFilter:
    id: str
    disabled: bool
    event_types: Sequence[str] | None
    channels: Sequence[str] | None


def endpoint_matches(ep: EndpointFilter, event_type: str, channels: Sequence[str] | None) -> bool:
    """Svix semantics: enabled; no type filter or the type is listed; an endpoint with
    channels only gets messages sharing at least one of them."""
    if ep.disabled:
        return False
    if ep.event_types and event_type not in ep.event_types:
        return False
    if ep.channels:
        return bool(channels) and not set(ep.channels).isdisjoint(channels)
    return True


def select_destinations(
    endpoints: Iterable[EndpointFilter], event_type: str, channels: Sequence[str] | None
) -> list[str]:
    return [ep.id for ep in endpoints if endpoint_matches(ep, event_type, channels)]
