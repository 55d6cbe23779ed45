"""The latency runs' machine figures (bench/machine.py): busy cores and CPU per message."""

import os
import subprocess

import pytest

from bench.machine import Sample, phase, sample

TICK = os.sysconf("SC_CLK_TCK")


def test_idle_and_iowait_are_not_busy(tmp_path):
    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal guest guest_nice
    stat.write_text(
        f"cpu  {3 * TICK} 0 {TICK} {50 * TICK} {7 * TICK} 0 {TICK} 0 {2 * TICK} 0\ncpu0 1 2 3\n"
        "ctxt 5000\nbtime 1796400000\nprocesses 18443\nprocs_running 2\n"
    )
    taken = sample(stat)
    assert taken.busy_s == pytest.approx(5.0)  # guest is counted inside user already
    assert taken.processes == 18443


def test_busy_cores_over_the_offering_and_cpu_per_message_until_delivered():
    start, loaded, done = Sample(10.0, 100.0, 500), Sample(12.0, 103.0, 500), Sample(13.0, 104.0, 506)
    measured = phase(start, loaded, done, messages=2000)
    assert measured.busy_cores == pytest.approx(1.5)
    assert measured.cpu_ms_per_message == pytest.approx(2.0)
    assert measured.processes_started == 6


def test_the_machine_counts_what_this_process_spends():
    before = sample()
    deadline = os.times().elapsed + 0.3
    while os.times().elapsed < deadline:
        pass
    after = sample()
    assert after.at > before.at
    assert after.busy_s - before.busy_s >= 0.2


def test_a_process_started_meanwhile_is_counted():
    before = sample()
    subprocess.run(["true"], check=True)
    assert sample().processes - before.processes >= 1
