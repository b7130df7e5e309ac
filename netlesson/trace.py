"""Trace one real request through ``socketserver``: which method runs, in which thread, when.

The seed course walks through ``socketserver.py`` with screenshots and arrows:
``serve_forever`` calls ``_handle_request_noblock``, which calls ``get_request`` ...
This module *proves* that walk on the Python that runs it.  :func:`trace_tcp` and
:func:`trace_udp` build a real server on ``127.0.0.1`` (port 0), serve it in a
background thread, send it one real request from a real client socket, and record --
with a profiler hook (:func:`sys.setprofile` / :func:`threading.setprofile`) -- every
call into ``socketserver`` and into the server's and handler's own classes::

    >>> t = trace_tcp(b"hello")                                  # doctest: +SKIP
    >>> t.order(phase="construct")                               # doctest: +SKIP
    ['TCPServer.__init__', 'BaseServer.__init__', 'TCPServer.server_bind', 'TCPServer.server_activate']

What is recorded, and why
-------------------------
* **Only methods of the classes involved.**  Before the request, the code objects of
  every function defined in ``socketserver`` (its classes' methods, including private
  helpers such as ``_Threads.append``) and of every method of the server's and
  handler's classes (their whole MRO, e.g. ``ClassroomServerMixIn.serve_forever`` or
  a student's ``handle``) are collected.  The hook records a frame only if its code
  object is one of those.  ``threading``, ``selectors`` and ``socket`` internals, the
  client, and module-level helpers such as ``netlesson.classroom.log_event`` are left
  out: they are how the steps are done, not the steps.
* **The class that really defines each method** (``defining_class``): for each
  recorded call the instance's ``type(self).__mro__`` is walked to find the class whose
  ``__dict__`` holds a function with *this frame's code object* -- the same search
  Python's attribute lookup did a moment earlier.  Guessing from ``__qualname__`` would
  go wrong for functions copied between classes; matching code objects cannot.
* **Per thread, with stable labels.**  ``main`` is the thread that called
  ``trace_tcp`` (construction happens there), ``serve_forever`` is the serving thread,
  ``handler`` is the thread ``ThreadingMixIn.process_request`` starts (``handler 1``,
  ``handler 2`` ... if there were several).  Thread idents, ports and addresses never
  appear in the text, so a notebook's stored output stays the same from run to run.
  A thread is only traced if it is the serving thread or if its first recorded call
  receives *this* server as ``self``; another server that happens to be running in
  the same notebook is not mixed in.
* **Helpers are kept.**  ``BaseServer.service_actions`` (once per loop iteration),
  ``TCPServer.fileno`` (the selector asks for it), ``_Threads.append``/``reap`` or
  ``_NoThreads.append`` (the mixin's bookkeeping of handler threads) and ``super()``
  calls such as ``BaseRequestHandler.setup`` under a handler's own ``setup`` are real
  calls and stay in :attr:`Trace.calls`.  :meth:`Trace.order` with
  ``main_path=True`` keeps only the steps of the request path (:data:`MAIN_PATH`).
* **A causal order that does not change.**  The serving thread and the handler
  thread run at the same time, so the real interleaving differs from run to run.
  :attr:`Trace.calls` puts each thread's calls in the order that thread made them,
  and a started thread as one block right after the call that started it
  (:meth:`Trace.started_by`); :meth:`Trace.timeline` keeps the real interleaving.

The serving loop is given a long ``poll_interval`` and is stopped by waking it
(:func:`netlesson.classroom.request_shutdown`), so it never times out in the middle
of a trace: the recorded calls, and their text, are the same on every run of the same
Python (line numbers differ between Python versions, and the text says which version
it is).

The hooks are removed in a ``finally``: after a trace -- successful or not --
``sys.getprofile()`` and ``threading.getprofile()`` are what they were before.  A
thread started while the trace ran got the hook from :func:`threading.setprofile`
(restoring it only affects threads started later): the trace's own handler thread,
but also, say, a handler thread of another background server in the same notebook.
Such a thread takes the hook off itself at its next call after the trace, putting
back the profiler it would have had, so it neither runs slowed down for the rest
of its life nor keeps the trace's recorder and closed server alive.

The server is stopped with :func:`netlesson.classroom.stop_serving`, and every wait
-- the client's, the wait for the handler, the stop -- shares one deadline:
*timeout* seconds from the request, plus at most :data:`_STOP_GRACE` seconds to
stop the server if the request used them all.  Normally every thread has ended by
then.  A handler that never returns cannot be ended from outside: then
``server_close()`` is still attempted (in a helper thread, because it would wait
for that handler), the listening socket is closed so the port is free, and the
:class:`TraceError` names the threads that were still running.
"""

