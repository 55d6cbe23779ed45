from services.dispatcher.circuit import Admission, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock, threshold: int = 3) -> CircuitBreaker:
    return CircuitBreaker(threshold=threshold, cooldown=30, clock=clock)


def test_closed_circuit_sends_and_a_success_resets_the_count():
    clock = Clock()
    cb = breaker(clock)
    for _ in range(2):
        cb.record("ep", succeeded=False)
    cb.record("ep", succeeded=True)
    cb.record("ep", succeeded=False)
    assert cb.admit("ep") is Admission.SEND
    assert cb.open_count == 0


def test_k_consecutive_failures_open_it_for_the_cooldown_then_one_probe():
    clock = Clock()
    cb = breaker(clock)
    for _ in range(3):
        cb.record("ep", succeeded=False)
    assert cb.is_open("ep") and cb.open_count == 1
    assert cb.admit("ep") is Admission.DEFER
    clock.now += 10
    assert cb.remaining("ep") == 20 and cb.remaining("other") == 0
    clock.now -= 10
    assert cb.admit("other") is Admission.SEND
    clock.now += 30
    assert cb.admit("ep") is Admission.PROBE
    assert cb.admit("ep") is Admission.DEFER  # only one probe at a time


def test_failed_probe_reopens_and_successful_probe_closes():
    clock = Clock()
    cb = breaker(clock, threshold=1)
    cb.record("ep", succeeded=False)
    clock.now += 30
    assert cb.admit("ep") is Admission.PROBE
    cb.record("ep", succeeded=False, probe=True)
    assert cb.admit("ep") is Admission.DEFER
    clock.now += 29
    assert cb.admit("ep") is Admission.DEFER
    clock.now += 1
    assert cb.admit("ep") is Admission.PROBE
    cb.record("ep", succeeded=True, probe=True)
    assert cb.admit("ep") is Admission.SEND and cb.open_count == 0


def test_late_failures_of_requests_sent_before_opening_do_not_extend_the_cooldown():
    clock = Clock()
    cb = breaker(clock, threshold=2)
    cb.record("ep", succeeded=False)
    cb.record("ep", succeeded=False)
    clock.now += 20
    cb.record("ep", succeeded=False)  # sent before the circuit opened
    clock.now += 10
    assert cb.admit("ep") is Admission.PROBE


def test_an_abandoned_probe_lets_the_next_task_probe():
    clock = Clock()
    cb = breaker(clock, threshold=1)
    cb.record("ep", succeeded=False)
    clock.now += 30
    assert cb.admit("ep") is Admission.PROBE
    cb.abandon_probe("ep")
    assert cb.admit("ep") is Admission.PROBE


def test_deferring_answers_as_admit_would_and_changes_nothing():
    clock = Clock()
    cb = breaker(clock)
    assert not cb.deferring("ep")
    for _ in range(3):
        cb.record("ep", succeeded=False)
    assert cb.deferring("ep") and cb.admit("ep") is Admission.DEFER
    clock.now += 30
    assert not cb.deferring("ep")  # a probe is due: asking did not take it
    assert not cb.deferring("ep") and cb.admit("ep") is Admission.PROBE
    assert cb.deferring("ep")  # the probe is out: the others wait for its answer


def test_the_open_count_and_its_gauge_follow_every_way_a_circuit_opens_and_closes():
    from services.dispatcher.metrics import CIRCUIT_OPEN

    def gauge() -> float:
        return CIRCUIT_OPEN._value.get()  # type: ignore[attr-defined]

    clock = Clock()
    cb = breaker(clock, threshold=2)
    for endpoint in ("a", "b", "c"):
        cb.record(endpoint, succeeded=False)  # failing, not open: not counted
    assert cb.open_count == 0 and gauge() == 0
    cb.record("a", succeeded=False)
    cb.apply("d", 30)  # another process opened it
    assert cb.open_count == 2 and gauge() == 2
    cb.record("a", succeeded=False)  # failing again while open: still one
    cb.apply("d", 10)
    assert cb.open_count == 2 and gauge() == 2
    clock.now += 30
    assert cb.admit("a") is Admission.PROBE
    cb.record("a", succeeded=True, probe=True)
    cb.apply("d", None)  # another process closed it
    cb.apply("e", None)  # never open here
    assert cb.open_count == 0 and gauge() == 0
