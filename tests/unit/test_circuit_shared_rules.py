"""The breaker's side of shared circuits (services/dispatcher/circuit.py), with the peer in
memory: what it tells the installation, what it takes from it (``apply``), and each outcome
of a probe's claim (won, lost, closed meanwhile). The PostgreSQL side is
tests/dispatcher/test_shared_circuit.py."""

from __future__ import annotations

from services.dispatcher.circuit import Admission, CircuitBreaker, Claim
from services.dispatcher.decide import CircuitOpen
from services.dispatcher.endpoints import Endpoint
from tests.unit.test_circuit import Clock

COOLDOWN = 30.0


class Peer:
    """The installation, as one process sees it: what it was told, and the next claim."""

    def __init__(self, claim: Claim = Claim.WON) -> None:
        self.told: list[tuple[str, str, float | None]] = []
        self.claim = claim
        self.claims = 0

    def opened(self, endpoint_id: str, seconds: float) -> None:
        self.told.append(("opened", endpoint_id, seconds))

    def closed(self, endpoint_id: str) -> None:
        self.told.append(("closed", endpoint_id, None))

    async def claim_probe(self, endpoint_id: str) -> Claim:
        self.claims += 1
        return self.claim


def shared_breaker(peer: Peer, clock: Clock, threshold: int = 2) -> CircuitBreaker:
    breaker = CircuitBreaker(threshold=threshold, cooldown=COOLDOWN, clock=clock)
    breaker.shared = peer
    return breaker


def endpoint(endpoint_id: str = "ep") -> Endpoint:
    return Endpoint(endpoint_id, "app", "http://127.0.0.1:1/", False, {}, (), None, None)


def test_the_process_that_opens_or_closes_a_circuit_tells_the_installation_once():
    peer, clock = Peer(), Clock()
    breaker = shared_breaker(peer, clock)
    breaker.record("ep", succeeded=False)
    assert peer.told == []  # one failure short of the threshold: nothing to share
    breaker.record("ep", succeeded=False)
    breaker.record("ep", succeeded=False)  # a late failure of a request sent before: not again
    assert peer.told == [("opened", "ep", COOLDOWN)]
    breaker.record("other", succeeded=True)  # a success on a closed circuit: nothing to share
    clock.now += COOLDOWN
    assert breaker.admit("ep") is Admission.PROBE
    breaker.record("ep", succeeded=True, probe=True)
    assert peer.told[-1] == ("closed", "ep", None)


def test_apply_mirrors_another_process_decision_without_telling_it_back():
    peer, clock = Peer(), Clock()
    breaker = shared_breaker(peer, clock)
    # Given another process opened the endpoint's circuit, 12 s of its cool-down left
    breaker.apply("ep", 12.0)
    # Then this process defers its tasks for those 12 s, then offers one probe
    assert breaker.hold("ep") == CircuitOpen(12.0)
    assert breaker.admit("ep") is Admission.DEFER
    clock.now += 12
    assert breaker.admit("ep") is Admission.PROBE
    # And a close announced by another process ends it here too
    breaker.apply("ep", None)
    assert breaker.admit("ep") is Admission.SEND and breaker.open_count == 0
    assert peer.told == []


def test_a_mirrored_circuit_reopens_after_one_failure_not_the_threshold():
    peer, clock = Peer(), Clock()
    breaker = shared_breaker(peer, clock, threshold=5)
    breaker.apply("ep", 0.0)  # open, its cool-down over: the next task probes
    assert breaker.admit("ep") is Admission.PROBE
    breaker.record("ep", succeeded=False, probe=True)
    assert breaker.is_open("ep") and peer.told == [("opened", "ep", COOLDOWN)]


async def test_a_won_claim_sends_the_probe():
    peer, clock = Peer(Claim.WON), Clock()
    breaker = shared_breaker(peer, clock, threshold=1)
    breaker.record("ep", succeeded=False)
    clock.now += COOLDOWN
    permit = breaker.permit(endpoint())
    assert permit.hold is None and permit.waits
    assert await permit.wait() is None
    permit.sent(True)
    permit.release()
    assert peer.claims == 1 and breaker.admit("ep") is Admission.SEND


async def test_a_lost_claim_defers_the_task_for_a_cool_down_more_and_allows_no_second_probe():
    peer, clock = Peer(Claim.LOST), Clock()
    breaker = shared_breaker(peer, clock, threshold=1)
    breaker.record("ep", succeeded=False)
    clock.now += COOLDOWN
    permit = breaker.permit(endpoint())
    # Another process probes: this task waits a whole cool-down (the probe's outcome,
    # announced through apply, settles it sooner)
    assert await permit.wait() == CircuitOpen(COOLDOWN)
    permit.release()
    assert breaker.admit("ep") is Admission.DEFER
    breaker.apply("ep", None)
    assert breaker.admit("ep") is Admission.SEND


async def test_a_circuit_closed_meanwhile_sends_the_task_as_a_plain_delivery():
    peer, clock = Peer(Claim.CLOSED), Clock()
    breaker = shared_breaker(peer, clock, threshold=1)
    breaker.record("ep", succeeded=False)
    clock.now += COOLDOWN
    permit = breaker.permit(endpoint())
    assert await permit.wait() is None
    assert breaker.admit("other") is Admission.SEND
    # Sent as an ordinary delivery: its failure counts toward the threshold, no probe reopening
    permit.sent(False)
    permit.release()
    assert breaker.is_open("ep")  # threshold 1: one failure opens it again, and says so
    assert peer.told[-1] == ("opened", "ep", COOLDOWN)


async def test_a_claimed_probe_never_sent_lets_the_next_task_probe():
    peer, clock = Peer(Claim.WON), Clock()
    breaker = shared_breaker(peer, clock, threshold=1)
    breaker.record("ep", succeeded=False)
    clock.now += COOLDOWN
    permit = breaker.permit(endpoint())
    assert await permit.wait() is None
    permit.release()  # held back by a later policy: never POSTed
    assert breaker.admit("ep") is Admission.PROBE
