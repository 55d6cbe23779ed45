"""shared.amqp_frames decodes the frames it knows exactly as pamqp does, and leaves the
rest (and every malformed frame) to pamqp."""

from __future__ import annotations

import asyncio
import datetime

import aiormq.connection
import pytest
from aiormq.exceptions import AMQPConnectionError, InvalidFrameError
from hypothesis import given, settings
from hypothesis import strategies as st
from pamqp import body, commands, frame, header
from pamqp.exceptions import PAMQPException
from pamqp.heartbeat import Heartbeat

from shared import amqp_frames
from shared.amqp_frames import FastFrameReceiver, unmarshal

short_text = st.text(max_size=40).filter(lambda s: len(s.encode()) < 256)
int64 = st.integers(-(2**63), 2**63 - 1)
# Values pamqp encodes and decodes back to themselves (its decimal, float and bytes
# encodings aside: those go to pamqp's own decoder, tested below).
scalar = st.one_of(
    st.text(max_size=30), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.none(),
    st.datetimes(
        min_value=datetime.datetime(1970, 1, 2), max_value=datetime.datetime(2100, 1, 1),
        timezones=st.just(datetime.UTC),
    ).map(lambda d: d.replace(microsecond=0)),
)  # fmt: skip
field = st.recursive(
    scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(short_text, inner, max_size=4)),
    max_leaves=12,
)
properties = st.builds(
    commands.Basic.Properties,
    content_type=st.none() | short_text,
    content_encoding=st.none() | short_text,
    headers=st.none() | st.dictionaries(short_text, field, max_size=6),
    delivery_mode=st.none() | st.sampled_from([1, 2]),
    priority=st.none() | st.integers(0, 9),
    correlation_id=st.none() | short_text,
    reply_to=st.none() | short_text,
    expiration=st.none() | st.integers(0, 10**9).map(str),
    message_id=st.none() | short_text,
    timestamp=st.none() | st.datetimes(
        min_value=datetime.datetime(1970, 1, 2), max_value=datetime.datetime(2100, 1, 1),
        timezones=st.just(datetime.UTC),
    ).map(lambda d: d.replace(microsecond=0)),
    message_type=st.none() | short_text,
    user_id=st.none() | short_text,
    app_id=st.none() | short_text,
)  # fmt: skip
frames = st.one_of(
    st.builds(
        commands.Basic.Deliver,
        consumer_tag=short_text, delivery_tag=st.integers(0, 2**63 - 1), redelivered=st.booleans(),
        exchange=st.from_regex(r"\A[a-zA-Z0-9_.:-]{0,40}\Z"), routing_key=short_text,
    ),
    st.builds(commands.Basic.Ack, delivery_tag=st.integers(0, 2**63 - 1), multiple=st.booleans()),
    st.builds(
        header.ContentHeader, weight=st.just(0), body_size=st.integers(0, 2**40), properties=properties
    ),
    st.builds(body.ContentBody, st.binary(max_size=300)),
)  # fmt: skip


def _parts(raw: bytes) -> tuple[int, int, bytes]:
    return raw[0], int.from_bytes(raw[1:3], "big"), raw[7:-1]


def _typed(value: object) -> object:
    """A value with the type of every part beside it: True and 1 must not compare equal."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return type(value), value


def _values(decoded: tuple[int, int, object]) -> object:
    """Everything a frame holds, typed, for comparing two decodings of it."""
    used, channel, value = decoded
    if isinstance(value, header.ContentHeader):
        props = {name: getattr(value.properties, name) for name in value.properties.__slots__}
        return _typed([used, channel, "header", value.class_id, value.weight, value.body_size, props])
    if isinstance(value, body.ContentBody):
        return _typed([used, channel, "body", value.value])
    return type(value), _typed([used, channel, {name: getattr(value, name) for name in value.__slots__}])


def _same_as_pamqp(raw: bytes) -> None:
    try:
        expected = _values(frame.unmarshal(raw))
    except (PAMQPException, ValueError) as exc:  # pamqp lets a ValueError out for some
        with pytest.raises(type(exc)):
            unmarshal(*_parts(raw))
        return
    assert _values(unmarshal(*_parts(raw))) == expected


@settings(max_examples=300, deadline=None)
@given(frames, st.integers(0, 65535))
def test_each_frame_it_knows_decodes_as_pamqp_decodes_it(value, channel):
    _same_as_pamqp(frame.marshal(value, channel))


@settings(max_examples=300, deadline=None)
@given(frames, st.data())
def test_a_cut_or_damaged_frame_is_pamqp_s_to_judge(value, data):
    raw = bytearray(frame.marshal(value, 1))
    payload_end = len(raw) - 1
    if payload_end == 7:  # an empty body frame: pamqp refuses it, as is
        pass
    elif data.draw(st.booleans()) and payload_end > 8:  # cut short: the size field says so
        cut = data.draw(st.integers(8, payload_end - 1))
        raw = raw[:cut] + b"\xce"
        raw[3:7] = (cut - 7).to_bytes(4, "big")
    else:  # one byte changed
        at = data.draw(st.integers(7, payload_end - 1))
        raw[at] = data.draw(st.integers(0, 255))
    _same_as_pamqp(bytes(raw))


def test_a_task_s_own_headers_and_a_retry_tier_s_death_record():
    """The shapes on the hot path: a task's packed header, and the x-death table a
    retry tier's dead-lettering adds (arrays of tables, timestamps, longs)."""
    props = commands.Basic.Properties(
        content_type="application/json", delivery_mode=2, message_id="msg_1:ep_1",
        headers={
            "hl-task": "1 app_1 3 0 1733333333333 invoice.paid",
            "x-delivery-count": 2,
            "x-death": [{
                "count": 1, "reason": "expired", "queue": "hookline.retry.5s",
                "time": datetime.datetime(2026, 12, 4, 17, 0, tzinfo=datetime.UTC),
                "routing-keys": ["hookline.dispatch"],
            }],
        },
    )  # fmt: skip
    _same_as_pamqp(frame.marshal(header.ContentHeader(0, 1234, props), 1))


