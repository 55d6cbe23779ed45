"""How many inbound webhooks are being received at once, with a ceiling.

A request past the ceiling is refused at once, before its body is read or the database
asked, instead of waiting its turn: a sender retries a 503 later, while queued requests
would hold their sockets and buffers for as long as the backlog lasts. Pure state, no
I/O; one event loop, so no lock is needed.
"""

from __future__ import annotations


class ConcurrencyGate:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the limit must be at least 1")
        self.limit = limit
        self.in_flight = 0

    def try_enter(self) -> bool:
        """Take a place if one is free; every True must be followed by one ``leave``."""
        if self.in_flight >= self.limit:
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        self.in_flight -= 1
