"""Hookline on a real 3-node RabbitMQ cluster (three ``rabbitmq-server`` nodes on this
machine, joined with ``rabbitmqctl join_cluster``): the node that leads a dispatch shard is
killed with SIGKILL in the middle of a 5,000-message run, and nothing is lost; started
again, it rejoins and its queue members catch up."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from scripts.chaos.cluster import PrivateCluster
from shared.topology import Topology
from tests.deploy.live import ingest_and_dispatcher
from tests.dispatcher.process import environment
from tests.support.ordered import OrderedLedger

APPS, PER_APP = 4, 1250  # 5,000 messages, one endpoint each app, spread over 4 shards
ORDERED = 300  # and an app whose one endpoint is ordered (services/dispatcher/lanes.py)


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivateCluster]:
    started = PrivateCluster(Path(tempfile.mkdtemp(prefix="hookline-cluster-"))).start()
    try:
        yield started
    finally:
        started.stop()


async def send_all(http: aiohttp.ClientSession, base: str, apps: list[str]) -> None:
    """``PER_APP`` messages to each app, 16 at a time (ingest answers 202 from its outbox
    while it has no broker)."""
    pending = [(app, n) for n in range(PER_APP) for app in apps]

    async def worker() -> None:
        while pending:
            app, n = pending.pop()
            body = {"eventType": "cluster.test", "payload": {"n": n}}
            async with http.post(f"{base}/api/v1/app/{app}/msg", json=body) as r:
                assert r.status == 202, await r.text()

    await asyncio.gather(*(worker() for _ in range(16)))


async def send_in_order(http: aiohttp.ClientSession, base: str, app: str) -> list[str]:
    """One at a time: each message accepted before the next is sent."""
    ids = []
    for n in range(ORDERED):
        body = {"eventType": "cluster.ordered", "payload": {"n": n}}
        async with http.post(f"{base}/api/v1/app/{app}/msg", json=body) as r:
            assert r.status == 202, await r.text()
            ids.append((await r.json())["id"])
    return ids


async def test_a_shard_leader_killed_mid_run_loses_nothing_and_rejoins(
    cluster,
    make_settings,
    receiver,
    db_pool,
):
    entry = cluster.nodes[0]  # the services connect here; a leader elsewhere is killed
    settings = make_settings(amqp_url=entry.url, dispatch_shards=4, retry_schedule=[1.0, 2.0, 4.0])
    topology = Topology.of(settings)
    env = environment(settings, 0, HOOKLINE_DISPATCH_SHARDS=settings.dispatch_shards)
    logs = Path(tempfile.mkdtemp(prefix="hookline-cluster-logs-"))
    async with ingest_and_dispatcher(env, logs, settings.api_token) as (http, base):
        apps = []
        for n in range(APPS):
            async with http.post(f"{base}/api/v1/app", json={"name": f"cluster {n}"}) as r:
                apps.append((await r.json())["id"])
            async with http.post(
                f"{base}/api/v1/app/{apps[-1]}/endpoint", json={"url": f"{receiver.url}/c"}
            ) as r:
                assert r.status == 201, await r.text()
        async with http.post(f"{base}/api/v1/app", json={"name": "cluster ordered"}) as r:
            ordered_app = (await r.json())["id"]
        # Its receiver takes 20 ms a request, so the lane is still sending when the node dies
        ordered_receipts = OrderedLedger(failing=0.0, seed=0)

        async def slowly(request: web.Request, _n: int) -> web.StreamResponse:
            await asyncio.sleep(0.02)
            return await ordered_receipts.answer(request)

        receiver.behaviours["/o"] = slowly
        body = {"url": f"{receiver.url}/o", "ordered": True}
        async with http.post(f"{base}/api/v1/app/{ordered_app}/endpoint", json=body) as r:
            assert r.status == 201, await r.text()
        # Every shard queue has a member on each node; the leaders are spread
        leaders = {queue: cluster.leader(queue) for queue in topology.dispatch_queues}
        assert all(cluster.members_online(q) == 3 for q in topology.dispatch_queues)
        assert len(set(leaders.values())) >= 2, leaders
        victim_queue = next(q for q, node in leaders.items() if node != entry.node)
        victim = next(n for n in cluster.nodes if n.node == leaders[victim_queue])

        # When the node leading a shard is killed while the messages flow
        sending = asyncio.create_task(send_all(http, base, apps))
        sending_in_order = asyncio.create_task(send_in_order(http, base, ordered_app))
        await receiver.wait_for(lambda: len(receiver.at("/c")) >= 1500, timeout=120)
        await receiver.wait_for(lambda: len(receiver.at("/o")) >= 1, timeout=60)
        cluster.kill(victim)
        killed_at, ordered_at_kill = len(receiver.at("/c")), len(ordered_receipts.first_successes())
        assert ordered_at_kill < ORDERED  # the ordered endpoint's run spans the kill
        await sending
        created = await sending_in_order

        # Then every message arrives, and every destination is recorded as delivered
        def unique() -> int:
            return len({r.headers["webhook-id"] for r in receiver.at("/c")})

        await receiver.wait_for(lambda: unique() == APPS * PER_APP, timeout=180)
        delivered = await db_pool.fetchval(
            "SELECT count(*) FROM message_destination WHERE app_id = ANY($1) AND status = 0", apps
        )
        deadline = time.monotonic() + 60
        while delivered < APPS * PER_APP and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            delivered = await db_pool.fetchval(
                "SELECT count(*) FROM message_destination WHERE app_id = ANY($1) AND status = 0", apps
            )
        assert delivered == APPS * PER_APP
        receipts = Counter(r.headers["webhook-id"] for r in receiver.at("/c"))
        duplicates = sum(n - 1 for n in receipts.values())
        # And the ordered endpoint got each of its messages, first receipts in creation order
        # (counted by the ledger, which notes a request once answered, 20 ms after it came)
        async with asyncio.timeout(120):
            while len(ordered_receipts.first_successes()) < ORDERED:
                await asyncio.sleep(0.1)
        assert ordered_receipts.first_successes() == created, (
            len(ordered_receipts.first_successes()),
            len(created),
        )
        # (only a head may be sent twice: nothing once a message behind it had gone)
        assert ordered_receipts.sent_again_after_a_successor(created) == []
        print(f"\ncluster: killed {victim.node} (leader of {victim_queue}) after {killed_at} receipts"
              f" and {ordered_at_kill} of {ORDERED} ordered; {APPS * PER_APP} messages, 0 lost,"
              f" {duplicates} delivered twice or more; ordered endpoint"
              f" {ordered_receipts.duplicate_successes()} twice")  # fmt: skip

        # And the node, started again, rejoins and its members catch up
        victim.start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if len(cluster.running()) == 3 and all(
                cluster.members_online(q) == 3 for q in topology.dispatch_queues
            ):
                break
            await asyncio.sleep(1)
        assert len(cluster.running()) == 3
        assert all(cluster.members_online(q) == 3 for q in topology.dispatch_queues)

        # (caught up: in every shard, its member has the same commit index as the others)
        def caught_up(queue: str) -> bool:
            indexes = cluster.commit_indexes(queue)
            return len(indexes) == 3 and len(set(indexes.values())) == 1

        deadline = time.monotonic() + 60
        while not all(caught_up(q) for q in topology.dispatch_queues) and time.monotonic() < deadline:
            await asyncio.sleep(1)
        assert all(caught_up(q) for q in topology.dispatch_queues), {
            q: cluster.commit_indexes(q) for q in topology.dispatch_queues
        }


async def test_services_connected_to_a_node_that_dies_fail_over_to_another(
    cluster,
    make_settings,
    receiver,
    db_pool,
):
    # Given ingest and a dispatcher connected to the first node, told of the other two
    entry, *others = cluster.nodes
    settings = make_settings(amqp_url=entry.url, dispatch_shards=4, retry_schedule=[1.0, 2.0, 4.0])
    env = environment(
        settings,
        0,
        HOOKLINE_DISPATCH_SHARDS=settings.dispatch_shards,
        HOOKLINE_AMQP_FAILOVER_URLS=",".join(node.url for node in others),
    )
    logs = Path(tempfile.mkdtemp(prefix="hookline-failover-logs-"))
    async with ingest_and_dispatcher(env, logs, settings.api_token) as (http, base):
        apps = []
        for n in range(2):
            async with http.post(f"{base}/api/v1/app", json={"name": f"failover {n}"}) as r:
                apps.append((await r.json())["id"])
            body = {"url": f"{receiver.url}/f"}
            async with http.post(f"{base}/api/v1/app/{apps[-1]}/endpoint", json=body) as r:
                assert r.status == 201, await r.text()
        total = 2 * PER_APP

        # When the node they are connected to is killed while the messages flow
        sending = asyncio.create_task(send_all(http, base, apps))
        await receiver.wait_for(lambda: len(receiver.at("/f")) >= 600, timeout=120)
        cluster.kill(entry)
        await sending

        # Then both reconnect to another node, every message arrives and is recorded delivered
        def unique() -> int:
            return len({r.headers["webhook-id"] for r in receiver.at("/f")})

        await receiver.wait_for(lambda: unique() == total, timeout=180)
        query = "SELECT count(*) FROM message_destination WHERE app_id = ANY($1) AND status = 0"
        deadline = time.monotonic() + 60
        while await db_pool.fetchval(query, apps) < total and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        assert await db_pool.fetchval(query, apps) == total
        for log in ("ingest.log", "dispatcher.log"):
            assert "failing over" in (logs / log).read_text(), log
        print(f"\nfailover: {entry.node} killed; {total} messages, 0 lost")

    # And the node, started again, rejoins
    entry.start()
    deadline = time.monotonic() + 90
    while len(cluster.running()) < 3 and time.monotonic() < deadline:
        await asyncio.sleep(1)
    assert len(cluster.running()) == 3
