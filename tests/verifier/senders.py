"""Requests signed the way each sender signs them: the reference packages for Standard
Webhooks and Svix, the public documentation for Stripe and GitHub (not Hookline's code)."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from datetime import UTC, datetime

import standardwebhooks
import svix


def _moment(at: float | None) -> tuple[datetime, str]:
    now = time.time() if at is None else at
    return datetime.fromtimestamp(now, UTC), str(int(now))


def standard(secret: str, body: bytes, msg_id: str | None = None, at: float | None = None) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    moment, timestamp = _moment(at)
    signature = standardwebhooks.Webhook(secret).sign(msg_id, moment, body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": signature}


def svix_signed(
    secret: str, body: bytes, msg_id: str | None = None, at: float | None = None
) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    moment, timestamp = _moment(at)
    signature = svix.Webhook(secret).sign(msg_id, moment, body.decode())
    return {"svix-id": msg_id, "svix-timestamp": timestamp, "svix-signature": signature}


def stripe(secret: str, body: bytes, at: float | None = None) -> dict[str, str]:
    # docs.stripe.com/webhooks#verify-manually: HMAC-SHA256, key = the endpoint's signing
    # secret as is, message = "{t}.{raw body}", hex; header "t=<t>,v1=<hex>".
    t = int(time.time() if at is None else at)
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},v1={mac}", "Content-Type": "application/json; charset=utf-8"}


def github(secret: str, body: bytes, event: str = "push", delivery: str | None = None) -> dict[str, str]:
    # docs.github.com "Validating webhook deliveries": HMAC-SHA256 of the body with the
    # webhook secret, hex, "sha256=" prefix, in X-Hub-Signature-256.
    mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-Hub-Signature-256": f"sha256={mac}",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "292430182",
        "User-Agent": "GitHub-Hookshot/044aadd",
        "Content-Type": "application/json",
    }