from __future__ import annotations

import html
import itertools
import platform
import socket
import socketserver
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from . import tcp, udp
from .classroom import make_server, stop_serving
from .errors import ServerNotResponding
from .serverlog import describe_bytes
from .source import display_filename

__all__ = [
    "Call",
    "Trace",
    "TraceError",
    "TraceExcerpt",
    "MAIN_PATH",
    "trace_tcp",
    "trace_udp",
]

#: The method names that make up the request path the walkthrough notebooks follow:
#: construction (``__init__``, ``server_bind``, ``server_activate``), the serving loop
#: (``serve_forever`` ... ``process_request``) and the handling of one request
#: (``process_request_thread`` ... ``close_request``).  ``Trace.order(main_path=True)``
#: keeps only calls of these names.
MAIN_PATH = (
    "__init__",
    "server_bind",
    "server_activate",
    "serve_forever",
    "_handle_request_noblock",
    "get_request",
    "verify_request",
    "process_request",
    "process_request_thread",
    "finish_request",
    "setup",
    "handle",
    "finish",
    "shutdown_request",
    "close_request",
)

#: How long serve_forever's select() may wait.  Long on purpose: the loop is woken
#: explicitly when the trace is over, and a loop that never times out records the
#: same calls on every run (each timeout would add a ``service_actions`` call).
_POLL_INTERVAL = 30.0

#: At most this long (and never longer than the trace's own timeout) is added to the
#: deadline to stop the server when the request itself used up the whole timeout:
#: a serving thread needs a few milliseconds to leave ``serve_forever``.
_STOP_GRACE = 1.0

_PHASES = {"main": "construct", "serve_forever": "serve", "handler": "handle"}


class TraceError(RuntimeError):
    """The traced request did not complete (the handler never finished, or hung)."""


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


@dataclass(frozen=True)
class Call:
    """One recorded call of a method of ``socketserver`` or of the server's/handler's classes.

    Attributes:
        thread: ``"main"`` (the calling thread: construction), ``"serve_forever"`` or
            ``"handler"`` (``"handler 1"``, ``"handler 2"`` ... when several).
        phase: ``"construct"``, ``"serve"`` or ``"handle"`` -- which thread it ran in.
            A server without a threading mixin handles the request in its serving
            thread, so there the handler's calls are part of ``"serve"``.
        qualname: ``DefiningClass.method``, e.g. ``"TCPServer.get_request"``.
        defining_class: the class whose ``__dict__`` holds the function that ran
            (``None`` for a module-level function).
        method: the method's name, e.g. ``"get_request"``.
        depth: how many recorded calls of the same thread enclose this one.
        filename: the file as the import system names it (``"socketserver.py"``,
            ``"netlesson/tcp.py"``), never an absolute path.
        lineno: the line where the function's definition starts.
        seq: the call's position in the real, interleaved order across all threads
            (:meth:`Trace.timeline`).  Where threads overlap it differs from run to
            run, so it is left out of comparisons and of the text display.
    """

    thread: str
    phase: str
    qualname: str
    defining_class: type | None
    method: str
    depth: int
    filename: str
    lineno: int
    seq: int = field(default=0, compare=False, repr=False)

    @property
    def module(self) -> str:
        """The module that defines the function (``"socketserver"``, ``"netlesson.tcp"``)."""
        if self.defining_class is not None:
            return self.defining_class.__module__
        return self.filename.removesuffix(".py").replace("/", ".")

    @property
    def location(self) -> str:
        """``socketserver.py:450``."""
        return f"{self.filename}:{self.lineno}"

    def __str__(self) -> str:
        return f"[{self.thread}] {self.qualname}  ({self.location})"


# ---------------------------------------------------------------------------
# Which code objects to record
# ---------------------------------------------------------------------------


def _codes_of(value: Any) -> list:
    """The code objects a class-dict entry runs: functions, static/class methods, properties."""
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        return [f.__code__ for f in (value.fget, value.fset, value.fdel) if hasattr(f, "__code__")]
    code = getattr(value, "__code__", None)
    return [code] if code is not None else []


