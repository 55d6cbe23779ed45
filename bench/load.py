"""Load generators that run outside the measured process: wrk for HTTP ingest (an
aiohttp client in a subprocess when wrk can't be had), and an aio-pika publisher for
AMQP ingest."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aio_pika

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
"""


def ensure_wrk() -> str | None:
    if shutil.which("wrk"):
        return shutil.which("wrk")
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, capture_output=True)
    return shutil.which("wrk")


def message_body(event_type: str = "bench.event") -> str:
    return json.dumps({"eventType": event_type, "payload": {"data": "x" * 990}})


def http_ingest_rate(
    base_url: str, app_id: str, token: str, *, seconds: int, connections: int = 64
) -> tuple[float, str]:
    """Messages/s that ingest accepted (202) under load from another process."""
    url = f"{base_url}/api/v1/app/{app_id}/msg"
    wrk = ensure_wrk()
    if wrk:
        script = Path(tempfile.mkdtemp()) / "post.lua"
        script.write_text(WRK_SCRIPT.format(body=message_body(), token=token))
        out = subprocess.run(
            [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        elapsed = float(re.search(r"requests in ([\d.]+)s", out).group(1))  # type: ignore[union-attr]
        errors = int(bad.group(1)) if bad else 0
        return (total - errors) / elapsed, f"wrk, {connections} connections, {errors} non-2xx"
    out = subprocess.run(
        [sys.executable, "-m", "bench.http_client", url, token, str(seconds), str(connections)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out.strip()), f"aiohttp client process, {connections} connections"


async def publish_ingest_events(amqp_url: str, exchange_name: str, app_uid: str, total: int) -> float:
    """Publish ``total`` events to ``<prefix>.ingest`` with confirms; returns seconds taken."""
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(exchange_name)
        body = json.dumps(
            {"appId": app_uid, "eventType": "bench.event", "payload": {"data": "x" * 990}}
        ).encode()
        pending: set[asyncio.Future] = set()
        started = time.perf_counter()
        for _ in range(total):
            message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            pending.add(asyncio.ensure_future(exchange.publish(message, routing_key="")))
            if len(pending) >= 512:
                _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        await asyncio.gather(*pending)
        return time.perf_counter() - started
