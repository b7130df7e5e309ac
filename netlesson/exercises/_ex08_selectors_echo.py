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
none either.

Nothing here is a ``socketserver`` server, so no ``_peers`` filter stands
between a stranger and the student's ``accept()``.  Instead the listener sits
on a loopback address of its own where the system has one (on Linux every
127.x.y.z is loopback): a program elsewhere on the host that still connects
to a port whose server has gone -- a hub's proxy retrying a stopped notebook
server on 127.0.0.1, say -- is refused there instead of reaching the
student's loop, whose first ``recv()`` would meet the stranger's reset.
"""

from __future__ import annotations

import contextlib
import fcntl
import secrets
import select
import socket
import struct
import termios
import threading
import time

from ..classroom import CLASS_BACKLOG
from ..i18n import N_, checkers
from ..serverlog import describe_bytes
from ._harness import (Call, checker, describe_exception, fail, require_callable, start_call,
                       student_frame)
from ._wire import LOOPBACK, REPLY_TIMEOUT, close_quietly, read_up_to

_ = checkers.gettext
ngettext = checkers.ngettext

__all__ = ["check_selectors_echo", "check_selectors_echo_robust"]

#: Seconds ``serve`` has to return once ``stop`` is set.
STOP_DEADLINE = 1.0
#: Seconds a ``serve`` that closed a client's connection gets to finish ending before the
#: check decides whether it still runs (see :func:`_fail_if_serve_ended`).
SETTLE = 1.0
#: The send and receive buffers of the server's connections (set on the listener, which
#: they inherit).  Fixed sizes (the kernel's autotuning off) bound how much of what a
#: client sent can wait in the server's kernel, unread, and how much echo fits on its way.
SERVER_SNDBUF = 64 << 10
SERVER_RCVBUF = 64 << 10


def _private_loopback() -> str:
    """A random loopback address but 127.0.0.1 (by ``secrets``: ``random`` is the student's)."""
    return "127.{}.{}.{}".format(1 + secrets.randbelow(254), secrets.randbelow(256),
                                 1 + secrets.randbelow(254))


def _listen() -> socket.socket:
    """A listening socket on port 0 of a private loopback address, or of 127.0.0.1 if none."""
    try:
        return socket.create_server((_private_loopback(), 0), backlog=CLASS_BACKLOG)
    except OSError:  # only 127.0.0.1 is loopback here (macOS)
        return socket.create_server((LOOPBACK, 0), backlog=CLASS_BACKLOG)


class _Run:
    """The student's ``serve(listener, stop)`` running in a worker thread, and our clients."""

    def __init__(self, serve):
        self.listener = _listen()
        # accepted connections inherit the listener's send buffer: a small one makes a
        # client that reads slowly fill it quickly, as a slow network would
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SERVER_SNDBUF)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SERVER_RCVBUF)
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


def _fail_if_serve_ended(run: _Run, context: str, closed: bool = False) -> None:
    """``serve`` must still be running: say why it is not.

    *context* is a translated phrase saying when (``"while a client sent 1 MiB"``).
    *closed*: the client that met the problem saw its connection closed.  A
    ``serve`` that raised closes its connections (in its ``finally``, or as
    its frames are freed) *before* its thread records the exception, so the
    client can see the close while the thread has not yet ended: then ``serve``
    gets up to :data:`SETTLE` seconds to end, and the verdict is the exception
    it raised, not the close it caused -- whichever thread the machine runs first.
    """
    __tracebackhide__ = True  # noqa: F841
    if closed:
        run.call.done.wait(SETTLE)
    if not run.call.done.is_set():
        return
    if run.call.error is not None:
        error = run.call.error
        problem = _("serve(listener, stop) raised {error} {context}").format(
            error=describe_exception(error), context=context)
        hint = None
        if isinstance(error, BlockingIOError):
            hint = _("A non-blocking socket never waits: accept(), recv() and send() raise "
                     "BlockingIOError when they would have to. Call accept() only when the "
                     "selector reports the listening socket readable, recv() only when it "
                     "reports the connection readable; and send() may take only part of the "
                     "data, or none: keep the rest in a buffer and send it when the selector "
                     "reports EVENT_WRITE")
        elif isinstance(error, (ConnectionError, OSError)):
            hint = _("A client may disappear at any moment: catch ConnectionError (or OSError) "
                     "around recv() and send(), then unregister and close that connection and "
                     "go on serving the others")
        if hint:
            fail(_("{problem}. {hint}").format(problem=problem, hint=hint))
        fail(problem)
    fail(_("serve(listener, stop) returned {context} although stop was not set: it should loop "
           "(while not stop.is_set(): ... sel.select(timeout=0.1) ...) until the check sets "
           "stop").format(context=context))


