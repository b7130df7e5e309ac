"""The threaded UDP upper-case echo: handler, server class and client.

With UDP there is no connection: ``socketserver.UDPServer.get_request`` does
one ``recvfrom(max_packet_size)`` and hands the handler
``request = (data, server_socket)``; the handler answers with
``server_socket.sendto(reply, client_address)``.  What a classroom needs on
top of the seed's version:

* :class:`UpperEchoDatagramHandler` logs instead of printing;
* :class:`ClassroomUDPServer` notices a datagram longer than
  ``max_packet_size`` (8192 bytes), which plain ``UDPServer`` cuts *silently*,
  and writes that to its log;
* :class:`UDPEchoClient` never waits forever: it has a timeout, retries with
  growing waits up to a cap, ignores datagrams from anyone but the server it
  asked, refuses to send a datagram the server would cut, and says clearly
  when nobody answers.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import socketserver
import time

from . import constants
from .classroom import (ClassroomServerMixIn, make_server,
                        peer_log)
from .errors import (
    DatagramTooLong,
    ReplyDecodeError,
    ServerNotResponding,
    TruncatedReply,
    format_address,
)
from .i18n import core as _messages

_ = _messages.gettext

__all__ = [
    "UpperEchoDatagramHandler",
    "MyServer",
    "ClassroomUDPServer",
    "create_server",
    "UDPEchoClient",
    "echo",
    "interactive",
    "MAX_PACKET_SIZE",
    "MAX_UDP_PAYLOAD",
]

#: What ``socketserver.UDPServer`` reads per datagram (read from the running Python).
MAX_PACKET_SIZE = socketserver.UDPServer.max_packet_size
#: The largest payload one IPv4 UDP datagram can carry (65535 - 8 - 20).
MAX_UDP_PAYLOAD = 65507


class TruncatedData(bytes):
    """The bytes of a datagram that ``recvfrom`` cut to ``max_packet_size``.

    Still ordinary ``bytes`` (``request[0].upper()`` works as in the seed), with
    ``truncated = True`` so a handler can tell.
    """

    truncated = True


class UpperEchoDatagramHandler(socketserver.BaseRequestHandler):
    """Upper-case echo over UDP: the seed's UDP ``MyServer``.

    ``self.request`` is ``(data, server_socket)``: the datagram's bytes and the
    server's own socket, which the reply is sent from.
    """

    def handle(self):
        data, sock = self.request
        log = peer_log(self.server, self.client_address)  # records about this client
        if getattr(data, "truncated", False):  # longer than max_packet_size: cut
            log("truncated", nbytes=len(data))
        log("received", data=data)
        try:
            sock.sendto(data.upper(), self.client_address)
        except OSError as exc:
            log("reply_failed", error=exc)


MyServer = UpperEchoDatagramHandler


class ClassroomUDPServer(ClassroomServerMixIn, socketserver.ThreadingUDPServer):
    """``ThreadingUDPServer`` with classroom-safe settings.

    ``allow_reuse_address`` stays ``False`` (UDPServer's default): UDP has no
    TIME_WAIT to wait out, and on Linux SO_REUSEADDR lets a second UDP server
    bind the same port *without an error* and steal the datagrams -- a
    confusing classroom bug.

    ``get_request`` first *peeks* at the waiting datagram to learn whether it
    is longer than ``max_packet_size``, then lets ``UDPServer.get_request`` read
    it exactly as usual; a cut datagram reaches the handler as
    :class:`TruncatedData` and is logged.  Only the serving thread reads the
    socket, so the peek and the read see the same datagram.
    """

    allow_reuse_address = False

    def get_request(self):
        truncated = False
        if hasattr(self.socket, "recvmsg"):
            try:
                _, _, flags, _ = self.socket.recvmsg(self.max_packet_size, 0, socket.MSG_PEEK)
                truncated = bool(flags & getattr(socket, "MSG_TRUNC", 0))
            except OSError:
                pass  # let UDPServer.get_request raise it the usual way
        (data, sock), client_address = super().get_request()
        if truncated:
            data = TruncatedData(data)
        return (data, sock), client_address


def create_server(address=("127.0.0.1", 0), handler=UpperEchoDatagramHandler,
                  server_class=ClassroomUDPServer, **kwargs):
    """Build a UDP server; a busy port raises :class:`~netlesson.errors.PortInUseError`."""
    return make_server(server_class, address, handler, **kwargs)


def _resolve(address):
    """``(host, port)`` -> the ``(ip, port)`` replies will come from, and the family."""
    host, port = address[0], address[1]
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)
    # "localhost" may resolve to ::1 first, while the course's servers listen on
    # 127.0.0.1; unlike TCP's create_connection, UDP cannot try each in turn.
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    family, _, _, _, sockaddr = infos[0]
    ip = sockaddr[0]
    if ipaddress.ip_address(ip.partition("%")[0]).is_unspecified:
        # "0.0.0.0" / "::" as a destination means this machine: the reply comes from loopback
        ip = "127.0.0.1" if family == socket.AF_INET else "::1"
    return family, (ip, sockaddr[1])


class UDPEchoClient:
    """A UDP client that retries, filters, and never hangs.

    Each request waits ``timeout`` seconds for the reply; on silence it sends
    again and waits ``backoff`` times longer, capped at ``max_timeout``, for at
    most ``retries`` extra tries, then raises
    :class:`~netlesson.errors.ServerNotResponding`.  Datagrams that come from
    any other address than the server's are ignored (counted in
    ``ignored``).  Replies that arrive after their request was given up on
    are dropped before the next request is sent (counted in ``stale``); a
    late duplicate that arrives *while* a request waits is indistinguishable
    from its answer, as with any protocol without request ids.

    ``max_datagram`` (default: ``socketserver.UDPServer.max_packet_size``,
    8192) guards against sending what the server would silently cut; pass
    ``None`` to send anyway, and a shorter reply then raises
    :class:`~netlesson.errors.TruncatedReply`.
    """

    def __init__(self, address=constants.ip_port, *, timeout: float = 0.5, retries: int = 3,
                 backoff: float = 2.0, max_timeout: float = 2.0,
                 max_datagram: int | None = MAX_PACKET_SIZE, encoding: str = constants.encoding):
        if timeout <= 0:
            raise ValueError(_("timeout must be positive: a UDP client without one can wait "
                               "forever"))
        self.address = tuple(address)[:2]  # a 4-tuple from an IPv6 getsockname() too
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_timeout = max_timeout
        self.max_datagram = max_datagram
        self.encoding = encoding
        self.family, self.server_address = _resolve(self.address)
        self.sock: socket.socket | None = None
        self.ignored = 0  #: datagrams from other senders, dropped
        self.stale = 0  #: leftover replies to earlier tries, dropped
        self.attempts = 0  #: sends made for the last request

    def connect(self) -> "UDPEchoClient":
        """Create the socket (UDP has no connection; the name matches the TCP client)."""
        if self.sock is None:
            self.sock = socket.socket(self.family, socket.SOCK_DGRAM)
        return self

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self.connect()

    def __exit__(self, *exc):
        self.close()

    def _from_server(self, addr) -> bool:
        try:
            return (ipaddress.ip_address(addr[0]) == ipaddress.ip_address(self.server_address[0])
                    and addr[1] == self.server_address[1])
        except ValueError:
            return tuple(addr[:2]) == tuple(self.server_address)

    def _drain(self) -> None:
        """Drop datagrams already waiting: replies to earlier, abandoned tries."""
        sock = self.sock
        while select.select([sock], [], [], 0)[0]:
            try:
                sock.recvfrom(MAX_UDP_PAYLOAD + 1)
            except OSError:
                return
            self.stale += 1

    def send_bytes(self, data: bytes) -> bytes:
        data = bytes(data)
        if self.max_datagram is not None and len(data) > self.max_datagram:
            raise DatagramTooLong(len(data), self.max_datagram)
        if len(data) > MAX_UDP_PAYLOAD:
            raise DatagramTooLong(len(data), MAX_UDP_PAYLOAD, protocol_limit=True)
        self.connect()
        sock = self.sock
        self._drain()
        wait = self.timeout
        started = time.monotonic()
        self.attempts = 0
        for _ in range(self.retries + 1):
            self.attempts += 1
            try:
                sock.sendto(data, self.server_address)
            except (ConnectionRefusedError, ConnectionResetError):  # (Reset: Windows' name)
                pass  # an ICMP "port unreachable" from an earlier try; keep trying
            deadline = time.monotonic() + wait
            while (left := deadline - time.monotonic()) > 0:
                if not select.select([sock], [], [], left)[0]:
                    break
                try:
                    reply, addr = sock.recvfrom(MAX_UDP_PAYLOAD + 1)
                except (ConnectionRefusedError, ConnectionResetError):  # (Reset: Windows)
                    continue  # ICMP error queued on the socket; nothing to read
                if not self._from_server(addr):
                    self.ignored += 1
                    continue
                if len(reply) < len(data) and self.max_datagram is None:
                    raise TruncatedReply(len(data), reply)
                return reply
            wait = min(wait * self.backoff, self.max_timeout)
        raise ServerNotResponding(self.address, self.attempts, time.monotonic() - started)

    def send_text(self, text: str) -> str:
        raw = self.send_bytes(text.encode(self.encoding))
        try:
            return raw.decode(self.encoding)
        except UnicodeDecodeError as exc:
            raise ReplyDecodeError(raw, self.encoding, exc) from None

    def send(self, message):
        """``str`` in, ``str`` out; ``bytes`` in, ``bytes`` out."""
        if isinstance(message, str):
            return self.send_text(message)
        return self.send_bytes(message)

    def __repr__(self):
        return f"<UDPEchoClient {format_address(self.address)}>"


def echo(message, address=constants.ip_port, **kwargs):
    """One call: send *message* in one datagram, return the reply."""
    with UDPEchoClient(address, **kwargs) as client:
        return client.send(message)


def interactive(address=constants.ip_port, *, lines=None, out=None, prompt=None, **kwargs) -> int:
    """The seed's UDP client loop: read lines, send each as a datagram, print each reply."""
    from ._loop import run_client_loop

    return run_client_loop(
        lambda: UDPEchoClient(address, **kwargs).connect(), lines=lines, out=out, prompt=prompt,
        skip_empty=False,
    )