def test_what_it_does_not_decode_goes_to_pamqp():
    raw = frame.marshal(commands.Queue.DeclareOk("q", 3, 1), 1)
    assert isinstance(unmarshal(*_parts(raw))[2], commands.Queue.DeclareOk)
    assert isinstance(unmarshal(*_parts(frame.marshal(Heartbeat(), 0)))[2], Heartbeat)
    # A float in a header table: pamqp's decoder reads it.
    props = commands.Basic.Properties(headers={"ratio": 0.5, "n": 1})
    _same_as_pamqp(frame.marshal(header.ContentHeader(0, 1, props), 1))


async def _receiver(chunks: list[bytes]) -> FastFrameReceiver:
    """A receiver past the handshake, its stream fed chunk by chunk while it reads."""
    reader = asyncio.StreamReader()

    async def feed() -> None:
        for chunk in chunks:
            reader.feed_data(chunk)
            await asyncio.sleep(0)  # the reader runs between chunks: reads come up short
        reader.feed_eof()

    _FEEDERS.add(task := asyncio.create_task(feed()))
    task.add_done_callback(_FEEDERS.discard)
    receiver = FastFrameReceiver(reader)
    receiver.started = True
    return receiver


_FEEDERS: set[asyncio.Task[None]] = set()  # held: the loop keeps weak references


async def test_the_receiver_reads_frames_split_anywhere_and_stops_at_the_end():
    sent = [
        commands.Basic.Deliver("ctag", 7, False, "", "hookline.dispatch"),
        header.ContentHeader(0, 3, commands.Basic.Properties(message_id="m:e")),
        body.ContentBody(b"abc"),
    ]
    stream = b"".join(frame.marshal(f, 5) for f in sent)
    receiver = await _receiver([stream[i : i + 5] for i in range(0, len(stream), 5)])
    # (chunks of 5 bytes: a frame's 7-byte head and its payload each take several)
    got = [await receiver.get_frame() for _ in sent]
    assert [_values(g) for g in got] == [_values(frame.unmarshal(frame.marshal(f, 5))) for f in sent]
    await asyncio.gather(*_FEEDERS)  # the end of the stream, seen before the next read
    with pytest.raises(StopAsyncIteration):
        await receiver.get_frame()


async def test_the_receiver_refuses_a_bad_end_octet_and_a_cut_connection():
    raw = bytearray(frame.marshal(commands.Basic.Ack(1), 1))
    raw[-1] = 0
    with pytest.raises(InvalidFrameError):
        await (await _receiver([bytes(raw)])).get_frame()
    with pytest.raises(AMQPConnectionError, match="unexpectedly closed"):
        await (await _receiver([frame.marshal(commands.Basic.Ack(1), 1)[:-3]])).get_frame()


def test_install_makes_aiormq_read_with_it_once():
    before = aiormq.connection.FrameReceiver
    aiormq.connection.FrameReceiver = FastFrameReceiver.__mro__[1]  # aiormq's own
    try:
        amqp_frames.install()
        amqp_frames.install()
        assert aiormq.connection.FrameReceiver is FastFrameReceiver
    finally:
        aiormq.connection.FrameReceiver = before
