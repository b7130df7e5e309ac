"""Errors that say what went wrong and what to do next, in a student's terms.

Each is a subclass of the built-in exception a network programmer would
expect (``OSError``, ``TimeoutError``, ``ConnectionError``, ``ValueError``),
so ``except OSError`` keeps working, and each keeps whatever data had already
arrived (``.partial`` / ``.reply`` / ``.raw``) so an error never loses bytes.

The message (``str(exc)``) is written for a notebook user.  Everything it says
is also an attribute (``.address``, ``.expected``, ``.timeout``, ``.limit`` ...),
so other code words its own message from those -- the command line speaks of
``--port 0`` and of what it printed -- and never has to parse this one.
"""

from __future__ import annotations

import errno

__all__ = [
    "NetlessonError",
    "PortInUseError",
    "PortNotAllowed",
    "AddressNotAvailable",
    "ServerUnavailable",
    "ReplyTimeout",
    "ConnectionClosed",
    "ReplyTooLong",
    "ReplyDecodeError",
    "ServerNotResponding",
    "DatagramTooLong",
    "TruncatedReply",
    "format_address",
]


def format_address(address) -> str:
    """``('127.0.0.1', 8081)`` -> ``'127.0.0.1:8081'`` (IPv6 hosts in brackets)."""
    try:
        host, port = address[0], address[1]
    except (TypeError, IndexError):
        return str(address)
    if ":" in str(host):
        return f"[{host}]:{port}"
    return f"{host}:{port}"


class NetlessonError(Exception):
    """Base class of every error netlesson raises on purpose."""


class PortInUseError(NetlessonError, OSError):
    """Binding failed because another socket already owns ``.address``."""

    def __init__(self, address):
        self.address = tuple(address)
        OSError.__init__(
            self, errno.EADDRINUSE,
            f"{format_address(address)} is in use — stop the other server (in a notebook: "
            f"netlesson.background.stop_all()) or pass port=0 to let the system pick a free port",
        )

    def __str__(self) -> str:
        return self.strerror


class PortNotAllowed(NetlessonError, PermissionError):
    """Binding ``.address`` was refused (``EACCES``): ports below 1024 need administrator rights."""

    def __init__(self, address):
        self.address = tuple(address)
        PermissionError.__init__(
            self, errno.EACCES,
            f"not allowed to bind {format_address(address)}: ports below 1024 need administrator "
            f"rights — use a port from 1024 up, or port=0 for any free one",
        )


class AddressNotAvailable(NetlessonError, OSError):
    """Binding failed (``EADDRNOTAVAIL``): no interface of this machine has ``.address``'s host."""

    def __init__(self, address):
        self.address = tuple(address)
        OSError.__init__(
            self, errno.EADDRNOTAVAIL,
            f"cannot bind {format_address(address)}: this machine has no such address — use "
            f"127.0.0.1 (this machine only) or 0.0.0.0 (every interface)",
        )


class ServerUnavailable(NetlessonError, ConnectionRefusedError):
    """Nothing accepted the TCP connection (no server on that port)."""

    def __init__(self, address, detail: str = ""):
        self.address = tuple(address)
        where = format_address(address)
        msg = (
            f"nothing is listening on {where} — start the server first "
            f"(e.g. python -m netlesson tcp-server --port {address[1]}) or check host and port"
        )
        if detail:
            msg += f" ({detail})"
        ConnectionRefusedError.__init__(self, errno.ECONNREFUSED, msg)

    def __str__(self) -> str:
        return self.strerror


class ReplyTimeout(NetlessonError, TimeoutError):
    """The TCP reply did not complete in time.  ``.partial`` holds what arrived."""

    def __init__(self, address, expected: int, partial: bytes, timeout: float):
        self.address = tuple(address)
        self.expected = expected
        self.partial = bytes(partial)
        self.timeout = timeout
        super().__init__(
            f"{format_address(address)} sent {len(partial)} of the {expected} reply bytes "
            f"expected, then nothing for {timeout:g} s — the server may be slow, stuck, or "
            f"not an echo server; the bytes that did arrive are in .partial"
        )


class ConnectionClosed(NetlessonError, ConnectionError):
    """The peer closed (or reset) the connection before the reply was complete."""

    def __init__(self, address, expected: int, partial: bytes, reset: bool = False):
        self.address = tuple(address)
        self.expected = expected
        self.partial = bytes(partial)
        self.reset = reset
        how = "reset" if reset else "closed"
        super().__init__(
            f"{format_address(address)} {how} the connection after {len(partial)} of "
            f"{expected} reply bytes; the bytes that did arrive are in .partial"
        )


