"""Reading the AMQP frames of a busy consumer with less CPU than aiormq and pamqp spend.

Each delivery arrives as three frames: ``Basic.Deliver``, a content header, a body; each
confirm of a publish as a ``Basic.Ack``. pamqp decodes every field through a generic
path that slices the rest of the frame after each one, and aiormq reads each frame into
a ``BytesIO`` in three reads. Measured on this machine (2026-12-04, docs/performance.md):
pamqp took 9.3 µs for a Deliver, 10.8 µs for a task's content header, 1.8 µs for a body
and 4.5 µs for an Ack; with aiormq's reading, 35 µs per delivery, about a sixth of the
dispatcher's CPU per delivery. Decoding by offset into the frame takes about 8 µs.

Only those four kinds are decoded here, into the same pamqp objects with the same
values; anything else (the handshake, heartbeats, channel and queue methods) and
anything this module does not recognise (a header field type it does not know, a
truncated or malformed frame) goes to pamqp as before, which also raises the errors.
``tests/unit/test_amqp_frames.py`` checks both give equal frames.

``install`` makes aiormq read with ``FastFrameReceiver``: aiormq builds its receiver by
module attribute when a connection opens, so every connection opened afterwards uses
it. aiormq is pinned below 8 for this and the other internals Hookline relies on
(pyproject.toml); ``install`` leaves aiormq alone if the receiver is not as expected.
"""

from __future__ import annotations

import asyncio
import datetime
import struct

import aiormq.connection
import pamqp.frame
import structlog
from aiormq.exceptions import AMQPConnectionError, InvalidFrameError
from pamqp import body, commands, header
from pamqp.exceptions import PAMQPException

log = structlog.get_logger()

_FRAME_METHOD, _FRAME_HEADER, _FRAME_BODY, _FRAME_END = 1, 2, 3, 0xCE
_DELIVER = 0x003C003C  # class 60 (Basic), method 60
_ACK = 0x003C0050  # class 60, method 80

_U8 = struct.Struct(">B").unpack_from
_I8 = struct.Struct(">b").unpack_from
_U16 = struct.Struct(">H").unpack_from
_I16 = struct.Struct(">h").unpack_from
_U32 = struct.Struct(">I").unpack_from
_I32 = struct.Struct(">l").unpack_from
_U32L = struct.Struct(">L").unpack_from
_I64 = struct.Struct(">q").unpack_from
_U64 = struct.Struct(">Q").unpack_from
_HEADER_START = struct.Struct(">HHQH").unpack_from  # class, weight, body size, first flags word


class _Unknown(Exception):
    """Not a frame this module decodes: pamqp decodes it (or says what is wrong)."""


def unmarshal(frame_type: int, channel: int, payload: bytes) -> tuple[int, int, object]:
    """(bytes the frame took, channel, frame) as ``pamqp.frame.unmarshal`` returns them,
    for a frame's type, channel and payload (its end octet not included)."""
    try:
        if frame_type == _FRAME_BODY and payload:  # pamqp refuses a frame of size 0
            return len(payload) + 8, channel, body.ContentBody(payload)
        if frame_type == _FRAME_METHOD:
            return len(payload) + 8, channel, _method(payload)
        if frame_type == _FRAME_HEADER:
            return len(payload) + 8, channel, _content_header(payload)
    except (_Unknown, struct.error, IndexError, ValueError, OverflowError, OSError):
        pass  # a date out of range is a ValueError, OverflowError or OSError by platform
    raw = struct.pack(">BHI", frame_type, channel, len(payload)) + payload + b"\xce"
    return pamqp.frame.unmarshal(raw)


def _method(data: bytes) -> commands.Basic.Deliver | commands.Basic.Ack:
    index = _U32(data)[0]
    if index == _DELIVER:
        consumer_tag, at = _short_str(data, 4)
        delivery_tag = _I64(data, at)[0]
        redelivered = bool(data[at + 8] & 1)
        exchange, at = _short_str(data, at + 9)
        routing_key, at = _short_str(data, at)
        frame = commands.Basic.Deliver()
        frame.consumer_tag, frame.delivery_tag, frame.redelivered = consumer_tag, delivery_tag, redelivered
        frame.exchange, frame.routing_key = exchange, routing_key
        _exact(at, data)
        return frame
    if index == _ACK:
        ack = commands.Basic.Ack()
        ack.delivery_tag, ack.multiple = _I64(data, 4)[0], bool(data[12] & 1)
        _exact(13, data)
        return ack
    raise _Unknown


def _exact(at: int, data: bytes) -> None:
    if at != len(data):  # pamqp ignores what follows; a frame like that is not ours
        raise _Unknown


# The properties of Basic in pamqp's order, with their flag bits and AMQP types.
_PROPERTIES = [
    (name, commands.Basic.Properties.flags[name], getattr(commands.Basic.Properties, "_" + name))
    for name in commands.Basic.Properties.__slots__
]


def _content_header(data: bytes) -> header.ContentHeader:
    class_id, weight, body_size, flags = _HEADER_START(data)
    if flags & 1:  # a second flags word: no Basic property needs one
        raise _Unknown
    properties = commands.Basic.Properties()
    at = 14
    for name, flag, kind in _PROPERTIES:
        if flags & flag:
            value, at = _PROPERTY[kind](data, at)
            setattr(properties, name, value)
    _exact(at, data)
    content = header.ContentHeader(weight, body_size, properties)
    content.class_id = class_id
    return content