def _fail_if_threads(run: _Run, context: str) -> None:
    """No thread may have appeared besides ``serve``'s; *context* (translated) says what was served."""
    __tracebackhide__ = True  # noqa: F841
    new = run.new_threads()
    if new:
        names = ", ".join(new[:5]) + (" ..." if len(new) > 5 else "")
        fail(ngettext("while serving {context} your server started {count} thread ({names}): "
                      "this exercise is one thread serving everyone. Do not start threads (and "
                      "no ThreadingTCPServer): register each connection with the selector and "
                      "let select() tell you which one is ready",
                      "while serving {context} your server started {count} threads ({names}): "
                      "this exercise is one thread serving everyone. Do not start threads (and "
                      "no ThreadingTCPServer): register each connection with the selector and "
                      "let select() tell you which one is ready", len(new)).format(
                          context=context, count=len(new), names=names))


def _read_exactly(sock: socket.socket, size: int, timeout: float = REPLY_TIMEOUT
                  ) -> tuple[bytes, bool]:
    """Read *size* bytes, or what came before *timeout* s passed or the peer closed; ``(data, closed)``."""
    return read_up_to(sock, size, deadline=time.monotonic() + timeout)


def _expect_echo(run: _Run, sock: socket.socket, message: bytes, who: str, context: str) -> None:
    """*message* must come back upper-cased; *who* and *context* (``"while ..."``) are ``N_`` texts."""
    __tracebackhide__ = True  # noqa: F841
    want = message.upper()
    got, closed = _read_exactly(sock, len(want))
    if got == want:
        return
    context = _(context)
    _fail_if_serve_ended(run, context, closed)
    how = (_("the connection was closed") if closed
           else _("waited {seconds} s").format(seconds=f"{REPLY_TIMEOUT:g}"))
    if not got:
        hint = _("your loop never answered it. Register every accepted connection with the "
                 "selector (sel.register(conn, selectors.EVENT_READ, ...)); when select() reports "
                 "it readable, recv() and send back data.upper()")
    elif want.startswith(got):
        hint = _("only the first {got} of {size} bytes came back: send() may send only part of "
                 "what it is given -- keep the rest and send it later").format(got=len(got),
                                                                               size=len(want))
    elif got == message[:len(got)] and message != want:
        hint = _("the echo is not upper-cased: send back data.upper()")
    else:
        hint = _("the echo should be exactly {expected}").format(expected=describe_bytes(want))
    if got:
        fail(_("{who} sent {message} {context} and got {got} ({how}): {hint}").format(
            who=_(who), message=describe_bytes(message), context=context,
            got=describe_bytes(got), how=how, hint=hint))
    fail(_("{who} sent {message} {context} and got nothing ({how}): {hint}").format(
        who=_(who), message=describe_bytes(message), context=context, how=how, hint=hint))


def _expect_closed(run: _Run, sock: socket.socket, who: str, when: str) -> None:
    """The server must close *sock*'s connection; *when* is an ``N_`` text, *who* translated."""
    __tracebackhide__ = True  # noqa: F841
    got, closed = _read_exactly(sock, 1)
    if closed and not got:
        return
    if got:
        fail(_("{when}, {who} still received {got}").format(when=_(when), who=who,
                                                             got=describe_bytes(got)))
    if when == AFTER_STOP:
        hint = _("before serve() returns, close every connection it still holds (sel.get_map() "
                 "lists what is registered) and the selector")
    else:
        hint = _("recv() returns b'' once a client has finished sending: then "
                 "sel.unregister(conn) and conn.close()")
    fail(_("{when}, {who}'s connection was not closed within {seconds} s: {hint}").format(
        when=_(when), who=who, seconds=f"{REPLY_TIMEOUT:g}", hint=hint))


