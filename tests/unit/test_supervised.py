"""shared.supervised: a background loop that crashes is logged, counted and started again."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from shared.supervised import Supervised, restart_delay, supervised


def _restarts(task: str) -> float:
    return REGISTRY.get_sample_value("hookline_background_restarts_total", {"task": task}) or 0.0


@pytest.mark.parametrize(
    ("crashes", "delay"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (40, 30.0)],
)
def test_the_pause_doubles_with_each_crash_in_a_row_up_to_its_cap(crashes, delay):
    assert restart_delay(crashes) == delay


async def test_a_crashing_loop_is_logged_counted_and_started_again():
    # Given a loop that fails on its first two runs and then keeps running
    runs: list[int] = []
    steady = asyncio.Event()

    async def loop() -> None:
        runs.append(len(runs) + 1)
        if len(runs) <= 2:
            raise RuntimeError(f"boom {len(runs)}")
        steady.set()
        await asyncio.Event().wait()

    before = _restarts("test-crashing")
    # When it runs under supervision
    with capture_logs() as logs:
        each = Supervised("test-crashing", loop, first=0.01, cap=0.05)
        await asyncio.wait_for(steady.wait(), 10)
        # Then it was started three times, and is running now
        assert runs == [1, 2, 3] and each.running and each.restarts == 2
        await each.stop()
    assert each.task.cancelled() and not each.running
    assert _restarts("test-crashing") - before == 2
    crashes = [e for e in logs if e["event"] == "background task crashed; restarting"]
    assert [(e["task"], e["restarts"], e["log_level"]) for e in crashes] == [
        ("test-crashing", 1, "error"),
        ("test-crashing", 2, "error"),
    ]
    assert [e["delay"] for e in crashes] == [0.01, 0.02]  # the pause doubled for the second crash


async def test_a_loop_that_returns_is_a_crash_too():
    # A background loop is meant to run until shutdown: returning is as wrong as raising.
    runs = 0
    again = asyncio.Event()

    async def loop() -> None:
        nonlocal runs
        runs += 1
        if runs == 2:
            again.set()
            await asyncio.Event().wait()

    each = Supervised("test-returning", loop, first=0.01, cap=0.05)
    await asyncio.wait_for(again.wait(), 10)
    assert each.restarts == 1
    await each.stop()


async def test_leaving_the_context_cancels_every_loop_and_waits_for_it():
    cleaned: list[str] = []

    def named(name: str):  # type: ignore[no-untyped-def]
        async def loop() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                cleaned.append(name)

        return loop

    async with supervised({"a": named("a"), "b": named("b")}) as running:
        await asyncio.sleep(0)
        assert all(each.running for each in running.values())
    assert sorted(cleaned) == ["a", "b"]
    assert all(each.task.done() for each in running.values())
