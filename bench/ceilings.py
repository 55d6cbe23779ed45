"""What Python on this machine can do at most, measured in the same run as Hookline:
raw aiohttp POSTs, raw publish-with-confirms, raw consume-with-ack, and the minimal
dispatcher loop (consume → HMAC-sign → POST → ack) in one process."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

import aio_pika
import aiohttp

from shared import signing

PAYLOAD = b'{"type":"bench.event","data":"' + b"x" * 990 + b'"}'  # 1 KiB


async def http_post_rate(url: str, *, total: int, concurrency: int = 64) -> float:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        remaining = total

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                async with session.post(url, data=PAYLOAD, headers={"content-type": "application/json"}) as r:
                    await r.read()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return total / (time.perf_counter() - started)


async def _publish(channel: aio_pika.abc.AbstractChannel, queue: str, total: int, window: int = 512) -> float:
    exchange = channel.default_exchange
    pending: set[asyncio.Future] = set()
    started = time.perf_counter()
    for _ in range(total):
        message = aio_pika.Message(PAYLOAD, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        pending.add(asyncio.ensure_future(exchange.publish(message, queue)))
        if len(pending) >= window:
            _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    await asyncio.gather(*pending)
    return total / (time.perf_counter() - started)


async def amqp_rates(amqp_url: str, *, total: int, publishes: int = 3) -> tuple[float, float]:
    """(publish-with-confirms per second, consume-with-ack per second) on a quorum queue.

    The publish rate is the median of ``publishes`` runs of ``total`` messages: one run
    swung from 4,030 to 5,799 /s between benchmark runs of one morning (a quorum queue
    fsyncs its log, and the disk is shared), and every ratio over it swung with it. Each
    run has an empty queue of its own, as ingest's queue is near empty: one that already
    holds the runs before is slower to write. The consume rate is timed on the last."""
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        rates = []
        for _ in range(publishes):
            name = f"hookline-bench-ceiling-{uuid.uuid4().hex[:8]}"
            queue = await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
            rates.append(await _publish(channel, name, total))
            if len(rates) < publishes:
                await queue.delete(if_unused=False, if_empty=False)
        publish_rate, queued = statistics.median(rates), total
        try:
            consume_channel = await connection.channel()
            await consume_channel.set_qos(prefetch_count=256)
            consume_queue = await consume_channel.get_queue(name)
            done = asyncio.Event()
            count = 0

            async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                nonlocal count
                await message.ack()
                count += 1
                if count >= queued:
                    done.set()

            started = time.perf_counter()
            tag = await consume_queue.consume(on_message)
            await done.wait()
            consume_rate = queued / (time.perf_counter() - started)
            await consume_queue.cancel(tag)
        finally:
            await queue.delete(if_unused=False, if_empty=False)
    return publish_rate, consume_rate


async def minimal_loop_rate(
    amqp_url: str, receiver_url: str, *, total: int, prefetch: int = 256, from_share: float = 0.1
) -> tuple[float, float]:
    """consume → sign → POST → ack, the least a dispatcher must do, in one process:
    (messages per second, this process's CPU milliseconds per message), both over the
    window from ``from_share`` of ``total`` acked to the last ack, as the dispatcher is
    timed (``bench.delivery.settled_rate``)."""
    connection = await aio_pika.connect_robust(amqp_url)
    key = signing.decode_secret(signing.new_secret())
    async with connection, aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=prefetch)) as http:
        channel = await connection.channel(publisher_confirms=True)
        name = f"hookline-bench-loop-{uuid.uuid4().hex[:8]}"
        queue = await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
        try:
            await _publish(channel, name, total)
            consume_channel = await connection.channel()
            await consume_channel.set_qos(prefetch_count=prefetch)
            consume_queue = await consume_channel.get_queue(name)
            done = asyncio.Event()
            count, window_from = 0, max(1, int(total * from_share))
            started = cpu = 0.0

            async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                nonlocal count, started, cpu
                headers = signing.delivery_headers([key], "msg_bench", message.body)
                headers["content-type"] = "application/json"
                async with http.post(receiver_url, data=message.body, headers=headers) as r:
                    await r.read()
                await message.ack()
                count += 1
                if count == window_from:
                    started, cpu = time.perf_counter(), time.process_time()
                if count >= total:
                    done.set()

            tag = await consume_queue.consume(on_message)
            await done.wait()
            timed = total - window_from
            rate = timed / (time.perf_counter() - started)
            cpu_ms = (time.process_time() - cpu) * 1000 / timed
            await consume_queue.cancel(tag)
        finally:
            await queue.delete(if_unused=False, if_empty=False)
    return rate, cpu_ms