#: when the server must have closed a connection (``N_`` texts; compared before translation)
AFTER_STOP = N_("after stop was set")
AFTER_CLIENT_FINISHED = N_("after a client finished sending")


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
        # TRANSLATORS: fills {context} in "serve(listener, stop) raised {error} {context}" and
        # "serve(listener, stop) returned {context} although stop was not set"
        _fail_if_serve_ended(run, _("at once"))
        socks = []
        for i in range(clients):
            try:
                socks.append(run.client())
            except OSError as exc:
                _fail_if_serve_ended(run, _("while {clients} clients connected").format(
                    clients=clients), closed=True)
                fail(_("client {client} of {clients} could not connect ({error})").format(
                    client=i, clients=clients, error=exc))
        during = _("while {clients} clients were connected at the same time").format(
            clients=clients)
        for r in range(rounds):
            messages = [b"client %d, round %d\n" % (i, r) for i in range(clients)]
            for sock, message in zip(socks, messages):
                sock.sendall(message)
            for i, (sock, message) in enumerate(zip(socks, messages)):
                want = message.upper()
                got, closed = _read_exactly(sock, len(want))
                if got != want and i > 0 and r == 0 and not got:
                    _fail_if_serve_ended(run, during, closed)
                    fail(_("{clients} clients were connected at the same time; each sent one "
                           "line. Client 0 was answered, client {client} got nothing within "
                           "{seconds} s: your loop serves one client at a time (it stays with a "
                           "connection until it ends). Register every connection with the "
                           "selector and go back to select() after each recv(), so whichever "
                           "socket is ready is served next").format(
                               clients=clients, client=i, seconds=f"{REPLY_TIMEOUT:g}"))
                if got != want:
                    # the same message again cannot be told apart: explain with what came
                    _explain_round(run, i, message, got, clients, closed)
            _fail_if_threads(run, _("{clients} clients at once").format(clients=clients))
        _fail_if_serve_ended(run, during)
        for i, sock in enumerate(socks):
            sock.shutdown(socket.SHUT_WR)
        for i, sock in enumerate(socks):
            _expect_closed(run, sock, _("client {client}").format(client=i),
                           AFTER_CLIENT_FINISHED)
        _fail_if_threads(run, _("clients that closed"))
    _fail_if_not_stopped(run)


def _explain_round(run: _Run, i: int, message: bytes, got: bytes, clients: int,
                   closed: bool) -> None:
    __tracebackhide__ = True  # noqa: F841
    _fail_if_serve_ended(run, _("while {clients} clients were connected at the same time").format(
        clients=clients), closed)
    want = message.upper()
    if not got:
        hint = _("your loop never answered it: register every accepted connection with the "
                 "selector, recv() from each one the selector reports readable, and send back "
                 "data.upper()")
    elif got == message:
        hint = _("the echo is not upper-cased: send back data.upper()")
    else:
        hint = _("the echo should be exactly {expected}").format(expected=describe_bytes(want))
    if got:
        fail(_("{clients} clients were connected at the same time; client {client} sent "
               "{message} and got {got}: {hint}").format(
                   clients=clients, client=i, message=describe_bytes(message),
                   got=describe_bytes(got), hint=hint))
    fail(_("{clients} clients were connected at the same time; client {client} sent {message} "
           "and got nothing: {hint}").format(clients=clients, client=i,
                                             message=describe_bytes(message), hint=hint))


def _fail_if_not_stopped(run: _Run) -> None:
    __tracebackhide__ = True  # noqa: F841
    if not run.stopped_in_time:
        fail(_("serve(listener, stop) did not return within {seconds} s after the check set "
               "stop{where}: look at stop.is_set() every time round the loop, and never wait "
               "without a limit -- sel.select(timeout=0.1), and accept()/recv() only on a socket "
               "the selector reported ready").format(seconds=f"{STOP_DEADLINE:g}",
                                                      where=run.stuck_at))
    if run.call.error is not None:
        fail(_("when stop was set, serve(listener, stop) raised {error}: close what you hold and "
               "return").format(error=describe_exception(run.call.error)))


