"""Message framing on a TCP byte stream, and UTF-8 that survives split reads.

TCP delivers a *stream of bytes*, not messages.  Two ``sendall`` calls may
arrive in one ``recv`` (the "sticky packets" the Chinese literature calls 粘包),
and one ``sendall`` may arrive over several ``recv`` calls.  A protocol
therefore needs a rule for where a message ends.  This module holds the three
classic rules and the helpers that implement them:

* **known length** -- :func:`recvall` reads exactly *n* bytes (the upper-case
  echo uses this: the reply is as long as the request);
* **length prefix** -- :func:`send_msg` / :func:`recv_msg` put a 4-byte
  big-endian length before every message;
* **delimiter** -- :func:`send_line` / :class:`LineReader` end each message
  with ``b"\\n"``.

:class:`Utf8Stream` decodes text that arrives in pieces: a Chinese character
is three bytes in UTF-8, and a ``recv`` boundary may fall inside it.
"""

from __future__ import annotations

import codecs
import struct

from . import constants

__all__ = [
    "IncompleteMessage",
    "ReceiveTimeout",
    "MessageTooLong",
    "recvall",
    "send_msg",
    "recv_msg",
    "send_line",
    "LineReader",
    "Utf8Stream",
    "PREFIX",
    "MAX_MESSAGE",
]

#: 4-byte unsigned big-endian ("network order") length prefix.
PREFIX = struct.Struct("!I")
#: Refuse length-prefixed messages larger than this (a garbage prefix must not
#: make the receiver try to allocate gigabytes).
MAX_MESSAGE = 16 * 1024 * 1024


class IncompleteMessage(EOFError):
    """The peer closed the stream in the middle of a message.  ``.partial`` keeps what came."""

    def __init__(self, expected: int | None, partial: bytes):
        self.expected = expected
        self.partial = bytes(partial)
        if expected is None:
            what = f"after {len(partial)} bytes, before the message delimiter"
        else:
            what = f"after {len(partial)} of {expected} bytes"
        super().__init__(f"the connection closed {what}; the bytes that did arrive are in .partial")


class ReceiveTimeout(TimeoutError):
    """No more bytes came within the socket's timeout.  ``.partial`` keeps what came.

    A ``TimeoutError``, so code that catches that keeps working; the stream is
    now in the middle of a message, so the caller should close the connection.
    """

    def __init__(self, expected: int, partial: bytes):
        self.expected = expected
        self.partial = bytes(partial)
        super().__init__(f"timed out after {len(partial)} of {expected} bytes; the bytes that "
                         f"did arrive are in .partial (close the connection: the stream is now "
                         f"in the middle of a message)")


class MessageTooLong(ValueError):
    """A message is longer than the receiver agreed to accept."""


