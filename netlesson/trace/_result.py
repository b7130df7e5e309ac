"""What a trace gives you: the recorded calls, in a stable order, as text, table and diagram.

:class:`Call` is one recorded call (a named, frozen record); :class:`Trace` holds
them in causal order with the request's reply and classes, and answers the
walkthrough notebooks' questions (:meth:`Trace.order`, :meth:`Trace.focus`,
:meth:`Trace.started_by`).  Its text is stable from run to run -- no ports, thread
idents or absolute paths -- so stored notebook outputs do not change.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from .. import diagrams

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


class TraceError(RuntimeError):
    """The traced request did not complete (the handler never finished, or hung)."""


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
        starters: thread label → the call during which that thread was started, for
            the threads started inside a recorded call (``{"handler": <Call
            ThreadingMixIn.process_request>}``); see :meth:`started_by`.
        reply: the bytes the client received.
        message: the bytes the client sent.
        protocol: ``"tcp"`` or ``"udp"``.
        server_class, handler_class: the classes that served the request.
        python_version: the interpreter the trace was taken on (line numbers depend on it).
    """

    def __init__(self, calls: list[Call], *, reply: bytes, message: bytes, protocol: str,
                 server_class: type, handler_class: type, python_version: str,
                 starters: dict[str, Call] | None = None):
        self.calls = calls
        self.starters = dict(starters or {})
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
        if thread not in self.threads:
            raise ValueError(f"no thread {thread!r} in this trace; threads: {', '.join(self.threads)}")
        return self.starters.get(thread)

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
        new thread's arrow from the call that started it (:attr:`starters`).
        """
        if title is None:
            title = f"Call flow of one {self._one_request} ({self.server_class.__name__})"
        return diagrams.call_flow(self, title=title)

    # -- text -----------------------------------------------------------------

    @property
    def _one_request(self) -> str:
        """``TCP request`` or ``UDP datagram``."""
        return f"{self.protocol.upper()} {'datagram' if self.protocol == 'udp' else 'request'}"

    @property
    def title(self) -> str:
        return (f"{self.server_class.__name__} + {self.handler_class.__name__}: one {self._one_request} "
                f"{self.message!r} -> reply {self.reply!r}, {len(self.calls)} calls, "
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
