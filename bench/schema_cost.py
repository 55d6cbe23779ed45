"""`python -m bench.run --only ingest-schema`: what enforcing an event type's schema
costs HTTP ingest (issue 19).

One ingest, one app and one endpoint (never called), the bench's 1 KiB message of type
``bench.event`` whose schema matches it. Rounds alternate enforcement off and on (the
machine drifts; alternating spreads the drift over both), each a wrk load; the medians
and their ratio are reported. Beside it, the in-process cost of one check: the compiled
validator on the same payload, in microseconds.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from bench.load import http_ingest_rate, message_body
from bench.stack import BENCH_TOKEN, start_service
from services.ingest.schema_validation import ValidatorCache

EVENT_TYPE = "bench.event"
# What a team would write for the bench's payload: an object with a bounded string.
SCHEMA = {
    "type": "object",
    "properties": {"data": {"type": "string", "maxLength": 4096}},
    "required": ["data"],
    "additionalProperties": False,
}


def check_microseconds(repeat: int = 20_000) -> float:
    compiled = ValidatorCache().rebuild([(EVENT_TYPE, {"1": SCHEMA})])[EVENT_TYPE]
    payload = json.loads(message_body())["payload"]
    assert compiled.first_violation(payload) is None
    started = time.perf_counter()
    for _ in range(repeat):
        compiled.first_violation(payload)
    return (time.perf_counter() - started) / repeat * 1e6


async def _enforce(session: aiohttp.ClientSession, on: bool) -> None:
    body = {"description": "bench", "schemas": {"1": SCHEMA}, "enforceSchema": on}
    async with session.put(f"/api/v1/event-type/{EVENT_TYPE}", json=body) as response:
        assert response.status < 300, await response.text()


async def _create(session: aiohttp.ClientSession, path: str, body: dict) -> dict:
    async with session.post(path, json=body) as response:
        assert response.status < 300, await response.text()
        return await response.json()


async def measure_schema_cost(
    results: dict,
    notes: list[str],
    logdir: Path,
    purge: Callable[[str], Awaitable[None]],
    *,
    seconds: int = 5,
    rounds: int = 2,
) -> None:
    """``purge`` removes the run's broker objects (bench.run's, passed in: no import cycle)."""
    prefix = f"hlbench_{uuid.uuid4().hex[:6]}"
    ingest = start_service("ingest", prefix, logdir, "/api/v1/health")
    try:
        base = f"http://127.0.0.1:{ingest.port}"
        async with aiohttp.ClientSession(base, headers={"Authorization": f"Bearer {BENCH_TOKEN}"}) as session:
            app = await _create(session, "/api/v1/app", {"name": "bench-schema"})
            await _create(session, f"/api/v1/app/{app['id']}/endpoint", {"url": "http://127.0.0.1:9/"})
            await _enforce(session, False)
            http_ingest_rate(base, app["id"], BENCH_TOKEN, seconds=1)  # warm-up
            rates: dict[bool, list[float]] = {False: [], True: []}
            for _ in range(rounds):
                for on in (False, True):
                    await _enforce(session, on)  # this ingest reloads before answering
                    rates[on].append(http_ingest_rate(base, app["id"], BENCH_TOKEN, seconds=seconds)[0])
            await _enforce(session, False)
        off, on = statistics.median(rates[False]), statistics.median(rates[True])
        results["ingest_http_schema_off"], results["ingest_http_schema_on"] = off, on
        results["schema_enforced_ratio"] = on / off
        notes.append(
            f"schema enforcement: {rounds} rounds of {seconds} s each way, alternating; "
            f"off {[round(r) for r in rates[False]]}, on {[round(r) for r in rates[True]]} msg/s"
        )
    finally:
        ingest.stop()
        await purge(prefix)
    results["schema_check_us"] = check_microseconds()