class ReplyTooLong(NetlessonError, ValueError):
    """More bytes came than the echo of the request: the server is not an upper-case echo."""

    def __init__(self, address, expected: int | None, reply: bytes, extra: bytes, *,
                 unsent: int = 0):
        """*expected* is the length of the reply the extra bytes followed (None: no reply yet).

        *unsent* > 0: the whole reply came while that many request bytes were
        still unsent -- the server answered before it had read the message.
        """
        self.address = tuple(address)
        self.expected = expected
        self.reply = bytes(reply)
        self.extra = bytes(extra)
        self.unsent = unsent
        if unsent:
            what = (f"sent a complete {expected}-byte reply while {unsent} bytes of the request "
                    f"were still unsent")
        elif expected is None:
            what = f"sent {len(extra)} byte(s) before it was sent anything"
        else:
            what = f"sent {len(extra)} byte(s) more than the {expected}-byte reply"
        if unsent:
            where = "the reply is in .reply"
        else:
            where = ("the reply is in .reply, the extra bytes in .extra" if reply else
                     "the extra bytes are in .extra")
        super().__init__(
            f"{format_address(address)} {what}: an upper-case echo answers with exactly as "
            f"many bytes as it received -- is this an echo server? The connection was closed, "
            f"so the extra bytes cannot be taken for the next reply; {where}"
        )


class ReplyDecodeError(NetlessonError, ValueError):
    """The reply is not valid text in the expected encoding.  ``.raw`` keeps it.

    ``.start`` and ``.end`` delimit the bad bytes in ``.raw``; ``.reason`` is the codec's.
    """

    def __init__(self, raw: bytes, encoding: str, cause: UnicodeDecodeError):
        self.raw = bytes(raw)
        self.encoding = encoding
        self.start, self.end, self.reason = cause.start, cause.end, cause.reason
        super().__init__(
            f"the reply is not valid {encoding}: byte(s) {self.bad!r} at offset {self.start} "
            f"({self.reason}); send and receive bytes instead of str, or look at .raw"
        )

    @property
    def bad(self) -> bytes:
        """The bytes that are not valid in ``.encoding``."""
        return self.raw[self.start:self.end]


class ServerNotResponding(NetlessonError, TimeoutError):
    """No UDP reply came back after every retry."""

    def __init__(self, address, attempts: int, waited: float):
        self.address = tuple(address)
        self.attempts = attempts
        self.waited = waited
        super().__init__(
            f"no reply from {format_address(address)} after {attempts} "
            f"{'try' if attempts == 1 else 'tries'} over {waited:.1f} s — is a UDP server "
            f"running on that port? UDP has no connection, so a missing server, a lost "
            f"datagram and a slow server all look the same: silence"
        )


class DatagramTooLong(NetlessonError, ValueError):
    """A datagram longer than its receiver reads, or than UDP itself carries.  Nothing was sent.

    ``.size`` bytes against a ``.limit``.  ``.protocol_limit`` says whose limit
    it is: true, UDP's own over IPv4 (65507 bytes), which no setting raises;
    false, the server's ``max_packet_size`` (``socketserver.UDPServer``'s 8192).
    """

    def __init__(self, size: int, limit: int, *, protocol_limit: bool = False):
        self.size = size
        self.limit = limit
        self.protocol_limit = protocol_limit
        if protocol_limit:
            text = (f"this datagram is {size} bytes, but one UDP datagram over IPv4 carries at "
                    f"most {limit} bytes: the operating system refuses to send it (some, such "
                    f"as macOS, refuse even smaller ones by default). Split the data into "
                    f"several datagrams, or use TCP")
        else:
            text = (f"this datagram is {size} bytes, but socketserver.UDPServer reads at most "
                    f"{limit} bytes per datagram (max_packet_size) and silently drops the rest; "
                    f"send at most {limit} bytes per datagram, or raise max_packet_size on the "
                    f"server class")
        super().__init__(text)


class TruncatedReply(NetlessonError, ValueError):
    """The UDP reply is shorter than the datagram sent: the server cut it."""

    def __init__(self, sent: int, reply: bytes):
        self.sent = sent
        self.reply = bytes(reply)
        super().__init__(
            f"sent a {sent}-byte datagram but the reply has only {len(reply)} bytes: the "
            f"server kept the first {len(reply)} (socketserver.UDPServer.max_packet_size) "
            f"and dropped the rest; the reply is in .reply"
        )
