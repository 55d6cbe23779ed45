"""The local RabbitMQ's epmd monitor is paused while the benchmark measures.

``rabbit_epmd_monitor`` checks once a minute that epmd still knows the node, and before
RabbitMQ 3.12.13 every check also starts a throwaway Erlang VM (``erl -sname
epmd-starter-<n> -s erlang halt``, a child of the broker) to make sure epmd runs;
rabbitmq-server pull request 10457 made later versions ask epmd first. On the 2-core
machine the benchmark runs on (RabbitMQ 3.10), that VM takes most of a core for 0.2-0.3 s,
and every latency run it fell into had its p99 over 25 ms, while runs it missed stayed
under 10 ms (2026-12-04, docs/performance.md). The monitor is there for an epmd killed
under a running node (a Windows service's user logging out, a package's ``killall
epmd``), nothing a benchmark needs; the node stays registered with epmd without it.

Only a broker that ``rabbitmqctl`` reaches (the benchmark's is local) is touched, and the
monitor is started again when the benchmark ends, also when it fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

# rabbit_sup:start_restartable_child wraps the monitor in a supervisor of this name
_CHILD = "rabbit_epmd_monitor_sup"


async def _rabbitmqctl_eval(expression: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl",
        "-q",
        "eval",
        expression,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    return out.decode().strip()


@asynccontextmanager
async def epmd_monitor_paused() -> AsyncIterator[str]:
    """Stops the monitor for the block; yields what was done, for the report."""
    try:
        stopped = await _rabbitmqctl_eval(f"supervisor:terminate_child(rabbit_sup, {_CHILD}).")
    except (OSError, TimeoutError) as error:
        stopped = f"rabbitmqctl failed: {error!r}"
    if stopped != "ok":  # no such child (a newer layout), or no rabbitmqctl: left as it is
        yield f"RabbitMQ's epmd monitor left running ({stopped})"
        return
    try:
        yield "RabbitMQ's epmd monitor paused for the run (bench/epmd_monitor.py)"
    finally:
        await _rabbitmqctl_eval(f"supervisor:restart_child(rabbit_sup, {_CHILD}).")
