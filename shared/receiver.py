"""Receiving Hookline deliveries in an aiohttp app, in one line::

    payload = await verify_request(request, "whsec_...")

It reads the raw body with a size cap, verifies the Standard Webhooks signature with
``shared.signing`` (the code the dispatcher signs with) and returns the parsed JSON, or
raises an aiohttp 4xx whose JSON body ``{"code", "detail"}`` names the reason:
400 missing/malformed header, stale or future timestamp, body not JSON; 401 no secret
matches; 413 body over the cap. See ``docs/receiving.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from shared import signing
from shared.web.body import BodyTimedOut, BodyTooLarge, read_body

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
__all__ = ["BodyTimedOut", "BodyTooLarge", "Delivery", "read_body", "verify_delivery", "verify_request"]


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str  # ``webhook-id``: the same on every retry, a key for idempotent handling
    timestamp: int
    payload: Any


def _error(cls: Any, code: str, detail: str, **kwargs: Any) -> web.HTTPClientError:
    body = orjson.dumps({"code": code, "detail": detail}).decode()
    return cls(text=body, content_type="application/json", **kwargs)


async def verify_delivery(
    request: web.Request,
    secret: str | Sequence[str],
    *,
    tolerance: float = signing.DEFAULT_TOLERANCE_SECONDS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Delivery:
    """Verify a delivery against ``secret`` (or any of several during a rotation): a
    ``whsec_`` secret checks ``v1`` signatures, a ``whpk_`` public key ``v1a`` ones."""
    secrets = [secret] if isinstance(secret, str) else list(secret)
    keys = [signing.verifying_key(s) for s in secrets]
    try:
        body = await read_body(request, max_body_bytes)
    except BodyTooLarge as exc:
        # aiohttp's 413 wants sizes for its default text, which the JSON body replaces.
        too_large = {"max_size": max_body_bytes, "actual_size": max_body_bytes + 1}
        raise _error(web.HTTPRequestEntityTooLarge, "payload_too_large", str(exc), **too_large) from exc
    except BodyTimedOut as exc:
        raise _error(web.HTTPRequestTimeout, "request_timeout", str(exc)) from exc
    try:
        msg_id = signing.verify(keys, request.headers, body, tolerance=tolerance)
    except signing.BadSignature as exc:
        raise _error(web.HTTPUnauthorized, exc.code, str(exc)) from exc
    except signing.VerificationError as exc:
        raise _error(web.HTTPBadRequest, exc.code, str(exc)) from exc
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _error(web.HTTPBadRequest, "invalid_json", "the body is not JSON") from exc
    timestamp = request.headers.get("webhook-timestamp") or request.headers["svix-timestamp"]
    return Delivery(id=msg_id, timestamp=int(timestamp), payload=payload)


async def verify_request(request: web.Request, secret: str | Sequence[str], **options: Any) -> Any:
    """The one-liner: the verified delivery's parsed JSON payload (``options`` are
    ``verify_delivery``'s: ``tolerance``, ``max_body_bytes``)."""
    return (await verify_delivery(request, secret, **options)).payload
