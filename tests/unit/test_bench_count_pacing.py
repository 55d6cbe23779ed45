"""The delivery benchmark counts settled deliveries often only near its window's ends:
each count is a scan on the cores the dispatcher is measured on."""

from __future__ import annotations

import pytest

from bench.delivery import next_count_in


def test_far_from_an_end_the_counts_thin_out_to_one_a_second():
    assert next_count_in(to_go=30_000, rate=5_000) == 1.0  # 6 s away


def test_approaching_an_end_the_next_count_comes_at_half_the_time_left():
    assert next_count_in(to_go=5_000, rate=5_000) == pytest.approx(0.5)
    assert next_count_in(to_go=2_000, rate=5_000) == pytest.approx(0.2)


def test_near_an_end_or_without_a_rate_yet_it_counts_every_eighth_of_a_second():
    assert next_count_in(to_go=100, rate=5_000) == 0.125
    assert next_count_in(to_go=-50, rate=5_000) == 0.125  # passed, if the count lagged
    assert next_count_in(to_go=30_000, rate=0.0) == 0.125  # nothing settled between two counts
