"""``parse_retry_after`` is total: a receiver chooses the header's bytes, so any text at
all comes back as a number of seconds within [0, a day] or None, never an exception; a
wait past a day is junk (None)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from shared.backoff import RETRY_AFTER_MAX_SECONDS, parse_retry_after

NOW = 1_700_000_000.0


def _sane(result: float | None) -> bool:
    return result is None or (
        isinstance(result, float) and math.isfinite(result) and 0 <= result <= RETRY_AFTER_MAX_SECONDS
    )


@pytest.mark.parametrize(
    "junk",
    [
        "²",  # 0xB2 as a receiver sends it (headers are decoded as latin-1): isdigit() says yes
        "¹²³",
        "٣",  # an Arabic-Indic digit
        "-1",
        "+5",
        "1e309",
        "1.5",
        "nan",
        "inf",
        "Fri, 32 Foo 2024 25:61:61 GMT",
        "Mon, 01 Jan 2024 00:00:00",  # no zone
        "Wed, 31 Dec 9999 23:59:59 -2359",
        "\x00",
    ],
)
def test_junk_values_are_unreadable_not_errors(junk):
    result = parse_retry_after(junk, NOW)
    assert result is None or _sane(result)
    if junk[0] in "²¹٣-+1n":
        assert result is None


def test_waits_past_a_day_are_junk_and_leave_the_schedule_alone():
    assert parse_retry_after("9" * 20, NOW) is None
    assert parse_retry_after("9" * 5000, NOW) is None
    assert parse_retry_after("86401", NOW) is None
    assert parse_retry_after("86400", NOW) == RETRY_AFTER_MAX_SECONDS
    assert parse_retry_after("000000000000000000007", NOW) == 7.0
    far = format_datetime(datetime.fromtimestamp(NOW + 10 * 86400, UTC), usegmt=True)
    assert parse_retry_after(far, NOW) is None
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", NOW) is None


@given(st.text())
@example("²")
@example("1e309")
@example("\u0660\u0661")
def test_any_text_is_a_number_of_seconds_or_none(text):
    assert _sane(parse_retry_after(text, NOW))


@given(st.binary(max_size=64))
def test_any_header_bytes_are_a_number_of_seconds_or_none(raw):
    # What the dispatcher's client hands over: the header's bytes decoded as latin-1.
    assert _sane(parse_retry_after(raw.decode("latin-1"), NOW))


@given(
    st.sampled_from(["Mon", "Tue", "Xyz", ""]),
    st.integers(-5, 40),
    st.sampled_from(["Jan", "Feb", "Dec", "Foo"]),
    st.integers(-1, 100_000),
    st.integers(-1, 99),
    st.integers(-1, 99),
    st.integers(-1, 99),
    st.sampled_from(["GMT", "UTC", "+0000", "-2359", "+9999", "EST", "", "Z"]),
)
def test_any_http_date_shape_is_a_number_of_seconds_or_none(day, date, month, year, hh, mm, ss, zone):
    text = f"{day}, {date:02d} {month} {year} {hh:02d}:{mm:02d}:{ss:02d} {zone}"
    assert _sane(parse_retry_after(text, NOW))


@given(st.from_regex(r"\A\s*[0-9²³¹\u0660-\u0669\uff10-\uff19]{0,30}\s*\Z"))
def test_digit_lookalikes_are_read_only_when_ascii(text):
    result = parse_retry_after(text, NOW)
    assert _sane(result)
    if text.strip() and not text.strip().isascii():
        assert result is None
