from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from shared.backoff import (
    AttemptOutcome,
    DeadLetter,
    Delivered,
    RetryIn,
    decide,
    deferral,
    parse_retry_after,
    shortest_tier,
)
from shared.settings import Settings

SVIX = Settings().retry_schedule  # 5s, 5m, 30m, 2h, 5h, 10h, 10h
FAILED = AttemptOutcome(500)


def test_a_2xx_is_delivered_whatever_the_attempt():
    for code in (200, 201, 204, 299):
        assert decide(attempt=8, outcome=AttemptOutcome(code), schedule=SVIX) == Delivered()


@pytest.mark.parametrize("code", [0, 199, 301, 302, 304, 400, 404, 410, 500, 502])
def test_anything_else_is_a_failure(code):
    assert decide(attempt=1, outcome=AttemptOutcome(code), schedule=SVIX) == RetryIn(5)


def test_svix_schedule_gives_eight_attempts_then_dead():
    delays = [decide(attempt=n, outcome=FAILED, schedule=SVIX) for n in range(1, 9)]
    assert delays[:7] == [RetryIn(d) for d in (5, 300, 1800, 7200, 18000, 36000, 36000)]
    assert delays[7] == DeadLetter(attempts=8)


def test_short_schedule_dead_after_three_attempts():
    schedule = [1.0, 2.0]
    assert decide(attempt=1, outcome=FAILED, schedule=schedule) == RetryIn(1.0)
    assert decide(attempt=2, outcome=FAILED, schedule=schedule) == RetryIn(2.0)
    assert decide(attempt=3, outcome=FAILED, schedule=schedule) == DeadLetter(attempts=3)


def test_no_schedule_means_one_attempt():
    assert decide(attempt=1, outcome=FAILED, schedule=[]) == DeadLetter(attempts=1)
    assert deferral(attempt=1, schedule=[]) is None
    assert shortest_tier([]) is None


@pytest.mark.parametrize("code", [429, 503])
def test_retry_after_picks_the_first_tier_at_least_that_long(code):
    outcome = AttemptOutcome(code, retry_after=60)
    assert decide(attempt=1, outcome=outcome, schedule=SVIX) == RetryIn(300)
    exact = AttemptOutcome(code, retry_after=300)
    assert decide(attempt=1, outcome=exact, schedule=SVIX) == RetryIn(300)


def test_retry_after_beyond_the_longest_tier_is_capped():
    outcome = AttemptOutcome(429, retry_after=10 * 86400)
    assert decide(attempt=1, outcome=outcome, schedule=SVIX) == RetryIn(36000)


def test_retry_after_never_brings_a_retry_sooner_than_the_schedule():
    outcome = AttemptOutcome(503, retry_after=1)
    assert decide(attempt=3, outcome=outcome, schedule=SVIX) == RetryIn(1800)


def test_retry_after_is_ignored_on_other_statuses():
    outcome = AttemptOutcome(500, retry_after=3600)
    assert decide(attempt=1, outcome=outcome, schedule=SVIX) == RetryIn(5)


def test_retry_after_does_not_extend_the_last_attempt():
    outcome = AttemptOutcome(429, retry_after=5)
    assert decide(attempt=3, outcome=outcome, schedule=[1.0, 2.0]) == DeadLetter(attempts=3)


def test_deferral_goes_to_the_tier_after_this_attempt_capped_at_the_longest():
    assert deferral(attempt=1, schedule=SVIX) == RetryIn(5)
    assert deferral(attempt=4, schedule=SVIX) == RetryIn(7200)
    assert deferral(attempt=8, schedule=SVIX) == RetryIn(36000)
    assert shortest_tier(SVIX) == RetryIn(5)


def test_deferral_outlasts_the_rest_of_the_cooldown():
    assert deferral(attempt=1, schedule=SVIX, at_least=3) == RetryIn(5)
    assert deferral(attempt=1, schedule=SVIX, at_least=25) == RetryIn(300)
    assert deferral(attempt=3, schedule=SVIX, at_least=25) == RetryIn(1800)
    assert deferral(attempt=1, schedule=SVIX, at_least=10**6) == RetryIn(36000)


def test_parse_retry_after_seconds_and_http_dates():
    now = 1_700_000_000.0
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(" 7 ", now) == 7.0
    date = format_datetime(datetime.fromtimestamp(now + 90, UTC), usegmt=True)
    assert parse_retry_after(date, now) == pytest.approx(90)
    past = format_datetime(datetime.fromtimestamp(now - 90, UTC), usegmt=True)
    assert parse_retry_after(past, now) == 0.0
    for junk in (None, "", "soon", "-5", "1.5e9x"):
        assert parse_retry_after(junk, now) is None
