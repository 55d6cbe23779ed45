"""`make bench-cluster`: publish-with-confirm and delivery throughput on a 3-node RabbitMQ
cluster of this machine (scripts/chaos/cluster.py), with 1 and with 4 dispatch shards in
the same run, as ratios, and then one ordered endpoint's rate and one unordered
endpoint's on the 4-shard cluster (one installation after the other; one endpoint hashes
to one shard, so each uses one of the four queues). Three nodes on the same 2 cores share
them with PostgreSQL, the receiver and Hookline: this shows what sharding changes with the
leaders spread over nodes, not what three machines would do (about 1.5 minutes).
"""

from __future__ import annotations

import asyncio
import json
import platform
import tempfile
import time
import uuid
from pathlib import Path

import aio_pika

from bench import delivery
from bench.ceilings import PAYLOAD
from bench.hygiene import clean_slate
from bench.ordered import ordered_rates
from bench.receiver import start_receiver
from scripts.chaos.cluster import PrivateCluster

RESULTS = Path(__file__).parent / "results"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


async def publish_rate(url: str, queues: int, total: int = 8000, window: int = 256) -> float:
    """Publishes with confirms spread over ``queues`` quorum queues (leaders balanced), one
    channel each, at once: messages per second in all."""
    connection = await aio_pika.connect(url)
    async with connection:
        names = [f"bench-cluster-{uuid.uuid4().hex[:6]}-{n}" for n in range(queues)]
        channels = []
        for name in names:
            channel = await connection.channel(publisher_confirms=True)
            args = {"x-queue-type": "quorum", "x-queue-leader-locator": "balanced"}
            await channel.declare_queue(name, durable=True, arguments=args)
            channels.append(channel)

        async def publish(channel: aio_pika.abc.AbstractChannel, name: str, count: int) -> None:
            pending: set[asyncio.Future] = set()
            for _ in range(count):
                message = aio_pika.Message(PAYLOAD, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
                pending.add(asyncio.ensure_future(channel.default_exchange.publish(message, name)))
                if len(pending) >= window:
                    _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            await asyncio.gather(*pending)

        started = time.perf_counter()
        await asyncio.gather(*(publish(c, n, total // queues) for c, n in zip(channels, names, strict=True)))
        rate = total / (time.perf_counter() - started)
        for channel, name in zip(channels, names, strict=True):
            await channel.queue_delete(name)
        return rate


async def main() -> None:
    results: dict = {"machine": f"{platform.machine()}, {platform.python_version()}"}
    cluster = PrivateCluster(Path(tempfile.mkdtemp(prefix="hookline-bench-cluster-"))).start()
    url = cluster.nodes[0].url
    try:
        async with clean_slate(AMQP_URL) as logdir:
            receiver = start_receiver()
            try:
                for shards in (1, 4):
                    results[f"publish_{shards}q"] = await publish_rate(url, shards)
                    figures = await delivery.delivery_rate(
                        logdir, receiver.ok_url, workers=2, messages=100, endpoints=100,
                        HOOKLINE_AMQP_URL=url, HOOKLINE_DISPATCH_SHARDS=str(shards),
                    )  # fmt: skip
                    results[f"delivery_{shards}shard"] = figures.rate
                    print(f"{shards} shard(s): publish {results[f'publish_{shards}q']:,.0f}/s,"
                          f" delivery {figures.rate:,.0f}/s", flush=True)  # fmt: skip
                # One ordered endpoint beside one unordered, on the 4-shard cluster
                results |= await ordered_rates(
                    logdir, receiver.ok_url, 4000, HOOKLINE_AMQP_URL=url, HOOKLINE_DISPATCH_SHARDS="4"
                )
            finally:
                receiver.stop()
    finally:
        cluster.stop()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cluster-latest.json").write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))


def render(results: dict) -> str:
    return "\n".join(
        [
            "| on the 3-node cluster | 1 shard | 4 shards | ratio |",
            "|---|---:|---:|---:|",
            f"| publish with confirms, msg/s | {results['publish_1q']:,.0f} | {results['publish_4q']:,.0f}"
            f" | {results['publish_4q'] / results['publish_1q']:.2f}x |",
            f"| deliveries, 2 dispatcher processes, /s | {results['delivery_1shard']:,.0f}"
            f" | {results['delivery_4shard']:,.0f}"
            f" | {results['delivery_4shard'] / results['delivery_1shard']:.2f}x |",
            "",
            f"- one ordered endpoint {results['ordered_endpoint']:,.0f} deliveries/s beside one unordered"
            f" {results['unordered_endpoint']:,.0f} /s"
            f" ({results['ordered_endpoint'] / results['unordered_endpoint']:.2f}x), 4 shards,"
            " 4,000 messages each, 1 dispatcher process",
            f"- machine: {results['machine']}; three RabbitMQ nodes, PostgreSQL, nginx and Hookline on it",
        ]
    )


if __name__ == "__main__":
    asyncio.run(main())
