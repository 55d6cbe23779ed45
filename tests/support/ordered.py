"""What an ordered endpoint's receiver saw: per request, the message id and whether it was
answered 2xx; and the checks of ordered delivery (services/dispatcher/lanes.py) over it."""

from __future__ import annotations

import random

from aiohttp import web


class OrderedLedger:
    """An aiohttp behaviour answering 503 to a share of requests at random (seeded), and
    the requests it answered."""

    def __init__(self, failing: float, seed: int) -> None:
        self.requests: list[tuple[str, bool]] = []
        self._failing, self._rng = failing, random.Random(seed)

    async def answer(self, request: web.Request, *_: object) -> web.StreamResponse:
        await request.read()
        ok = self._rng.random() >= self._failing
        self.requests.append((request.headers["webhook-id"], ok))
        return web.Response(status=200 if ok else 503)

    def first_successes(self) -> list[str]:
        seen: dict[str, None] = {}
        for msg_id, ok in self.requests:
            if ok:
                seen.setdefault(msg_id)
        return list(seen)

    def duplicate_successes(self) -> int:
        succeeded = [msg_id for msg_id, ok in self.requests if ok]
        return len(succeeded) - len(set(succeeded))

    def sent_before_predecessor_succeeded(self, order: list[str]) -> list[str]:
        """Requests for a message made while an earlier message had no 2xx yet."""
        position = {msg_id: n for n, msg_id in enumerate(order)}
        delivered_through = -1  # every message up to this position has had a 2xx
        succeeded: set[str] = set()
        early = []
        for msg_id, ok in self.requests:
            if position[msg_id] > delivered_through + 1:
                early.append(msg_id)
            if ok:
                succeeded.add(msg_id)
                while delivered_through + 1 < len(order) and order[delivered_through + 1] in succeeded:
                    delivered_through += 1
        return early

    def sent_again_after_a_successor(self, order: list[str]) -> list[str]:
        """Requests for a message made after a later message had been requested: what
        "only the head may be delivered twice" rules out. Sending the head again after a
        crash between its POST and its commit is not one (nothing behind it went yet)."""
        position = {msg_id: n for n, msg_id in enumerate(order)}
        furthest = -1
        again = []
        for msg_id, _ in self.requests:
            if position[msg_id] < furthest:
                again.append(msg_id)
            furthest = max(furthest, position[msg_id])
        return again