def recvall(sock, n: int, *, chunk_size: int = constants.buffer_size) -> bytes:
    """Receive exactly *n* bytes from *sock*, however many ``recv`` calls it takes.

    Raises :class:`IncompleteMessage` (with ``.partial``) if the peer closes
    first, and :class:`ReceiveTimeout` -- a ``TimeoutError``, also with
    ``.partial`` -- if the socket's timeout runs out first.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = sock.recv(min(chunk_size, n - len(buf)))
        except TimeoutError:
            raise ReceiveTimeout(n, buf) from None
        if not chunk:
            raise IncompleteMessage(n, buf)
        buf += chunk
    return bytes(buf)


def send_msg(sock, payload: bytes) -> None:
    """Send *payload* with a 4-byte length prefix (one ``sendall``)."""
    payload = bytes(payload)
    if len(payload) > MAX_MESSAGE:
        raise MessageTooLong(f"message of {len(payload)} bytes exceeds MAX_MESSAGE={MAX_MESSAGE}")
    sock.sendall(PREFIX.pack(len(payload)) + payload)


def recv_msg(sock, *, max_size: int = MAX_MESSAGE) -> bytes | None:
    """Receive one length-prefixed message.

    Returns ``None`` if the peer closed the stream cleanly *between* messages
    (the normal end of a conversation); raises :class:`IncompleteMessage` if it
    closed in the middle of one, and :class:`MessageTooLong` if the prefix
    announces more than *max_size* bytes.
    """
    first = sock.recv(PREFIX.size)
    if not first:
        return None
    try:
        head = first if len(first) == PREFIX.size else first + recvall(sock, PREFIX.size - len(first))
    except IncompleteMessage as exc:  # closed inside the prefix: keep every byte that came
        raise IncompleteMessage(PREFIX.size, first + exc.partial) from None
    except ReceiveTimeout as exc:
        raise ReceiveTimeout(PREFIX.size, first + exc.partial) from None
    (size,) = PREFIX.unpack(head)
    if size > max_size:
        raise MessageTooLong(
            f"the peer announced a {size}-byte message, more than max_size={max_size}; "
            f"is it speaking the length-prefix protocol?"
        )
    return recvall(sock, size)


def send_line(sock, payload: bytes, delimiter: bytes = b"\n") -> None:
    """Send *payload* followed by *delimiter*.  The payload must not contain it."""
    if delimiter in payload:
        raise ValueError(f"the payload contains the delimiter {delimiter!r}; escape it or use send_msg")
    sock.sendall(bytes(payload) + delimiter)


class LineReader:
    """Split a byte stream into delimiter-terminated messages.

    Keeps the bytes after the last delimiter for the next call, which is the
    whole trick: whatever a ``recv`` returns beyond the current message belongs
    to the next one.

    >>> import socket
    >>> a, b = socket.socketpair()
    >>> a.sendall(b"one\\ntw"); a.sendall(b"o\\n")
    >>> r = LineReader(b)
    >>> r.readline(), r.readline()
    (b'one', b'two')
    """

    def __init__(self, sock, delimiter: bytes = b"\n", *, max_line: int = 1024 * 1024,
                 chunk_size: int = constants.buffer_size):
        if not delimiter:
            raise ValueError("the delimiter must not be empty")
        self.sock = sock
        self.delimiter = delimiter
        self.max_line = max_line
        self.chunk_size = chunk_size
        self._buf = bytearray()

    def readline(self) -> bytes | None:
        """The next message without its delimiter; ``None`` at a clean end of stream."""
        while True:
            idx = self._buf.find(self.delimiter)
            if idx >= 0:
                line = bytes(self._buf[:idx])
                del self._buf[: idx + len(self.delimiter)]
                return line
            if len(self._buf) > self.max_line:
                raise MessageTooLong(
                    f"no {self.delimiter!r} within {self.max_line} bytes; the peer may not "
                    f"be sending delimited messages"
                )
            chunk = self.sock.recv(self.chunk_size)
            if not chunk:
                if self._buf:
                    raise IncompleteMessage(None, self._buf)
                return None
            self._buf += chunk

    def __iter__(self):
        while (line := self.readline()) is not None:
            yield line

    @property
    def pending(self) -> bytes:
        """Bytes received after the last complete message."""
        return bytes(self._buf)


class Utf8Stream:
    """Decode UTF-8 that arrives in pieces, never splitting a character.

    ``bytes.decode`` on each ``recv`` fails (or, with ``errors='replace'``,
    corrupts text) when a boundary falls inside a multi-byte character.  An
    incremental decoder keeps the incomplete tail until the next piece comes.

    >>> s = Utf8Stream()
    >>> data = "你好".encode()
    >>> s.feed(data[:4]), s.feed(data[4:]), s.close()
    ('你', '好', '')
    """

    def __init__(self, encoding: str = constants.encoding, errors: str = "strict"):
        self.encoding = encoding
        self._decoder = codecs.getincrementaldecoder(encoding)(errors=errors)

    def feed(self, data: bytes) -> str:
        """Decode *data*; bytes of an unfinished character wait for the next call."""
        return self._decoder.decode(data, final=False)

    @property
    def pending(self) -> bytes:
        """Bytes of a character that is not complete yet."""
        return self._decoder.getstate()[0]

    def close(self) -> str:
        """End of stream: an incomplete character left over raises ``UnicodeDecodeError``."""
        return self._decoder.decode(b"", final=True)
