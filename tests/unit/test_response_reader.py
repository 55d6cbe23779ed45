"""The webhook client's response reader, fed bytes directly (it does no I/O): whatever
a receiver sends, in whatever chunks, ends in an outcome — a ``Response`` or one of
the client's own errors — and never costs more than the caps allow."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.dispatcher.http1 import (
    InvalidResponse,
    Response,
    ResponseLimits,
    ResponseReader,
    ResponseTooLarge,
    ServerDisconnected,
)
from shared.settings import Settings

OWN_ERRORS = (InvalidResponse, ServerDisconnected)
DEFAULTS = ResponseLimits()


def test_the_limits_are_settings_with_safe_defaults(monkeypatch):
    assert ResponseLimits.of(Settings()) == ResponseLimits(64 * 1024, 100, 64 * 1024)
    monkeypatch.setenv("HOOKLINE_RESPONSE_HEAD_MAX_BYTES", "2048")
    monkeypatch.setenv("HOOKLINE_RESPONSE_HEADER_MAX_COUNT", "10")
    monkeypatch.setenv("HOOKLINE_RESPONSE_BODY_MAX_BYTES", "4096")
    assert ResponseLimits.of(Settings()) == ResponseLimits(2048, 10, 4096)
    monkeypatch.setenv("HOOKLINE_RESPONSE_HEAD_MAX_BYTES", "0")
    with pytest.raises(ValueError):
        Settings()


def read(chunks: list[bytes], limits: ResponseLimits = DEFAULTS, keep: int = 4096) -> ResponseReader:
    """Feed ``chunks`` as a connection would until the outcome, then end the connection;
    checks on the way that the caps bound what was read before an outcome."""
    reader = ResponseReader(limits, keep)
    reader.start()
    fed = 0
    for chunk in chunks:
        if reader.outcome is not None:
            break
        reader.feed(chunk)
        fed += len(chunk)
        if fed > limits.head_bytes + 2 * limits.body_bytes:
            assert reader.outcome is not None, f"{fed} bytes read without an outcome"
    if reader.outcome is None:
        reader.eof()
    return reader


def summary(reader: ResponseReader) -> object:
    outcome = reader.outcome
    if not isinstance(outcome, Response):
        return type(outcome), str(outcome)
    # Past the cap on framing and trailers, where the socket split the bytes decides how
    # much body came first; the status and headers do not depend on it.
    return (outcome.status, outcome.retry_after, None if reader.overflowed else outcome.body)


def test_an_ordinary_answer_split_anywhere_is_the_same_answer():
    raw = b"HTTP/1.1 503 Busy\r\nRetry-After: 7\r\nContent-Length: 5\r\n\r\nlater"
    whole = read([raw])
    assert whole.outcome == Response(503, "7", b"later") and whole.reusable
    for cut in range(1, len(raw)):
        assert read([raw[:cut], raw[cut:]]).outcome == whole.outcome


def test_an_endless_header_value_stops_at_the_head_cap():
    limits = ResponseLimits(head_bytes=1024)
    reader = read([b"HTTP/1.1 200 OK\r\nX-Endless: "] + [b"a" * 100] * 1000, limits)
    assert isinstance(reader.outcome, ResponseTooLarge)
    assert str(reader.outcome) == "response head too large: over 1024 bytes"
    assert reader.overflowed and not reader.reusable


def test_a_head_exactly_at_the_cap_is_read():
    head = b"HTTP/1.1 204 No Content\r\nX-Pad: "
    head += b"p" * (300 - len(head) - 4) + b"\r\n\r\n"
    assert len(head) == 300
    assert read([head], ResponseLimits(head_bytes=300)).outcome == Response(204, None, b"")
    assert isinstance(read([head], ResponseLimits(head_bytes=299)).outcome, ResponseTooLarge)


def test_header_count_is_capped():
    def answer(count: int) -> bytes:
        return b"HTTP/1.1 200 OK\r\n" + b"x-h: 1\r\n" * count + b"content-length: 0\r\n\r\n"

    assert read([answer(99)]).outcome == Response(200, None, b"")  # 100 with content-length
    too_many = read([answer(100)]).outcome
    assert isinstance(too_many, ResponseTooLarge)
    assert str(too_many) == "too many response headers: over 100"


def test_endless_interim_answers_count_against_the_head():
    reader = read([b"HTTP/1.1 100 Continue\r\n\r\n"] * 10_000)
    assert isinstance(reader.outcome, ResponseTooLarge)


def test_a_body_past_its_cap_is_answered_with_its_start_and_not_reused():
    limits = ResponseLimits(body_bytes=1000)
    head = b"HTTP/1.1 500 Oops\r\nContent-Length: 999999\r\n\r\n"
    reader = read([head] + [b"b" * 64] * 100, limits, keep=10)
    assert reader.outcome == Response(500, None, b"b" * 10)
    assert not reader.reusable and reader.overflowed


def test_an_endless_chunked_trailer_stops_at_the_body_cap():
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Trailer: "
    reader = read([head] + [b"t" * 100] * 10_000, ResponseLimits(body_bytes=4096))
    assert reader.outcome == Response(200, None, b"ok") and not reader.reusable


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"SMTP ready\r\n\r\n", "invalid HTTP response head: Expected HTTP/"),
        (b"HTTP/1.1 000 Zero\r\n\r\n", "invalid HTTP response head: status code 000"),
        (b"HTTP/1.1 99 X\r\n\r\n", "invalid HTTP response head: Invalid status code"),
        (b"HTTP/1.1 101 Switching\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n", "switched protocols"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "invalid HTTP response head"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid HTTP response body"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", None),  # cut short: the status stands
        (b"HTTP/1.1 20", "the server closed the connection without a response"),
    ],
)
def test_garbage_is_a_clear_error(raw, message):
    outcome = read([raw]).outcome
    if message is None:
        assert outcome == Response(200, None, b"ab")
    else:
        assert isinstance(outcome, OWN_ERRORS) and message in str(outcome)


def test_a_second_answer_in_the_same_chunk_spoils_the_connection():
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    reader = read([raw])
    assert reader.outcome == Response(200, None, b"") and not reader.reusable


def test_a_tunnel_answer_ends_at_its_head_and_the_next_request_parses_afresh():
    reader = ResponseReader(ResponseLimits(), 4096)
    reader.start(tunnel=True)
    reader.feed(b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01")
    assert reader.outcome == Response(200, None, b"") and reader.reusable
    reader.start()
    reader.feed(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert reader.outcome == Response(204, None, b"") and reader.reusable


# What a receiver could send: mostly HTTP-shaped, with parts out of range or garbled.
_header = st.tuples(
    st.sampled_from([b"retry-after", b"content-length", b"transfer-encoding", b"connection", b"x-a", b""]),
    st.binary(max_size=40),
)
_answer = st.builds(
    lambda interim, version, status, headers, body, tail: b"".join(
        [b"HTTP/1.1 100 Continue\r\n\r\n" * interim, version, b" %03d Reason\r\n" % status]
        + [name + b": " + value + b"\r\n" for name, value in headers]
        + [b"\r\n", body, tail]
    ),
    st.integers(0, 3),
    st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2", b"HTTX/1.1", b""]),
    st.integers(0, 999),
    st.lists(_header, max_size=12),
    st.binary(max_size=300),
    st.sampled_from([b"", b"HTTP/1.1 200 OK\r\n\r\n", b"0\r\n\r\n", b"\r\n"]),
)
_bytes = st.one_of(_answer, st.binary(max_size=600))
_limits = st.builds(
    ResponseLimits,
    head_bytes=st.integers(1, 400),
    header_count=st.integers(0, 8),
    body_bytes=st.integers(0, 400),
)


@st.composite
def _chunked(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    raw = draw(_bytes)
    cuts = sorted(draw(st.lists(st.integers(0, len(raw)), max_size=8)))
    edges = [0, *cuts, len(raw)]
    return raw, [raw[a:b] for a, b in itertools.pairwise(edges) if b > a]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(_chunked(), _limits, st.integers(0, 64))
def test_any_bytes_in_any_chunks_end_in_an_outcome_within_the_caps(sent, limits, keep):
    raw, chunks = sent
    reader = read(chunks, limits, keep)  # raises nothing; asserts the read bound
    outcome = reader.outcome
    assert isinstance(outcome, Response | InvalidResponse | ServerDisconnected)
    if isinstance(outcome, Response):
        assert 100 <= outcome.status <= 999 and len(outcome.body) <= keep
    # Where the socket happened to split the bytes changes nothing.
    assert summary(reader) == summary(read([raw], limits, keep))
