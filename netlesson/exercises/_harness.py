"""What every checker shares: run student code under a deadline, serve it, say what went wrong.

The package docstring lists the promises a checker keeps; this module keeps them:

* :func:`checker` wraps each public checker: prints from other threads are
  held back (:func:`route_thread_output`; the first few lines are kept, the
  rest only counted) and quoted in the failure message.
* :func:`call_with_deadline` runs a student's callable in a worker thread, so a
  call that never returns is reported instead of waited for.
* :class:`CheckMixIn` serves only this process's own clients (the checker's
  and the student's; :mod:`._peers`), so another user on a shared host cannot
  make a correct answer fail, and records what the handler threads do (their
  exceptions, how many requests finished, which connections are open); :func:`serving`
  runs such a server with the course's own launcher
  (:func:`netlesson.background.start`, outside its registry of the student's
  servers) and stops it with its bounded stop sequence
  (:func:`netlesson.classroom.stop_serving`), also when the check fails.  The
  student's server object keeps every attribute and method it had.
* :func:`describe_exception` names the student's exception with its line.

Socket helpers (every operation with a timeout) are in :mod:`._wire`.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import socket
import socketserver
import sys
import threading
import time
import traceback

from .. import background
from ..i18n import N_, checkers
from ..classroom import CLASS_BACKLOG, end_connections, stop_serving
from ..source import display_filename
from ._peers import is_own_peer
from ._wire import LOOPBACK

_ = checkers.gettext

#: Seconds a checker waits for a student's function to return.
CALL_TIMEOUT = 3.0


# ---------------------------------------------------------------------------
# failures, and what other threads printed meanwhile
# ---------------------------------------------------------------------------
class PrintedLines:
    """What other threads printed during a check: the first lines, and how many more.

    A handler that prints in a tight loop must not grow memory without limit,
    and a failure message quotes only a few lines anyway: the first *keep*
    non-blank lines are kept (each cut to *width* characters), later ones are
    only counted.
    """

    def __init__(self, keep: int = 6, width: int = 200):
        self.keep = keep
        self.width = width
        self.lines: list[str] = []
        self.more = 0  #: non-blank lines printed after the first *keep*
        self._partial = ""  # the line being written (at most *width* characters kept)
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        with self._lock:
            *complete, rest = (self._partial + str(text)).split("\n")
            self._partial = rest[:self.width]
            for line in complete:
                self._add(line)

    def _add(self, line: str) -> None:
        if not line.strip():
            return
        if len(self.lines) < self.keep:
            self.lines.append(line[:self.width])
        else:
            self.more += 1

    def note(self) -> str:
        """The paragraph a failure message ends with (``""`` if nothing was printed)."""
        with self._lock:
            lines, more = list(self.lines), self.more
            if self._partial.strip():  # a last line without its newline
                if len(lines) < self.keep:
                    lines.append(self._partial)
                else:
                    more += 1
        if not lines:
            return ""
        if more:
            heading = _("Your code printed from another thread (the first {shown} of {total} "
                        "lines):").format(shown=len(lines), total=len(lines) + more)
        else:
            heading = _("Your code printed from another thread:")
        body = "\n".join(f"    {line}" for line in lines)
        return f"\n\n{heading}\n{body}"


class _ThreadRoutedStream:
    """Stands in for ``sys.stdout``/``sys.stderr`` while a check runs.

    Writes from the checking thread go to the real stream; writes from any
    other thread (the student's handler threads, our worker threads) go to
    ``captured``, a :class:`PrintedLines`.
    """

    def __init__(self, target, owner: int, captured: PrintedLines):
        self._target = target
        self._owner = owner
        self._captured = captured

    def write(self, text):
        if threading.get_ident() == self._owner:
            return self._target.write(text)
        self._captured.write(text)
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
def route_thread_output():
    """Hold back what other threads write to stdout/stderr; yield a :class:`PrintedLines`."""
    captured = PrintedLines()
    owner = threading.get_ident()
    old_out, old_err = sys.stdout, sys.stderr
    sys.stdout = _ThreadRoutedStream(old_out, owner, captured)
    sys.stderr = _ThreadRoutedStream(old_err, owner, captured)
    try:
        yield captured
    finally:
        sys.stdout, sys.stderr = old_out, old_err


def checker(func):
    """Wrap a public checker: route thread output, attach it to a failure."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        __tracebackhide__ = True  # noqa: F841  (IPython and pytest hide this frame)
        with route_thread_output() as captured:
            try:
                return func(*args, **kwargs)
            except AssertionError as exc:
                failure = exc
        # Raised afresh here, outside the checker's internals, so the student's
        # traceback is two frames long and ends with the explanation.
        raise AssertionError(f"{failure}{captured.note()}") from None

    return wrapper


def fail(message: str):
    """Fail the check with *message* (an ``AssertionError``, which nbgrader counts)."""
    __tracebackhide__ = True  # noqa: F841
    raise AssertionError(message)


# ---------------------------------------------------------------------------
# student code in a worker thread, with a deadline
# ---------------------------------------------------------------------------
class Opaque:
    """Stands for an object a student's function returned that is not plain data.

    Checkers compare what a student's function returned with what it should
    be; a value of the student's own class could answer ``==``, ``isinstance``
    or ``bool()`` however it likes.  :func:`plain` keeps only exact built-in
    data and replaces anything else with this, which equals nothing.
    """

    def __init__(self, kind: str):
        self.kind = kind

    def __repr__(self) -> str:
        return f"<a {self.kind} object>"

    def __eq__(self, other):
        return False

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        return False


_PLAIN = (type(None), bool, int, float, str, bytes, bytearray)


def plain(value, depth: int = 0):
    """*value* as exact built-in data, copied without running any of its methods.

    ``bytes``, ``str`` and ``int`` subclasses become exact copies, tuples and
    lists are copied element by element, anything else becomes an
    :class:`Opaque`.
    """
    kind = type(value)
    if kind in _PLAIN:
        return value
    if depth < 4 and kind in (tuple, list):
        items = [plain(v, depth + 1) for v in (tuple.__iter__(value) if kind is tuple
                                               else list.__iter__(value))]
        return tuple(items) if kind is tuple else items
    for base, copy in ((bytes, bytes.__bytes__), (str, str.__str__), (bool, bool.__bool__),
                       (int, int.__int__), (bytearray, bytearray.copy)):
        if issubclass(kind, base):
            return copy(value)
    return Opaque(type.__dict__["__name__"].__get__(kind))


class Call:
    """A student's callable running in a worker thread, and its outcome."""

    def __init__(self):
        self.done = threading.Event()
        self.value = None
        #: :func:`plain` of what it returned: what checkers compare
        self.plain = None
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


def start_call(func, *args, **kwargs) -> Call:
    """Start ``func(*args, **kwargs)`` in a daemon thread and return at once.

    For a call that must run alongside the checker (a ``send_msg`` that blocks
    until the other side reads); wait for it with :meth:`Call.wait`.
    """
    call = Call()

    def run():
        t0 = time.monotonic()
        try:
            call.value = func(*args, **kwargs)
            call.plain = plain(call.value)
        except BaseException as exc:  # the student's exception is data here
            call.error = exc
        finally:
            call.seconds = time.monotonic() - t0
            call.done.set()

    name = getattr(func, "__name__", type(func).__name__)
    call.thread = threading.Thread(target=run, name=f"netlesson-check-call-{name}", daemon=True)
    call.thread.start()
    return call


def call_with_deadline(func, *args, deadline: float = CALL_TIMEOUT, **kwargs) -> Call:
    """Run ``func(*args, **kwargs)`` in a daemon thread; wait at most *deadline* s.

    *deadline* is keyword-only and named so that every other keyword -- a
    ``timeout=`` above all -- goes to the student's function unchanged.
    """
    call = start_call(func, *args, **kwargs)
    call.wait(deadline)
    return call


# ---------------------------------------------------------------------------
# the student's line
# ---------------------------------------------------------------------------
#: Where the checkers live (as display_filename names it): their frames never explain a mistake.
_OWN_PACKAGE = display_filename(__file__).rpartition("/")[0] + "/"
#: Files whose frames never explain a student's mistake (as display_filename names them).
_SKIP_FILES = frozenset({"socketserver.py", "socket.py", "threading.py", "selectors.py"})


def student_frame(frames) -> str:
    """``' (line 7 of your cell: data = ...)'`` -- the innermost of *frames* in the student's code.

    *frames* are ``traceback.FrameSummary`` objects, outermost first.  Files
    are named by :func:`netlesson.source.display_filename`, so a notebook cell
    is "your cell" and any other file is named as the import system names it
    (``netlesson/framing.py``), never by a path of this machine.
    """
    for frame in reversed(frames):
        shown = display_filename(frame.filename)
        if shown.startswith(_OWN_PACKAGE) or shown in _SKIP_FILES:
            continue
        code = frame.line.strip() if frame.line else ""
        if shown == "notebook cell":
            if code:
                return _(" (line {lineno} of your cell: {code})").format(lineno=frame.lineno,
                                                                          code=code)
            return _(" (line {lineno} of your cell)").format(lineno=frame.lineno)
        if code:
            return _(" ({file}, line {lineno}: {code})").format(file=shown, lineno=frame.lineno,
                                                                 code=code)
        return _(" ({file}, line {lineno})").format(file=shown, lineno=frame.lineno)
    return ""


def describe_exception(exc: BaseException) -> str:
    """``'ValueError: bad (line 2 of your cell: ...)'``: the exception and where it was raised."""
    where = student_frame(traceback.extract_tb(exc.__traceback__))
    text = str(exc)
    return f"{type(exc).__name__}: {text}{where}" if text else f"{type(exc).__name__}{where}"


# ---------------------------------------------------------------------------
# check servers
# ---------------------------------------------------------------------------
class CheckMixIn:
    """Mixed in *before* the server class a check runs (ours or the student's).

    Records what the server does -- which threads are handling a request
    right now, how many requests finished, which exceptions reached
    ``handle_error``, which one ended ``serve_forever`` -- so a check can wait
    for the handlers, explain their errors, and end their connections when it
    stops.  Its attributes start with ``_nl_``, out of the way of the
    student's own.  ``__init__`` passes its arguments on unchanged, so a
    student's own ``__init__`` still runs.  ``daemon_threads = True``: a stuck
    handler never keeps the kernel alive.

    ``get_request`` drops every connection and datagram that does not come
    from a socket of this process (:func:`._peers.is_own_peer`) before any of
    the student's code -- ``verify_request``, the handler -- sees it; they are
    counted in ``_nl_strangers``.
    """

    daemon_threads = True
    #: room for every check client that connects at the same moment, strangers too
    #: (the default backlog of 5 makes the 6th connection wait a second for a retry)
    request_queue_size = CLASS_BACKLOG

    def __init__(self, *args, **kwargs):
        self._nl_cond = threading.Condition()
        self._nl_active: dict[int, object] = {}
        self._nl_handled = 0
        self._nl_errors: list[BaseException] = []
        self._nl_serve_error: BaseException | None = None
        self._nl_strangers = 0
        self._nl_own_peers: set = set()
        super().__init__(*args, **kwargs)

    def get_request(self):
        """The next request from this process's own clients; a stranger's is dropped.

        ``_handle_request_noblock`` treats an ``OSError`` from ``get_request``
        as "no request this time", so raising one skips the stranger.  A peer
        once found to be ours stays known for this server's life (a few
        seconds): a client that sends three datagrams at once and closes its
        socket after the first reply still has all three counted.
        """
        request, client_address = super().get_request()
        stream = self.socket.type == socket.SOCK_STREAM
        peer = tuple(client_address)[:2]
        if peer in self._nl_own_peers or is_own_peer(peer, self.server_address,
                                                     "tcp" if stream else "udp"):
            self._nl_own_peers.add(peer)
            return request, client_address
        self._nl_strangers += 1
        if stream:
            request.close()
        raise OSError(f"a request from {client_address}, not from this process: dropped")

    def serve_forever(self, poll_interval=0.5):
        try:
            super().serve_forever(poll_interval)
        except BaseException as exc:  # e.g. a student's verify_request raised
            self._nl_serve_error = exc

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


def checked_class(server_class):
    """A fresh subclass of ``server_class`` with :class:`CheckMixIn` in front.

    Subclassing (rather than patching the student's class) leaves the class in
    the student's notebook exactly as they wrote it.
    """
    if issubclass(server_class, CheckMixIn):
        return server_class
    return type(f"Checked{server_class.__name__}", (CheckMixIn, server_class), {})


class CheckTCPServer(CheckMixIn, socketserver.ThreadingTCPServer):
    """The server a student's handler is checked in."""

    allow_reuse_address = True


def make_check_server(server_class, handler_class, what: str):
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

    call = call_with_deadline(construct, deadline=CALL_TIMEOUT)
    if call.hung:
        stack = call.stack()  # before it is unblocked
        if made and hasattr(made[0], "socket"):
            stop_serving(made[0], call.thread, timeout=1.0)
        serving = any(frame.name == "serve_forever" for frame in stack)
        if serving:
            why = _("serve_forever() blocks: it serves until the server is shut down, so "
                    "__init__ never returns. Do not call it in __init__; start it from outside, "
                    "once the server is created (this check starts it itself)")
        else:
            why = _("__init__ should only set the server up; anything that waits (a loop, a "
                    "recv(), a join(), serve_forever()) does not belong there")
        fail(_("could not create the server for {what}: your __init__ did not return within "
               "{seconds} s{where}: {why}").format(what=_(what), seconds=f"{CALL_TIMEOUT:g}",
                                                   where=student_frame(stack), why=why))
    if call.error is not None:
        # __init__ may have raised after TCPServer.__init__ bound the socket:
        # close it, or every failed check would leave a listening socket behind
        if made and getattr(made[0], "socket", None) is not None:
            try:
                made[0].server_close()
            except Exception:  # noqa: BLE001 - the student's server_close; the error above matters
                pass
        fail(_("could not create the server for {what}: {error}").format(
            what=_(what), error=describe_exception(call.error)))
    server = call.value
    if not hasattr(server, "socket"):  # TCPServer.__init__ never ran: nothing was bound
        fail(_("could not create the server for {what}: it has no socket after your __init__ "
               "returned. Call super().__init__(server_address, RequestHandlerClass) first in "
               "your __init__ -- that is where the server binds its address and listens -- and "
               "only then set your own attributes").format(what=_(what)))
    return server


@contextlib.contextmanager
def serving(server):
    """Serve *server* (a :class:`CheckMixIn` server) in the background while the block runs.

    The course's launcher runs it (:func:`netlesson.background.start` with
    ``register=False``: the student's own servers, which the launcher knows by
    name, are left alone, and so is a ``log`` the server already has); when the
    block ends, failed check or not, the handle's ``stop()`` shuts it down,
    ends the connections handlers still hold and closes it, all within 2 s;
    then the handlers get a moment to return.
    """
    handle = background.start(server, f"check-serve-{id(server):x}", poll_interval=0.05,
                              register=False)
    try:
        yield server
    finally:
        handle.stop(timeout=2.0)
        server._nl_wait_idle(1.0)


def server_error_note(server, context: str = "") -> str | None:
    """A sentence about the first exception the student's code raised in the server.

    *context*, if given, is a translated phrase saying when it happened
    (``"while serving the first line b'hello\\n'"``).
    """
    if server._nl_serve_error is not None:
        error = describe_exception(server._nl_serve_error)
        if context:
            return _("the server stopped serving {context}: {error}. An exception in a server "
                     "method (not in the handler) ends serve_forever()").format(
                         context=context, error=error)
        return _("the server stopped serving: {error}. An exception in a server method (not "
                 "in the handler) ends serve_forever()").format(error=error)
    exc = server._nl_first_error()
    if exc is not None:
        if context:
            # TRANSLATORS: {context} is a phrase saying when, e.g. "while serving the first line"
            return _("your handler raised {error} {context}").format(
                error=describe_exception(exc), context=context)
        return _("your handler raised {error}").format(error=describe_exception(exc))
    return None


def fail_if_server_error(server, context: str = ""):
    __tracebackhide__ = True  # noqa: F841
    note = server_error_note(server, context)
    if note:
        fail(note)


# ---------------------------------------------------------------------------
# what the student handed in
# ---------------------------------------------------------------------------
#: How checkers name what the student handed in (translated where shown).
# TRANSLATORS: fills {what} in "could not create the server for {what}" (or a class name does)
YOUR_HANDLER = N_("your handler")
YOUR_HANDLER_CLASS = N_("your handler class")
YOUR_SERVER_CLASS = N_("your server class")


def require_class(obj, base, name: str):
    __tracebackhide__ = True  # noqa: F841
    base_name = f"{base.__module__}.{base.__name__}"
    if not inspect.isclass(obj):
        fail(_("{name} should be a class (a subclass of {base}), but it is {kind} {value}").format(
            name=_(name), base=base_name, kind=type(obj).__name__, value=repr(obj)))
    if not issubclass(obj, base):
        fail(_("{name} should be a subclass of {base}; its bases are {bases}").format(
            name=_(name), base=base_name, bases=", ".join(b.__name__ for b in obj.__bases__)))


def require_callable(obj, name: str, params: list[str]):
    __tracebackhide__ = True  # noqa: F841
    if not callable(obj):
        fail(_("{name} should be a function, but it is {kind} {value}").format(
            name=name, kind=type(obj).__name__, value=repr(obj)))
    try:
        inspect.signature(obj).bind(*params)
    except TypeError:
        fail(_("{name} should accept ({params}); its signature is {signature}").format(
            name=name, params=", ".join(params), signature=f"{name}{inspect.signature(obj)}"))
    except ValueError:  # builtins without a signature: let the call decide
        pass
