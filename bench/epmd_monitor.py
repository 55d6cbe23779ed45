"""The local RabbitMQ's epmd monitor is paused while the benchmark measures.

``rabbit_epmd_monitor`` checks once a minute that epmd still knows the node, and every
check also starts a throwaway Erlang VM (``erl -sname epmd-starter-<n> -s erlang halt``, a
child of the broker) to make sure epmd runs, until rabbitmq-server pull request 10457
(February 2024, in 3.13 and backported to 3.11 and 3.12) had it ask epmd first. On the
2-core machine the benchmark runs on (RabbitMQ 3.10), that VM takes most of a core for
0.2-0.3 s. Of seven latency runs watched with ``perf record -a``, the three it fell into
had their p99 at 30-62 ms, the four it missed at 4.6-5.4 ms (docs/performance.md, ninth
session). The monitor is there for an epmd killed under a running node (a Windows
service's user logging out, a package's ``killall epmd``), nothing a benchmark needs; the
node stays registered with epmd without it.

Only the node ``rabbitmqctl`` reaches by default (the benchmark's local broker) is touched,
not the private nodes of ``bench.cluster``. A monitor found stopped (by an operator, or by
an enclosing run) is left to whoever stopped it; one stopped here is started again when the
block ends, also when it fails, and a restart that does not succeed says how to do it by
hand rather than raising over the benchmark's own outcome. ``rabbitmqctl`` runs blocking,
with a timeout that kills it, outside the measured phases.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# rabbit_sup:start_restartable_child wraps the monitor in a supervisor of this name
_CHILD = "rabbit_epmd_monitor_sup"
_RESTART = f"supervisor:restart_child(rabbit_sup, {_CHILD})."
_paused_here = False  # set while this process holds the monitor stopped


def _eval(expression: str) -> tuple[bool, str]:
    """(whether rabbitmqctl exited 0, its answer: the last line of its output, or of its
    errors when it failed); warnings may come before the answer."""
    try:
        done = subprocess.run(
            ["rabbitmqctl", "-q", "eval", expression], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, repr(error)
    ok = done.returncode == 0
    said = (done.stdout if ok else done.stderr or done.stdout).strip().splitlines() or [""]
    return ok, said[-1].strip()


@contextmanager
def epmd_monitor_paused() -> Iterator[str]:
    """Stops the monitor for the block if it runs; yields what was done, for the report."""
    global _paused_here
    if _paused_here:
        yield "RabbitMQ's epmd monitor paused by the enclosing run"
        return
    ok, pid = _eval("whereis(rabbit_epmd_monitor).")
    if not (ok and pid.startswith("<")):
        yield f"RabbitMQ's epmd monitor not paused ({'not running' if ok else pid})"
        return
    _paused_here = True
    try:
        ok, stopped = _eval(f"supervisor:terminate_child(rabbit_sup, {_CHILD}).")
        if ok and stopped == "ok":
            yield "RabbitMQ's epmd monitor paused for the run (bench/epmd_monitor.py)"
        else:
            yield f"RabbitMQ's epmd monitor could not be paused ({stopped})"
    finally:
        _paused_here = False
        ok, restarted = _eval(_RESTART)  # {error,running} if it never stopped
        if not (ok and (restarted.startswith("{ok,") or restarted == "{error,running}")):
            print(
                f"bench: RabbitMQ's epmd monitor was not started again ({restarted});"
                f" start it with: rabbitmqctl eval '{_RESTART}'",
                file=sys.stderr,
            )