def _interesting_codes(classes: Iterable[type]) -> dict:
    """Map code object -> (class whose ``__dict__`` holds it, attribute name).

    Covers every function of the ``socketserver`` module (methods of all its classes
    and any module-level function) and every method of *classes* (the server's and the
    handler's MRO).  ``object`` and other built-in classes have no Python code and add
    nothing.
    """
    codes: dict = {}
    scan: list[type] = []
    for value in vars(socketserver).values():
        if isinstance(value, type) and value.__module__ == socketserver.__name__:
            scan.append(value)
        elif getattr(value, "__module__", None) == socketserver.__name__:
            for code in _codes_of(value):
                codes.setdefault(code, (None, value.__name__))
    scan.extend(classes)
    for klass in scan:
        for name, value in vars(klass).items():
            for code in _codes_of(value):
                codes.setdefault(code, (klass, name))
    return codes


# ---------------------------------------------------------------------------
# The recorder (the profiler hook and its per-thread state)
# ---------------------------------------------------------------------------


#: The code of ``threading.Thread.start``: seeing it called inside a recorded call
#: tells which call started a thread (``ThreadingMixIn.process_request``).
_THREAD_START = threading.Thread.start.__code__


class _ThreadState:
    __slots__ = ("role", "thread", "stack", "seqs", "started_by")

    def __init__(self, role: str | None, thread: threading.Thread | None,
                 started_by: int | None = None):
        self.role = role  # None: a thread that is not part of this trace
        self.thread = thread
        self.stack: list = []  # frames of the open recorded calls
        self.seqs: list[int] = []  # their sequence numbers
        self.started_by = started_by  # sequence number of the call that started the thread


class _Recorder:
    """Collects calls from the profiler hook, in every thread the trace owns."""

    def __init__(self, codes: dict, caller_ident: int):
        self.codes = codes
        self.caller_ident = caller_ident
        self.server: Any = None
        self.serve_thread: threading.Thread | None = None
        self.active = True
        self.raw: list[tuple] = []  # (seq, state, code, klass, name, depth)
        self._local = threading.local()
        self.handler_states: list[_ThreadState] = []
        self.handler_done = threading.Event()
        self.spawned: dict[threading.Thread, int] = {}
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._class_cache: dict = {}
        self.chain: Callable | None = None  # a profiler that was set before us

    # The hook itself: called for every event in every hooked thread, so it does
    # as little as possible for frames it does not record.
    def hook(self, frame, event, arg):
        if not self.active:
            # The trace is over, but this thread was started while
            # threading.setprofile(hook) was in force, and restoring threading's
            # profiler does not reach threads that already run.  Take the hook off
            # this thread and put back the profiler it would have had (``chain``:
            # threading's profiler from before the trace).
            chain = self.chain
            sys.setprofile(chain)
            if chain is not None:
                chain(frame, event, arg)
            return
        if event == "call":
            code = frame.f_code
            if code in self.codes:
                self._enter(frame)
            elif code is _THREAD_START:
                self._thread_started(frame)
        elif event == "return":
            if frame.f_code in self.codes:
                self._leave(frame)
        chain = self.chain
        if chain is not None:
            chain(frame, event, arg)

    def _state(self, frame) -> _ThreadState:
        # Per-thread state lives in a threading.local, not in a dict keyed by
        # threading.get_ident(): the system reuses a finished thread's ident at
        # once, and a thread of another server must not inherit our labels.
        state = getattr(self._local, "state", None)
        if state is not None:
            return state
        current = threading.current_thread()
        if threading.get_ident() == self.caller_ident:
            state = _ThreadState("main", current)
        elif current is self.serve_thread:
            state = _ThreadState("serve_forever", current)
        elif self.server is not None and _first_argument(frame) is self.server:
            state = _ThreadState("handler", current, self.spawned.get(current))
            with self._lock:
                self.handler_states.append(state)
        else:
            state = _ThreadState(None, None)
        self._local.state = state
        return state

    def _enter(self, frame) -> None:
        state = self._state(frame)
        if state.role is None:
            return
        code = frame.f_code
        klass, name = self._defining(code, frame)
        depth = len(state.stack)
        with self._lock:
            seq = next(self._seq)
            self.raw.append((seq, state, code, klass, name, depth))
        state.stack.append(frame)
        state.seqs.append(seq)

    def _thread_started(self, frame) -> None:
        """Remember which recorded call is running when a traced thread starts another."""
        state = getattr(self._local, "state", None)
        if state is None or state.role is None or not state.seqs:
            return
        thread = _first_argument(frame)
        if isinstance(thread, threading.Thread):
            self.spawned[thread] = state.seqs[-1]

    def _leave(self, frame) -> None:
        state = getattr(self._local, "state", None)
        if state is None or not state.stack or state.stack[-1] is not frame:
            return
        state.stack.pop()
        state.seqs.pop()
        # The request is handled once the outermost shutdown_request has returned:
        # the handler's finish() and the server's close_request() ran before it.
        if frame.f_code.co_name == "shutdown_request" and state.role is not None:
            if not any(f.f_code.co_name == "shutdown_request" for f in state.stack):
                self.handler_done.set()

    def _defining(self, code, frame) -> tuple[type | None, str]:
        """Find the class in ``type(self).__mro__`` whose ``__dict__`` holds *code*."""
        static_class, name = self.codes[code]
        if static_class is None:
            return None, name
        first = _first_argument(frame)
        owner = first if isinstance(first, type) else type(first)
        key = (owner, code)
        found = self._class_cache.get(key)
        if found is None:
            found = (static_class, name)  # a static/plain function: where we found it
            for klass in owner.__mro__:
                hit = next((attr for attr, value in vars(klass).items()
                            if code in _codes_of(value)), None)
                if hit is not None:
                    found = (klass, hit)
                    break
            self._class_cache[key] = found
        return found


