"""The peer of `make bench PEER=1`: the usual Python answer to "POST webhooks from a queue" —
a Celery task that signs (Standard Webhooks HMAC) and POSTs with `requests`, prefork pool.

Runs only in the bench's own virtualenv (bench/peer.py makes it), never in Hookline's:
Celery is not a Hookline dependency. Configured from the environment so one file is
both the worker's app (`celery -A bench.peer_celery worker`) and the filler
(`python -m bench.peer_celery fill <count> <url>`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import sys
import time

import requests
from celery import Celery
from kombu import Queue

QUEUE = os.environ.get("HOOKLINE_PEER_QUEUE", "hookline-peer")
KEY = os.urandom(24)

app = Celery("hookline_peer", broker=os.environ.get("HOOKLINE_PEER_BROKER", "amqp://guest:guest@127.0.0.1//"))
app.conf.update(
    # The same durability as Hookline's dispatch queue: a quorum queue, acknowledged after the POST.
    task_queues=[Queue(QUEUE, queue_arguments={"x-queue-type": "quorum"})],
    task_default_queue=QUEUE,
    task_acks_late=True,
    task_ignore_result=True,
    worker_prefetch_multiplier=16,
    broker_connection_retry_on_startup=True,
)
_session: requests.Session | None = None


def _signature(msg_id: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(KEY, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@app.task(name="deliver")
def deliver(url: str, msg_id: str, body: str) -> int:
    global _session
    if _session is None:  # one keep-alive session per worker process
        _session = requests.Session()
    raw = body.encode()
    timestamp = str(int(time.time()))
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": _signature(msg_id, timestamp, raw),
    }
    response = _session.post(url, data=raw, headers=headers, timeout=15)
    if response.status_code >= 300:
        raise RuntimeError(f"receiver answered {response.status_code}")
    return response.status_code


def fill(count: int, url: str) -> None:
    body = '{"type":"bench.event","data":"' + "x" * 990 + '"}'
    with app.producer_or_acquire() as producer:
        for index in range(count):
            deliver.apply_async((url, f"msg_{index}", body), producer=producer)


if __name__ == "__main__" and sys.argv[1:2] == ["fill"]:
    fill(int(sys.argv[2]), sys.argv[3])
