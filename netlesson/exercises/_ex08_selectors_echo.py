"""Exercise 8: a single-threaded upper-case echo server on ``selectors``.

The student writes ``serve(listener, stop)``: the event loop ``serve_forever``
is made of.  *listener* is a listening, non-blocking TCP socket on loopback
that the check made (and closes); *stop* is a :class:`threading.Event`.  The
loop accepts connections, registers them with a selector, echoes what each
one sends in upper case, unregisters and closes a connection at its end of
stream, and returns -- after closing every connection it still holds and its
selector -- once *stop* is set (it must look at least every 0.1 s:
``sel.select(timeout=0.1)``).

The check runs ``serve`` in one worker thread (:func:`._harness.start_call`),
sets *stop* at the end, whatever happened, and waits at most
:data:`STOP_DEADLINE` seconds for it to return; a loop that does not is
reported and unblocked as far as a thread can be (its listening socket is
shut down and closed, every client connection too).  All clients are the
checker's own sockets, driven from the checking thread, so the check starts
no thread besides the worker -- which lets it prove the student's loop starts
none either.  Nothing here is a ``socketserver`` server: another user on a
shared host who connects to the listener is served an echo like any client,
which cannot change the result of a check.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time

from ..classroom import CLASS_BACKLOG
from ..serverlog import describe_bytes
from ._harness import (Call, checker, describe_exception, fail, require_callable, start_call,
                       student_frame)
from ._wire import LOOPBACK, REPLY_TIMEOUT, close_quietly, connect

__all__ = ["check_selectors_echo", "check_selectors_echo_robust"]

#: Seconds ``serve`` has to return once ``stop`` is set.
STOP_DEADLINE = 1.0
#: The send buffer of the server's connections (set on the listener, which they inherit).
SERVER_SNDBUF = 64 << 10


class _Run:
    """The student's ``serve(listener, stop)`` running in a worker thread, and our clients."""

    def __init__(self, serve):
        self.listener = socket.create_server((LOOPBACK, 0), backlog=CLASS_BACKLOG)
        # accepted connections inherit the listener's send buffer: a small one makes a
        # client that reads slowly fill it quickly, as a slow network would
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SERVER_SNDBUF)
        self.listener.setblocking(False)
        self.address = self.listener.getsockname()[:2]
        self.stop = threading.Event()
        self.clients: list[socket.socket] = []
        self.before = set(threading.enumerate())
        self.call: Call = start_call(serve, self.listener, self.stop)
        self.stopped_in_time = None  #: set by :meth:`finish`
        self.stuck_at = ""

    def client(self, **options) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        for name, value in options.items():
            sock.setsockopt(socket.SOL_SOCKET, getattr(socket, name), value)
        sock.settimeout(REPLY_TIMEOUT)
        try:
            sock.connect(self.address)
        except OSError:
            sock.close()
            raise
        self.clients.append(sock)
        return sock

    def new_threads(self) -> list[str]:
        return sorted(t.name for t in threading.enumerate()
                      if t not in self.before and t is not self.call.thread)

    def finish(self) -> None:
        """Set *stop*, wait for ``serve`` to return, unblock it if it does not."""
        self.stop.set()
        self.stopped_in_time = self.call.wait(STOP_DEADLINE) or self.call.done.is_set()
        if not self.stopped_in_time:
            try:
                self.stuck_at = student_frame(self.call.stack())
            except RuntimeError:  # frames may be off limits (the grader's sandbox)
                self.stuck_at = ""
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)  # wakes a blocking accept()
        close_quietly(self.listener, *self.clients)
        self.call.done.wait(0.5)


@contextlib.contextmanager
def _running(serve):
    run = _Run(serve)
    try:
        yield run
    finally:
        run.finish()