def _first_argument(frame) -> Any:
    code = frame.f_code
    if code.co_argcount == 0:
        return None
    return frame.f_locals.get(code.co_varnames[0])


# ---------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------


class Trace:
    """The calls one real request made, in order, with table, text and diagram displays.

    Threads run at the same time: while the handler thread works, the serving thread
    is already back in its loop (``service_actions``, ``select``), and which of the
    two gets the CPU first differs from run to run.  So :attr:`calls` is in *causal*
    order: each thread's calls in the order that thread made them, and a thread
    started during a call (the handler thread, started by
    ``ThreadingMixIn.process_request``) as one block right after that call and its
    callees -- as if the new thread had run at once.  That order is the same on every
    run; :meth:`timeline` gives the real interleaving of this one run.

    Attributes:
        calls: the recorded :class:`Call` records, in causal order.
        reply: the bytes the client received.
        message: the bytes the client sent.
        protocol: ``"tcp"`` or ``"udp"``.
        server_class, handler_class: the classes that served the request.
        python_version: the interpreter the trace was taken on (line numbers depend on it).
    """

    def __init__(self, calls: list[Call], *, reply: bytes, message: bytes, protocol: str,
                 server_class: type, handler_class: type, python_version: str,
                 starters: dict[str, int] | None = None):
        self.calls = calls
        self._starters = dict(starters or {})
        self.reply = reply
        self.message = message
        self.protocol = protocol
        self.server_class = server_class
        self.handler_class = handler_class
        self.python_version = python_version

    # -- queries --------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.calls)

    def __iter__(self) -> Iterator[Call]:
        return iter(self.calls)

    def timeline(self) -> list[Call]:
        """All calls in the order they really happened, threads interleaved (varies between runs)."""
        return sorted(self.calls, key=lambda c: c.seq)

    @property
    def threads(self) -> list[str]:
        """Thread labels in the order they first appear."""
        return list(dict.fromkeys(c.thread for c in self.calls))

    def started_by(self, thread: str) -> Call | None:
        """The call during which *thread* (a label such as ``"handler"``) was started.

        For a ``ThreadingMixIn`` server that is ``ThreadingMixIn.process_request``.
        ``None`` for ``main`` and ``serve_forever`` (started by :func:`trace_tcp` itself).
        """
        first = next((c for c in self.calls if c.thread == thread), None)
        if first is None:
            raise ValueError(f"no thread {thread!r} in this trace; threads: {', '.join(self.threads)}")
        seq = self._starters.get(thread)
        return next((c for c in self.calls if c.seq == seq), None) if seq is not None else None

    def _is_handler_call(self, call: Call) -> bool:
        klass = call.defining_class
        return klass is not None and klass is not object and klass in self.handler_class.__mro__

    def select(self, phase: str | None = None, module: str | None = "socketserver", *,
               main_path: bool = False) -> list[Call]:
        """The calls :meth:`order` names (see there), as :class:`Call` records."""
        if phase is not None and phase not in ("construct", "serve", "handle"):
            raise ValueError(f"phase must be 'construct', 'serve', 'handle' or None, not {phase!r}")
        chosen = []
        for call in self.calls:
            if phase is not None and call.phase != phase:
                continue
            if module is not None and call.module != module and not (
                module == "socketserver" and self._is_handler_call(call)
            ):
                continue
            if main_path and call.method not in MAIN_PATH:
                continue
            chosen.append(call)
        return chosen

    def order(self, phase: str | None = None, module: str | None = "socketserver", *,
              main_path: bool = False) -> list[str]:
        """The qualified names of the recorded calls, in order.

        * ``phase``: only ``"construct"``, ``"serve"`` or ``"handle"``; ``None`` for all.
        * ``module``: ``"socketserver"`` (the default) keeps the calls of functions
          defined in ``socketserver`` *plus* those of the handler's classes (your
          ``handle`` is part of the story); any other module name keeps only that
          module's calls; ``None`` keeps everything recorded (for example
          ``ClassroomServerMixIn.serve_forever`` of netlesson's classroom servers).
        * ``main_path=True`` keeps only the steps of the request path
          (:data:`MAIN_PATH`), dropping helpers such as ``service_actions``,
          ``fileno`` and the thread bookkeeping of ``_Threads``.
        """
        return [c.qualname for c in self.select(phase, module, main_path=main_path)]

    def find(self, name: str) -> list[Call]:
        """Calls whose method name or qualified name is *name*."""
        return [c for c in self.calls if name in (c.method, c.qualname)]

    def focus(self, *names: str, context: int = 1) -> "TraceExcerpt":
        """The part of the trace around the calls of *names*, those calls marked.

        Used by the walkthrough notebooks to show where one step sits in the whole
        request: ``trace.focus("server_bind")``.
        """
        if not names:
            raise ValueError("focus() needs at least one method name, e.g. focus('get_request')")
        marked = {i for i, c in enumerate(self.calls) if any(n in (c.method, c.qualname) for n in names)}
        if not marked:
            known = ", ".join(sorted({c.method for c in self.calls}))
            raise ValueError(f"no recorded call is named {' or '.join(names)}; recorded: {known}")
        keep = {j for i in marked for j in range(i - context, i + context + 1)
                if 0 <= j < len(self.calls)}
        return TraceExcerpt(self, sorted(keep), marked, names)

    def diagram(self, title: str | None = None):
        """The call flow as a diagram, one lane per thread (:func:`netlesson.diagrams.call_flow`).

        The whole trace is passed, not only :attr:`calls`, so the diagram can draw each
        new thread's arrow from the call that started it (:meth:`started_by`).
        """
        from . import diagrams

        if title is None:
            what = "datagram" if self.protocol == "udp" else "request"
            title = f"Call flow of one {self.protocol.upper()} {what} ({self.server_class.__name__})"
        return diagrams.call_flow(self, title=title)

    # -- text -----------------------------------------------------------------

    @property
    def title(self) -> str:
        what = "datagram" if self.protocol == "udp" else "request"
        return (f"{self.server_class.__name__} + {self.handler_class.__name__}: one {self.protocol.upper()} "
                f"{what} {self.message!r} -> reply {self.reply!r}, {len(self.calls)} calls, "
                f"Python {self.python_version}")

    def _line(self, index: int, mark: str = "") -> str:
        call = self.calls[index]
        number = len(str(len(self.calls)))
        label = max((len(t) for t in self.threads), default=0)
        thread = f"[{call.thread}]".ljust(label + 2)
        text = f"{index + 1:>{number}}. {thread} {'  ' * call.depth}{call.qualname}  ({call.location})"
        return f"{mark}{text}" if mark else text

    def __str__(self) -> str:
        return "\n".join([self.title] + [self._line(i) for i in range(len(self.calls))])

    __repr__ = __str__

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(str(self))

    # -- HTML -----------------------------------------------------------------

    def _repr_html_(self) -> str:
        return _html_table(self, range(len(self.calls)), set())


