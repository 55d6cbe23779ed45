"""What the hostile receivers scenario reads back from the chaos database: when each
message was created, when its first attempt row per endpoint was committed, and the
attempt chains whose gaps must follow the retry schedule."""

from __future__ import annotations

import asyncio
import itertools
import math
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence

import asyncpg

# (msg, endpoint) -> [(attempt number, unix time)], in time order
Chains = dict[tuple[str, str], list[tuple[int, float]]]


def p95(values: list[float]) -> float:
    """The 95th percentile (nearest rank); infinite when nothing arrived."""
    if not values:
        return math.inf
    ordered = sorted(values)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


async def message_times(dsn: str, app_id: str) -> dict[str, float]:
    """Message id -> unix time ingest created it."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch("SELECT id, created_at FROM message WHERE app_id = $1", app_id)
    finally:
        await connection.close()
    return {r["id"]: r["created_at"].timestamp() for r in rows}


async def watch_attempt_rows(
    dsn: str, app_id: str, endpoints: int, load_done: asyncio.Event, *, within: float
) -> dict[tuple[str, str], float]:
    """(message, endpoint) -> seconds from the message's creation to the poll that first
    saw an attempt row for it; polled until the load is done and every pair has a row,
    or ``within`` seconds passed since the last message was created."""
    connection = await asyncpg.connect(dsn)
    seen_at: dict[tuple[str, str], float] = {}
    try:
        while True:
            rows = await connection.fetch("SELECT id, created_at FROM message WHERE app_id = $1", app_id)
            created = {r["id"]: r["created_at"].timestamp() for r in rows}
            pairs = await connection.fetch(
                "SELECT DISTINCT msg_id, endpoint_id FROM message_attempt WHERE app_id = $1", app_id
            )
            now = time.time()  # after the query: never earlier than the commit it saw
            for r in pairs:
                seen_at.setdefault((r["msg_id"], r["endpoint_id"]), now)
            if load_done.is_set() and created:
                complete = len(seen_at) >= len(created) * endpoints
                if complete or now > max(created.values()) + within + 1:
                    return {pair: at - created[pair[0]] for pair, at in seen_at.items() if pair[0] in created}
            await asyncio.sleep(0.5)
    finally:
        await connection.close()


async def attempt_chains(
    dsn: str, app_id: str, endpoint_ids: list[str], *, last: int, timeout: float
) -> Chains:
    """Every attempt to ``endpoint_ids`` per (message, endpoint), in time order, once
    every chain has its attempt number ``last`` (or the time is up). A chain is counted
    by its first attempt, so a duplicate chain that started late (a task published
    twice) is waited for too, not read half-way through."""
    connection = await asyncpg.connect(dsn)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            messages = await connection.fetchval("SELECT count(*) FROM message WHERE app_id = $1", app_id)
            started, finished = await connection.fetchrow(
                "SELECT count(*) FILTER (WHERE attempt_number = 1),"
                " count(*) FILTER (WHERE attempt_number = $3) FROM message_attempt"
                " WHERE app_id = $1 AND endpoint_id = ANY($2)",
                app_id, endpoint_ids, last,
            )  # fmt: skip
            if finished >= max(started, messages * len(endpoint_ids)):
                break
            await asyncio.sleep(1)
        rows = await connection.fetch(
            "SELECT msg_id, endpoint_id, attempt_number, created_at FROM message_attempt"
            " WHERE app_id = $1 AND endpoint_id = ANY($2) ORDER BY created_at",
            app_id, endpoint_ids,
        )  # fmt: skip
    finally:
        await connection.close()
    chains: Chains = defaultdict(list)
    for r in rows:
        chains[(r["msg_id"], r["endpoint_id"])].append((r["attempt_number"], r["created_at"].timestamp()))
    return chains


def split_chains(attempts: list[tuple[int, float]]) -> list[list[tuple[int, float]]]:
    """One (message, endpoint)'s attempts, in time order, as the task chains they belong
    to: delivery is at least once, so a task published twice (the outbox relay's
    republish of a confirm that came late) runs a second chain beside the first. Attempt
    n joins the oldest chain that ends at n - 1; one that joins none starts a chain."""
    chains: list[list[tuple[int, float]]] = []
    for number, at in attempts:
        chain = next((c for c in chains if number > 1 and c[-1][0] == number - 1), None)
        if chain is None:
            chains.append([(number, at)])
        else:
            chain.append((number, at))
    return chains


def schedule_problems(
    attempts: Chains,
    msg_ids: set[str],
    endpoint_id: str,
    schedule: Sequence[float],
    *,
    early: float,
    late: float,
) -> tuple[list[str], list[float], int]:
    """What in one endpoint's chains departs from ``schedule`` (no chain, a chain not
    numbered 1..len+1, a gap outside [delay - early, delay + late]), the median gap
    before each retry, and how many chains beyond one per message there were."""
    problems: list[str] = []
    gaps: dict[int, list[float]] = defaultdict(list)
    extra = 0
    for msg_id in sorted(msg_ids):
        chains = split_chains(attempts.get((msg_id, endpoint_id), []))
        extra += max(0, len(chains) - 1)
        if not chains:
            problems.append(f"{msg_id}: no attempt")
        for chain in chains:
            numbers = [n for n, _ in chain]
            if numbers != list(range(1, len(schedule) + 2)):
                problems.append(f"{msg_id}: attempts {numbers}")
                continue
            for (n, at), (_, next_at) in itertools.pairwise(chain):
                gap, delay = next_at - at, schedule[n - 1]
                gaps[n].append(gap)
                if not delay - early <= gap <= delay + late:
                    problems.append(f"{msg_id}: {gap:.2f} s before attempt {n + 1} (schedule {delay:g} s)")
    return problems, [statistics.median(gaps[n]) for n in sorted(gaps)], extra
