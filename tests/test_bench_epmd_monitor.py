"""The benchmark pauses the local broker's epmd monitor while it measures and starts it
again after (bench/epmd_monitor.py), against the real broker."""

import subprocess

from bench.epmd_monitor import epmd_monitor_paused


def monitor_pid() -> str:
    out = subprocess.run(
        ["rabbitmqctl", "-q", "eval", "whereis(rabbit_epmd_monitor)."],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.strip()


async def test_the_monitor_is_stopped_inside_and_running_again_after():
    assert monitor_pid().startswith("<")
    async with epmd_monitor_paused() as note:
        assert "paused" in note
        assert monitor_pid() == "undefined"
    assert monitor_pid().startswith("<")


async def test_it_is_started_again_when_the_benchmark_fails():
    try:
        async with epmd_monitor_paused():
            raise RuntimeError("a benchmark phase failed")
    except RuntimeError:
        pass
    assert monitor_pid().startswith("<")