def _fail_if_serve_ended(run: _Run, context: str) -> None:
    """``serve`` must still be running: say why it is not."""
    __tracebackhide__ = True  # noqa: F841
    if not run.call.done.is_set():
        return
    if run.call.error is not None:
        error = run.call.error
        hint = ""
        if isinstance(error, BlockingIOError):
            hint = (". A non-blocking socket never waits: accept(), recv() and send() raise "
                    "BlockingIOError when they would have to. Call accept() only when the "
                    "selector reports the listening socket readable, recv() only when it reports "
                    "the connection readable; and send() may take only part of the data, or "
                    "none: keep the rest in a buffer and send it when the selector reports "
                    "EVENT_WRITE")
        elif isinstance(error, (ConnectionError, OSError)):
            hint = (". A client may disappear at any moment: catch ConnectionError (or OSError) "
                    "around recv() and send(), then unregister and close that connection and "
                    "go on serving the others")
        fail(f"serve(listener, stop) raised {describe_exception(error)} {context}{hint}")
    fail(f"serve(listener, stop) returned {context} although stop was not set: it should loop "
         f"(while not stop.is_set(): ... sel.select(timeout=0.1) ...) until the check sets stop")


def _fail_if_threads(run: _Run, context: str) -> None:
    __tracebackhide__ = True  # noqa: F841
    new = run.new_threads()
    if new:
        fail(f"while serving {context} your server started {len(new)} thread(s) "
             f"({', '.join(new[:5])}{' ...' if len(new) > 5 else ''}): this exercise is one "
             f"thread serving everyone. Do not start threads (and no ThreadingTCPServer): "
             f"register each connection with the selector and let select() tell you which one "
             f"is ready")


def _read_exactly(sock: socket.socket, size: int, timeout: float = REPLY_TIMEOUT
                  ) -> tuple[bytes, bool]:
    """Read *size* bytes, or what came before *timeout* s passed or the peer closed; ``(data, closed)``."""
    data = bytearray()
    deadline = time.monotonic() + timeout
    while len(data) < size:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(data), False
        sock.settimeout(left)
        try:
            chunk = sock.recv(size - len(data))
        except TimeoutError:
            return bytes(data), False
        except OSError:
            return bytes(data), True
        if not chunk:
            return bytes(data), True
        data += chunk
    return bytes(data), False


def _expect_echo(run: _Run, sock: socket.socket, message: bytes, who: str, context: str) -> None:
    __tracebackhide__ = True  # noqa: F841
    want = message.upper()
    got, closed = _read_exactly(sock, len(want))
    if got == want:
        return
    _fail_if_serve_ended(run, f"while {context}")
    how = "the connection was closed" if closed else f"waited {REPLY_TIMEOUT:g} s"
    if not got:
        hint = ("your loop never answered it. Register every accepted connection with the "
                "selector (sel.register(conn, selectors.EVENT_READ, ...)); when select() reports "
                "it readable, recv() and send back data.upper()")
    elif want.startswith(got):
        hint = (f"only the first {len(got)} of {len(want)} bytes came back: send() may send "
                f"only part of what it is given -- keep the rest and send it later")
    elif got == message[:len(got)] and message != want:
        hint = "the echo is not upper-cased: send back data.upper()"
    else:
        hint = f"the echo should be exactly {describe_bytes(want)}"
    fail(f"{who} sent {describe_bytes(message)} while {context} and got "
         f"{describe_bytes(got) if got else 'nothing'} ({how}): {hint}")


def _expect_closed(run: _Run, sock: socket.socket, who: str, when: str) -> None:
    __tracebackhide__ = True  # noqa: F841
    got, closed = _read_exactly(sock, 1)
    if closed and not got:
        return
    if got:
        fail(f"{when}, {who} still received {describe_bytes(got)}")
    if "stop" in when:
        hint = ("before serve() returns, close every connection it still holds (sel.get_map() "
                "lists what is registered) and the selector")
    else:
        hint = ("recv() returns b'' once a client has finished sending: then "
                "sel.unregister(conn) and conn.close()")
    fail(f"{when}, {who}'s connection was not closed within {REPLY_TIMEOUT:g} s: {hint}")


