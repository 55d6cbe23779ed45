"""Per-endpoint circuit breaker: after K consecutive failures an endpoint gets no POSTs
for a cool-down; its tasks go straight to the next retry tier. Then one probe
decides: success closes the circuit, failure opens it for another cool-down.

Pure state with an injected clock. Alone, each dispatcher process keeps its own; with
a ``Shared`` peer (``services.dispatcher.circuit_shared``, in PostgreSQL) the state is one
for the installation: a process that opens or closes a circuit tells the peer, the peer
tells every process (``apply``), and a probe is sent only by the process that claimed it,
so an endpoint gets one probe per cool-down however many processes run. The count of
consecutive failures stays per process: the first process to see K opens it for all.
The breaker is a delivery policy (``services.dispatcher.policy``): ``hold`` and
``permit`` are how the delivery handler consults it.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from services.dispatcher.decide import CircuitOpen
from services.dispatcher.endpoints import Endpoint
from services.dispatcher.metrics import CIRCUIT_OPEN
from services.dispatcher.policy import Permit


class Admission(enum.Enum):
    SEND = "send"
    PROBE = "probe"  # the one request allowed after a cool-down
    DEFER = "defer"  # no POST: the task waits in a retry tier


class Claim(enum.Enum):
    WON = "won"  # this process sends the probe
    LOST = "lost"  # another one does
    CLOSED = "closed"  # another one closed the circuit meanwhile: send as usual


class Shared(Protocol):
    """Where the installation's circuits live (the adapter does I/O; this module does not)."""

    def opened(self, endpoint_id: str, seconds: float) -> None: ...

    def closed(self, endpoint_id: str) -> None: ...

    async def claim_probe(self, endpoint_id: str) -> Claim: ...


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
        # Endpoints whose circuit is open (or probing): counted on every change rather than
        # by a walk over the states, which hold every failing endpoint.
        self._open: set[str] = set()
        self.shared: Shared | None = None
        CIRCUIT_OPEN.set(0)  # one breaker a process: nothing is open before it learns so

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
            state = self._states.pop(endpoint_id, None)
            was_open = state is not None and state.open_until is not None
            if was_open:
                self._set_open(endpoint_id, False)
            if self.shared is not None and (probe or was_open):
                self.shared.closed(endpoint_id)
            return
        state = self._states.setdefault(endpoint_id, _State())
        state.failures += 1
        if probe or (state.open_until is None and state.failures >= self._threshold):
            state.open_until = self._clock() + self._cooldown
            state.probing = False
            self._set_open(endpoint_id, True)
            if self.shared is not None:
                self.shared.opened(endpoint_id, self._cooldown)

    def apply(self, endpoint_id: str, open_for: float | None) -> None:
        """What another process decided: open for ``open_for`` more seconds, or closed (None)."""
        if open_for is None:
            self._states.pop(endpoint_id, None)
        else:
            state = self._states.setdefault(endpoint_id, _State())
            state.failures = max(state.failures, self._threshold)
            state.open_until, state.probing = self._clock() + open_for, False
        self._set_open(endpoint_id, open_for is not None)

    def _set_open(self, endpoint_id: str, is_open: bool) -> None:
        before = len(self._open)
        if is_open:
            self._open.add(endpoint_id)
        else:
            self._open.discard(endpoint_id)
        if len(self._open) != before:
            CIRCUIT_OPEN.set(len(self._open))

    def lost_probe(self, endpoint_id: str) -> None:
        """Another process claimed this cool-down's probe: wait a cool-down more (its
        outcome, announced, settles it sooner)."""
        state = self._states.get(endpoint_id)
        if state is not None:
            state.open_until, state.probing = self._clock() + self._cooldown, False

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
        return len(self._open)

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

    __slots__ = ("_admission", "_breaker", "_endpoint_id", "_recorded", "waits")

    def __init__(self, breaker: CircuitBreaker, endpoint_id: str) -> None:
        self._breaker, self._endpoint_id, self._recorded = breaker, endpoint_id, False
        self._admission = breaker.admit(endpoint_id)
        self.hold = self._open() if self._admission is Admission.DEFER else None
        # A probe is first claimed installation-wide (rare: once per cool-down).
        self.waits = self._admission is Admission.PROBE and breaker.shared is not None

    async def wait(self) -> CircuitOpen | None:
        shared = self._breaker.shared
        assert shared is not None
        claim = await shared.claim_probe(self._endpoint_id)
        if claim is Claim.WON:
            return None
        if claim is Claim.CLOSED:
            self._breaker.apply(self._endpoint_id, None)
            self._admission = Admission.SEND
            return None
        self._breaker.lost_probe(self._endpoint_id)
        self._admission, self._recorded = Admission.DEFER, True
        return self._open()

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

    def release(self) -> None:
        if self._admission is Admission.PROBE and not self._recorded:  # never sent: allow another
            self._breaker.abandon_probe(self._endpoint_id)
