"""A value read at most once per interval, shared by every page that asks meanwhile.

Live pages refresh whenever a delivery happens; without this, each open dashboard
would re-run the overview's queries several times a second on a busy installation.
A page someone opens reads fresh values (``fresh=True``); live refreshes share them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Cached(Generic[T]):
    def __init__(self, read: Callable[[], Awaitable[T]], seconds: float) -> None:
        self._read = read
        self._seconds = seconds
        self._lock = asyncio.Lock()
        self._at = float("-inf")
        self._value: T | None = None

    async def get(self, *, fresh: bool = False) -> T:
        """The value, read again when it is older than the interval or ``fresh`` is asked."""
        async with self._lock:  # concurrent pages wait for one read instead of each doing it
            if fresh or time.monotonic() - self._at >= self._seconds:
                self._value = await self._read()
                self._at = time.monotonic()
            return self._value  # type: ignore[return-value]
