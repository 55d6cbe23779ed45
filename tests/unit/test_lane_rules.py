from services.dispatcher.decide import EndpointState
from services.dispatcher.lane_rules import SEND, Head, Settle, Stop, Wait, head_step

FAIL, CANCELED = 2, 4


def head(*, wait: float = 0.0, expunged: bool = False) -> Head:
    return Head("msg_1", "app_1", "t", b"{}", 0.0, 1, 0, wait, expunged)


def step(state: EndpointState = EndpointState.USABLE, ordered: bool = True, **kw: object):
    return head_step(state, ordered, head(**kw), fail=FAIL, canceled=CANCELED)  # type: ignore[arg-type]


def test_a_due_head_of_a_usable_ordered_endpoint_is_sent() -> None:
    assert step() is SEND


def test_a_head_whose_retry_is_not_due_waits_for_it_and_holds_the_lane() -> None:
    assert step(wait=2.5) == Wait(2.5)


def test_a_deleted_endpoint_ends_the_lane_without_handing_anything_back() -> None:
    assert step(EndpointState.DELETED) == Stop(hand_back=False)
    assert step(EndpointState.DELETED, ordered=False) == Stop(hand_back=False)


def test_a_disabled_endpoint_records_its_heads_failed_like_the_unordered_path() -> None:
    assert step(EndpointState.DISABLED) == Settle(FAIL, "endpoint_disabled")
    assert step(EndpointState.DISABLED, wait=10) == Settle(FAIL, "endpoint_disabled")


def test_an_endpoint_no_longer_ordered_hands_its_destinations_back() -> None:
    assert step(ordered=False) == Stop(hand_back=True)
    assert step(ordered=False, wait=3) == Stop(hand_back=True)


def test_an_expunged_message_is_canceled_not_sent_and_the_lane_moves_on() -> None:
    assert step(expunged=True) == Settle(CANCELED, "expunged")