def _unacknowledged(sock: socket.socket) -> int:
    """Bytes *sock* sent that the peer's kernel has not yet taken in (0 where we cannot tell)."""
    try:
        raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except (AttributeError, OSError):
        return 0
    return struct.unpack("i", raw)[0]


def _exchange(sock: socket.socket, payload: bytes, timeout: float,
              unread: int = 0) -> tuple[bytes, int, bool]:
    """Send *payload* and read the echo; ``(echo so far, bytes sent, closed)``.

    No echo is read until the first *unread* bytes are sent and the server's
    kernel has taken them all in -- so the server has read all but what its
    receive buffer (:data:`SERVER_RCVBUF`) holds, and had to echo more than
    the buffers on the way back hold: its ``send()`` found them full however
    this machine runs the two threads.  A server that stops reading (its own
    flow control, or it is stuck) makes that wait stall; after :data:`STALL`
    seconds without progress, or *timeout* seconds in all, the echo is read
    anyway.  Then sending and reading go on together, for *timeout* seconds.
    """
    sock.setblocking(False)
    received = bytearray()
    sent = 0
    closed = False
    deadline = time.monotonic() + timeout
    holding = unread > 0  # no echo read yet
    waiting = 0           # the server's kernel has not taken these in yet
    progress = time.monotonic()
    try:
        while len(received) < len(payload):
            now = time.monotonic()
            if holding:
                in_flight = _unacknowledged(sock)
                if in_flight < waiting:
                    progress = now
                waiting = in_flight
                holding = ((sent < unread or waiting > 0) and now - progress < STALL
                           and now < deadline)
                if not holding:
                    deadline = now + timeout
            left = deadline - now
            if left <= 0:
                break
            readers = [] if holding else [sock]
            writers = [sock] if sent < len(payload) and not (holding and sent >= unread) else []
            readable, writable, _errors = select.select(readers, writers, [],
                                                        min(left, 0.01 if holding else 0.2))
            if writable:
                try:
                    sent += sock.send(payload[sent:sent + 65536])
                    progress = time.monotonic()
                except BlockingIOError:
                    pass
            if readable:
                try:
                    chunk = sock.recv(262144)
                except BlockingIOError:
                    continue
                if not chunk:
                    closed = True
                    break
                received += chunk
    except OSError:
        closed = True
    finally:
        sock.settimeout(REPLY_TIMEOUT)
    return bytes(received), sent, closed


def _flood(sock: socket.socket, payload: bytes, seconds: float) -> int:
    """Send as much of *payload* as the connection takes within *seconds*, reading nothing."""
    sock.setblocking(False)
    sent = 0
    deadline = time.monotonic() + seconds
    try:
        while sent < len(payload) and time.monotonic() < deadline:
            _readable, writable, _errors = select.select([], [sock], [], 0.05)
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
#: The 1 MiB message, and how much of it is sent before any echo is read: more than twice
#: what the server's send buffer (:data:`SERVER_SNDBUF`) and the client's receive buffer
#: (:data:`SLOW_RCVBUF`) hold together, even as the kernel doubles them.
BIG_BYTES = 1 << 20
BIG_UNREAD = 512 << 10
#: Seconds without sending progress after which :func:`_exchange` reads the echo anyway.
#: The server's kernel reports progress only as its window reopens, after the server read
#: half its receive buffer: 16 of a student's recv(4096), which a loaded machine may take
#: a good part of a second to run.
STALL = 2.0


