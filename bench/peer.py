"""`make bench PEER=1`: Hookline's dispatcher beside the usual Python peer on the same
receiver — Celery, prefork pool of 2, a task that signs and POSTs with `requests`.

The peer gets a virtualenv of its own (`.venv-peer`, made and filled from PyPI on the
first run), so Celery never becomes a Hookline dependency. Its queue is filled first,
then the worker starts; the drain is timed at the receiver, from the first arrival to
the last, as Hookline's deliveries are timed from the first settled one to the last.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aio_pika

ROOT = Path(__file__).resolve().parent.parent
PEER_VENV = ROOT / ".venv-peer"
PEER_PACKAGES = ["celery>=5.5,<6", "requests>=2.31"]


def peer_python() -> Path:
    """The peer venv's interpreter, creating and filling the venv when missing."""
    python = PEER_VENV / "bin" / "python"
    stamp = PEER_VENV / ".hookline-peer-installed"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(PEER_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, *PEER_PACKAGES], check=True)
        stamp.touch()
    return python


async def celery_drain_rate(amqp_url: str, receiver, total: int = 20_000, limit_s: float = 300) -> float:  # type: ignore[no-untyped-def]
    """Deliveries per second of a Celery prefork-2 worker draining ``total`` queued tasks."""
    python = peer_python()
    queue = f"hookline-peer-{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "HOOKLINE_PEER_QUEUE": queue,
        "HOOKLINE_PEER_BROKER": amqp_url,
        "PYTHONPATH": str(ROOT),
    }
    before = len(receiver.arrivals())
    fill = await asyncio.create_subprocess_exec(
        str(python), "-m", "bench.peer_celery", "fill", str(total), receiver.stamp_url, env=env
    )
    if await fill.wait() != 0:
        raise RuntimeError(f"filling the Celery queue failed (exit {fill.returncode})")
    worker = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measurement
        [str(python), "-m", "celery", "-A", "bench.peer_celery", "worker", "--pool", "prefork",
         "--concurrency", "2", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "--loglevel", "WARNING"],
        env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + limit_s
        while len(receiver.arrivals()) - before < total:
            if time.monotonic() > deadline or worker.poll() is not None:
                raise TimeoutError(f"Celery delivered {len(receiver.arrivals()) - before} of {total}")
            await asyncio.sleep(0.5)
        arrivals = receiver.arrivals()[before:]
        return (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    finally:
        worker.terminate()
        worker.wait(30)
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            await (await connection.channel()).queue_delete(queue)
