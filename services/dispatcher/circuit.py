"""Per-endpoint circuit breaker: after K consecutive failures an endpoint gets no POSTs
for a cool-down; its tasks go straight to the next retry tier. Then one probe
decides: success closes the circuit, failure opens it for another cool-down.

Pure state with an injected clock; each dispatcher process keeps its own (a process
learns an endpoint is down from its own K failures, which takes one timeout round).
The breaker is a delivery policy (``services.dispatcher.policy``): ``hold`` and
``permit`` are how the delivery handler consults it.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass

from services.dispatcher.decide import CircuitOpen
from services.dispatcher.endpoints import Endpoint
from services.dispatcher.metrics import CIRCUIT_OPEN
from services.dispatcher.policy import Permit


class Admission(enum.Enum):
    SEND = "send"
    PROBE = "probe"  # the one request allowed after a cool-down
    DEFER = "defer"  # no POST: the task waits in a retry tier


@dataclass(slots=True)
class _State:
    failures: int = 0
    open_until: float | None = None
    probing: bool = False


class CircuitBreaker:
    def __init__(
        self, *, threshold: int, cooldown: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._threshold, self._cooldown, self._clock = threshold, cooldown, clock
        self._states: dict[str, _State] = {}

    def admit(self, endpoint_id: str) -> Admission:
        state = self._states.get(endpoint_id)
        if state is None or state.open_until is None:
            return Admission.SEND
        if state.probing or self._clock() < state.open_until:
            return Admission.DEFER
        state.probing = True
        return Admission.PROBE

    def deferring(self, endpoint_id: str) -> bool:
        """True when ``admit`` would answer DEFER (asking changes nothing)."""
        state = self._states.get(endpoint_id)
        if state is None or state.open_until is None:
            return False
        return state.probing or self._clock() < state.open_until

    def record(self, endpoint_id: str, *, succeeded: bool, probe: bool = False) -> None:
        if succeeded:
            self._states.pop(endpoint_id, None)
            return
        state = self._states.setdefault(endpoint_id, _State())
        state.failures += 1
        if probe or (state.open_until is None and state.failures >= self._threshold):
            state.open_until = self._clock() + self._cooldown
            state.probing = False

    def abandon_probe(self, endpoint_id: str) -> None:
        """A probe admitted but never sent (e.g. deferred for backlog): allow another."""
        state = self._states.get(endpoint_id)
        if state is not None:
            state.probing = False

    def remaining(self, endpoint_id: str) -> float:
        """Seconds until the endpoint's circuit admits a probe (0 when it is closed)."""
        state = self._states.get(endpoint_id)
        if state is None or state.open_until is None:
            return 0.0
        return max(0.0, state.open_until - self._clock())

    def is_open(self, endpoint_id: str) -> bool:
        state = self._states.get(endpoint_id)
        return state is not None and state.open_until is not None

    @property
    def open_count(self) -> int:
        return sum(1 for s in self._states.values() if s.open_until is not None)

    # The delivery policy (services.dispatcher.policy).

    def hold(self, endpoint_id: str) -> CircuitOpen | None:
        """``deferring`` and ``remaining`` in one look: asked of every task on arrival."""
        state = self._states.get(endpoint_id)
        if state is None or state.open_until is None:
            return None
        now = self._clock()
        if state.probing or now < state.open_until:
            return CircuitOpen(max(0.0, state.open_until - now))
        return None

    def permit(self, endpoint: Endpoint) -> Permit:
        return _CircuitPermit(self, endpoint.id)


class _CircuitPermit(Permit):
    """Admitted (SEND or PROBE) or not (DEFER); records how the POST went."""

    __slots__ = ("_admission", "_breaker", "_endpoint_id", "_recorded")

    def __init__(self, breaker: CircuitBreaker, endpoint_id: str) -> None:
        self._breaker, self._endpoint_id, self._recorded = breaker, endpoint_id, False
        self._admission = breaker.admit(endpoint_id)
        self.hold = self._open() if self._admission is Admission.DEFER else None

    def _open(self) -> CircuitOpen:
        return CircuitOpen(self._breaker.remaining(self._endpoint_id))

    def recheck(self) -> CircuitOpen | None:
        # A probe is this task's already; a task admitted before its wait asks again (the
        # circuit may have opened meanwhile). Deferred with nowhere to park: it goes on.
        if self._admission is not Admission.SEND:
            return None
        self._admission = self._breaker.admit(self._endpoint_id)
        return self._open() if self._admission is Admission.DEFER else None

    def sent(self, succeeded: bool) -> None:
        self._breaker.record(self._endpoint_id, succeeded=succeeded, probe=self._admission is Admission.PROBE)
        self._recorded = True
        CIRCUIT_OPEN.set(self._breaker.open_count)

    def release(self) -> None:
        if self._admission is Admission.PROBE and not self._recorded:  # never sent: allow another
            self._breaker.abandon_probe(self._endpoint_id)