@checker
def check_selectors_echo(serve, clients: int = 20, rounds: int = 3) -> None:
    """Exercise 8, part 1: many clients at once, one thread.

    *clients* connections are open at the same time; in each of *rounds*
    rounds every client sends a line before any reply is read, then every
    reply is checked.  No thread may appear besides the one running
    ``serve``.  Then every client finishes sending and must see the server
    close its connection, and ``serve`` must return once ``stop`` is set.
    """
    __tracebackhide__ = True  # noqa: F841
    require_callable(serve, "serve", ["listener", "stop"])
    with _running(serve) as run:
        time.sleep(0.05)
        _fail_if_serve_ended(run, "at once")
        socks = []
        for i in range(clients):
            try:
                socks.append(run.client())
            except OSError as exc:
                _fail_if_serve_ended(run, f"while {clients} clients connected")
                fail(f"client {i} of {clients} could not connect ({exc})")
        context = f"{clients} clients were connected at the same time"
        for r in range(rounds):
            messages = [b"client %d, round %d\n" % (i, r) for i in range(clients)]
            for sock, message in zip(socks, messages):
                sock.sendall(message)
            for i, (sock, message) in enumerate(zip(socks, messages)):
                want = message.upper()
                got, _ = _read_exactly(sock, len(want))
                if got != want and i > 0 and r == 0 and not got:
                    _fail_if_serve_ended(run, f"while {context}")
                    fail(f"{context}; each sent one line. Client 0 was answered, client {i} got "
                         f"nothing within {REPLY_TIMEOUT:g} s: your loop serves one client at a "
                         f"time (it stays with a connection until it ends). Register every "
                         f"connection with the selector and go back to select() after each "
                         f"recv(), so whichever socket is ready is served next")
                if got != want:
                    # the same message again cannot be told apart: explain with what came
                    _explain_round(run, i, message, got, context)
            _fail_if_threads(run, f"{clients} clients at once")
        _fail_if_serve_ended(run, f"while {context}")
        for i, sock in enumerate(socks):
            sock.shutdown(socket.SHUT_WR)
        for i, sock in enumerate(socks):
            _expect_closed(run, sock, f"client {i}", "after a client finished sending")
        _fail_if_threads(run, "clients that closed")
    _fail_if_not_stopped(run)


def _explain_round(run: _Run, i: int, message: bytes, got: bytes, context: str) -> None:
    __tracebackhide__ = True  # noqa: F841
    _fail_if_serve_ended(run, f"while {context}")
    want = message.upper()
    if not got:
        hint = ("your loop never answered it: register every accepted connection with the "
                "selector, recv() from each one the selector reports readable, and send "
                "back data.upper()")
    elif got == message:
        hint = "the echo is not upper-cased: send back data.upper()"
    else:
        hint = f"the echo should be exactly {describe_bytes(want)}"
    fail(f"{context}; client {i} sent {describe_bytes(message)} and got "
         f"{describe_bytes(got) if got else 'nothing'}: {hint}")


def _fail_if_not_stopped(run: _Run) -> None:
    __tracebackhide__ = True  # noqa: F841
    if not run.stopped_in_time:
        fail(f"serve(listener, stop) did not return within {STOP_DEADLINE:g} s after the check "
             f"set stop{run.stuck_at}: look at stop.is_set() every time round the loop, and "
             f"never wait without a limit -- sel.select(timeout=0.1), and accept()/recv() only "
             f"on a socket the selector reported ready")
    if run.call.error is not None:
        fail(f"when stop was set, serve(listener, stop) raised "
             f"{describe_exception(run.call.error)}: close what you hold and return")


def _exchange(sock: socket.socket, payload: bytes, timeout: float) -> tuple[bytes, int]:
    """Send *payload* while reading the echo, both at once; ``(echo so far, bytes sent)``."""
    sock.setblocking(False)
    received = bytearray()
    sent = 0
    deadline = time.monotonic() + timeout
    try:
        while len(received) < len(payload):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            writers = [sock] if sent < len(payload) else []
            readable, writable, _ = select.select([sock], writers, [], min(left, 0.2))
            if writable:
                try:
                    sent += sock.send(payload[sent:sent + 65536])
                except BlockingIOError:
                    pass
            if readable:
                try:
                    chunk = sock.recv(262144)
                except BlockingIOError:
                    continue
                if not chunk:
                    break
                received += chunk
    except OSError:
        pass
    finally:
        sock.settimeout(REPLY_TIMEOUT)
    return bytes(received), sent


