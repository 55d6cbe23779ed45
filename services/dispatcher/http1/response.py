"""What the client reads: one response at a time, parsed by httptools (llhttp, in C)
within limits no receiver can talk its way past. Pure: bytes in, an outcome out.

A receiver is a stranger on the internet, so every byte it sends is counted before
the parser sees it: the head (status line, headers and any 1xx answers before the
final one) may take ``head_bytes``; a chunk that would cross that cap is cut there
and fed no further, so a header value that never ends costs at most ``head_bytes``
(httptools keeps appending to a value until the header ends). After the head, the
body may be ``body_bytes`` long, and all that follows the head — the body with its
chunked framing and trailers (an endless trailer is another endless header value) —
twice that. The checks are a comparison per chunk the socket hands over and per
body piece, not per byte: this is the hot path of every delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import httptools

if TYPE_CHECKING:
    from shared.settings import Settings

# httptools raises HttpParserUpgrade (a 101 answer) apart from HttpParserError.
_PARSER_ERRORS = (httptools.HttpParserError, httptools.HttpParserUpgrade)


class ServerDisconnected(ConnectionError):
    """The connection closed before a complete response arrived."""


class InvalidResponse(ValueError):
    """What came back was not HTTP/1.x."""


class ResponseTooLarge(InvalidResponse):
    """The response's head went past a cap: its bytes or its number of headers."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    retry_after: str | None
    body: bytes  # at most ``keep`` bytes


@dataclass(frozen=True, slots=True)
class ResponseLimits:
    """What one response may be (``HOOKLINE_RESPONSE_*``). Past a head cap the attempt
    fails; past ``body_bytes`` (or twice that with framing and trailers) the body read
    so far is the answer and the connection is closed instead of read to its end."""

    head_bytes: int = 64 * 1024
    header_count: int = 100
    body_bytes: int = 64 * 1024

    @classmethod
    def of(cls, settings: Settings) -> ResponseLimits:
        return cls(
            settings.response_head_max_bytes,
            settings.response_header_max_count,
            settings.response_body_max_bytes,
        )


class _Stop(Exception):
    """Raised in a parser callback once the outcome is known: llhttp stops there."""


class ResponseReader:
    """Parses the answer to one request at a time from the bytes it is fed.

    After ``start``, ``feed`` each chunk received and ``eof`` when the connection ends;
    ``outcome`` is then a ``Response`` or the error the attempt fails with, and
    ``reusable`` says whether the connection may carry another request."""

    def __init__(self, limits: ResponseLimits, keep: int) -> None:
        self._limits, self._keep = limits, keep
        self._parser = httptools.HttpResponseParser(self)
        self.tunnel = False
        self.start()

    def start(self, tunnel: bool = False) -> None:
        """Expect the answer to a new request (to ``CONNECT`` when ``tunnel``: its head is the answer)."""
        if self.tunnel:  # the parser took the tunnel's answer for a body without end
            self._parser = httptools.HttpResponseParser(self)
        self.tunnel = tunnel
        self.outcome: Response | Exception | None = None
        self.reusable = False
        self.overflowed = False  # stopped at a cap: the rest is not worth a graceful close
        self._room = self._limits.head_bytes  # bytes the receiver may still send
        self._headers = 0  # across 1xx answers too: they are all part of one attempt
        self._next_head()

    def _next_head(self) -> None:
        self._status = 0
        self._retry_after: str | None = None
        self._body: list[bytes] = []
        self._size = 0
        self._headers_done = False

    def feed(self, data: bytes) -> None:
        if self.outcome is not None:  # bytes after the answer: a server talking out of turn
            self.reusable = False
            return
        room = self._room
        if len(data) <= room:
            self._room = room - len(data)
            self._parse(data)
        else:
            self._overflow(data, room)

    def eof(self) -> None:
        """The connection ended; without an outcome yet, this decides one."""
        self.reusable = False
        if self.outcome is not None:
            return
        if self._headers_done and self._status >= 200:
            self._finish(reusable=False)  # a body that ends with the connection
        else:
            self.outcome = ServerDisconnected("the server closed the connection without a response")

    def _overflow(self, data: bytes, room: int) -> None:
        self._room = 0
        if room:
            self._parse(data[:room])  # it may end the head, which opens the body's room
        if self.outcome is not None:
            self.reusable = False  # the rest came after the answer
        elif not self._headers_done:
            self.overflowed = True
            self._fail(ResponseTooLarge(f"response head too large: over {self._limits.head_bytes} bytes"))
        elif self._room:
            self.feed(data[room:])
        else:  # the cap after the head: the start that was kept is the answer
            self.overflowed = True
            self._finish(reusable=False)

    def _parse(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except _PARSER_ERRORS as exc:
            if isinstance(exc.__context__, _Stop):
                return  # a callback decided the outcome
            if self.outcome is None:
                self._fail(InvalidResponse(self._explain(exc)))
            self.reusable = False

    def _explain(self, exc: Exception) -> str:
        if isinstance(exc, httptools.HttpParserUpgrade):
            return "invalid HTTP response: the server switched protocols (HTTP 101)"
        where = "body" if self._headers_done else "head"
        return f"invalid HTTP response {where}: {exc or type(exc).__name__}"

    def _finish(self, reusable: bool) -> None:
        self.outcome = Response(self._status, self._retry_after, b"".join(self._body))
        self.reusable = reusable

    def _fail(self, exc: Exception) -> None:
        self.outcome = exc
        self.reusable = False

    # httptools callbacks
    def on_message_begin(self) -> None:
        if self.outcome is not None:  # a second answer in the same chunk as the first
            self.reusable = False
            raise _Stop

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers += 1
        if self._headers > self._limits.header_count:
            self._fail(ResponseTooLarge(f"too many response headers: over {self._limits.header_count}"))
            raise _Stop
        if name.lower() == b"retry-after":
            self._retry_after = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 100:  # llhttp takes any three digits
            self._fail(InvalidResponse(f"invalid HTTP response head: status code {status:03d}"))
            raise _Stop
        self._status = status
        self._headers_done = True
        if status >= 200:
            # Counted from the end of the chunk in hand (the parser does not say where in
            # it the head ended): the rest of that chunk is within the head's cap anyway.
            self._room = 2 * self._limits.body_bytes
            if self.tunnel:  # a final answer to CONNECT has no body: a 2xx starts the tunnel
                self._finish(reusable=True)
                raise _Stop

    def on_body(self, body: bytes) -> None:
        size = self._size
        if size < self._keep:
            self._body.append(body[: self._keep - size])
        self._size = size = size + len(body)
        if size > self._limits.body_bytes:  # the start that was kept is the answer
            self.overflowed = True
            self._finish(reusable=False)
            raise _Stop

    def on_message_complete(self) -> None:
        if self._status < 200:  # 100 Continue, 103 Early Hints: the answer is still to come
            self._next_head()
            return
        self._finish(self._parser.should_keep_alive())