_THREAD_COLOURS = ["#e8f0fe", "#fdf2e0", "#e6f4ea", "#f3e8fd", "#fce8e6"]


def _html_table(trace: Trace, indices: Iterable[int], marked: set[int]) -> str:
    colours = {t: _THREAD_COLOURS[i % len(_THREAD_COLOURS)] for i, t in enumerate(trace.threads)}
    pad = "padding:1px 8px;text-align:left"
    rows = []
    previous = None
    for i in indices:
        if previous is not None and i != previous + 1:
            rows.append(f'<tr><td colspan="6" style="{pad};color:#888">&#8942;</td></tr>')
        previous = i
        c = trace.calls[i]
        style = f"background:{colours[c.thread]}"
        if i in marked:
            style += ";font-weight:bold;outline:2px solid #e0a800"
        where = html.escape(c.defining_class.__name__ if c.defining_class else "(module)")
        rows.append(
            f'<tr style="{style}"><td style="padding:1px 8px;text-align:right">{i + 1}</td>'
            f'<td style="{pad}">{html.escape(c.thread)}</td><td style="{pad}">{html.escape(c.phase)}</td>'
            f'<td style="{pad};font-family:monospace;padding-left:{0.5 + 1.5 * c.depth:.1f}em">'
            f'{html.escape(c.qualname)}</td><td style="{pad}">{where}</td>'
            f'<td style="{pad};font-family:monospace">{html.escape(c.location)}</td></tr>'
        )
    head = "".join(f'<th style="{pad}">{h}</th>'
                   for h in ("#", "thread", "phase", "call", "defined in", "file:line"))
    return (
        f'<div class="netlesson-trace" style="font-family:Helvetica,Arial,sans-serif">'
        f'<div style="font-size:0.85em;color:#555;margin-bottom:2px">{html.escape(trace.title)}</div>'
        f'<table style="border-collapse:collapse;font-size:12px"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


class TraceExcerpt:
    """A few lines of a :class:`Trace` around chosen calls (made by :meth:`Trace.focus`)."""

    def __init__(self, trace: Trace, indices: list[int], marked: set[int], names: tuple[str, ...]):
        self.trace = trace
        self.indices = indices
        self.marked = marked
        self.names = names

    @property
    def calls(self) -> list[Call]:
        """The marked calls."""
        return [self.trace.calls[i] for i in sorted(self.marked)]

    def __str__(self) -> str:
        lines = [f"{' / '.join(self.names)} in the trace ({len(self.trace.calls)} calls):"]
        previous = None
        for i in self.indices:
            if previous is not None and i != previous + 1:
                lines.append("   ...")
            previous = i
            lines.append(self.trace._line(i, "-> " if i in self.marked else "   "))
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(str(self))

    def _repr_html_(self) -> str:
        return _html_table(self.trace, self.indices, self.marked)


# ---------------------------------------------------------------------------
# The clients (module-level so a test can replace them)
# ---------------------------------------------------------------------------


def _tcp_request(address, message: bytes, timeout: float) -> bytes:
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

    def time_left(sock: socket.socket) -> None:
        left = _left(deadline)
        if left <= 0:  # settimeout(0) would make the socket non-blocking instead
            raise TimeoutError
        sock.settimeout(left)

    with socket.create_connection(address, timeout=timeout) as sock:
        try:
            time_left(sock)
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
                time_left(sock)
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


def _udp_request(address, message: bytes, timeout: float) -> bytes:
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


# ---------------------------------------------------------------------------
# Running a trace
# ---------------------------------------------------------------------------


def _check_classes(server_class: type, handler: type) -> None:
    if not (isinstance(server_class, type) and issubclass(server_class, socketserver.BaseServer)):
        raise TypeError(f"server_class must be a socketserver server class, not {server_class!r}")
    if not (isinstance(handler, type) and issubclass(handler, socketserver.BaseRequestHandler)):
        raise TypeError(f"handler must be a socketserver.BaseRequestHandler subclass, not {handler!r}")
    if hasattr(socketserver, "ForkingMixIn") and issubclass(server_class, socketserver.ForkingMixIn):
        raise ValueError(
            "a Forking* server would fork this process (in a notebook: the kernel) for the "
            "request; trace a Threading* server instead, and run forking servers as a "
            "separate program (python -m netlesson tcp-server)"
        )


def _run(protocol: str, message: bytes, server_class: type, handler: type,
         request: Callable[[Any, bytes, float], bytes], timeout: float) -> Trace:
    message = bytes(message)
    _check_classes(server_class, handler)
    codes = _interesting_codes([*server_class.__mro__, *handler.__mro__])
    recorder = _Recorder(codes, threading.get_ident())
    old_sys = sys.getprofile()
    old_threading = threading.getprofile()
    recorder.chain = old_sys
    server = None
    serve_thread = None
    serve_errors: list[BaseException] = []
    reply = b""
    deadline: float | None = None
    failure: BaseException | None = None
    still_running: list[str] = []
    try:
        # 1. construction, recorded on this thread
        sys.setprofile(recorder.hook)
        try:
            server = make_server(server_class, ("127.0.0.1", 0), handler)
        finally:
            sys.setprofile(old_sys)
        recorder.server = server

        # 2. serving, recorded in the serving thread and the threads it starts
        def serve():
            try:
                server.serve_forever(_POLL_INTERVAL)
            except BaseException as exc:  # keep a traceback out of whichever cell runs
                serve_errors.append(exc)

        serve_thread = threading.Thread(target=serve, name="netlesson-trace-serve", daemon=True)
        recorder.serve_thread = serve_thread
        recorder.chain = old_threading
        threading.setprofile(recorder.hook)
        serve_thread.start()

        # 3. one real request; from here on every wait shares one deadline
        deadline = time.monotonic() + timeout
        address = tuple(server.server_address[:2])
        reply = request(address, message, timeout)
        if not recorder.handler_done.wait(_left(deadline)):
            raise TraceError(
                f"the client got its reply but the handler had not finished within {timeout:g} s "
                f"(no shutdown_request was recorded): does handle() wait for more data?"
            )
    except BaseException as exc:
        failure = exc
        raise
    finally:
        try:
            if server is not None:
                # A request the server already took is let finish, so its handler
                # thread ends and server_close() has nothing to wait for.  The hook
                # stays in threading until then: the handler thread may only now be
                # starting, and an unhooked one would never report that it is done.
                if deadline is not None and any(r[4] == "get_request" for r in recorder.raw):
                    recorder.handler_done.wait(_left(deadline))
                # Threads started from now on (stop_serving's closer) are not part of
                # the trace; the serving and handler threads record until they end.
                threading.setprofile(old_threading)
                still_running = _stop(server, serve_thread, recorder, deadline, timeout)
                if still_running and failure is not None:
                    failure.add_note(_still_running(still_running, timeout))
        finally:
            threading.setprofile(old_threading)
            recorder.active = False
            sys.setprofile(old_sys)
    if still_running:
        raise TraceError(_still_running(still_running, timeout))
    if serve_errors:
        raise TraceError(f"serve_forever failed: {serve_errors[0]!r}") from serve_errors[0]
    calls, starters = _finish_calls(recorder)
    return Trace(calls, starters=starters, reply=reply, message=message, protocol=protocol,
                 server_class=server_class, handler_class=handler,
                 python_version=platform.python_version())


def _stop(server, serve_thread: threading.Thread | None, recorder: _Recorder,
          deadline: float | None, timeout: float) -> list[str]:
    """Stop the server; return descriptions of the threads still running.

    All waits end at *deadline* (set when the request was sent), extended to at most
    :data:`_STOP_GRACE` seconds from now if the request used it all up, so the
    serving thread has a moment to leave its loop.
    """
    grace = time.monotonic() + min(timeout, _STOP_GRACE)
    until = grace if deadline is None else max(deadline, grace)
    alive = stop_serving(server, serve_thread, _left(until))
    handlers = [s.thread for s in list(recorder.handler_states) if s.thread is not None]
    for thread in handlers:
        if thread is not threading.current_thread():
            thread.join(_left(until))
    names = []
    if serve_thread is not None and serve_thread.is_alive():
        names.append("the serving thread (serve_forever)")
    stuck = [t for t in handlers if t.is_alive()]
    if stuck:
        names.append(f"{len(stuck)} handler thread{'s' if len(stuck) != 1 else ''}")
    if any(t.name == "netlesson-server-close" and t.is_alive() for t in alive):
        # ThreadingMixIn.server_close() waits for the handler threads; or the serving
        # thread used up the time and server_close() has only just been started
        names.append("server_close() (not finished, in a helper thread)")
    others = [t for t in alive if t.is_alive() and t is not serve_thread and t not in handlers
              and t.name != "netlesson-server-close"]
    if others:  # any other thread stop_serving reported (a handler it tracked)
        names.append(", ".join(sorted(t.name for t in others)))
    if names:
        # server_close() closes the listening socket before it waits for handler
        # threads; close it here too, whatever server_close() got to, so the port is free.
        try:
            server.socket.close()
        except OSError:  # pragma: no cover - already closed
            pass
    return names


def _still_running(names: list[str], timeout: float) -> str:
    return (
        f"still running when the trace's {timeout:g} s deadline passed: {', '.join(names)}. "
        f"server_close() was attempted and the listening socket is closed, so the port is "
        f"free; these threads end when handle() returns."
    )


def _finish_calls(recorder: _Recorder) -> tuple[list[Call], dict[str, int]]:
    """Turn raw records into :class:`Call` objects in a stable, causal order.

    Each thread's calls stay in the order that thread made them.  A thread started
    during a recorded call (``ThreadingMixIn.process_request`` starting a handler
    thread) is placed as a block right after that call and everything it called, and
    before the starting thread's next call: as if the new thread had run at once.
    The real interleaving varies between runs; this order does not.
    """
    raw = sorted(recorder.raw, key=lambda r: r[0])
    by_thread: dict[int, list[tuple]] = {}
    states: dict[int, _ThreadState] = {}
    for record in raw:
        by_thread.setdefault(id(record[1]), []).append(record)
        states.setdefault(id(record[1]), record[1])
    recorded_seqs = {record[0] for record in raw}
    children: dict[int, list[int]] = {}
    roots: list[int] = []
    for key, state in states.items():  # dicts keep first-seen order: by first call
        if state.started_by in recorded_seqs:
            children.setdefault(state.started_by, []).append(key)
        else:
            roots.append(key)
    roots.sort(key=lambda k: {"main": 0, "serve_forever": 1}.get(states[k].role, 2))

    ordered: list[tuple] = []

    def emit(key: int) -> None:
        pending: list[tuple[int, list[int]]] = []  # (depth of the starting call, threads)
        for record in by_thread[key]:
            while pending and pending[-1][0] >= record[5]:
                for child in pending.pop()[1]:
                    emit(child)
            ordered.append(record)
            if record[0] in children:
                pending.append((record[5], children[record[0]]))
        while pending:
            for child in pending.pop()[1]:
                emit(child)

    for key in roots:
        emit(key)

    handler_keys = [k for k in dict.fromkeys(id(r[1]) for r in ordered) if states[k].role == "handler"]
    labels = {k: "handler" if len(handler_keys) == 1 else f"handler {n}"
              for n, k in enumerate(handler_keys, 1)}
    filenames: dict[str, str] = {}
    calls = []
    for seq, state, code, klass, name, depth in ordered:
        filename = filenames.get(code.co_filename)
        if filename is None:
            filename = filenames[code.co_filename] = display_filename(code.co_filename)
        qualname = f"{klass.__name__}.{name}" if klass is not None else getattr(code, "co_qualname", name)
        calls.append(Call(thread=labels.get(id(state), state.role), phase=_PHASES[state.role],
                          qualname=qualname, defining_class=klass, method=name, depth=depth,
                          filename=filename, lineno=code.co_firstlineno, seq=seq))
    starters = {labels.get(k, states[k].role): states[k].started_by
                for k in states if states[k].started_by in recorded_seqs}
    return calls, starters


def trace_tcp(message: bytes = b"hello", *, server_class: type = socketserver.ThreadingTCPServer,
              handler: type = tcp.UpperEchoHandler, timeout: float = 5.0) -> Trace:
    """Trace one real TCP request: construction, serving, and handling, call by call.

    Builds ``server_class(("127.0.0.1", 0), handler)`` -- by default the seed's exact
    ``socketserver.ThreadingTCPServer`` with the upper-case echo handler, so the trace
    shows socketserver's own path -- runs ``serve_forever`` in a background thread,
    connects, sends *message*, half-closes and reads the reply until the server closes
    the connection, waits until the handler has finished, and stops the server.

    The request -- connecting, sending, reading the reply, waiting for the handler --
    gets *timeout* seconds in all, and stopping the server at most one more second
    (:data:`_STOP_GRACE`).  Raises what the client raised (e.g. ``ConnectionError``)
    or :class:`TraceError`: when the handler never closes the connection (so the
    reply never ends), when it does not finish, or when threads are still running
    at the deadline (the message names them; the listening socket is closed and
    ``server_close()`` was attempted).  The profiler hooks are removed in every case.
    """
    return _run("tcp", message, server_class, handler, _tcp_request, timeout)


def trace_udp(message: bytes = b"hello", *, server_class: type = socketserver.ThreadingUDPServer,
              handler: type = udp.UpperEchoDatagramHandler, timeout: float = 5.0) -> Trace:
    """Trace one real UDP datagram: construction, serving, and handling, call by call.

    Like :func:`trace_tcp`, with ``socketserver.ThreadingUDPServer`` and the
    upper-case datagram echo by default.  The client sends one datagram and waits up
    to *timeout* seconds for one reply (no retries: a retry would be a second
    request); silence raises :class:`~netlesson.errors.ServerNotResponding`.
    """
    return _run("udp", message, server_class, handler, _udp_request, timeout)
