"""The sequence diagram: socket calls of one real exchange, one column per thread, in order.

:func:`sequence` draws from events it is given (:class:`SocketEvent`: which thread
made which socket call, in the order the calls returned) and knows nothing of how
they were recorded.  Time runs downwards: event *n* is drawn on row *n*, in its
thread's column.  Between the two columns it draws what went over the wire,
worked out from the events alone:

* ``connect`` → ``accept``: the three-way handshake;
* each ``send``/``sendall`` → every ``recv`` in the other thread that returned
  some of its bytes (TCP is a byte stream: the bytes are matched by their position
  in the stream, not by call);
* the first ``shutdown`` that is not ``SHUT_RD``, or else ``close``, → the other
  thread's ``recv`` that returned ``b''``: the FIN.
"""

from __future__ import annotations

import html
from typing import Iterable, NamedTuple

import graphviz

from ._render import Diagram, Edge
from ._style import BORDER, FILL_SERVER, FILL_USER, LOOKUP, MUTED, new_graph

_SENDS = ("send", "sendall")


class SocketEvent(NamedTuple):
    """One socket call of one thread.

    Record a call that sends something (``connect``, ``send``, ``sendall``,
    ``shutdown``, ``close``) as it starts, and a call that waits for the other side
    (``accept``, ``recv``) when it returns: then every arrow points down the page,
    from cause to effect, whichever thread the scheduler ran first.

    Attributes:
        thread: the column it is drawn in (``"client (main thread)"``).
        call: ``"connect"``, ``"accept"``, ``"send"``, ``"sendall"``, ``"recv"``,
            ``"shutdown"``, ``"close"`` (any other name is drawn, without arrows).
        detail: a short note shown under the call (``"SHUT_WR"``, ``"b'HELLO'"``).
        nbytes: bytes sent or received (``0`` for a ``recv`` that returned ``b''``);
            ``None`` for calls that move no data.
    """

    thread: str
    call: str
    detail: str = ""
    nbytes: int | None = None


def _label(number: int, event: SocketEvent) -> str:
    note = f'<br/><font point-size="9" color="{MUTED}">{html.escape(event.detail)}</font>' \
        if event.detail else ""
    return f'<<font point-size="10" color="{LOOKUP}">{number}</font>  <b>{html.escape(event.call)}</b>{note}>'


def _wire(events: list[SocketEvent], lanes: list[str]) -> list[tuple[int, int, str]]:
    """(from event, to event, what) for handshake, data and FIN between two lanes."""
    if len(lanes) != 2:
        return []
    found: list[tuple[int, int, str]] = []
    connects = [i for i, e in enumerate(events) if e.call == "connect"]
    accepts = [i for i, e in enumerate(events) if e.call == "accept"]
    for c, a in zip(connects, accepts):
        if events[c].thread != events[a].thread:
            found.append((c, a, "SYN, SYN-ACK, ACK"))
    for sender in lanes:
        receiver = next(lane for lane in lanes if lane != sender)
        sent, at = [], 0
        for i, e in enumerate(events):
            if e.thread == sender and e.call in _SENDS and e.nbytes:
                sent.append((at, at + e.nbytes, i))
                at += e.nbytes
        got = 0
        for i, e in enumerate(events):
            if e.thread != receiver or e.call != "recv" or not e.nbytes:
                continue
            start, got = got, got + e.nbytes
            for first, end, j in sent:
                if first < got and start < end:  # the byte ranges overlap
                    found.append((j, i, f"{min(end, got) - max(first, start)} bytes"))
        fin = next((i for i, e in enumerate(events) if e.thread == sender and (
            (e.call == "shutdown" and e.detail != "SHUT_RD") or e.call == "close")), None)
        eof = next((i for i, e in enumerate(events) if e.thread == receiver
                    and e.call == "recv" and e.nbytes == 0), None)
        if fin is not None and eof is not None:
            found.append((fin, eof, "FIN"))
    return found


def sequence(events: Iterable[SocketEvent], title: str = "One TCP exchange",
             lanes: Iterable[str] = ()) -> Diagram:
    """Draw socket calls as a sequence diagram: a column per thread, a row per call.

    Args:
        events: :class:`SocketEvent` records (any objects with ``thread``, ``call``,
            ``detail`` and ``nbytes`` work), in the order the calls happened.
        title: the diagram's title and the first words of its summary.
        lanes: the threads' columns, left to right; threads not named here follow in
            the order of their first event.  Two threads run at the same time, so
            which one records first can change from run to run: naming the lanes
            keeps the picture's columns and the summary's lines in one order.

    Returns:
        A :class:`Diagram`.  Its summary -- the stable text a notebook stores --
        lists each thread's calls in order; the arrows between the columns (see
        the module docstring) are its ``edges`` of kind ``"wire"``, the dotted
        lifelines of kind ``"then"``.
    """
    records = list(events)
    lanes = list(dict.fromkeys([str(lane) for lane in lanes] + [str(e.thread) for e in records]))
    graph = new_graph("sequence", title, rankdir="TB")
    graph.attr(newrank="true", ranksep="0.25", nodesep="0.8", splines="line", forcelabels="true")
    ids = [f"e{n}" for n in range(1, len(records) + 1)]
    edges: list[Edge] = []
    # a hidden time axis: row n holds event n, whichever column it is in
    rows = ["top"] + [f"t{n}" for n in range(1, len(records) + 1)]
    for row in rows:
        graph.node(row, label="", shape="point", style="invis", width="0")
    for upper, lower in zip(rows, rows[1:]):
        graph.edge(upper, lower, style="invis")
    with graph.subgraph(name="heads") as heads:
        heads.attr(rank="same")
        heads.node("top")
        for lane_no, lane in enumerate(lanes):
            heads.node(f"lane{lane_no}", label=graphviz.nohtml(lane), shape="box",
                       style="filled", fillcolor=FILL_USER if lane_no else FILL_SERVER,
                       color=BORDER, fontsize="13")
    for n, (node, event) in enumerate(zip(ids, records), start=1):
        with graph.subgraph(name=f"row{n}") as row:
            row.attr(rank="same")
            row.node(f"t{n}")
            row.node(node, label=_label(n, event), shape="box", style="rounded,filled",
                     fillcolor=FILL_SERVER if lanes.index(str(event.thread)) == 0 else FILL_USER)
    for lane_no, lane in enumerate(lanes):  # lifelines keep each thread in its column
        previous = f"lane{lane_no}"
        for node, event in zip(ids, records):
            if str(event.thread) == lane:
                graph.edge(previous, node, style="dashed", color=MUTED, arrowhead="none",
                           weight="100")
                edges.append(Edge(previous, node, "then"))
                previous = node
    for i, j, what in _wire(records, lanes):
        graph.edge(ids[i], ids[j], xlabel=what, color=LOOKUP, fontcolor=LOOKUP,
                   constraint="false")
        edges.append(Edge(ids[i], ids[j], "wire"))
    if records:
        summary = [f"{title}: {len(records)} socket calls in {len(lanes)} "
                   f"thread{'s' if len(lanes) != 1 else ''}"]
        for lane in lanes:
            calls = [e.call + (f"({e.detail})" if e.call == "shutdown" and e.detail else "")
                     for e in records if str(e.thread) == lane]
            summary.append(f"{lane}: " + " → ".join(calls))
    else:
        graph.node("empty", label="no socket calls recorded", shape="plaintext", style="")
        summary = [f"{title}: no socket calls recorded"]
    return Diagram("sequence", graph, "\n".join(summary), ids, edges)
