"""Delivery figures: sustained deliveries/s with 1 and 2 dispatcher processes, the retry
path, end-to-end latency at half load, and the dispatcher's memory with 10,000 endpoints.

Each run fills the dispatch queue through ingest while no dispatcher runs, then starts
the dispatcher and times how fast destinations turn to success in PostgreSQL (every
attempt logged, signing, metrics and per-endpoint limits on, as in production).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg

from bench import autovacuum, machine
from bench.poster import MessagePoster, send_messages
from bench.profile import start_profiler
from bench.receiver import written_lines
from bench.report import P99_GOAL_MS
from bench.stack import BENCH_DB, BENCH_TOKEN, Service, free_port, start_service
from shared.ids import new_id
from shared.signing import new_secret


class Run:
    """One isolated Hookline installation (its own AMQP prefix) for one measurement."""

    def __init__(self, logdir: Path, **env: str) -> None:
        self.prefix = f"hlbench_{uuid.uuid4().hex[:6]}"
        self.logdir, self.env = logdir, env
        self.services: list[Service] = []

    def start(self, name: str, health: str, **extra: str) -> Service:
        service = start_service(name, self.prefix, self.logdir, health, **{**self.env, **extra})
        self.services.append(service)
        return service

    def stop(self) -> None:
        for service in self.services:
            service.stop()


async def create_app(session: aiohttp.ClientSession, urls: list[str]) -> str:
    async with session.post("/api/v1/app", json={"name": "bench"}) as r:
        app_id = (await r.json())["id"]
    for url in urls:
        async with session.post(f"/api/v1/app/{app_id}/endpoint", json={"url": url}) as r:
            assert r.status == 201, await r.text()
    return app_id


@dataclass
class Settled:
    rate: float  # deliveries settled per second within the window
    cpu_s: float  # what ``cpu`` counted within the window (0 without one)
    count: int  # deliveries settled within the window
    wait_s: float = 0.0  # what ``wait`` counted within the window (0 without one)


async def settled_rate(
    pool: asyncpg.Pool,
    app_id: str,
    total: int,
    limit_s: float,
    share: float = 1.0,
    *,
    from_share: float = 0.1,
    cpu: Callable[[], float] | None = None,
    wait: Callable[[], float] | None = None,
) -> Settled:
    """The sustained rate: deliveries settled (success or failed for good) per second from
    the first count past ``from_share`` of ``total`` to the first past ``share``, and the
    ``cpu`` (and ``wait``) seconds spent between the two counts. The window leaves out the start (the
    dispatcher opening connections to the receiver and filling its endpoint cache) and
    the tail (the last batches, which no longer keep the prefetch full); the minimal loop
    is timed over the same shares (``bench.ceilings.minimal_loop_rate``)."""
    query = "SELECT count(*) FROM message_destination WHERE app_id = $1 AND status IN (0, 2)"
    start: tuple[float, int, float, float] | None = None
    first = max(1.0, total * min(from_share, share))
    deadline = time.perf_counter() + limit_s
    last: tuple[float, int] | None = None
    while time.perf_counter() < deadline:
        done = await pool.fetchval(query, app_id)
        now, spent = time.perf_counter(), cpu() if cpu is not None else 0.0
        waited = wait() if wait is not None else 0.0
        if start is None and done >= first:
            start = (now, done, spent, waited)
        if done >= total * share:
            assert start is not None
            if done == start[1]:  # everything settled between two counts: no window to time
                return Settled(0.0, 0.0, 0)
            count = done - start[1]
            return Settled(count / (now - start[0]), spent - start[2], count, waited - start[3])
        rate = (done - last[1]) / (now - last[0]) if last is not None and now > last[0] else 0.0
        last = (now, done)
        # Every 1/8 s until the window opens: the rate is still climbing then, and pacing by
        # it could open the window late, past a start the loop is timed from.
        await asyncio.sleep(next_count_in(total * share - done, rate) if start else _FINEST_S)
    raise TimeoutError(f"{await pool.fetchval(query, app_id)} of {total} deliveries settled in {limit_s}s")


_FINEST_S, _COARSEST_S = 0.125, 1.0


def next_count_in(to_go: float, rate: float) -> float:
    """Seconds to the next count, ``to_go`` settled deliveries short of the window's next
    end at ``rate`` a second: half the time it should take, within 1/8 s and 1 s. Each
    count is a scan of the app's destinations on the cores the dispatcher is measured on,
    15-21 ms at 40,000 (2026-12-05): counting every 1/8 s took 0.12-0.17 of a core from
    it, where the loop it is compared with counts in its own process for nothing. So the
    counts come every 1/8 s until the window opens and near its end (both known to within
    that), and thin out between."""
    if rate <= 0:
        return _FINEST_S
    return min(max(to_go / rate / 2, _FINEST_S), _COARSEST_S)


@dataclass
class DeliveryFigures:
    rate: float  # settled deliveries per second
    rss_mb: float  # the dispatcher's peak RSS (with its workers)
    cpu_ms: float  # the dispatcher's CPU milliseconds per settled delivery (its main process)
    # Shares of the timed window: the main process on a CPU, and runnable but waiting for
    # one (busy + waiting near 1: the process always had work, the machine had no core).
    busy: float = 0.0
    cpu_wait: float = 0.0


async def delivery_rate(
    logdir: Path,
    url: str,
    *,
    workers: int,
    messages: int,
    endpoints: int,
    share: float = 1.0,
    profile: Path | None = None,
    **env: str,
) -> DeliveryFigures:
    run = Run(logdir, **env)
    try:
        ingest = run.start("ingest", "/api/v1/health")
        base = f"http://127.0.0.1:{ingest.port}"
        async with aiohttp.ClientSession(base, headers={"Authorization": f"Bearer {BENCH_TOKEN}"}) as session:
            app_id = await create_app(session, [url] * endpoints)
            await send_messages(base, app_id, messages)
        await autovacuum.catch_up()  # the sends' maintenance done before the timed phase
        async with asyncpg.create_pool(BENCH_DB, min_size=1, max_size=2) as pool:
            dispatcher = run.start("dispatcher", "/healthz", HOOKLINE_DISPATCHER_WORKERS=str(workers))
            profiler = start_profiler(dispatcher.process.pid, 15, profile) if profile else None
            settled = await settled_rate(
                pool, app_id, messages * endpoints, limit_s=150, share=share,
                cpu=dispatcher.cpu_seconds, wait=dispatcher.cpu_wait_seconds,
            )  # fmt: skip
            if profiler is not None:
                profiler.wait(30)
            if not settled.count:
                return DeliveryFigures(settled.rate, dispatcher.rss_mb(), 0.0)
            window = settled.count / settled.rate
            return DeliveryFigures(
                settled.rate, dispatcher.rss_mb(), settled.cpu_s * 1000 / settled.count,
                settled.cpu_s / window, settled.wait_s / window,
            )  # fmt: skip
    finally:
        run.stop()


async def e2e_latency(
    logdir: Path,
    seconds: float = 10,
    saturate: int = 6000,
    on_half_load: Callable[[], None] | None = None,
    *,
    payload_bytes: int = 1024,
    endpoints: int = 1,
    failing: int = 0,
    **env: str,
) -> dict[str, float]:
    """Latency from ingest's accept to the receiver's arrival at half of the pipeline's maximum.

    The maximum is measured first on the same stack: ingest and the dispatcher working at once
    (closed loop, 64 requests in flight) share the machine's cores, so the pipeline tops out
    below both ``ingest_http`` and ``delivery_1proc``, each of which had the machine alone.
    Half of either of those would load the pipeline near or past its limit and measure queueing.

    Each message goes to ``endpoints`` endpoints, ``failing`` of which answer 500 (their
    deliveries retry and their circuits open, as a real failing share would); latency is taken
    of every delivery to the others.
    """
    port = free_port()
    arrivals_file = Path(tempfile.mkdtemp()) / "arrivals.txt"
    receiver = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measurement
        [sys.executable, "-m", "bench.latency_receiver", str(port), str(arrivals_file)]
    )
    payload = {"data": "x" * max(0, payload_bytes - 34)}  # 34: the JSON around it, and "sent"
    working = endpoints - failing
    run = Run(logdir, **env)
    try:
        ingest = run.start("ingest", "/api/v1/health")
        run.start("dispatcher", "/healthz")
        base = f"http://127.0.0.1:{ingest.port}"
        async with aiohttp.ClientSession(base, headers={"Authorization": f"Bearer {BENCH_TOKEN}"}) as session:
            urls = [f"http://127.0.0.1:{port}/hook/{n}" for n in range(working)]
            urls += [f"http://127.0.0.1:{port}/fail/{n}" for n in range(failing)]
            app_id = await create_app(session, urls)
            before = machine.sample()
            await send_messages(base, app_id, saturate, concurrency=64, payload=payload)
            loaded = machine.sample()
            arrivals = await _arrivals(arrivals_file, saturate * working)
            at_max = machine.phase(before, loaded, machine.sample(), len(arrivals) // working)
            pipeline_max = (len(arrivals) / working - 1) / (max(arrivals.values()) - min(arrivals.values()))
            rate = pipeline_max / 2
            accepted: dict[str, float] = {}
            poster = MessagePoster(base, app_id)

            async def one() -> None:
                msg_id = await poster.create("bench.latency", payload)
                accepted[msg_id] = time.time()  # once the 202 is read (not before the request)

            tasks = []
            await autovacuum.catch_up()  # the saturation's maintenance done before the timed phase
            if on_half_load is not None:
                on_half_load()
            before, started = machine.sample(), time.perf_counter()
            for i in range(int(rate * seconds)):
                await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
                tasks.append(asyncio.create_task(one()))
            await asyncio.gather(*tasks)
            loaded = machine.sample()
            await poster.close()
            # Every delivery of every message accepted at half load, however late: a
            # message still missing at the limit fails the run rather than leaving the tail.
            expected = {f"{msg_id}/hook/{n}" for msg_id in accepted for n in range(working)}
            arrivals = await _arrivals(arrivals_file, expected=expected)
            at_half = machine.phase(before, loaded, machine.sample(), len(tasks))
            missing = expected - set(arrivals)
            assert not missing, f"{len(missing)} deliveries never arrived, e.g. {sorted(missing)[:3]}"
        series = [(accepted[key.partition("/")[0]], arrivals[key], key) for key in expected]
        # kept beside the services' logs: (accepted, arrived, key) of every delivery
        kept = logdir / f"latency-{payload_bytes}b-{endpoints}ep-{failing}failing.json"
        kept.write_text(json.dumps(series))
        latencies = sorted((arrived - at) * 1000 for at, arrived, _ in series)
        quantiles = statistics.quantiles(latencies, n=1000)
        return {
            **slowest_window(series),
            "p50": quantiles[499],
            "p95": quantiles[949],
            "p99": quantiles[989],
            "p99.9": quantiles[998],
            "count": len(latencies),
            "offered_per_s": rate,
            "pipeline_max_per_s": pipeline_max,
            # how full the machine was at half load, against the saturating phase before it
            "machine_busy_at_half": at_half.busy_cores,
            "machine_busy_at_max": at_max.busy_cores,
            "cpu_ms_per_msg_at_half": at_half.cpu_ms_per_message,
            "cpu_ms_per_msg_at_max": at_max.cpu_ms_per_message,
            # anything started on the machine meanwhile (the stack starts nothing once up)
            "processes_started_at_half": at_half.processes_started,
        }
    finally:
        run.stop()
        receiver.terminate()


def slowest_window(series: list[tuple[float, float, str]], width: float = 0.25) -> dict[str, float]:
    """The ``width``-second window of accept times whose slowest delivery was slowest: a
    tail made of one stall shows as one window far above the rest, a spread one does not.
    ``series``: (accepted, arrived, key) per delivery, in seconds since the epoch."""
    start = min(at for at, _, _ in series)
    worst: dict[int, float] = {}
    for at, arrived, _ in series:
        window = int((at - start) / width)
        worst[window] = max(worst.get(window, 0.0), arrived - at)
    window = max(worst, key=worst.__getitem__)
    over_goal = sum(latency * 1000 > P99_GOAL_MS for latency in worst.values())
    return {
        "slowest_window_at_s": window * width,
        "slowest_window_max_ms": worst[window] * 1000,
        "windows_over_goal": over_goal,
        "windows": len(worst),
    }


async def _arrivals(
    path: Path,
    count: int = 0,
    *,
    expected: frozenset[str] | set[str] = frozenset(),
    limit_s: float = 60,
) -> dict[str, float]:
    """ "<webhook-id><path>" -> first arrival time, once ``count`` distinct keys and every key
    of ``expected`` arrived (or the limit)."""
    deadline = time.perf_counter() + limit_s
    while True:
        arrivals = _read_arrivals(path)
        done = len(arrivals) >= count and expected <= arrivals.keys()
        if done or time.perf_counter() > deadline:
            return arrivals
        await asyncio.sleep(0.5)


def _read_arrivals(path: Path) -> dict[str, float]:
    arrivals: dict[str, float] = {}
    for line in written_lines(path):
        key, at = line.split()
        arrivals.setdefault(key, float(at))
    return arrivals


async def rss_with_endpoints(logdir: Path, url: str, endpoints: int = 10_000) -> dict[str, float]:
    """Peak RSS of an idle verifier, and of a dispatcher that delivered to 10k endpoints."""
    run = Run(logdir)
    try:
        ingest = run.start("ingest", "/api/v1/health")
        dispatcher = run.start("dispatcher", "/healthz")
        verifier = run.start("verifier", "/healthz")
        async with asyncpg.create_pool(BENCH_DB, min_size=1, max_size=2) as pool:
            app_id = new_id("app")
            await pool.execute("INSERT INTO application (id, name) VALUES ($1, 'bench-10k')", app_id)
            await pool.executemany(
                "INSERT INTO endpoint (id, app_id, url, secret) VALUES ($1, $2, $3, $4)",
                [(new_id("ep"), app_id, url, new_secret()) for _ in range(endpoints)],
            )
            # one delivery to every endpoint
            await send_messages(f"http://127.0.0.1:{ingest.port}", app_id, 1, concurrency=1)
            await settled_rate(pool, app_id, endpoints, limit_s=150)
        return {"verifier": verifier.rss_mb(), "dispatcher_10k_endpoints": dispatcher.rss_mb()}
    finally:
        run.stop()
