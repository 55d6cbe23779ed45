"""The dispatcher as a process: worker processes, metrics, SIGTERM drain, SIGKILL."""

from __future__ import annotations

import asyncio
import re
from collections import Counter

import aiohttp
import pytest

from tests.dispatcher.process import start_dispatcher


def metric(text: str, name: str, labels: str = "") -> float:
    pattern = (
        "^" + re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else r"(?:\{\})?") + r" (\S+)"
    )
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def distinct_ids(receiver, path: str) -> Counter[str]:
    return Counter(r.headers["webhook-id"] for r in receiver.at(path))


async def test_two_worker_processes_share_the_queue_report_metrics_and_drain_on_sigterm(
    settings, world, receiver
):
    ep = await world.endpoint(f"{receiver.url}/workers")
    dispatcher = await start_dispatcher(settings, HOOKLINE_DISPATCHER_WORKERS=2, HOOKLINE_DRAIN_SECONDS=5)
    try:
        await world.send([ep], count=300)
        await receiver.wait_for(lambda: len(distinct_ids(receiver, "/workers")) == 300, timeout=60)
        async with aiohttp.ClientSession() as session:
            text = ""
            # Counted once the attempt is committed, a moment after the receiver saw it.
            while metric(text, "hookline_deliveries_total", 'outcome="success"') < 300:
                async with session.get(f"{dispatcher.url}/metrics") as response:
                    text = await response.text()
            async with session.get(f"{dispatcher.url}/readyz") as response:
                assert response.status == 200
    finally:
        code, output = await dispatcher.stop()
    assert code == 0, output[-3000:]
    # Both workers consumed (competing consumers), and /metrics sums them.
    assert len({line for line in output.splitlines() if '"dispatcher drained"' in line}) == 2, output[-3000:]
    assert metric(text, "hookline_inflight_deliveries") == 0
    assert f'hookline_queue_messages{{queue="{world.topology.dispatch_queue}"}}' in text
    assert settings.api_token not in output


@pytest.mark.slow
async def test_sigkill_mid_run_loses_nothing(settings, world, receiver):
    # Given 2,000 messages on their way to two endpoints
    endpoints = [await world.endpoint(f"{receiver.url}/kill-{n}") for n in range(2)]
    tasks = await world.send(endpoints[:1], count=1000) + await world.send(endpoints[1:], count=1000)
    expected = {(t.msg_id, t.endpoint_id) for t in tasks}
    path_of = {ep.id: f"/kill-{n}" for n, ep in enumerate(endpoints)}

    def delivered() -> set[tuple[str, str]]:
        return {
            (r.headers["webhook-id"], ep_id) for ep_id, path in path_of.items() for r in receiver.at(path)
        }

    # When the dispatcher is SIGKILLed part-way through, then started again
    first = await start_dispatcher(settings)
    await receiver.wait_for(lambda: len(receiver.received) >= 600, timeout=60)
    await first.kill()
    at_kill = len(receiver.received)
    second = await start_dispatcher(settings)
    try:
        await receiver.wait_for(lambda: delivered() >= expected, timeout=90)
    finally:
        code, output = await second.stop()

    # Then every message reached its endpoint at least once
    assert delivered() == expected
    duplicates = len(receiver.received) - len(expected)
    print(f"\nSIGKILL after {at_kill} of 2000 deliveries; after the restart: {duplicates} duplicates")
    assert code == 0, output[-3000:]
    await asyncio.sleep(0)
