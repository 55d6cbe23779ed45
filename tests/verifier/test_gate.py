"""The concurrency ceiling as a pure counter: places are taken up to the limit, refused
past it, and free again once left."""

import pytest

from services.verifier.gate import ConcurrencyGate


def test_places_up_to_the_limit_then_refused_until_one_is_left():
    gate = ConcurrencyGate(2)
    assert gate.try_enter() and gate.try_enter()
    assert not gate.try_enter() and gate.in_flight == 2  # a refusal takes no place
    gate.leave()
    assert gate.try_enter() and gate.in_flight == 2


def test_a_limit_below_one_is_refused():
    with pytest.raises(ValueError):
        ConcurrencyGate(0)
