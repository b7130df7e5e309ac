"""The client side of a traced request: one real TCP exchange or one UDP datagram.

Each client gets one deadline for the whole exchange and says, in the student's
terms, what the handler did wrong when the deadline passes.  They are plain
functions of ``(address, message, timeout)`` so a test can replace them.
"""

from __future__ import annotations

import socket
import time

from ..errors import ServerNotResponding
from ..serverlog import describe_bytes
from ._result import TraceError


def seconds_left(deadline: float) -> float:
    """Seconds until *deadline* (a :func:`time.monotonic` time), never negative."""
    return max(0.0, deadline - time.monotonic())


def tcp_request(address, message: bytes, timeout: float) -> bytes:
    """Connect, send *message*, close the sending side, read the reply until the server closes.

    Half-closing (``shutdown(SHUT_WR)``) tells a handler that loops ``recv`` until
    ``b''`` -- like the seed's -- that the conversation is over, so the handler's
    ``finish`` and the server's ``shutdown_request`` run and the trace is complete.

    A connection the server resets (a handler that ended without reading the whole
    message) ends the reply too.

    The whole exchange gets *timeout* seconds.  The reply has no length: it ends
    when the server closes the connection, which ``socketserver`` does after
    ``handle()`` returns.  So running out of time means the handler has not
    returned -- whatever it has sent by then -- and :class:`TraceError` says so
    (not "the reply was too short": there is no expected length to fall short of).
    """
    deadline = time.monotonic() + timeout
    reply = bytearray()

    def limit_to_deadline(sock: socket.socket) -> None:
        left = seconds_left(deadline)
        if left <= 0:  # settimeout(0) would make the socket non-blocking instead
            raise TimeoutError
        sock.settimeout(left)

    with socket.create_connection(address, timeout=timeout) as sock:
        try:
            limit_to_deadline(sock)
            sock.sendall(message)
        except TimeoutError:
            raise TraceError(
                f"could not send the {len(message)}-byte message within {timeout:g} s: the "
                f"handler is not reading it (does handle() wait for something else first?)"
            ) from None
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # ENOTCONN: see the reset below
            pass
        while True:
            try:
                limit_to_deadline(sock)
                chunk = sock.recv(65536)
            except TimeoutError:
                raise TraceError(_not_closed(reply, timeout)) from None
            except ConnectionResetError:
                # A handler that returns (or crashes) without reading the whole
                # message: closing a socket with unread data sends a reset instead
                # of a normal close.  The connection has ended all the same, and
                # the trace -- with handle_error in it -- shows why.
                return bytes(reply)
            if not chunk:
                return bytes(reply)
            reply += chunk


def _not_closed(reply: bytes | bytearray, timeout: float) -> str:
    """Why a TCP trace ran out of time: the handler never closed the connection."""
    if reply:
        got = f"the handler sent {len(reply)} bytes ({describe_bytes(bytes(reply))}) but"
    else:
        got = "the handler sent nothing and"
    return (
        f"{got} never closed the connection within {timeout:g} s. The trace reads the "
        f"reply until the server closes the connection, which socketserver does when "
        f"handle() returns. The client had sent its whole message and shut down its "
        f"sending side, so a handle() that reads until recv() returns b'' has seen the "
        f"end. Is handle() waiting for more data, or for something else, instead of "
        f"returning?"
    )


def udp_request(address, message: bytes, timeout: float) -> bytes:
    """Send *message* as one datagram, wait up to *timeout* for one reply from *address*.

    No retries: every retry would be a second request, and a second handler thread
    in the trace.  On loopback a datagram is not lost.
    """
    started = time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(message, address)
        while True:
            try:
                reply, sender = sock.recvfrom(65535)
            except TimeoutError:
                raise ServerNotResponding(address, 1, time.monotonic() - started) from None
            if tuple(sender[:2]) == tuple(address[:2]):
                return reply