@checker
def check_selectors_echo_robust(serve) -> None:
    """Exercise 8, part 2: partial reads and writes, a client that reads slowly, one that vanishes.

    A line sent in three pieces; 1 MiB from a client that reads the echo only
    once it has sent half of it, so the server's send buffer is full whatever
    the timing (``send`` takes only part at a time); a client that sends 4 MiB and
    reads nothing, while another client must still be answered; a client
    that resets its connection mid-message and one that connects and leaves;
    then the first client once more, and at ``stop`` every connection still
    open must be closed.
    """
    __tracebackhide__ = True  # noqa: F841
    require_callable(serve, "serve", ["listener", "stop"])
    with _running(serve) as run:
        time.sleep(0.05)
        _fail_if_serve_ended(run, _("at once"))
        first = run.client()
        for piece in (b"one line, ", b"sent in ", b"three pieces\n"):
            first.sendall(piece)
            time.sleep(0.05)
        _expect_echo(run, first, b"one line, sent in three pieces\n", N_("a client"),
                     N_("while sending it in 3 pieces"))

        big = run.client(SO_RCVBUF=SLOW_RCVBUF)
        payload = bytes(range(97, 123)) * (BIG_BYTES // 26 + 1)
        payload = payload[:BIG_BYTES]
        echo, sent, closed = _exchange(big, payload, timeout=3.0, unread=BIG_UNREAD)
        if echo != payload.upper():
            _fail_if_serve_ended(run, _("while a client sent 1 MiB"), closed)
            _fail_if_threads(run, _("a 1 MiB message"))
            why = _("send() on a non-blocking socket sends what fits into the socket's buffer and "
                    "returns how much that was -- possibly less than you gave it. Keep the unsent "
                    "rest in a per-connection buffer, register the connection for EVENT_WRITE "
                    "while the buffer is not empty, and send more when the selector reports it "
                    "writable")
            if payload.upper().startswith(echo):
                fail(_("a client sent {sent} bytes (of 1 MiB) while reading the echo, and got "
                       "{got} bytes back. {why}").format(sent=sent, got=len(echo), why=why))
            fail(_("a client sent {sent} bytes (of 1 MiB) while reading the echo, and got {got} "
                   "bytes back (and not in order). {why}").format(sent=sent, got=len(echo),
                                                                  why=why))
        big.close()

        slow = run.client(SO_RCVBUF=SLOW_RCVBUF)
        flooded = _flood(slow, b"z" * FLOOD_BYTES, seconds=1.0)
        ping = run.client()
        ping.sendall(b"ping\n")
        got, closed = _read_exactly(ping, 5)
        if got != b"PING\n":
            _fail_if_serve_ended(run, _("while one client sent a lot and read nothing"), closed)
            why = _("your loop waits for the slow client to read (a blocking sendall()), and "
                    "everyone else waits too. Never block in the loop: send() what the connection "
                    "takes, keep the rest, and come back when the selector reports EVENT_WRITE")
            if got:
                fail(_("one client sent {flooded} bytes and read none of the echo; meanwhile "
                       "another client sent b'ping\\n' and got {got} within {seconds} s: "
                       "{why}").format(flooded=flooded, got=describe_bytes(got),
                                       seconds=f"{REPLY_TIMEOUT:g}", why=why))
            fail(_("one client sent {flooded} bytes and read none of the echo; meanwhile another "
                   "client sent b'ping\\n' and got nothing within {seconds} s: {why}").format(
                       flooded=flooded, seconds=f"{REPLY_TIMEOUT:g}", why=why))
        _fail_if_threads(run, _("a client that reads slowly"))
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        slow.close()  # with unread data and linger 0: a reset

        vanished = run.client()
        vanished.sendall(b"half a mess")
        _expect_echo(run, vanished, b"half a mess", N_("a client"),
                     N_("while other clients were connected"))
        vanished.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        vanished.close()  # a reset, mid-conversation: the server's next recv() raises
        run.client().close()  # connects and leaves at once
        time.sleep(0.2)
        _fail_if_serve_ended(run, _("after a client reset its connection"))
        first.sendall(b"still there?\n")
        _expect_echo(run, first, b"still there?\n", N_("the first client"),
                     N_("while other clients had reset their connections or left"))
        _fail_if_threads(run, _("these clients"))
        run.stop.set()
        _expect_closed(run, first, _("a client that was still connected"), AFTER_STOP)
    _fail_if_not_stopped(run)
