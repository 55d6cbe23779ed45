"""The benchmark's message load: creates through ingest's HTTP API, sent with the
dispatcher's own HTTP/1.1 client (``services/dispatcher/http1``) rather than aiohttp's.

The load generator shares the two cores with what it measures. With an aiohttp client
it spent 0.086-0.088 ms of CPU per request, 0.22-0.26 of a core at the pipeline's
maximum, and the pipeline measured 2,326-2,492 msg/s; with this one, 0.024-0.026 ms and
2,719-2,809 msg/s (alternating, the same hour, 15,000 messages each, 2026-12-04). The
same reason ``ingest_http`` is driven by wrk: the figure should be Hookline's, not the
client's. (wrk itself does not fit here: it cannot read the message id of each answer,
which the latency run needs.)
"""

from __future__ import annotations

import asyncio
import time

import orjson

from bench.stack import BENCH_TOKEN
from services.dispatcher.http1.client import Http1Client
from services.dispatcher.http1.request import encode_headers
from services.dispatcher.http1.response import ResponseLimits

_ANSWER_BYTES = 1024 * 1024  # a 202 repeats the payload: the 64 KiB variant's fits


class MessagePoster:
    def __init__(self, base_url: str, app_id: str) -> None:
        self._url = f"{base_url}/api/v1/app/{app_id}/msg"
        self._headers = encode_headers(
            {"authorization": f"Bearer {BENCH_TOKEN}", "content-type": "application/json"}
        )
        limits = ResponseLimits(body_bytes=_ANSWER_BYTES)
        self._client = Http1Client(
            resolver=None, connect_timeout=5, timeout=60, limits=limits, keep=_ANSWER_BYTES
        )

    async def create(self, event_type: str, payload: dict[str, object]) -> str:
        """The new message's id, once ingest answered 202."""
        body = orjson.dumps({"eventType": event_type, "payload": payload})
        answer = await self._client.post(self._url, self._headers, body)
        assert answer.status == 202, (answer.status, answer.body[:500])
        return orjson.loads(answer.body)["id"]

    async def close(self) -> None:
        await self._client.close()


async def send_messages(
    base_url: str,
    app_id: str,
    count: int,
    concurrency: int = 32,
    payload: dict[str, object] | None = None,
) -> None:
    """``count`` messages, ``concurrency`` requests in flight (a closed loop)."""
    poster = MessagePoster(base_url, app_id)
    remaining = count
    payload = payload or {"data": "x" * 990}

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await poster.create("bench.event", {**payload, "sent": time.time()})

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await poster.close()
