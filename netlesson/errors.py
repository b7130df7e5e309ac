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

from .i18n import core as _messages

_ = _messages.gettext

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


class _BindError(NetlessonError, OSError):
    """A bind that failed for ``.address``: ``str()`` is the explanation, without ``[Errno N]``.

    ``.errno`` keeps the code (``EADDRINUSE``, ``EACCES``, ``EADDRNOTAVAIL``), so
    code that tests it, or ``except OSError``, keeps working.
    """

    code = 0  #: the errno a subclass stands for

    def __init__(self, address):
        self.address = tuple(address)
        OSError.__init__(self, self.code, self._explain(format_address(address)))

    def _explain(self, where: str) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.strerror


class PortInUseError(_BindError):
    """Binding failed because another socket already owns ``.address``."""

    code = errno.EADDRINUSE

    def _explain(self, where: str) -> str:
        return _("{address} is in use — stop the other server (in a notebook: "
                 "netlesson.background.stop_all()) or pass port=0 to let the system pick a "
                 "free port").format(address=where)


class PortNotAllowed(_BindError, PermissionError):
    """Binding ``.address`` was refused (``EACCES``): ports below 1024 need administrator rights."""

    code = errno.EACCES

    def _explain(self, where: str) -> str:
        return _("not allowed to bind {address}: ports below 1024 need administrator rights — "
                 "use a port from 1024 up, or port=0 for any free one").format(address=where)


class AddressNotAvailable(_BindError):
    """Binding failed (``EADDRNOTAVAIL``): no interface of this machine has ``.address``'s host."""

    code = errno.EADDRNOTAVAIL

    def _explain(self, where: str) -> str:
        return _("cannot bind {address}: this machine has no such address — use 127.0.0.1 "
                 "(this machine only) or 0.0.0.0 (every interface)").format(address=where)


class ServerUnavailable(NetlessonError, ConnectionRefusedError):
    """Nothing accepted the TCP connection (no server on that port)."""

    def __init__(self, address, detail: str = ""):
        self.address = tuple(address)
        msg = _("nothing is listening on {address} — start the server first "
                "(e.g. python -m netlesson tcp-server --port {port}) or check host and "
                "port").format(address=format_address(address), port=address[1])
        if detail:
            msg += _(" ({detail})").format(detail=detail)
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
            _("{address} sent {received} of the {expected} reply bytes expected, then nothing "
              "for {timeout} s — the server may be slow, stuck, or not an echo server; the bytes "
              "that did arrive are in .partial").format(
                address=format_address(address), received=len(partial), expected=expected,
                timeout=f"{timeout:g}")
        )


class ConnectionClosed(NetlessonError, ConnectionError):
    """The peer closed (or reset) the connection before the reply was complete."""

    def __init__(self, address, expected: int, partial: bytes, reset: bool = False):
        self.address = tuple(address)
        self.expected = expected
        self.partial = bytes(partial)
        self.reset = reset
        if reset:
            text = _("{address} reset the connection after {received} of {expected} reply "
                     "bytes; the bytes that did arrive are in .partial")
        else:
            text = _("{address} closed the connection after {received} of {expected} reply "
                     "bytes; the bytes that did arrive are in .partial")
        super().__init__(text.format(address=format_address(address), received=len(partial),
                                     expected=expected))


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
            what = _("{address} sent a complete {expected}-byte reply while {unsent} bytes of "
                     "the request were still unsent")
        elif expected is None:
            what = _("{address} sent {extra} byte(s) before it was sent anything")
        else:
            what = _("{address} sent {extra} byte(s) more than the {expected}-byte reply")
        if unsent:
            where = _("the reply is in .reply")
        elif reply:
            where = _("the reply is in .reply, the extra bytes in .extra")
        else:
            where = _("the extra bytes are in .extra")
        super().__init__(
            _("{what}: an upper-case echo answers with exactly as many bytes as it received -- "
              "is this an echo server? The connection was closed, so the extra bytes cannot be "
              "taken for the next reply; {where}").format(
                what=what.format(address=format_address(address), expected=expected,
                                 unsent=unsent, extra=len(extra)),
                where=where)
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
            _("the reply is not valid {encoding}: byte(s) {bad} at offset {offset} ({reason}); "
              "send and receive bytes instead of str, or look at .raw").format(
                encoding=encoding, bad=repr(self.bad), offset=self.start, reason=self.reason)
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
            _messages.ngettext(
                "no reply from {address} after {attempts} try over {waited} s — is a UDP server "
                "running on that port? UDP has no connection, so a missing server, a lost "
                "datagram and a slow server all look the same: silence",
                "no reply from {address} after {attempts} tries over {waited} s — is a UDP "
                "server running on that port? UDP has no connection, so a missing server, a "
                "lost datagram and a slow server all look the same: silence",
                attempts).format(address=format_address(address), attempts=attempts,
                                 waited=f"{waited:.1f}")
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
            text = _("this datagram is {size} bytes, but one UDP datagram over IPv4 carries at "
                     "most {limit} bytes: the operating system refuses to send it (some, such "
                     "as macOS, refuse even smaller ones by default). Split the data into "
                     "several datagrams, or use TCP")
        else:
            text = _("this datagram is {size} bytes, but socketserver.UDPServer reads at most "
                     "{limit} bytes per datagram (max_packet_size) and silently drops the rest; "
                     "send at most {limit} bytes per datagram, or raise max_packet_size on the "
                     "server class")
        super().__init__(text.format(size=size, limit=limit))


class TruncatedReply(NetlessonError, ValueError):
    """The UDP reply is shorter than the datagram sent: the server cut it."""

    def __init__(self, sent: int, reply: bytes):
        self.sent = sent
        self.reply = bytes(reply)
        super().__init__(
            _("sent a {sent}-byte datagram but the reply has only {received} bytes: the server "
              "kept the first {received} (socketserver.UDPServer.max_packet_size) and dropped "
              "the rest; the reply is in .reply").format(sent=sent, received=len(reply))
        )
