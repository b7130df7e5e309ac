"""The call-flow diagram: recorded calls drawn one lane per thread, numbered in order.

:func:`call_flow` draws from data it is given -- call records such as
:class:`netlesson.trace.Call`, or a trace result that holds them -- and knows
nothing of how they were recorded.
"""

from __future__ import annotations

import html
from typing import Any, Iterable, Mapping, Protocol, Sequence

import graphviz

from ..source import display_filename
from ._render import Diagram, Edge
from ._style import FILL_SERVER, FILL_USER, LOOKUP, MUTED, new_graph


class CallRecord(Protocol):
    """What :func:`call_flow` reads from one recorded call (:class:`netlesson.trace.Call` is one).

    Attributes:
        thread: a stable label of the thread that made the call (``"main"``,
            ``"serve_forever"``, ``"handler"``; ``"handler 1"`` ... when several).
        qualname: ``"TCPServer.get_request"``.
        depth: call nesting within the thread, 0 = outermost recorded call.
        defining_class: the class that defines the method, or its name
            (``None`` for a module-level function).
        filename: the source file, by any path (it is shown without directories).
        lineno: the line where the function's definition starts.
    """

    thread: str
    qualname: str
    depth: int
    defining_class: type | str | None
    filename: str
    lineno: int


_FIELDS = tuple(CallRecord.__annotations__)


def _check_record(position: int, record: Any) -> None:
    missing = [f for f in _FIELDS if not hasattr(record, f)]
    if missing:
        raise TypeError(
            f"call record {position} ({record!r}) lacks {', '.join(missing)}; call_flow() needs "
            f"objects with attributes {', '.join(_FIELDS)} (such as netlesson.trace.Call)"
        )


def _index_of(records: Sequence[Any], record: Any) -> int | None:
    if record is None:
        return None
    for index, candidate in enumerate(records):
        if candidate is record:
            return index
    return None


def _owner_name(record: CallRecord) -> str:
    """``defining_class`` may be a class (netlesson.trace) or already its name."""
    owner = record.defining_class
    if owner is None:
        return "(module)"
    return getattr(owner, "__name__", None) or str(owner)


def _call_label(number: int, qualname: str, where: str) -> str:
    owner, dot, method = qualname.rpartition(".")
    name = f"<b>{html.escape(owner)}</b>.{html.escape(method)}" if dot else f"<b>{html.escape(qualname)}</b>"
    return (
        f'<<font point-size="10" color="{LOOKUP}">{number}</font>  {name}'
        f'<br/><font point-size="9" color="{MUTED}">{html.escape(where)}</font>>'
    )


def _draw_lanes(graph: graphviz.Digraph, records: Sequence[CallRecord], threads: list[str],
                node_ids: list[str]) -> None:
    """One cluster per thread holding that thread's calls, numbered in recorded order."""
    for lane, thread in enumerate(threads):
        with graph.subgraph(name=f"cluster_{lane}") as box:
            box.attr(label=graphviz.nohtml(thread), style="rounded,filled", fillcolor="#f8fafc", color=MUTED)
            for number, record in enumerate(records, start=1):
                if str(record.thread) != thread:
                    continue
                where = f"{display_filename(record.filename)}:{record.lineno}"
                library = display_filename(record.filename) == "socketserver.py"
                box.node(
                    node_ids[number - 1],
                    label=_call_label(number, str(record.qualname), where),
                    fillcolor=FILL_SERVER if library else FILL_USER,
                    tooltip=graphviz.nohtml(f"{record.qualname}, defined in {_owner_name(record)} at {where}"),
                )


def _draw_thread_start(graph: graphviz.Digraph, node_ids: list[str], index: int,
                       starter: int | None) -> Edge | None:
    """The dashed arrow into the first call of a thread: from its starter if known, else a label."""
    if starter is not None:  # the trace knows which call started this thread
        graph.edge(node_ids[starter], node_ids[index], style="dashed", color=LOOKUP,
                   label="starts thread", fontcolor=LOOKUP)
        return Edge(node_ids[starter], node_ids[index], "thread")
    if index == 0:
        return None
    # Started by code the trace did not record (the tracer's own
    # Thread(target=serve_forever)): say so, rather than draw an arrow
    # from whatever call happens to be recorded just before.
    origin = f"{node_ids[index]}_origin"
    graph.node(origin, label="thread started outside the traced calls",
               shape="plaintext", style="", fillcolor="none", fontcolor=LOOKUP,
               fontsize="10")
    graph.edge(node_ids[index - 1], origin, style="invis")  # keeps time running down
    graph.edge(origin, node_ids[index], style="dashed", color=LOOKUP,
               label="new thread", fontcolor=LOOKUP)
    return Edge(origin, node_ids[index], "thread")


