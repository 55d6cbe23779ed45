"""One endpoint that never answers must not slow delivery to the others.

1,000 messages go to 5 healthy endpoints in two installations (two broker prefixes,
a dispatcher process each) at the same time; in one of them every message also goes
to a sixth endpoint that hangs past the delivery timeout. The healthy endpoints'
delivery rate beside the hanging one must be at least 80 % of their rate without it:
a ratio measured here, not a time. Both runs share the machine at the same moments,
so the other load on a small CI box weighs on both alike, and the rates compare the
deliveries each made while both were running; what the hanging endpoint costs its
own dispatcher (held prefetch slots and connections, parked tasks) shows in the ratio.

The retry schedule and circuit cool-down are the production defaults; only the
delivery timeout is shortened, so that the circuit opens within the run.
"""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from shared.settings import DEFAULT_RETRY_SCHEDULE, parse_duration
from tests.dispatcher.process import start_dispatcher

MESSAGES, HEALTHY = 1000, 5
KNOBS = {"HOOKLINE_DELIVERY_TIMEOUT": 2, "HOOKLINE_DISPATCHER_CIRCUIT_FAILURES": 5}


async def hang(_request: web.Request, _n: int) -> web.StreamResponse:
    await asyncio.sleep(30)
    return web.Response()


async def prepare(world, receiver, run: str, *, with_hanging: bool) -> set[str]:
    """Commit and publish the run's tasks; return its healthy endpoints' paths."""
    healthy = [await world.endpoint(f"{receiver.url}/{run}/ok-{n}") for n in range(HEALTHY)]
    if with_hanging:
        receiver.behaviours[f"/{run}/hang"] = hang
        healthy_and_hanging = [*healthy, await world.endpoint(f"{receiver.url}/{run}/hang")]
        await world.send(healthy_and_hanging, count=MESSAGES)
    else:
        await world.send(healthy, count=MESSAGES)
    return {f"/{run}/ok-{n}" for n in range(HEALTHY)}


def overlap_counts(receiver, runs: list[set[str]]) -> list[int]:
    """Healthy deliveries of each run while all runs were delivering."""
    times = [[r.at for r in receiver.received if r.path in paths] for paths in runs]
    start, end = max(min(t) for t in times), min(max(t) for t in times)
    return [sum(1 for at in t if start <= at <= end) for t in times]


# Not yet reliable, so it runs in `make chaos`, not `make test`: on a quiet machine 0.50-1.36
# over 25 runs (6 below 0.8). Run one after the other instead, the hanging endpoint's run is
# 0.6-0.8x as fast: the dispatcher is CPU-bound and parking each of the hanging endpoint's
# tasks (consume, publish to a tier with confirm, ack) costs 0.65-1 ms of its CPU, about as
# much as a delivery, beside the broker's work for the extra publish (docs/performance.md).
@pytest.mark.ratio
async def test_a_hanging_endpoint_does_not_slow_the_healthy_ones(make_settings, make_world, receiver):
    default_schedule = [parse_duration(d) for d in DEFAULT_RETRY_SCHEDULE.split(",")]
    alone, mixed = (make_settings(retry_schedule=default_schedule) for _ in range(2))
    paths = {
        "alone": await prepare(await make_world(alone), receiver, "alone", with_hanging=False),
        "mixed": await prepare(await make_world(mixed), receiver, "mixed", with_hanging=True),
    }
    every_path = paths["alone"] | paths["mixed"]
    dispatchers = await asyncio.gather(start_dispatcher(alone, **KNOBS), start_dispatcher(mixed, **KNOBS))
    try:
        # Counted per path: scanning every request received on each arrival made the
        # receiver (which shares the machine's two cores) slower the longer a run went.
        await receiver.wait_for(
            lambda: sum(receiver.counts[path] for path in every_path) >= 2 * MESSAGES * HEALTHY,
            timeout=120,
        )
    finally:
        stopped = [await d.stop() for d in dispatchers]
    for code, output in stopped:
        assert code == 0, output[-3000:]
    for path in every_path:
        assert len({r.headers["webhook-id"] for r in receiver.at(path)}) == MESSAGES, path

    baseline, degraded = overlap_counts(receiver, [paths["alone"], paths["mixed"]])
    ratio = degraded / baseline
    print(
        f"\nhealthy deliveries while both ran: {baseline} alone, {degraded} beside a hanging"
        f" endpoint; rate ratio {ratio:.2f}"
    )
    assert ratio >= 0.8
