"""How a checker talks to the student's code over a socket.

Every socket here has a timeout, so no read waits for a reply forever.
"""

from __future__ import annotations

import socket
import time

#: Seconds a checker waits for one reply before it calls the reply missing.
REPLY_TIMEOUT = 1.5
LOOPBACK = "127.0.0.1"


def connect(address, timeout: float = REPLY_TIMEOUT) -> socket.socket:
    """A TCP connection to *address* whose every operation times out after *timeout* s."""
    sock = socket.create_connection(address, timeout=timeout)
    sock.settimeout(timeout)
    return sock


def tcp_pair(timeout: float = 2.0) -> tuple[socket.socket, socket.socket]:
    """Two connected TCP sockets on loopback (each with a timeout).

    Another process on the host may connect to the listener in the moment
    it is open: only the connection from our own end is kept.
    """
    with socket.create_server((LOOPBACK, 0)) as listener:
        listener.settimeout(timeout)
        a = socket.create_connection(listener.getsockname()[:2], timeout=timeout)
        deadline = time.monotonic() + timeout
        while True:
            listener.settimeout(max(0.0, deadline - time.monotonic()))
            try:
                b, peer = listener.accept()
            except OSError:
                a.close()
                raise
            if peer[:2] == a.getsockname()[:2]:
                break
            b.close()  # a stranger's connection
    b.settimeout(timeout)
    return a, b


def close_quietly(*socks):
    """Close every socket in *socks*; one already closed is no error."""
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def read_up_to(sock: socket.socket, limit: int, *, bufsize: int | None = None,
               deadline: float | None = None) -> tuple[bytes, bool]:
    """Read until *limit* bytes came, the peer closed or ``recv()`` timed out; ``(data, closed)``.

    Each ``recv()`` asks for *bufsize* bytes, or for exactly what is still
    missing when *bufsize* is ``None``.  With *deadline* (a
    :func:`time.monotonic` value) each one waits only for what is left of
    it, so one deadline covers the whole read; otherwise each waits for the
    socket's own timeout.  An error from ``recv()`` counts as closed.
    """
    data = bytearray()
    while len(data) < limit:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
        try:
            chunk = sock.recv(bufsize or limit - len(data))
        except TimeoutError:
            break
        except OSError:
            return bytes(data), True
        if not chunk:
            return bytes(data), True
        data += chunk
    return bytes(data), False


def read_available(sock: socket.socket, idle: float = 0.2,
                   limit: int = 1 << 20) -> tuple[bytes, bool]:
    """Read whatever arrives until *idle* seconds of silence; ``(data, closed)``."""
    old = sock.gettimeout()
    sock.settimeout(idle)
    try:
        return read_up_to(sock, limit, bufsize=65536)
    finally:
        try:
            sock.settimeout(old)
        except OSError:
            pass


def send_and_read_lines(sock: socket.socket, pieces: list[bytes], count: int, pending: bytearray,
                        send_failed, gap: float = 0.0) -> tuple[list[bytes], bool]:
    """Send *pieces*, *gap* s apart, then read *count* lines (:func:`read_lines`).

    A send fails when the peer has closed the connection: then
    ``send_failed(error)`` is called instead of reading -- the caller's own
    explanation, which raises.
    """
    __tracebackhide__ = True  # noqa: F841
    for i, piece in enumerate(pieces):
        if i and gap:
            time.sleep(gap)
        try:
            sock.sendall(piece)
        except OSError as exc:
            send_failed(exc)
    return read_lines(sock, count, pending)


def read_lines(sock: socket.socket, count: int, pending: bytearray,
               timeout: float = REPLY_TIMEOUT) -> tuple[list[bytes], bool]:
    """Read *count* ``\\n``-terminated lines (or until timeout/close), each with its ``\\n``.

    Returns ``(lines, closed)``; bytes after the last complete line stay in
    *pending*.  On a timeout the partial line is in *pending* too.  Unlike
    :class:`netlesson.framing.LineReader`, one deadline covers the whole read,
    so a reply that trickles in byte by byte cannot stretch it.
    """
    lines: list[bytes] = []
    deadline = time.monotonic() + timeout
    closed = False
    while len(lines) < count:
        idx = pending.find(b"\n")
        if idx >= 0:
            lines.append(bytes(pending[: idx + 1]))
            del pending[: idx + 1]
            continue
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except OSError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        pending += chunk
    return lines, closed