def _draw_edges(graph: graphviz.Digraph, records: Sequence[CallRecord], threads: list[str],
                node_ids: list[str], starters: Mapping[str, Any]) -> list[Edge]:
    """Thread starts, caller → callee arrows, and dotted "then" lines between top-level calls."""
    edges: list[Edge] = []
    stacks: dict[str, list[tuple[int, int]]] = {t: [] for t in threads}  # (depth, index)
    last_in_thread: dict[str, int] = {}
    for index, record in enumerate(records):
        thread, depth = str(record.thread), int(record.depth)
        if thread not in last_in_thread:
            start = _draw_thread_start(graph, node_ids, index, _index_of(records, starters.get(thread)))
            if start is not None:
                edges.append(start)
        stack = stacks[thread]
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            graph.edge(node_ids[stack[-1][1]], node_ids[index])
            edges.append(Edge(node_ids[stack[-1][1]], node_ids[index], "calls"))
        elif thread in last_in_thread:  # a new top-level call: draw it below the last one
            graph.edge(node_ids[last_in_thread[thread]], node_ids[index], style="dotted", arrowhead="none")
            edges.append(Edge(node_ids[last_in_thread[thread]], node_ids[index], "then"))
        stack.append((depth, index))
        last_in_thread[thread] = index
    return edges


def call_flow(calls: Iterable[CallRecord] | Any, title: str = "Call flow") -> Diagram:
    """Draw recorded calls, one lane (cluster) per thread, numbered in recorded order.

    Args:
        calls: the call records (:class:`CallRecord`: for example
            :class:`netlesson.trace.Call`; any objects with those attributes work), or
            a trace result (such as :class:`netlesson.trace.Trace`): an object with the
            records in ``.calls`` and, if it knows them, in ``.starters`` a mapping
            thread label → the record during which that thread was started.
        title: the diagram's title and the first words of its summary.

    Returns:
        A :class:`Diagram` whose summary lists each thread's calls in order.  Raises
        :class:`TypeError` naming the first record that lacks a field.

    Solid arrows go from caller to callee (the nearest earlier call in the same
    thread with a smaller depth); a dotted line leads from the previous call of the
    same thread to each later top-level call, so time runs downwards; a dashed arrow
    leads into each new thread from the call that started it when the trace knows
    it (``Trace.starters``: for ``ThreadingMixIn``, ``process_request``), else
    from a label saying the thread was started outside the traced calls (the
    tracer's own ``serve_forever`` thread) -- never from an unrelated call.  Calls of functions
    defined in ``socketserver.py`` are blue; every other call is yellow: the
    handler's own methods, and any other code that is not ``socketserver``'s -- for
    example ``ClassroomServerMixIn.serve_forever`` when a netlesson classroom server
    is traced.  (With the plain ``ThreadingTCPServer``/``ThreadingUDPServer`` the
    walkthroughs trace, the yellow boxes are exactly the handler's.)  Files are
    named without directories, so the DOT has no machine-specific paths.  The DOT's
    first line records the full Python version (:func:`provenance`), because the
    line numbers it shows belong to that exact release.
    """
    starters: Mapping[str, Any] = {}
    if hasattr(calls, "calls") and not isinstance(calls, (list, tuple)):
        starters = getattr(calls, "starters", None) or {}
        calls = calls.calls
    records = list(calls)
    for position, record in enumerate(records, start=1):
        _check_record(position, record)

    graph = new_graph("call_flow", title, rankdir="TB", full_version=True)
    graph.attr(ordering="out", newrank="true", ranksep="0.35")
    threads = list(dict.fromkeys(str(r.thread) for r in records))
    node_ids = [f"c{n}" for n in range(1, len(records) + 1)]
    _draw_lanes(graph, records, threads, node_ids)
    edges = _draw_edges(graph, records, threads, node_ids, starters)

    if records:
        summary = [f"{title}: {len(records)} calls in {len(threads)} thread{'s' if len(threads) != 1 else ''}"]
        for thread in threads:
            summary.append(f"{thread}: " + " → ".join(str(r.qualname) for r in records if str(r.thread) == thread))
    else:
        graph.node("empty", label="no calls recorded", shape="plaintext", style="")
        summary = [f"{title}: no calls recorded"]
    return Diagram("call_flow", graph, "\n".join(summary), node_ids, edges)
