"""What a verified webhook becomes on ``<prefix>.inbound``: pure, no I/O.

Routing key ``<source_id>.<event type>``; the event type is the payload's ``type``
(Standard Webhooks, Stripe; GitLab's ``object_kind`` for the token scheme) or the
``X-GitHub-Event`` header. The body is passed on byte for byte; a few of the original
headers travel with it, never a signature or a token.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
import orjson

from shared.schemes import Scheme, Verified

H_SOURCE = "x-hookline-source-id"
H_SCHEME = "x-hookline-scheme"
H_EVENT_TYPE = "x-hookline-event-type"
H_MESSAGE_ID = "x-hookline-message-id"  # the sender's id, when the scheme has one
UNKNOWN_TYPE = "unknown"

# Topic routing keys are at most 255 bytes; source ids are at most 64 characters.
_MAX_TYPE = 180
_NOT_IN_KEY = re.compile(r"[^A-Za-z0-9_.\-]")
_MAX_HEADER_VALUE = 1024
_MAX_MESSAGE_ID = 256
IDEMPOTENCY_HEADER = "Idempotency-Key"

_COMMON_HEADERS = ("content-type", "user-agent")
FORWARDED_HEADERS: dict[Scheme, tuple[str, ...]] = {
    Scheme.STANDARD_WEBHOOKS: ("webhook-id", "webhook-timestamp", "svix-id", "svix-timestamp"),
    Scheme.STRIPE: (),
    Scheme.GITHUB: (
        "x-github-event",
        "x-github-delivery",
        "x-github-hook-id",
        "x-github-hook-installation-target-type",
        "x-github-hook-installation-target-id",
    ),
    Scheme.TOKEN: ("x-gitlab-event", "x-gitlab-event-uuid", "x-gitlab-instance", "idempotency-key"),
}


@dataclass(frozen=True, slots=True)
class InboundEvent:
    source_id: str
    scheme: Scheme
    message_id: str | None  # the replay key (see ``replay_key``); None: no dedupe
    event_type: str
    body: bytes
    headers: dict[str, str]
    received_at: datetime

    @property
    def routing_key(self) -> str:
        return f"{self.source_id}.{self.event_type}"

    def to_amqp(self) -> aio_pika.Message:
        headers: dict[str, Any] = {
            **self.headers,
            H_SOURCE: self.source_id,
            H_SCHEME: str(self.scheme),
            H_EVENT_TYPE: self.event_type,
        }
        if self.message_id:
            headers[H_MESSAGE_ID] = self.message_id
        return aio_pika.Message(
            body=self.body,
            content_type=self.headers.get("content-type", "application/octet-stream"),
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            # Unique per publish: aiormq matches a returned message to its confirm by id.
            message_id=uuid.uuid4().hex,
            timestamp=self.received_at,
            headers=headers,
        )


def _payload_object(body: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}  # GitHub may send form-encoded bodies; the type is in a header there
    return payload if isinstance(payload, dict) else {}


def replay_key(
    scheme: Scheme, verified: Verified, headers: Mapping[str, str], payload: dict[str, Any], body: bytes
) -> str | None:
    """What a replay is recognised by. Only what the signature covers stops someone who
    captured a request from sending it again under a new id: the signed ``webhook-id``;
    Stripe's event id inside the signed body; for GitHub, which signs nothing but the
    body, the body's hash (its redeliveries are byte for byte the same, delivery id
    included). The token scheme signs nothing: ``Idempotency-Key`` only folds the
    sender's own retries (GitLab 17.4+ sends one)."""
    match scheme:
        case Scheme.STANDARD_WEBHOOKS:
            return verified.message_id
        case Scheme.STRIPE if isinstance(payload.get("id"), str):
            return payload["id"]
        case Scheme.STRIPE | Scheme.GITHUB:
            return "sha256:" + hashlib.sha256(body).hexdigest()
        case _:
            return headers.get(IDEMPOTENCY_HEADER) or None


def _bounded(message_id: str | None) -> str | None:
    """Keeps replay keys small without letting two long ids collide by truncation."""
    if not message_id or len(message_id) <= _MAX_MESSAGE_ID:
        return message_id or None
    return "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()


def routing_word(raw: object) -> str:
    """An event type fit for a topic routing key: safe characters, bounded length."""
    if not isinstance(raw, str):
        return UNKNOWN_TYPE
    cleaned = _NOT_IN_KEY.sub("_", raw.strip())[:_MAX_TYPE].strip(".")
    return cleaned or UNKNOWN_TYPE


def build_event(
    source_id: str,
    scheme: Scheme,
    verified: Verified,
    headers: Mapping[str, str],
    body: bytes,
    *,
    received_at: datetime | None = None,
) -> InboundEvent:
    payload = _payload_object(body) if scheme is not Scheme.GITHUB else {}
    match scheme:
        case Scheme.GITHUB:
            raw_type: object = headers.get("X-GitHub-Event")
        case Scheme.TOKEN:
            raw_type = payload.get("type", payload.get("object_kind"))
        case _:
            raw_type = payload.get("type")
    kept = {
        name: value[:_MAX_HEADER_VALUE]
        for name in (*_COMMON_HEADERS, *FORWARDED_HEADERS[scheme])
        if (value := headers.get(name))
    }
    return InboundEvent(
        source_id=source_id,
        scheme=scheme,
        message_id=_bounded(replay_key(scheme, verified, headers, payload, body)),
        event_type=routing_word(raw_type),
        body=body,
        headers=kept,
        received_at=received_at or datetime.now(UTC),
    )
