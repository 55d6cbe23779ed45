"""Remove queues and exchanges by name from the local RabbitMQ (test runs, benchmarks).

Listing needs ``rabbitmqctl`` (the broker is local to every run that uses this); deleting
goes over AMQP. Deleting what is already gone is not an error in RabbitMQ (since 3.2).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import aio_pika


def broker_names(kind: str) -> list[str]:
    """Names of every queue or exchange (``kind``: "queues" or "exchanges") on the broker."""
    listed = subprocess.run(
        ["rabbitmqctl", "-q", f"list_{kind}", "name"], capture_output=True, text=True, timeout=60
    )
    return [line.strip() for line in listed.stdout.splitlines() if line.strip()]


async def delete_broker_objects(amqp_url: str, doomed: Callable[[str], bool]) -> None:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        for name in filter(doomed, broker_names("queues")):
            await channel.queue_delete(name)
        for name in filter(doomed, broker_names("exchanges")):
            await channel.exchange_delete(name)
    finally:
        await connection.close()
