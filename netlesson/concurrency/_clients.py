"""The load generator: N concurrent clients x M messages against one echo server.

:func:`run_clients` connects the clients, drives them all from one thread
with a selector, checks every reply and returns a :class:`Measurement`.  It
runs in the notebook's kernel (or the benchmark's process), never in the
server's: the measuring side then costs the same whatever the server does.
"""

from __future__ import annotations

import selectors
import socket
import time
from dataclasses import dataclass

__all__ = ["DEFAULT_PAYLOAD", "WrongReply", "NoReply", "Measurement", "run_clients"]

#: What each measuring client sends: short, with lower-case letters so the
#: upper-cased reply differs from the request (an echo that forgot ``.upper()``
#: is caught), and ending in a newline like a line typed in the seed's client.
DEFAULT_PAYLOAD = b"hello, socketserver\n"


class WrongReply(AssertionError):
    """A reply was not the upper-cased request: the server under test is not an upper-case echo."""

    def __init__(self, sent: bytes, expected: bytes, reply: bytes):
        self.sent = sent
        self.expected = expected
        self.reply = reply
        super().__init__(f"sent {sent!r}, expected {expected!r}, got {reply!r}")


class NoReply(TimeoutError):
    """No reply came for ``.timeout`` s, after ``.done`` of ``.total`` round trips."""

    def __init__(self, timeout: float, done: int, total: int):
        self.timeout = timeout
        self.done = done
        self.total = total
        super().__init__(f"no reply for {timeout:g} s after {done} of {total} round trips: "
                         f"the server is stuck, or too slow for this timeout")


@dataclass(frozen=True)
class Measurement:
    """N clients x M messages against one server, and how long the exchange took."""

    kind: str | None
    clients: int
    messages: int  #: per client
    seconds: float

    @property
    def round_trips(self) -> int:
        return self.clients * self.messages

    @property
    def rate(self) -> float:
        """Round trips per second, all clients together."""
        return self.round_trips / self.seconds if self.seconds > 0 else float("inf")

    def __str__(self) -> str:
        who = f"{self.kind}: " if self.kind else ""
        return (f"{who}{self.clients} clients x {self.messages} messages = {self.round_trips} "
                f"round trips in {self.seconds * 1000:.0f} ms -> {self.rate:,.0f} round trips/s")


class _Client:
    """One measuring client's state in the selector loop."""

    __slots__ = ("sock", "left", "out", "inbuf")

    def __init__(self, sock):
        self.sock = sock
        self.left = 0
        self.out = b""
        self.inbuf = bytearray()


def _exchange(clients, messages, payload, expected, timeout, *, close_when_done=False) -> None:
    """Every client sends *payload*, waits for *expected*, *messages* times over.

    With *close_when_done* a client closes its connection after its last reply:
    a single-threaded server serves the next client only once the current
    one has left.

    One thread and a selector drive all clients: the measuring side then costs
    the same whatever the server does, and never competes with itself for the
    GIL the way 64 client threads would.
    """
    if messages <= 0:
        return
    sel = selectors.DefaultSelector()
    try:
        for c in clients:
            c.left = messages
            c.out = payload
            c.inbuf.clear()
            sel.register(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
        active = len(clients)
        while active:
            events = sel.select(timeout)
            if not events:
                done = sum(messages - c.left for c in clients)
                raise NoReply(timeout, done, len(clients) * messages)
            for key, mask in events:
                c = key.data
                if mask & selectors.EVENT_WRITE and c.out:
                    sent = c.sock.send(c.out)
                    c.out = c.out[sent:]
                    if not c.out:
                        sel.modify(c.sock, selectors.EVENT_READ, c)
                if mask & selectors.EVENT_READ:
                    chunk = c.sock.recv(max(len(expected) - len(c.inbuf), 1))
                    if not chunk:
                        raise ConnectionError(
                            f"the server closed a connection after "
                            f"{messages - c.left} of {messages} round trips")
                    c.inbuf += chunk
                    if len(c.inbuf) < len(expected):
                        continue
                    if c.inbuf != expected:
                        raise WrongReply(payload, expected, bytes(c.inbuf))
                    c.inbuf.clear()
                    c.left -= 1
                    if c.left:
                        c.out = payload
                        sel.modify(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
                    else:
                        sel.unregister(c.sock)
                        active -= 1
                        if close_when_done:
                            c.sock.close()
    finally:
        sel.close()


def run_clients(address, clients: int = 1, messages: int = 100, *,
                payload: bytes = DEFAULT_PAYLOAD, timeout: float = 5.0, warmup: bool = True,
                kind: str | None = None) -> Measurement:
    """Measure *clients* concurrent connections, each doing *messages* round trips.

    With ``warmup`` the clients connect one after another, and each does one
    round trip (not counted) before the next connects.  That proves the
    connection was accepted and has a handler before the clock starts
    (connection set-up is not what we measure), and it keeps the server's
    listen queue short: 64 clients connecting at once to a server with
    ``socketserver``'s backlog of 5 overflow it, and Linux makes the extra
    clients retry a second or more later.  A single-threaded server serves one
    connection at a time, so there a warm-up would wait forever for the second
    client: pass ``warmup=False`` (:func:`compare` does); the clients then all
    connect first, and the server needs a listen queue that holds them.

    Every reply is checked (:class:`WrongReply` if it is not the upper-cased
    request); *timeout* bounds each wait (:class:`NoReply` when it runs out),
    so nothing here can hang.
    """
    if clients < 1 or messages < 0:
        raise ValueError("need clients >= 1 and messages >= 0")
    payload = bytes(payload)
    if not payload:
        raise ValueError("an empty payload gets no reply; send at least one byte")
    expected = payload.upper()
    state = []
    try:
        for _ in range(clients):
            sock = socket.create_connection(tuple(address), timeout=timeout)
            client = _Client(sock)
            state.append(client)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            if warmup:
                _exchange([client], 1, payload, expected, timeout)
        started = time.perf_counter()
        _exchange(state, messages, payload, expected, timeout, close_when_done=True)
        seconds = time.perf_counter() - started
    finally:
        for client in state:
            client.sock.close()
    return Measurement(kind, clients, messages, seconds)