def _flood(sock: socket.socket, payload: bytes, seconds: float) -> int:
    """Send as much of *payload* as the connection takes within *seconds*, reading nothing."""
    sock.setblocking(False)
    sent = 0
    deadline = time.monotonic() + seconds
    try:
        while sent < len(payload) and time.monotonic() < deadline:
            _, writable, _ = select.select([], [sock], [], 0.05)
            if writable:
                try:
                    sent += sock.send(payload[sent:sent + 65536])
                except BlockingIOError:
                    pass
    except OSError:
        pass
    finally:
        sock.settimeout(REPLY_TIMEOUT)
    return sent


#: The slow reader's payload, and its receive buffer (small, so a server that waits for it stalls).
FLOOD_BYTES = 4 << 20
SLOW_RCVBUF = 32 << 10


@checker
def check_selectors_echo_robust(serve) -> None:
    """Exercise 8, part 2: partial reads and writes, a client that reads slowly, one that vanishes.

    A line sent in three pieces; 1 MiB sent while the client reads the echo
    (``send`` takes only part of it at a time); a client that sends 4 MiB and
    reads nothing, while another client must still be answered; a client
    that resets its connection mid-message and one that connects and leaves;
    then the first client once more, and at ``stop`` every connection still
    open must be closed.
    """
    __tracebackhide__ = True  # noqa: F841
    require_callable(serve, "serve", ["listener", "stop"])
    with _running(serve) as run:
        time.sleep(0.05)
        _fail_if_serve_ended(run, "at once")
        first = run.client()
        for piece in (b"one line, ", b"sent in ", b"three pieces\n"):
            first.sendall(piece)
            time.sleep(0.05)
        _expect_echo(run, first, b"one line, sent in three pieces\n", "a client",
                     "sending it in 3 pieces")

        big = run.client()
        payload = bytes(range(97, 123)) * ((1 << 20) // 26 + 1)
        payload = payload[:1 << 20]
        echo, sent = _exchange(big, payload, timeout=3.0)
        if echo != payload.upper():
            _fail_if_serve_ended(run, "while a client sent 1 MiB")
            _fail_if_threads(run, "a 1 MiB message")
            lost = "" if payload.upper().startswith(echo) else " (and not in order)"
            fail(f"a client sent {sent} bytes (of 1 MiB) while reading the echo, and got "
                 f"{len(echo)} bytes back{lost}. send() on a non-blocking socket sends what fits "
                 f"into the socket's buffer and returns how much that was -- possibly less than "
                 f"you gave it. Keep the unsent rest in a per-connection buffer, register the "
                 f"connection for EVENT_WRITE while the buffer is not empty, and send more when "
                 f"the selector reports it writable")
        big.close()

        slow = run.client(SO_RCVBUF=SLOW_RCVBUF)
        flooded = _flood(slow, b"z" * FLOOD_BYTES, seconds=1.0)
        ping = run.client()
        ping.sendall(b"ping\n")
        got, _ = _read_exactly(ping, 5)
        if got != b"PING\n":
            _fail_if_serve_ended(run, "while one client sent a lot and read nothing")
            fail(f"one client sent {flooded} bytes and read none of the echo; meanwhile another "
                 f"client sent b'ping\\n' and got {describe_bytes(got) if got else 'nothing'} "
                 f"within {REPLY_TIMEOUT:g} s: your loop waits for the slow client to read (a "
                 f"blocking sendall()), and everyone else waits too. Never block in the loop: "
                 f"send() what the connection takes, keep the rest, and come back when the "
                 f"selector reports EVENT_WRITE")
        _fail_if_threads(run, "a client that reads slowly")
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        slow.close()  # with unread data and linger 0: a reset

        vanished = run.client()
        vanished.sendall(b"half a mess")
        _expect_echo(run, vanished, b"half a mess", "a client", "other clients were connected")
        vanished.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        vanished.close()  # a reset, mid-conversation: the server's next recv() raises
        run.client().close()  # connects and leaves at once
        time.sleep(0.2)
        _fail_if_serve_ended(run, "after a client reset its connection")
        first.sendall(b"still there?\n")
        _expect_echo(run, first, b"still there?\n", "the first client",
                     "other clients had reset their connections or left")
        _fail_if_threads(run, "these clients")
        run.stop.set()
        _expect_closed(run, first, "a client that was still connected", "after stop was set")
    _fail_if_not_stopped(run)
