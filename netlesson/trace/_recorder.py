"""The recorder: a profiler hook that notes every call into the classes a trace watches.

:func:`interesting_codes` collects, before the request, the code objects worth
recording; :class:`Recorder` is the hook (:func:`sys.setprofile` /
:func:`threading.setprofile`) that notes each call of one of them as a
:class:`RawCall`, per thread, with the class that really defines it; and
:func:`finish_calls` turns those raw records into :class:`~netlesson.trace.Call`
records in a causal order that is the same on every run.
"""

from __future__ import annotations

import itertools
import socketserver
import sys
import threading
from types import CodeType
from typing import Any, Callable, Iterable, NamedTuple

from ..source import display_filename
from ._result import Call

_PHASES = {"main": "construct", "serve_forever": "serve", "handler": "handle"}


def _codes_of(value: Any) -> list:
    """The code objects a class-dict entry runs: functions, static/class methods, properties."""
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        return [f.__code__ for f in (value.fget, value.fset, value.fdel) if hasattr(f, "__code__")]
    code = getattr(value, "__code__", None)
    return [code] if code is not None else []


def interesting_codes(classes: Iterable[type]) -> dict:
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


#: The code of ``threading.Thread.start``: seeing it called inside a recorded call
#: tells which call started a thread (``ThreadingMixIn.process_request``).
_THREAD_START = threading.Thread.start.__code__


class ThreadState:
    """One thread's part in a trace: its role, and its open recorded calls."""

    __slots__ = ("role", "thread", "stack", "seqs", "started_by")

    def __init__(self, role: str | None, thread: threading.Thread | None,
                 started_by: int | None = None):
        self.role = role  # None: a thread that is not part of this trace
        self.thread = thread
        self.stack: list = []  # frames of the open recorded calls
        self.seqs: list[int] = []  # their sequence numbers
        self.started_by = started_by  # sequence number of the call that started the thread


class RawCall(NamedTuple):
    """One call as the hook saw it; :func:`finish_calls` makes a :class:`Call` of it."""

    seq: int  # position in the real order across all threads
    state: ThreadState  # the thread that made the call
    code: CodeType
    defining_class: type | None  # None for a module-level function
    method: str  # the name the defining class holds the function under
    depth: int  # how many recorded calls of the same thread enclose this one


class Recorder:
    """Collects calls from the profiler hook, in every thread the trace owns."""

    def __init__(self, codes: dict, caller_ident: int):
        self.codes = codes
        self.caller_ident = caller_ident
        self.server: Any = None
        self.serve_thread: threading.Thread | None = None
        self.active = True
        self.raw: list[RawCall] = []
        self._local = threading.local()
        self.handler_states: list[ThreadState] = []
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

    def _state(self, frame) -> ThreadState:
        # Per-thread state lives in a threading.local, not in a dict keyed by
        # threading.get_ident(): the system reuses a finished thread's ident at
        # once, and a thread of another server must not inherit our labels.
        state = getattr(self._local, "state", None)
        if state is not None:
            return state
        current = threading.current_thread()
        if threading.get_ident() == self.caller_ident:
            state = ThreadState("main", current)
        elif current is self.serve_thread:
            state = ThreadState("serve_forever", current)
        elif self.server is not None and _first_argument(frame) is self.server:
            state = ThreadState("handler", current, self.spawned.get(current))
            with self._lock:
                self.handler_states.append(state)
        else:
            state = ThreadState(None, None)
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
            self.raw.append(RawCall(seq, state, code, klass, name, depth))
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


def finish_calls(recorder: Recorder) -> tuple[list[Call], dict[str, Call]]:
    """Turn raw records into :class:`Call` objects in a stable, causal order.

    Each thread's calls stay in the order that thread made them.  A thread started
    during a recorded call (``ThreadingMixIn.process_request`` starting a handler
    thread) is placed as a block right after that call and everything it called, and
    before the starting thread's next call: as if the new thread had run at once.
    The real interleaving varies between runs; this order does not.

    Returns the calls and, for each thread started during a recorded call, its
    label → that call.
    """
    by_thread: dict[ThreadState, list[RawCall]] = {}  # dicts keep first-seen order
    for record in sorted(recorder.raw, key=lambda r: r.seq):
        by_thread.setdefault(record.state, []).append(record)
    recorded_seqs = {record.seq for records in by_thread.values() for record in records}
    children: dict[int, list[ThreadState]] = {}  # seq of the starting call -> threads
    roots: list[ThreadState] = []
    for state in by_thread:  # in the order of their first calls
        if state.started_by in recorded_seqs:
            children.setdefault(state.started_by, []).append(state)
        else:
            roots.append(state)
    roots.sort(key=lambda state: {"main": 0, "serve_forever": 1}.get(state.role, 2))

    ordered: list[RawCall] = []

    def emit(state: ThreadState) -> None:
        pending: list[tuple[int, list[ThreadState]]] = []  # (depth of the starting call, threads)
        for record in by_thread[state]:
            while pending and pending[-1][0] >= record.depth:
                for child in pending.pop()[1]:
                    emit(child)
            ordered.append(record)
            if record.seq in children:
                pending.append((record.depth, children[record.seq]))
        while pending:
            for child in pending.pop()[1]:
                emit(child)

    for state in roots:
        emit(state)

    handlers = [s for s in dict.fromkeys(r.state for r in ordered) if s.role == "handler"]
    labels = {s: "handler" if len(handlers) == 1 else f"handler {n}" for n, s in enumerate(handlers, 1)}
    filenames: dict[str, str] = {}
    calls: list[Call] = []
    by_seq: dict[int, Call] = {}
    for record in ordered:
        code, klass, state = record.code, record.defining_class, record.state
        filename = filenames.get(code.co_filename)
        if filename is None:
            filename = filenames[code.co_filename] = display_filename(code.co_filename)
        qualname = f"{klass.__name__}.{record.method}" if klass is not None else code.co_qualname
        call = Call(thread=labels.get(state, state.role), phase=_PHASES[state.role],
                    qualname=qualname, defining_class=klass, method=record.method, depth=record.depth,
                    filename=filename, lineno=code.co_firstlineno, seq=record.seq)
        calls.append(call)
        by_seq[record.seq] = call
    starters = {labels.get(s, s.role): by_seq[s.started_by] for s in by_thread if s.started_by in by_seq}
    return calls, starters