def _short_str(data: bytes, at: int) -> tuple[str, int]:
    end = at + 1 + data[at]
    if end > len(data):
        raise _Unknown
    return data[at + 1 : end].decode("utf-8"), end


def _long_str(data: bytes, at: int) -> tuple[str | bytes, int]:
    end = at + 4 + _U32(data, at)[0]
    if end > len(data):
        raise _Unknown
    raw = data[at + 4 : end]
    try:
        return raw.decode("utf-8"), end
    except UnicodeDecodeError:  # pamqp gives undecodable text as bytes
        return raw, end


def _octet(data: bytes, at: int) -> tuple[int, int]:
    return data[at], at + 1


def _timestamp(data: bytes, at: int) -> tuple[datetime.datetime, int]:
    seconds: float = _U64(data, at)[0]
    if seconds > 0xFFFFFFFF:  # as pamqp reads it: past 2106 it is taken for milliseconds
        seconds /= 1000.0
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC), at + 8


def _table(data: bytes, at: int) -> tuple[dict[str, object], int]:
    end = at + 4 + _U32(data, at)[0]
    if end > len(data):
        raise _Unknown
    at += 4
    table: dict[str, object] = {}
    while at < end:
        key, at = _short_str(data, at)
        table[key], at = _field(data, at)
    if at != end:
        raise _Unknown
    return table, end


def _array(data: bytes, at: int) -> tuple[list[object], int]:
    end = at + 4 + _U32(data, at)[0]
    if end > len(data):
        raise _Unknown
    at += 4
    items = []
    while at < end:
        value, at = _field(data, at)
        items.append(value)
    if at != end:
        raise _Unknown
    return items, end


def _fixed(unpack, size: int):  # type: ignore[no-untyped-def]
    def read(data: bytes, at: int) -> tuple[int, int]:
        return unpack(data, at)[0], at + size

    return read


def _bool(data: bytes, at: int) -> tuple[bool, int]:
    return bool(data[at]), at + 1


def _void(data: bytes, at: int) -> tuple[None, int]:
    return None, at


# Field types as pamqp's decode.TABLE_MAPPING reads them (its signedness included: 'I' is
# signed, 'i' unsigned); the floating and decimal types and byte arrays go to pamqp.
_FIELDS = {
    ord("S"): _long_str,
    ord("l"): _fixed(_I64, 8),
    ord("L"): _fixed(_I64, 8),
    ord("I"): _fixed(_I32, 4),
    ord("i"): _fixed(_U32L, 4),
    ord("s"): _fixed(_I16, 2),
    ord("u"): _fixed(_U16, 2),
    ord("b"): _fixed(_I8, 1),
    ord("B"): _fixed(_U8, 1),
    ord("t"): _bool,
    ord("T"): _timestamp,
    ord("F"): _table,
    ord("A"): _array,
    ord("V"): _void,
    0: _void,
}


def _field(data: bytes, at: int) -> tuple[object, int]:
    read = _FIELDS.get(data[at])
    if read is None:
        raise _Unknown
    return read(data, at + 1)


_PROPERTY = {"shortstr": _short_str, "octet": _octet, "timestamp": _timestamp, "table": _table}
if {kind for _, _, kind in _PROPERTIES} - _PROPERTY.keys():  # a pamqp with other property types
    raise ImportError("pamqp's Basic properties are not the ones shared.amqp_frames decodes")


class FastFrameReceiver(aiormq.connection.FrameReceiver):
    """aiormq's frame receiver, reading a frame in two reads and decoding it with
    ``unmarshal``. The handshake, until the first frame, is aiormq's own."""

    async def get_frame(self):  # type: ignore[no-untyped-def]
        if not self.started:
            return await super().get_frame()
        reader = self.reader
        if reader.at_eof():
            del self.reader
            raise StopAsyncIteration
        async with self.lock:
            try:
                head = await reader.readexactly(7)
                payload_and_end = await reader.readexactly(int.from_bytes(head[3:7], "big") + 1)
            except asyncio.IncompleteReadError as exc:
                raise AMQPConnectionError(
                    f"Server connection unexpectedly closed. Read {len(exc.partial)} bytes"
                    f" but {exc.expected} bytes expected"
                ) from exc
            except OSError as exc:  # refused, reset and the other connection errors
                raise AMQPConnectionError(f"Server communication error: {exc!r}") from exc
        try:
            if payload_and_end[-1] != _FRAME_END:  # pamqp's to judge: a heartbeat passes
                return pamqp.frame.unmarshal(head + payload_and_end)
            return unmarshal(head[0], int.from_bytes(head[1:3], "big"), payload_and_end[:-1])
        except PAMQPException as exc:
            raise InvalidFrameError(str(exc)) from exc


def install() -> None:
    """Have every aiormq connection opened from now on read with ``FastFrameReceiver``."""
    current = aiormq.connection.FrameReceiver
    if current is FastFrameReceiver:
        return
    if not hasattr(current, "get_frame") or FastFrameReceiver.__mro__[1] is not current:
        log.warning("aiormq's frame receiver is not the one expected; reading frames its way")
        return
    aiormq.connection.FrameReceiver = FastFrameReceiver  # type: ignore[misc]
