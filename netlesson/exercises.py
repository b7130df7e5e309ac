"""Checkers for the exercise notebooks: run a student's code for real, explain what is wrong.

Every exercise in ``notebooks/exercises/`` ends with a test cell that calls one
function of this module with the student's class or function.  The checker
does what a user of that code would do -- it starts a real server on loopback
port 0 with the student's handler, or points the student's client at a real
server that drops, delays or interleaves datagrams -- and compares what comes
back with what should.  When something is wrong it raises ``AssertionError``
with a message in the student's terms: what was sent, what came back, why that
happens and what to change.  ``AssertionError`` is what nbgrader counts as a
failed test cell, so the same call grades the notebook.

Promises every checker keeps, because a test cell runs in a student's kernel:

* **It never hangs.**  Every socket has a timeout, and student code runs in
  a worker thread that is given a deadline -- their functions, and the
  constructor of their server class too (an ``__init__`` that calls
  ``self.serve_forever()`` never returns).  A call that misses it is reported
  ("did not return within 3 s ...") and, where possible, unblocked (its socket
  is closed or sent a datagram, its ``serve_forever`` shut down) so the thread
  ends.
* **It stops every server it starts**, also when the check fails, with
  :func:`netlesson.classroom.stop_serving` (the launcher's bounded stop
  sequence), and ends the connections those servers still hold.
* **Prints from other threads are held back.**  A student's handler that calls
  ``print`` runs in a server thread; in Jupyter such output lands in whatever
  cell happens to be running.  While a check runs, output written by any
  thread other than the checking one is collected instead and quoted in the
  failure message (it often explains the failure).
* **It reports the student's exception.**  An exception raised in a handler
  thread would otherwise go to ``handle_error`` and be printed to stderr; the
  check servers record it and the message names it with its line.

The public checkers, one group per exercise notebook::

    ex01  check_line_handler, check_line_handler_stream
    ex02  check_udp_request, check_udp_request_retries
    ex03  check_mro_answers
    ex04  check_recvall, check_length_prefix
    ex05  check_verify_request, check_allow_list_server
    ex06  check_visitor_greeting, check_visitor_counter
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
import socket
import socketserver
import struct
import sys
import threading
import time
import traceback

from .classroom import end_connections, stop_serving
from .source import defining_class, display_filename

__all__ = [
    "check_line_handler",
    "check_line_handler_stream",
    "check_udp_request",
    "check_udp_request_retries",
    "MRO_QUESTIONS",
    "mro_supplier",
    "check_mro_answers",
    "check_recvall",
    "check_length_prefix",
    "check_verify_request",
    "check_allow_list_server",
    "check_visitor_greeting",
    "check_visitor_counter",
]

#: Seconds a checker waits for one reply before it calls the reply missing.
REPLY_TIMEOUT = 1.5
#: Seconds a checker waits for a student's function to return.
CALL_TIMEOUT = 3.0
LOOPBACK = "127.0.0.1"


# ---------------------------------------------------------------------------
# infrastructure: output routing, deadlines, check servers
# ---------------------------------------------------------------------------
class _ThreadRoutedStream:
    """Stands in for ``sys.stdout``/``sys.stderr`` while a check runs.

    Writes from the checking thread go to the real stream; writes from any
    other thread (the student's handler threads, our worker threads) are kept
    in ``captured``.
    """

    def __init__(self, target, owner: int, captured: list):
        self._target = target
        self._owner = owner
        self._captured = captured

    def write(self, text):
        if threading.get_ident() == self._owner:
            return self._target.write(text)
        self._captured.append(str(text))
        return len(text)

    def flush(self):
        if threading.get_ident() == self._owner:
            try:
                self._target.flush()
            except (OSError, ValueError):
                pass

    def __getattr__(self, name):
        return getattr(self._target, name)


@contextlib.contextmanager
def _route_thread_output():
    captured: list[str] = []
    owner = threading.get_ident()
    old_out, old_err = sys.stdout, sys.stderr
    sys.stdout = _ThreadRoutedStream(old_out, owner, captured)
    sys.stderr = _ThreadRoutedStream(old_err, owner, captured)
    try:
        yield captured
    finally:
        sys.stdout, sys.stderr = old_out, old_err


def _printed_note(captured: list[str], limit: int = 6) -> str:
    lines = [line for line in "".join(captured).splitlines() if line.strip()]
    if not lines:
        return ""
    shown = lines[-limit:]
    more = f" (last {limit} of {len(lines)} lines)" if len(lines) > limit else ""
    body = "\n".join(f"    {line}" for line in shown)
    return f"\n\nYour code printed from another thread{more}:\n{body}"


def _checker(func):
    """Wrap a public checker: route thread output, attach it to a failure."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        __tracebackhide__ = True  # noqa: F841  (IPython and pytest hide this frame)
        with _route_thread_output() as captured:
            try:
                return func(*args, **kwargs)
            except AssertionError as exc:
                failure = exc
        # Raised afresh here, outside the checker's internals, so the student's
        # traceback is two frames long and ends with the explanation.
        raise AssertionError(f"{failure}{_printed_note(captured)}") from None

    return wrapper


def _fail(message: str):
    __tracebackhide__ = True  # noqa: F841
    raise AssertionError(message)


class _Call:
    """A student's callable running in a worker thread, and its outcome."""

    def __init__(self):
        self.done = threading.Event()
        self.value = None
        self.error: BaseException | None = None
        self.seconds: float | None = None
        #: set when the deadline passed (even if the call was then unblocked)
        self.missed_deadline = False
        self.thread: threading.Thread | None = None

    @property
    def hung(self) -> bool:
        return self.missed_deadline or not self.done.is_set()

    def wait(self, deadline: float) -> bool:
        """Wait at most *deadline* s for the call to return; record a miss."""
        if not self.done.wait(deadline):
            self.missed_deadline = True
        return not self.missed_deadline

    def stack(self) -> list:
        """Where the worker thread is right now (outermost frame first); ``[]`` once it ended."""
        frame = sys._current_frames().get(self.thread.ident) if self.thread else None
        return traceback.extract_stack(frame) if frame is not None else []


def _start_call(func, *args, **kwargs) -> _Call:
    """Start ``func(*args, **kwargs)`` in a daemon thread and return at once.

    For a call that must run alongside the checker (a ``send_msg`` that blocks
    until the other side reads); wait for it with :meth:`_Call.wait`.
    """
    call = _Call()

    def run():
        t0 = time.monotonic()
        try:
            call.value = func(*args, **kwargs)
        except BaseException as exc:  # the student's exception is data here
            call.error = exc
        finally:
            call.seconds = time.monotonic() - t0
            call.done.set()

    name = getattr(func, "__name__", type(func).__name__)
    call.thread = threading.Thread(target=run, name=f"netlesson-check-call-{name}", daemon=True)
    call.thread.start()
    return call


def _call_with_deadline(func, *args, deadline: float = CALL_TIMEOUT, **kwargs) -> _Call:
    """Run ``func(*args, **kwargs)`` in a daemon thread; wait at most *deadline* s.

    *deadline* is keyword-only and named so that every other keyword -- a
    ``timeout=`` above all -- goes to the student's function unchanged.
    """
    call = _start_call(func, *args, **kwargs)
    call.wait(deadline)
    return call


#: Files whose frames never explain a student's mistake (as display_filename names them).
_SKIP_FILES = frozenset({"socketserver.py", "socket.py", "threading.py", "selectors.py"})


def _student_frame(frames) -> str:
    """``' (line 7 of your cell: data = ...)'`` -- the innermost of *frames* in the student's code.

    *frames* are ``traceback.FrameSummary`` objects, outermost first.  Files
    are named by :func:`netlesson.source.display_filename`, so a notebook cell
    is "your cell" and any other file is named as the import system names it
    (``netlesson/framing.py``), never by a path of this machine.
    """
    own = display_filename(__file__)
    for frame in reversed(frames):
        shown = display_filename(frame.filename)
        if shown == own or shown in _SKIP_FILES:
            continue
        code = f": {frame.line.strip()}" if frame.line else ""
        if shown == "notebook cell":
            return f" (line {frame.lineno} of your cell{code})"
        return f" ({shown}, line {frame.lineno}{code})"
    return ""


def _where(exc: BaseException) -> str:
    """Where *exc* was raised in the student's code: see :func:`_student_frame`."""
    return _student_frame(traceback.extract_tb(exc.__traceback__))


def _describe_exception(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}{_where(exc)}" if text else f"{type(exc).__name__}{_where(exc)}"


class _CheckMixIn:
    """Mixed in *before* the server class a check runs (ours or the student's).

    Records what the handler threads do -- which threads are handling a
    request right now, how many requests finished, which exceptions reached
    ``handle_error`` -- so a check can wait for the handlers, explain their
    errors, and end their connections when it stops.  ``__init__`` passes its
    arguments on unchanged, so a student's own ``__init__`` still runs.
    ``daemon_threads = True``: a stuck handler never keeps the kernel alive.
    """

    daemon_threads = True
    #: room for every check client that connects at the same moment (the
    #: default backlog of 5 makes the 6th connection wait a second for a retry)
    request_queue_size = 64

    def __init__(self, *args, **kwargs):
        self._nl_cond = threading.Condition()
        self._nl_active: dict[int, object] = {}
        self._nl_handled = 0
        self._nl_errors: list[BaseException] = []
        self._nl_serve_error: BaseException | None = None
        super().__init__(*args, **kwargs)

    def finish_request(self, request, client_address):
        ident = threading.get_ident()
        with self._nl_cond:
            self._nl_active[ident] = request
        try:
            super().finish_request(request, client_address)
        finally:
            with self._nl_cond:
                self._nl_active.pop(ident, None)
                self._nl_handled += 1
                self._nl_cond.notify_all()

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if exc is not None:
            with self._nl_cond:
                self._nl_errors.append(exc)

    def close_open_requests(self) -> int:
        """End the connections handlers still serve (called by :func:`stop_serving`)."""
        with self._nl_cond:
            requests = list(self._nl_active.values())
        return end_connections(requests)

    def _nl_is_handler_thread(self) -> bool:
        return threading.get_ident() in self._nl_active

    def _nl_wait(self, predicate, timeout: float) -> bool:
        with self._nl_cond:
            return self._nl_cond.wait_for(lambda: predicate(self), timeout)

    def _nl_wait_idle(self, timeout: float) -> bool:
        return self._nl_wait(lambda s: not s._nl_active, timeout)

    def _nl_first_error(self) -> BaseException | None:
        with self._nl_cond:
            return self._nl_errors[0] if self._nl_errors else None


def _checked_class(server_class):
    """A fresh subclass of ``server_class`` with :class:`_CheckMixIn` in front.

    Subclassing (rather than patching the student's class) leaves the class in
    the student's notebook exactly as they wrote it.
    """
    if issubclass(server_class, _CheckMixIn):
        return server_class
    return type(f"Checked{server_class.__name__}", (_CheckMixIn, server_class), {})


class _CheckTCPServer(_CheckMixIn, socketserver.ThreadingTCPServer):
    allow_reuse_address = True


def _make_server(server_class, handler_class, what: str):
    """``server_class((LOOPBACK, 0), handler_class)``, within :data:`CALL_TIMEOUT` seconds.

    The constructor runs the student's ``__init__``, which may never return --
    most often because it calls ``self.serve_forever()``.  So it runs in a
    worker thread, the way ``type.__call__`` does it (``__new__``, then
    ``__init__``) but keeping the new object: if ``__init__`` misses the
    deadline, :func:`stop_serving` shuts down the ``serve_forever`` it started
    (that ends the worker) and closes the socket.
    """
    __tracebackhide__ = True  # noqa: F841
    address = (LOOPBACK, 0)
    made = []

    def construct():
        server = server_class.__new__(server_class, address, handler_class)
        made.append(server)
        if isinstance(server, server_class):
            server.__init__(address, handler_class)
        return server

    call = _call_with_deadline(construct, deadline=CALL_TIMEOUT)
    if call.hung:
        stack = call.stack()  # before it is unblocked
        if made and hasattr(made[0], "socket"):
            stop_serving(made[0], call.thread, timeout=1.0)
        serving = any(frame.name == "serve_forever" for frame in stack)
        if serving:
            why = ("serve_forever() blocks: it serves until the server is shut down, so "
                   "__init__ never returns. Do not call it in __init__; start it from outside, "
                   "once the server is created (this check starts it itself)")
        else:
            why = ("__init__ should only set the server up; anything that waits (a loop, a "
                   "recv(), a join(), serve_forever()) does not belong there")
        _fail(f"could not create the server for {what}: your __init__ did not return within "
              f"{CALL_TIMEOUT:g} s{_student_frame(stack)}: {why}")
    if call.error is not None:
        # __init__ may have raised after TCPServer.__init__ bound the socket:
        # close it, or every failed check would leave a listening socket behind
        if made and getattr(made[0], "socket", None) is not None:
            try:
                made[0].server_close()
            except Exception:  # noqa: BLE001 - the student's server_close; the error above matters
                pass
        _fail(f"could not create the server for {what}: {_describe_exception(call.error)}")
    return call.value


@contextlib.contextmanager
def _serving(server):
    """Run ``server.serve_forever`` in a daemon thread; always stop it afterwards."""

    def run():
        try:
            server.serve_forever(poll_interval=0.05)
        except BaseException as exc:  # e.g. a student's verify_request raised
            server._nl_serve_error = exc

    thread = threading.Thread(target=run, name="netlesson-check-serve", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        _stop(server, thread)


def _stop(server, thread: threading.Thread) -> None:
    """Stop and close a check server (bounded), then wait briefly for its handlers.

    :func:`stop_serving` joins the serving thread first, so no new request
    arrives, then ends the connections handlers still hold through
    :meth:`_CheckMixIn.close_open_requests`, then closes the server.
    """
    stop_serving(server, thread, timeout=2.0)
    server._nl_wait_idle(1.0)


def _server_error_note(server, context: str = "") -> str | None:
    """A sentence about the first exception the student's code raised in the server."""
    if server._nl_serve_error is not None:
        return (f"the server stopped serving{context}: {_describe_exception(server._nl_serve_error)}. "
                f"An exception in a server method (not in the handler) ends serve_forever()")
    exc = server._nl_first_error()
    if exc is not None:
        return f"your handler raised {_describe_exception(exc)}{context}"
    return None


def _fail_if_server_error(server, context: str = ""):
    __tracebackhide__ = True  # noqa: F841
    note = _server_error_note(server, context)
    if note:
        _fail(note)


def _connect(address, timeout: float = REPLY_TIMEOUT) -> socket.socket:
    sock = socket.create_connection(address, timeout=timeout)
    sock.settimeout(timeout)
    return sock


def _tcp_pair(timeout: float = 2.0) -> tuple[socket.socket, socket.socket]:
    """Two connected TCP sockets on loopback (each with a timeout)."""
    with socket.create_server((LOOPBACK, 0)) as listener:
        listener.settimeout(timeout)
        a = socket.create_connection(listener.getsockname()[:2], timeout=timeout)
        b, _ = listener.accept()
    b.settimeout(timeout)
    return a, b


def _read_available(sock: socket.socket, idle: float = 0.2, limit: int = 1 << 20) -> tuple[bytes, bool]:
    """Read whatever arrives until *idle* seconds of silence; ``(data, closed)``."""
    data = bytearray()
    old = sock.gettimeout()
    sock.settimeout(idle)
    try:
        while len(data) < limit:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return bytes(data), False
            except OSError:
                return bytes(data), True
            if not chunk:
                return bytes(data), True
            data += chunk
    finally:
        try:
            sock.settimeout(old)
        except OSError:
            pass
    return bytes(data), False


def _read_lines(sock: socket.socket, count: int, pending: bytearray,
                timeout: float = REPLY_TIMEOUT) -> tuple[list[bytes], bool]:
    """Read *count* ``\\n``-terminated lines (or until timeout/close).

    Returns ``(lines, closed)``; bytes after the last complete line stay in
    *pending*.  On a timeout the partial line is in *pending* too.
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


def _require_class(obj, base, name: str):
    __tracebackhide__ = True  # noqa: F841
    if not inspect.isclass(obj):
        _fail(f"{name} should be a class (a subclass of {base.__module__}.{base.__name__}), "
              f"but it is {type(obj).__name__} {obj!r}")
    if not issubclass(obj, base):
        _fail(f"{name} should be a subclass of {base.__module__}.{base.__name__}; its bases are "
              f"{', '.join(b.__name__ for b in obj.__bases__)}")


def _require_callable(obj, name: str, params: list[str]):
    __tracebackhide__ = True  # noqa: F841
    if not callable(obj):
        _fail(f"{name} should be a function, but it is {type(obj).__name__} {obj!r}")
    try:
        inspect.signature(obj).bind(*params)
    except TypeError:
        _fail(f"{name} should accept ({', '.join(params)}); its signature is "
              f"{name}{inspect.signature(obj)}")
    except ValueError:  # builtins without a signature: let the call decide
        pass


def _short(data: bytes, limit: int = 70) -> str:
    if len(data) <= limit:
        return repr(data)
    return f"{data[:limit]!r}... ({len(data)} bytes)"


# ---------------------------------------------------------------------------
# ex01: a line-based StreamRequestHandler
# ---------------------------------------------------------------------------
_NUMBERED = re.compile(rb"^(\d+): (.*)\n\Z", re.S)


def _line_hint(sent_lines: list[bytes], expected: list[bytes], got: list[bytes],
               pending: bytes, pieces: int = 1) -> str:
    """Why the numbered upper-case replies differ from what was expected."""
    everything = b"".join(got) + pending
    if not everything:
        return ("no reply came. Does handle() answer each line with self.wfile.write(...)? "
                "The client reads a reply up to its b'\\n', so every reply must end with b'\\n'")
    numbered = len(re.findall(rb"(?:^|\n)\d+: ", everything))
    if pieces > 1 and numbered > len(expected):
        return (f"the line arrived in {pieces} pieces and your handler sent {numbered} numbered "
                f"replies: it answered each piece as it arrived. Read whole lines with "
                f"self.rfile.readline(): it returns only once the b'\\n' has arrived")
    if len(sent_lines) > 1 and 1 <= numbered < len(sent_lines):
        return ("several lines arrived in one piece (TCP does not keep message boundaries, "
                "the 粘包 effect) and your handler answered them as one. Reply to each line "
                "separately: readline() returns one line at a time")
    if not got:
        if numbered > 1:
            return ("your handler sent several numbered replies for one line: it answered "
                    "pieces of the line as they arrived. Read whole lines with "
                    "self.rfile.readline(): it returns only once the b'\\n' has arrived")
        return (f"the reply {_short(everything)} does not end with b'\\n'. The client reads "
                f"one line per reply: finish each reply with b'\\n'")
    for i, (want, have) in enumerate(zip(expected, got)):
        if want == have:
            continue
        m = _NUMBERED.match(have)
        n_want, text_want = _NUMBERED.match(want).groups()
        if m is None:
            if have == text_want + b"\n":
                return "start each reply with the line's number and ': ', e.g. b'1: HELLO\\n'"
            if have.upper().endswith(text_want + b"\n") and b":" not in have:
                return "start each reply with the line's number and ': ', e.g. b'1: HELLO\\n'"
            return "each reply should look like b'<number>: <LINE IN UPPER CASE>\\n'"
        n_have, text_have = m.groups()
        if text_have == text_want + b"\n" or text_have.endswith(b"\r"):
            return ("the reply keeps the line's own line ending: readline() returns the line "
                    "*with* its b'\\n' (or b'\\r\\n'). Strip it (line.rstrip(b'\\r\\n')) "
                    "before you add yours")
        if n_have != n_want:
            if int(n_want) > 1 and int(n_have) == 1:
                return ("the number did not grow: count the lines of this connection in a "
                        "variable that lives outside the loop (one handler object per "
                        "connection), and add 1 for every line")
            if int(n_want) == 1 and int(n_have) == 0:
                return "count from 1: the first line of a connection is line 1"
            if int(n_have) > int(n_want):
                return ("the numbers started above 1: the counter is shared with earlier "
                        "connections (a class attribute or a global?). Keep it inside handle(), "
                        "so each connection counts from 1")
            return f"reply {i + 1} carries number {int(n_have)}, expected {int(n_want)}"
        if text_have == text_want.lower() or text_have != text_have.upper():
            return "upper-case the line (bytes.upper()) before you send it back"
        return f"reply {i + 1} should be {want!r}"
    if len(got) < len(expected):
        return f"only {len(got)} of the {len(expected)} replies arrived"
    if pending:
        extra = _short(bytes(pending))
        if bytes(pending).strip(b"\r\n") == b"":
            return (f"after the right reply came {extra} as well: the reply keeps the line's own "
                    f"line ending. readline() returns the line *with* its b'\\n'; strip it "
                    f"(line.rstrip(b'\\r\\n')) before you add yours")
        return f"after the right reply came {extra} as well: send exactly one reply per line"
    return ""


class _LineConversation:
    """One client connection to the handler under test, reading numbered replies."""

    def __init__(self, server, address):
        self.server = server
        self.sock = _connect(address)
        self.pending = bytearray()

    def close(self):
        self.sock.close()

    def expect(self, pieces: list[bytes], expected: list[bytes], context: str, gap: float = 0.0):
        __tracebackhide__ = True  # noqa: F841
        for i, piece in enumerate(pieces):
            if i and gap:
                time.sleep(gap)
            try:
                self.sock.sendall(piece)
            except OSError as exc:
                _fail_if_server_error(self.server, f" while serving {context}")
                _fail(f"sending {context} failed ({exc}): your handler closed the connection; "
                      f"handle() must keep reading lines until the client closes")
        sent = b"".join(pieces)
        got, closed = _read_lines(self.sock, len(expected), self.pending)
        if got == expected:
            more, _ = _read_available(self.sock, idle=0.05)
            extra = bytes(self.pending) + more
            if not extra:
                return
            self.pending += more
            _fail_if_server_error(self.server, f" after answering {context}")
            hint = ("readline() keeps the line's b'\\n': strip it before adding your own"
                    if extra.startswith((b"\n", b"\r")) else "send exactly one reply line per line")
            _fail(f"for {context} {_short(sent)} your handler sent the right reply "
                  f"{_short(b''.join(expected))} and then also {_short(extra)}: {hint}")
        _fail_if_server_error(self.server, f" while serving {context} {_short(sent)}")
        if not closed:  # collect whatever else the handler sends, to explain it
            extra, closed = _read_available(self.sock, idle=0.3)
            self.pending += extra
        sent_lines = sent.splitlines(keepends=True)
        if closed and not got and not self.pending:
            _fail(f"for {context} {_short(sent)} the connection was closed without a reply: "
                  f"handle() returned too early. Loop over the lines until readline() "
                  f"returns b'' (the client closed)")
        hint = _line_hint(sent_lines, expected, got, bytes(self.pending), pieces=len(pieces))
        received = b"".join(got) + bytes(self.pending)
        if closed and len(got) < len(expected):
            hint += ("; then your handler closed the connection -- handle() must loop until "
                     "the client closes")
        waited = "" if got else f" (waited {REPLY_TIMEOUT:g} s for a complete line)"
        _fail(f"for {context} {_short(sent)} the expected reply is {_short(b''.join(expected))}, "
              f"but your handler sent {_short(received) if received else 'nothing'}{waited}: "
              f"{hint}")

    def finish(self, context: str):
        """Close our sending side; the handler must see the end and close too."""
        __tracebackhide__ = True  # noqa: F841
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            return
        # A few bytes are evidence enough; a handler answering b'' in a loop never pauses.
        extra, closed = _read_available(self.sock, idle=REPLY_TIMEOUT, limit=64)
        if extra:
            _fail(f"after the client finished sending ({context}), your handler sent "
                  f"{_short(extra)}: at the end of the stream readline() returns b''; leave "
                  f"the loop then instead of answering it")
        if not closed:
            _fail(f"after the client finished sending ({context}), your handler did not end "
                  f"the connection within {REPLY_TIMEOUT:g} s: when readline() returns b'', "
                  f"return from handle()")


@_checker
def check_line_handler(handler_class) -> None:
    """Exercise 1, part 1: numbered upper-case line echo, one conversation.

    Sends ``hello``, then ``second line``, then three lines in one piece, on
    one connection, and expects ``b'1: HELLO\\n'``, ``b'2: SECOND LINE\\n'``,
    ``b'3: A\\n4: B\\n5: C\\n'``.
    """
    __tracebackhide__ = True  # noqa: F841
    _require_class(handler_class, socketserver.StreamRequestHandler, "your handler class")
    server = _make_server(_CheckTCPServer, handler_class, "your handler")
    with _serving(server):
        conv = _LineConversation(server, server.server_address)
        try:
            conv.expect([b"hello\n"], [b"1: HELLO\n"], "the first line")
            conv.expect([b"second line\n"], [b"2: SECOND LINE\n"], "the second line")
            conv.expect([b"a\nb\nc\n"], [b"3: A\n", b"4: B\n", b"5: C\n"],
                        "three lines sent in one piece")
            conv.finish("5 lines")
        finally:
            conv.close()
        _fail_if_server_error(server)


@_checker
def check_line_handler_stream(handler_class) -> None:
    """Exercise 1, part 2: what a byte stream does to lines.

    A line that arrives in three pieces (split inside a UTF-8 character), a
    3000-byte line, a ``\\r\\n`` line ending, two clients at once (each counts
    from 1), and the end of the stream.
    """
    __tracebackhide__ = True  # noqa: F841
    _require_class(handler_class, socketserver.StreamRequestHandler, "your handler class")
    server = _make_server(_CheckTCPServer, handler_class, "your handler")
    with _serving(server):
        text = "ni hao 你好\n".encode()
        conv = _LineConversation(server, server.server_address)
        try:
            _expect_long_line(conv, b"x" * 2999 + b"\n")
            conv.expect([text[:7], text[7:9], text[9:]], [b"2: NI HAO " + "你好".encode() + b"\n"],
                        "one line sent in 3 pieces", gap=0.1)
            conv.expect([b"crlf\r\n"], [b"3: CRLF\n"], "a line ending in b'\\r\\n'")
            conv.finish("3 lines")
        finally:
            conv.close()
        first = _LineConversation(server, server.server_address)
        second = _LineConversation(server, server.server_address)
        try:
            first.expect([b"first client\n"], [b"1: FIRST CLIENT\n"], "client A's first line")
            second.expect([b"second client\n"], [b"1: SECOND CLIENT\n"],
                          "client B's first line (B connected while A was still connected)")
            first.expect([b"again\n"], [b"2: AGAIN\n"], "client A's second line")
            first.finish("client A")
            second.finish("client B")
        finally:
            first.close()
            second.close()
        if not server._nl_wait_idle(REPLY_TIMEOUT):
            _fail("every client has closed, but a handle() call is still running after "
                  f"{REPLY_TIMEOUT:g} s: return from handle() when readline() returns b''")
        _fail_if_server_error(server)


def _expect_long_line(conv: _LineConversation, line: bytes) -> None:
    """The first line of a connection is 3000 bytes: say how much of it the first reply covered."""
    __tracebackhide__ = True  # noqa: F841
    expected = b"1: " + line.upper()
    try:
        conv.sock.sendall(line)
    except OSError as exc:
        _fail(f"sending a {len(line)}-byte line failed ({exc}): your handler closed the connection")
    got, closed = _read_lines(conv.sock, 1, conv.pending)
    if got == [expected]:
        more, _ = _read_available(conv.sock, idle=0.05)
        if not conv.pending and not more:
            return
        conv.pending += more
    _fail_if_server_error(conv.server, f" while serving a {len(line)}-byte line")
    received = b"".join(got) + bytes(conv.pending)
    # the line is lower-case x's: count them in either case, so a handler that
    # forgot to upper-case is not mistaken for one that read too little
    m = re.match(rb"(\d+): ([xX]*)", received)
    covered = len(m.group(2)) if m else 0
    if m and covered < len(line) - 1:
        _fail(f"your handler replied to the first {covered} bytes of a {len(line)}-byte line "
              f"(reply starts {_short(received, 40)}): one recv() returns whatever has arrived, "
              f"at most its buffer size -- not a line. Read until the line is complete: "
              f"self.rfile.readline() does that for you")
    _fail(f"for a {len(line)}-byte line the expected reply is {_short(expected)}, but your handler "
          f"sent {_short(received) if received else 'nothing'}: "
          f"{_line_hint([line], [expected], got, bytes(conv.pending))}")


# ---------------------------------------------------------------------------
# ex02: a UDP client with a timeout and retries
# ---------------------------------------------------------------------------
class _ScriptedUDPServer(_CheckMixIn, socketserver.UDPServer):
    """A single-threaded UDP server whose behaviour the check scripts.

    ``drop_first`` datagrams are ignored (a lossy network), ``silent`` never
    answers, ``stranger`` makes another socket send a datagram to the client
    just before the real reply.  Every datagram received is recorded.
    """

    def __init__(self, *, drop_first: int = 0, silent: bool = False, stranger: bool = False):
        self.drop_first = drop_first
        self.silent = silent
        self.stranger = stranger
        self.received: list[tuple[bytes, tuple]] = []
        self.stranger_address = None
        super().__init__((LOOPBACK, 0), _ScriptedDatagramHandler)

    def clients(self) -> set:
        return {addr for _, addr in self.received}

    def wake_clients(self) -> None:
        """Send every client an empty datagram, so a ``recvfrom`` without timeout returns."""
        for addr in self.clients():
            try:
                self.socket.sendto(b"", addr)
            except OSError:
                pass


class _ScriptedDatagramHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        server = self.server
        server.received.append((data, self.client_address))
        if server.silent or len(server.received) <= server.drop_first:
            return
        if server.stranger:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
                other.bind((LOOPBACK, 0))
                server.stranger_address = other.getsockname()
                other.sendto(b"not from the server", self.client_address)
            time.sleep(0.05)
        sock.sendto(data.upper(), self.client_address)


def _run_udp_client(func, server, data: bytes, timeout: float, retries: int) -> _Call:
    """Call ``func(address, data, timeout=, retries=)``; a hung client is reported and woken."""
    __tracebackhide__ = True  # noqa: F841
    limit = (retries + 1) * timeout + 2.0
    call = _call_with_deadline(func, server.server_address, data, timeout=timeout,
                               retries=retries, deadline=limit)
    if call.hung:
        server.wake_clients()
        call.done.wait(1.0)
        _fail(f"udp_request(address, {data!r}, timeout={timeout}, retries={retries}) did not "
              f"return within {limit:g} s. A UDP reply may never come: give the socket a "
              f"timeout (sock.settimeout(timeout)) so recvfrom() raises TimeoutError instead of "
              f"waiting forever")
    return call


def _udp_reply_problem(value, expected: bytes) -> str | None:
    if value == expected and isinstance(value, (bytes, bytearray)):
        return None
    if isinstance(value, str):
        return f"it returned the str {value!r}: return the reply as bytes, exactly as recvfrom() gave it"
    if isinstance(value, tuple) and value and value[0] == expected:
        return ("it returned (data, address): return only the data; the address is for "
                "checking who sent it")
    return f"it returned {value!r}, expected {expected!r}"


@_checker
def check_udp_request(udp_request) -> None:
    """Exercise 2, part 1: one request, one reply; silence raises ``TimeoutError``."""
    __tracebackhide__ = True  # noqa: F841
    _require_callable(udp_request, "udp_request", ["address", "data", "timeout", "retries"])

    echo = _ScriptedUDPServer()
    with _serving(echo):
        call = _run_udp_client(udp_request, echo, b"hello udp", timeout=0.5, retries=2)
        if call.error is not None:
            _fail(f"against a server that answers at once, udp_request raised "
                  f"{_describe_exception(call.error)}")
        problem = _udp_reply_problem(call.value, b"HELLO UDP")
        if problem:
            _fail(f"udp_request(address, b'hello udp') should return b'HELLO UDP'; {problem}")
        time.sleep(0.1)  # let the server take in any further datagrams already on their way
        sent = len(echo.received)
        if sent != 1:
            _fail(f"for one request the server received {sent} datagrams although its reply came "
                  f"at once: send again only after a try timed out")

    silent = _ScriptedUDPServer(silent=True)
    timeout, retries = 0.2, 2
    with _serving(silent):
        call = _run_udp_client(udp_request, silent, b"anyone there?", timeout=timeout,
                               retries=retries)
        tries = len(silent.received)
        if call.error is None:
            _fail(f"the server never answered, yet udp_request returned {call.value!r}: after the "
                  f"last try raise TimeoutError, so the caller knows no reply came")
        if not isinstance(call.error, TimeoutError):
            _fail(f"when no reply comes udp_request should raise TimeoutError after its last try; "
                  f"it raised {_describe_exception(call.error)}")
        if tries != retries + 1:
            _fail(f"with retries={retries} udp_request should send {retries + 1} datagrams (the "
                  f"first try plus {retries} retries) before it gives up; the silent server "
                  f"received {tries}")
        slowest = (retries + 1) * timeout + 1.0
        if call.seconds > slowest:
            _fail(f"udp_request took {call.seconds:.1f} s to give up with timeout={timeout}, "
                  f"retries={retries}: wait at most `timeout` seconds for each try")


@_checker
def check_udp_request_retries(udp_request) -> None:
    """Exercise 2, part 2: lost datagrams are sent again; strangers are ignored."""
    __tracebackhide__ = True  # noqa: F841
    _require_callable(udp_request, "udp_request", ["address", "data", "timeout", "retries"])

    lossy = _ScriptedUDPServer(drop_first=2)
    with _serving(lossy):
        call = _run_udp_client(udp_request, lossy, b"third time lucky", timeout=0.2, retries=3)
        tries = len(lossy.received)
        if call.error is not None and not isinstance(call.error, TimeoutError):
            _fail(f"against a server that drops the first 2 datagrams, udp_request raised "
                  f"{_describe_exception(call.error)}")
        if call.error is not None:
            _fail(f"the server ignored your first 2 datagrams (as a lossy network may) and would "
                  f"have answered the 3rd, but after {tries} datagram(s) udp_request raised "
                  f"{_describe_exception(call.error)}: after each timeout send the datagram again, "
                  f"up to `retries` more times")
        problem = _udp_reply_problem(call.value, b"THIRD TIME LUCKY")
        if problem:
            _fail(f"with the first 2 datagrams lost, udp_request should still return "
                  f"b'THIRD TIME LUCKY'; {problem}")

    tricky = _ScriptedUDPServer(stranger=True)
    with _serving(tricky):
        call = _run_udp_client(udp_request, tricky, b"who is there", timeout=0.5, retries=1)
        if call.error is not None:
            _fail(f"another program sent your socket a datagram just before the server's reply, "
                  f"and udp_request raised {_describe_exception(call.error)}: ignore datagrams "
                  f"from other addresses and keep waiting for the server")
        if call.value == b"not from the server":
            _fail(f"udp_request returned b'not from the server', a datagram from "
                  f"{tricky.stranger_address}, not from the server at "
                  f"{tricky.server_address}: anyone can send to a UDP socket. Compare the "
                  f"address recvfrom() returns with the server's and ignore the others")
        problem = _udp_reply_problem(call.value, b"WHO IS THERE")
        if problem:
            _fail(f"udp_request(address, b'who is there') should return b'WHO IS THERE'; {problem}")


# ---------------------------------------------------------------------------
# ex03: which class supplies an attribute?
# ---------------------------------------------------------------------------
#: The questions of exercise 3: ``"Class.attribute"`` -> which class in the MRO supplies it.
MRO_QUESTIONS = (
    "ThreadingTCPServer.__init__",
    "ThreadingTCPServer.process_request",
    "ThreadingTCPServer.serve_forever",
    "ThreadingTCPServer.server_close",
    "ThreadingTCPServer.get_request",
    "ThreadingUDPServer.__init__",
    "ThreadingUDPServer.server_activate",
    "ThreadingUDPServer.get_request",
    "ThreadingUDPServer.finish_request",
    "ThreadingUDPServer.max_packet_size",
)


def mro_supplier(cls, attribute: str):
    """The first class in ``cls.__mro__`` whose own ``__dict__`` has *attribute*.

    :func:`netlesson.source.defining_class` (which the MRO diagrams use too),
    except that a name no class defines is an ``AttributeError``: every
    question of exercise 3 has an answer.
    """
    supplier = defining_class(cls, attribute)
    if supplier is None:
        raise AttributeError(f"no class in {cls.__name__}.__mro__ defines {attribute!r}")
    return supplier


def _answer_name(answer) -> str | None:
    if inspect.isclass(answer):
        return answer.__name__
    if isinstance(answer, str):
        return answer.strip().rsplit(".", 1)[-1]
    return None


@_checker
def check_mro_answers(answers, only: str | None = None) -> None:
    """Exercise 3: ``answers["ThreadingTCPServer.__init__"]`` names the supplying class.

    The truth is computed from the running Python (``__mro__`` and ``vars``).
    *only* restricts the check to questions about one class.  Every wrong
    answer is listed with a hint, without giving the answer away.
    """
    __tracebackhide__ = True  # noqa: F841
    if not isinstance(answers, dict):
        _fail(f"answers should be a dict like {{'ThreadingTCPServer.__init__': 'TCPServer', ...}}; "
              f"it is {type(answers).__name__}")
    questions = [q for q in MRO_QUESTIONS if only is None or q.startswith(f"{only}.")]
    problems = []
    for question in questions:
        cls_name, attribute = question.split(".", 1)
        cls = getattr(socketserver, cls_name)
        truth = mro_supplier(cls, attribute)
        if question not in answers:
            problems.append(f"- {question}: no answer (add the key {question!r} to answers)")
            continue
        given = _answer_name(answers[question])
        if given == truth.__name__:
            continue
        if given in ("", "?"):
            problems.append(f"- {question}: not answered yet ({answers[question]!r})")
            continue
        chain = " → ".join(k.__name__ for k in cls.__mro__)
        if given is None:
            problems.append(f"- {question}: answer with a class name (a str), not "
                            f"{answers[question]!r}")
            continue
        # look the name up in the MRO itself: 'object' is not a socketserver name
        candidate = next((k for k in cls.__mro__ if k.__name__ == given), None)
        if candidate is None:
            same_but_case = [k.__name__ for k in cls.__mro__ if k.__name__.lower() == given.lower()]
            hint = (f"; class names are case-sensitive: did you mean {same_but_case[0]!r}?"
                    if same_but_case else "")
            problems.append(f"- {question}: {given!r} is not in {cls_name}.__mro__ "
                            f"({chain}){hint}")
        elif attribute not in vars(candidate):
            where = "object" if candidate is object else f"socketserver.{given}"
            problems.append(f"- {question}: {given} does not define {attribute} itself "
                            f"({attribute!r} in vars({where}) is False); lookup "
                            f"goes on along {chain}")
        else:
            problems.append(f"- {question}: {given} does define {attribute}, but a class "
                            f"earlier in {chain} defines it too, and lookup stops at the first")
    if problems:
        right = len(questions) - len(problems)
        _fail(f"{right} of {len(questions)} answers are right. Python looks an attribute up "
              f"along the class's __mro__ and takes it from the first class whose own "
              f"__dict__ (vars(cls)) has it:\n" + "\n".join(problems))


# ---------------------------------------------------------------------------
# ex04: recvall and length-prefixed messages
# ---------------------------------------------------------------------------
def _close_quietly(*socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def _call_on_socket(func, sock, *args, deadline: float = CALL_TIMEOUT) -> _Call:
    """Call a student's socket function; if it hangs, close *sock* to free the thread.

    Closing the socket makes a blocked ``recv`` (or a loop that keeps calling
    it after the peer closed) raise ``OSError``, so the worker thread ends.
    """
    call = _call_with_deadline(func, sock, *args, deadline=deadline)
    if call.hung:
        _close_quietly(sock)
        call.done.wait(1.0)
    return call


def _outcome(call: _Call) -> str:
    """``'returned b'abc''`` / ``'raised EOFError: ...'`` / ``'did not return'``."""
    if call.hung:
        return f"did not return within {CALL_TIMEOUT:g} s"
    if call.error is not None:
        return "raised " + _describe_exception(call.error)
    if isinstance(call.value, (bytes, bytearray)):
        return f"returned {_short(bytes(call.value))}"
    return f"returned {call.value!r}"


def _sender(sock, pieces: list[bytes], gap: float) -> threading.Thread:
    """Send *pieces* from a thread, *gap* seconds apart: a message arriving in parts."""

    def run():
        try:
            for i, piece in enumerate(pieces):
                if i and gap:
                    time.sleep(gap)
                sock.sendall(piece)
        except OSError:
            pass

    thread = threading.Thread(target=run, name="netlesson-check-sender", daemon=True)
    thread.start()
    return thread


@_checker
def check_recvall(recvall) -> None:
    """Exercise 4, part 1: ``recvall(sock, n)`` returns exactly *n* bytes or raises ``EOFError``."""
    __tracebackhide__ = True  # noqa: F841
    _require_callable(recvall, "recvall", ["sock", "n"])

    a, b = _tcp_pair()
    try:
        pieces = [b"a" * 1000, b"b" * 1000, b"c" * 1000]
        _sender(a, pieces, gap=0.1)
        call = _call_on_socket(recvall, b, 3000)
        if call.hung:
            _fail(f"recvall(sock, 3000) did not return within {CALL_TIMEOUT:g} s although all "
                  f"3000 bytes had been sent: stop reading as soon as you have n bytes")
        if call.error is not None:
            _fail(f"recvall(sock, 3000) raised {_describe_exception(call.error)} while 3000 bytes "
                  f"arrived in 3 pieces of 1000")
        got = call.value
        if not isinstance(got, (bytes, bytearray)):
            _fail(f"recvall should return bytes; it returned {type(got).__name__} {got!r}")
        if len(got) < 3000:
            _fail(f"recvall(sock, 3000) returned {len(got)} bytes: the 3000 bytes arrived in 3 "
                  f"pieces, and one recv() returns only what has arrived so far. Call recv() "
                  f"again until you have all n bytes")
        if got != b"".join(pieces):
            _fail(f"recvall(sock, 3000) returned {len(got)} bytes that are not the 3000 sent "
                  f"(in order): append each piece to what you have")

        a.sendall(b"A" * 10 + b"B" * 5)
        first = _call_on_socket(recvall, b, 10)
        if first.hung or first.error is not None or first.value != b"A" * 10:
            hint = ""
            if not first.hung and first.error is None and len(first.value) > 10:
                hint = (": it read past the end of the message. Ask recv() for at most the "
                        "bytes still missing (n - len(data)); the rest belongs to the next message")
            _fail(f"after the peer sent b'AAAAAAAAAA' + b'BBBBB' in one piece, recvall(sock, 10) "
                  f"should return b'AAAAAAAAAA', but it {_outcome(first)}{hint}")
        second = _call_on_socket(recvall, b, 5)
        if second.hung or second.value != b"B" * 5:
            _fail("after recvall(sock, 10), the next recvall(sock, 5) should return b'BBBBB'; "
                  "it did not: do not keep bytes beyond n for yourself")
        zero = _call_on_socket(recvall, b, 0, deadline=1.0)
        if zero.hung or zero.error is not None or zero.value != b"":
            _fail("recvall(sock, 0) should return b'' at once (nothing to read)")

        a.sendall(b"12345")
        a.shutdown(socket.SHUT_WR)
        early = _call_on_socket(recvall, b, 10)
        if early.hung:
            _fail("the peer sent 5 bytes and closed, and recvall(sock, 10) never returned: "
                  "recv() returning b'' means the peer closed -- no more bytes will come. Raise "
                  "EOFError then (a loop that keeps calling recv() spins forever)")
        if early.error is None:
            _fail(f"the peer sent 5 bytes and closed, and recvall(sock, 10) returned "
                  f"{_short(bytes(early.value))}: a short message must not pass as a whole one. "
                  f"Raise EOFError when recv() returns b'' before you have n bytes")
        if not isinstance(early.error, EOFError):
            _fail(f"the peer sent 5 bytes and closed; recvall(sock, 10) should raise EOFError, "
                  f"it raised {_describe_exception(early.error)}")
    finally:
        _close_quietly(a, b)


@_checker
def check_length_prefix(send_msg, recv_msg) -> None:
    """Exercise 4, part 2: 4-byte big-endian length prefix; ``None`` at a clean end."""
    __tracebackhide__ = True  # noqa: F841
    _require_callable(send_msg, "send_msg", ["sock", "payload"])
    _require_callable(recv_msg, "recv_msg", ["sock"])
    prefix = struct.Struct("!I")

    a, b = _tcp_pair()
    try:
        for payload in (b"hello", b""):
            call = _call_on_socket(send_msg, a, payload)
            if call.hung or call.error is not None:
                _fail(f"send_msg(sock, {payload!r}) {_outcome(call)}")
            wire, _ = _read_available(b, idle=0.2)
            want = prefix.pack(len(payload)) + payload
            if wire != want:
                if wire == payload:
                    hint = "there is no length prefix: send struct.pack('!I', len(payload)) first"
                elif wire[:4] == struct.pack("<I", len(payload)):
                    hint = ("the prefix is little-endian; the network byte order is big-endian: "
                            "struct.pack('!I', n)")
                elif wire.startswith(str(len(payload)).encode()):
                    hint = "the length was sent as text; send it as 4 bytes: struct.pack('!I', n)"
                elif wire.endswith(payload) and len(wire) - len(payload) != 4:
                    hint = (f"the prefix is {len(wire) - len(payload)} bytes long; the protocol "
                            f"uses exactly 4 (struct.pack('!I', n))")
                else:
                    hint = "send the 4-byte prefix, then the payload"
                _fail(f"send_msg(sock, {payload!r}) should put {want!r} on the wire; it sent "
                      f"{_short(wire)}: {hint}")

        a.sendall(prefix.pack(5) + b"hello" + prefix.pack(3) + b"abc")
        for expected in (b"hello", b"abc"):
            call = _call_on_socket(recv_msg, b)
            if call.hung or call.error is not None or call.value != expected:
                shown = _outcome(call)
                _fail(f"two messages (b'hello', b'abc') arrived in one piece; recv_msg should "
                      f"return {expected!r} next, but it {shown}. Read the 4-byte prefix, then "
                      f"exactly that many bytes (recvall) -- not whatever recv() returns")

        payload = bytes(range(256)) * 8
        framed = prefix.pack(len(payload)) + payload
        _sender(a, [framed[:2], framed[2:4], framed[4:700], framed[700:1500], framed[1500:]],
                gap=0.05)
        call = _call_on_socket(recv_msg, b)
        if call.hung or call.error is not None or call.value != payload:
            shown = _outcome(call)
            _fail(f"a {len(payload)}-byte message arrived in 5 pieces (the prefix itself split in "
                  f"two); recv_msg {shown}. Use recvall for the prefix and for the payload")

        a.sendall(prefix.pack(0))
        call = _call_on_socket(recv_msg, b)
        if call.hung or call.value != b"":
            shown = _outcome(call)
            _fail(f"an empty message (prefix 0, no payload) should come back as b''; recv_msg "
                  f"{shown}. Only a closed connection gives None")

        a.sendall(prefix.pack(10) + b"abc")
        a.shutdown(socket.SHUT_WR)
        call = _call_on_socket(recv_msg, b)
        if call.hung or not isinstance(call.error, EOFError):
            shown = _outcome(call)
            _fail(f"the peer announced 10 bytes, sent 3 and closed; recv_msg should raise "
                  f"EOFError (a message cut in the middle), but it {shown}")
    finally:
        _close_quietly(a, b)

    a, b = _tcp_pair()
    try:
        a.sendall(prefix.pack(2) + b"ok")
        a.shutdown(socket.SHUT_WR)
        first = _call_on_socket(recv_msg, b)
        last = _call_on_socket(recv_msg, b)
        if first.value != b"ok" or last.hung or last.error is not None or last.value is not None:
            shown = _outcome(last)
            _fail(f"after the last message the peer closed the connection; the next recv_msg "
                  f"should return None (a normal end between messages), but it {shown}")
    finally:
        _close_quietly(a, b)

    a, b = _tcp_pair()
    try:
        big = b"0123456789" * 20000
        sending = f"send_msg(sock, <a {len(big)}-byte message>)"
        # send_msg blocks until recv_msg has read most of it: both run at once
        sender = _start_call(send_msg, a, big)
        receiver = _call_with_deadline(recv_msg, b)
        # an error send_msg raised by now is its own; after we close b below,
        # its sendall fails because of us
        sender_failed = sender.done.is_set() and sender.error is not None
        if receiver.hung:
            _close_quietly(b)
            receiver.done.wait(1.0)
        sender.wait(CALL_TIMEOUT)
        if sender_failed or (sender.error is not None and not receiver.hung):
            _fail(f"{sending} raised {_describe_exception(sender.error)}. The 4-byte prefix "
                  f"can announce up to {2**32 - 1} bytes: send any such message whole, the "
                  f"prefix and then the payload (sendall sends all of it)")
        if receiver.hung or receiver.error is not None or receiver.value != big:
            still = "" if sender.done.is_set() else f" (and {sending} had not returned either)"
            _fail(f"a {len(big)}-byte message sent with your send_msg did not come back whole "
                  f"from your recv_msg: it {_outcome(receiver)}{still}")
        if sender.hung:
            _fail(f"your recv_msg read the whole {len(big)}-byte message, but {sending} did not "
                  f"return within {CALL_TIMEOUT:g} s: return once everything is sent")
    finally:
        _close_quietly(a, b)


# ---------------------------------------------------------------------------
# ex05: verify_request as an allow-list
# ---------------------------------------------------------------------------
class _OneShotUpperHandler(socketserver.BaseRequestHandler):
    """Read one message, answer it in upper case: enough to see who was served."""

    def handle(self):
        self.request.settimeout(REPLY_TIMEOUT)
        try:
            data = self.request.recv(1024)
            if data:
                self.request.sendall(data.upper())
        except OSError:
            pass


def _allow_list_server(server_class):
    __tracebackhide__ = True  # noqa: F841
    _require_class(server_class, socketserver.TCPServer, "your server class")
    if defining_class(server_class, "verify_request") in (None, socketserver.BaseServer):
        _fail(f"{server_class.__name__} does not override verify_request: write "
              f"def verify_request(self, request, client_address) in the class")
    allowed = getattr(server_class, "allowed_hosts", None)
    if allowed is None:
        _fail(f"{server_class.__name__} has no class attribute allowed_hosts "
              f"(e.g. allowed_hosts = {{'127.0.0.1'}})")
    if isinstance(allowed, str) or LOOPBACK not in allowed:
        _fail(f"{server_class.__name__}.allowed_hosts should be a set of IP address strings that "
              f"contains '127.0.0.1'; it is {allowed!r}")
    return _make_server(_checked_class(server_class), _OneShotUpperHandler,
                        server_class.__name__)


def _serve_one(address) -> tuple[bytes | None, str]:
    """Connect, send ``b'hi'``; ``(reply, how)`` where *how* says how the exchange ended."""
    try:
        sock = _connect(address)
    except OSError as exc:
        return None, f"could not connect ({exc})"
    with sock:
        try:
            sock.sendall(b"hi")
            data = sock.recv(1024)
        except TimeoutError:
            return None, "no answer"
        except OSError:
            return b"", "closed"
        return data, "closed" if not data else "served"


@_checker
def check_verify_request(server_class) -> None:
    """Exercise 5, part 1: ``verify_request`` decides from ``client_address`` alone."""
    __tracebackhide__ = True  # noqa: F841
    server = _allow_list_server(server_class)
    a, b = _tcp_pair()
    try:
        for address, allowed in ((("127.0.0.1", 50000), True), (("192.0.2.7", 50001), False),
                                 (("10.0.0.8", 50002), False)):
            try:
                verdict = server.verify_request(b, address)
            except Exception as exc:
                _fail(f"verify_request(request, {address}) raised {_describe_exception(exc)}. "
                      f"client_address is a (host, port) tuple; the host is client_address[0]. "
                      f"An exception here would stop serve_forever()")
            if bool(verdict) != allowed:
                why = ("is in allowed_hosts" if allowed else
                       f"is not in allowed_hosts {sorted(server_class.allowed_hosts)}")
                extra = ""
                if not allowed and verdict:
                    extra = (". Decide from client_address[0], not from the socket: the check "
                             "calls verify_request with a socket connected from 127.0.0.1 and "
                             "a different client_address")
                _fail(f"verify_request(request, {address}) returned {verdict!r}, but "
                      f"{address[0]} {why}: return {allowed}{extra}")
        rejected = getattr(server, "rejected", None)
        if not isinstance(rejected, list):
            _fail("the server should record refused clients in self.rejected, a list created in "
                  f"__init__; server.rejected is {rejected!r}")
        refused = [tuple(x) if isinstance(x, (list, tuple)) else x for x in rejected]
        if refused != [("192.0.2.7", 50001), ("10.0.0.8", 50002)]:
            _fail(f"after refusing ('192.0.2.7', 50001) and ('10.0.0.8', 50002) (and accepting "
                  f"('127.0.0.1', 50000)), server.rejected is {rejected!r}: append each refused "
                  f"client_address, and only those")
        server.allowed_hosts = {"192.0.2.1"}
        if server.verify_request(b, ("127.0.0.1", 50003)):
            _fail("after server.allowed_hosts = {'192.0.2.1'} your verify_request still accepted "
                  "127.0.0.1: read the list through self.allowed_hosts, so each server can have "
                  "its own")
    finally:
        _close_quietly(a, b)
        server.server_close()


@_checker
def check_allow_list_server(server_class) -> None:
    """Exercise 5, part 2: a running server serves allowed clients and refuses others."""
    __tracebackhide__ = True  # noqa: F841
    server = _allow_list_server(server_class)
    with _serving(server):
        address = server.server_address
        reply, how = _serve_one(address)
        _fail_if_server_error(server, " while a client from 127.0.0.1 connected")
        if reply != b"HI":
            _fail(f"a client from 127.0.0.1 (which is in allowed_hosts) sent b'hi' and got "
                  f"{reply!r} ({how}): verify_request should return True for it")
        server.allowed_hosts = {"192.0.2.1"}
        server._nl_wait_idle(REPLY_TIMEOUT)  # the first handler may still be finishing
        served_before = server._nl_handled
        reply, how = _serve_one(address)
        server._nl_wait_idle(REPLY_TIMEOUT)
        _fail_if_server_error(server, " while refusing a client")
        if reply:
            _fail(f"with allowed_hosts = {{'192.0.2.1'}} a client from 127.0.0.1 was still "
                  f"served (it got {reply!r}): verify_request must return False for it")
        if server._nl_handled != served_before:
            _fail("a refused client still reached the handler: return False from verify_request")
        server.allowed_hosts = {LOOPBACK}
        reply, how = _serve_one(address)
        _fail_if_server_error(server, " after refusing a client")
        if reply != b"HI":
            _fail(f"after refusing one client the server should go on serving; an allowed client "
                  f"then got {reply!r} ({how})")
        if len(getattr(server, "rejected", []) or []) != 1:
            _fail(f"the server refused one client; server.rejected is "
                  f"{getattr(server, 'rejected', None)!r}")


# ---------------------------------------------------------------------------
# ex06: a visitor counter shared by handler threads
# ---------------------------------------------------------------------------
class _WatchedLock:
    """Wraps the student's lock and remembers which threads hold it."""

    def __init__(self, inner):
        self._inner = inner
        self._meta = threading.Lock()
        self._holders: dict[int, int] = {}

    def acquire(self, *args, **kwargs):
        ok = self._inner.acquire(*args, **kwargs)
        if ok:
            with self._meta:
                ident = threading.get_ident()
                self._holders[ident] = self._holders.get(ident, 0) + 1
        return ok

    def release(self):
        with self._meta:
            ident = threading.get_ident()
            if self._holders.get(ident, 0) > 1:
                self._holders[ident] -= 1
            else:
                self._holders.pop(ident, None)
        self._inner.release()

    __enter__ = acquire

    def __exit__(self, *exc):
        self.release()

    def locked(self):
        return self._inner.locked() if hasattr(self._inner, "locked") else bool(self._holders)

    def held_by_me(self) -> bool:
        with self._meta:
            return threading.get_ident() in self._holders


#: Seconds a handler thread is held up right after it reads ``server.count``.
#: It makes the gap between "read the old value" and "write the new one" wide
#: enough that an unlocked ``count += 1`` really loses updates during the check.
RACE_WIDENER = 0.003


def _watched_server_class(server_class):
    checked = _checked_class(server_class)

    class Watched(checked):
        def __getattribute__(self, name):
            value = super().__getattribute__(name)
            if name == "count":
                object.__getattribute__(self, "_nl_watch")("read")
            return value

        def __setattr__(self, name, value):
            if name == "count":
                self._nl_watch("changed")
            super().__setattr__(name, value)

        def _nl_watch(self, how: str):
            if not self._nl_is_handler_thread():
                return
            lock = self.__dict__.get("lock")
            if isinstance(lock, _WatchedLock) and not lock.held_by_me():
                with self._nl_cond:
                    self._nl_violations.append(how)
            if how == "read":
                time.sleep(RACE_WIDENER)

    Watched.__name__ = Watched.__qualname__ = server_class.__name__
    return Watched


def _visitor_server(server_class, handler_class):
    __tracebackhide__ = True  # noqa: F841
    _require_class(server_class, socketserver.TCPServer, "your server class")
    _require_class(handler_class, socketserver.BaseRequestHandler, "your handler class")
    server = _make_server(_watched_server_class(server_class), handler_class,
                          server_class.__name__)
    object.__setattr__(server, "_nl_violations", [])
    if not hasattr(server, "count"):
        server.server_close()
        _fail(f"{server_class.__name__} has no count attribute: set self.count = 0 in __init__ "
              f"(after calling super().__init__(...))")
    if server.count != 0:
        server.server_close()
        _fail(f"a new {server_class.__name__} should start with count == 0, it has {server.count!r}")
    lock = server.__dict__.get("lock", getattr(server, "lock", None))
    if lock is None or not (hasattr(lock, "acquire") and hasattr(lock, "__enter__")):
        server.server_close()
        _fail(f"{server_class.__name__} has no lock: set self.lock = threading.Lock() in __init__, "
              f"so every handler thread uses the same one")
    object.__setattr__(server, "lock", _WatchedLock(lock))
    return server


def _visit(address, name: str) -> tuple[str | None, str]:
    try:
        with _connect(address, timeout=3.0) as sock:
            sock.sendall(name.encode("utf-8") + b"\n")
            pending = bytearray()
            lines, closed = _read_lines(sock, 1, pending, timeout=3.0)
    except OSError as exc:
        return None, f"connection failed: {exc}"
    if lines:
        try:
            return lines[0].decode("utf-8"), "ok"
        except UnicodeDecodeError:
            return None, f"reply {lines[0]!r} is not UTF-8"
    if pending:
        return None, f"the reply {bytes(pending)!r} does not end with '\\n'"
    return None, "the connection was closed without a reply" if closed else "no reply"


_GREETING = re.compile(r"^hello (.*), you are visitor #(\d+)\n\Z", re.S)


@_checker
def check_visitor_greeting(server_class, handler_class) -> None:
    """Exercise 6, part 1: one visitor after another, each greeted with its number."""
    __tracebackhide__ = True  # noqa: F841
    server = _visitor_server(server_class, handler_class)
    with _serving(server):
        for number, name in enumerate(["alice", "bob", "小明"], start=1):
            line, how = _visit(server.server_address, name)
            _fail_if_server_error(server, f" while greeting {name!r}")
            want = f"hello {name}, you are visitor #{number}\n"
            if line != want:
                got = repr(line) if line is not None else how
                hint = ""
                m = _GREETING.match(line or "")
                if line is None and how == "no reply":
                    hint = (": read the name with self.rfile.readline(), then write the "
                            "greeting with self.wfile.write(...) -- encoded, ending in '\\n'")
                elif line is not None and line.startswith(f"hello {name}") and "#" not in line:
                    hint = (": the name still ends with its line ending, which splits the "
                            "greeting in two. Strip it (self.rfile.readline().strip()) and "
                            "decode it")
                elif m and m.group(1) != name:
                    hint = (": strip the line ending from the name and decode it "
                            "(line.strip().decode('utf-8'))")
                elif m:
                    hint = (": the first visitor is #1, and each visitor adds one "
                            "(server.count counts every visitor)")
                _fail(f"visitor {number} sent {name!r} and should read {want!r}, got {got}{hint}")
        if not server._nl_wait(lambda s: s._nl_handled >= 3, REPLY_TIMEOUT):
            _fail("after answering, the handler should return (one greeting per connection)")
        if server.count != 3:
            _fail(f"after 3 visitors server.count is {server.count!r}, expected 3")


@_checker
def check_visitor_counter(server_class, handler_class, visitors: int = 20) -> None:
    """Exercise 6, part 2: many visitors at once; every number handed out once.

    All clients connect at the same moment.  While the check runs, each read
    of ``server.count`` by a handler is followed by a short pause, so two
    threads that update the count without the lock really do collide.  Every
    read or change of ``count`` by a handler thread must happen while that
    thread holds ``server.lock``.
    """
    __tracebackhide__ = True  # noqa: F841
    server = _visitor_server(server_class, handler_class)
    with _serving(server):
        barrier = threading.Barrier(visitors)
        results: dict[int, tuple[str | None, str]] = {}

        def visit(i):
            try:
                barrier.wait(5.0)
            except threading.BrokenBarrierError:
                pass
            results[i] = _visit(server.server_address, f"guest{i}")

        threads = [threading.Thread(target=visit, args=(i,), daemon=True,
                                    name=f"netlesson-check-visitor-{i}") for i in range(visitors)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10.0
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        _fail_if_server_error(server, f" while {visitors} visitors came at once")
        server._nl_wait(lambda s: s._nl_handled >= visitors, REPLY_TIMEOUT)
        numbers = []
        for i in range(visitors):
            line, how = results.get(i, (None, "no reply within 10 s"))
            m = _GREETING.match(line or "")
            if m is None:
                shown = repr(line) if line else how
                _fail(f"{visitors} visitors came at once; visitor 'guest{i}' got "
                      f"{shown}: each must get 'hello <name>, you are visitor "
                      f"#<n>\\n'")
            numbers.append(int(m.group(2)))
        count = server.count
        with server._nl_cond:
            violations = list(server._nl_violations)
    repeated = sorted({n for n in numbers if numbers.count(n) > 1})
    if repeated or count != visitors or sorted(numbers) != list(range(1, visitors + 1)):
        _fail(f"{visitors} visitors came at the same time. They got the numbers "
              f"{sorted(numbers)}"
              f"{' (repeated: ' + ', '.join(map(str, repeated)) + ')' if repeated else ''}, "
              f"and server.count ended at {count} instead of {visitors}. Two handler threads read "
              f"the same old count, both add 1, both write it back: one visitor is lost. Do the "
              f"read, the +1 and the read of your number inside one `with self.server.lock:` "
              f"block")
    if violations:
        reads = violations.count("read")
        changes = violations.count("changed")
        parts = []
        if changes:
            parts.append(f"changed server.count {changes} time(s)")
        if reads:
            parts.append(f"read server.count {reads} time(s)")
        _fail(f"the numbers came out right this time, but your handler threads "
              f"{' and '.join(parts)} without holding server.lock. Another thread can change "
              f"count between your read and your write (or between your update and the read of "
              f"your number); it happens rarely, which is why it is hard to see. Put every use of "
              f"self.server.count inside `with self.server.lock:`")
