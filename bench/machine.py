"""The whole machine's CPU over a phase of a benchmark (Linux ``/proc/stat``).

The latency runs offer half of the pipeline's maximum, but half the rate is not half the
machine: at a lower rate every stage batches less and every process wakes for fewer
messages at a time, so each message costs more CPU. These figures say how full the
machine was while the latency was measured, and what a message cost there against what
it cost at the maximum, in the same run.

What a window counts is the whole machine's: the benchmark's own client, receiver and
polling too, and with a failing endpoint the retries and deferrals that fall in it.
Time the hypervisor gave to another guest (steal) counts as busy: the core was not this
machine's to use.

Forks in a window are counted too (``processes`` in ``/proc/stat``: every process and
thread started, by anyone). The measured stack starts next to none once it runs, so a
count well above the quiet runs' 1-2 (RabbitMQ's disk monitor runs ``df`` every few
seconds) names a visitor, such as the Erlang VM an older RabbitMQ started every minute
(bench/epmd_monitor.py: a shell, ``erl`` and the VM's threads) or the autovacuum
stand-in's parallel vacuum workers (3-8 a run; both gone since).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    at: float  # time.monotonic()
    busy_s: float  # core-seconds spent neither idle nor waiting for the disk, since boot
    processes: int = 0  # forks since boot: processes and threads started


@dataclass(frozen=True)
class Phase:
    busy_cores: float  # of os.cpu_count(), on average over the phase
    cpu_ms_per_message: float  # the whole machine's: Hookline, its broker and database, the bench
    processes_started: int  # forks by anyone, from the offering's start until the last delivery


def sample(stat: Path = Path("/proc/stat")) -> Sample:
    # cpu  user nice system idle iowait irq softirq steal guest guest_nice (guest is in user)
    lines = stat.read_text().splitlines()
    fields = [int(v) for v in lines[0].split()[1:9]]
    idle = fields[3] + fields[4]
    forks = next((int(line.split()[1]) for line in lines if line.startswith("processes ")), 0)
    return Sample(time.monotonic(), (sum(fields) - idle) / _TICK, forks)


def phase(start: Sample, loaded: Sample, done: Sample, messages: int) -> Phase:
    """``start`` to ``loaded``: while the messages were offered; to ``done``: until all of
    them were delivered (a dispatcher's backlog is worked off after the offering ends)."""
    return Phase(
        (loaded.busy_s - start.busy_s) / (loaded.at - start.at),
        1000 * (done.busy_s - start.busy_s) / max(messages, 1),
        done.processes - start.processes,
    )
