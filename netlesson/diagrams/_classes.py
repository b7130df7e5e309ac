"""Class diagrams of ``socketserver``: the hierarchies, the mix-in combinations, one MRO.

Every picture here comes from introspection of the running Python: classes from
``socketserver.__dict__``, edges from each class's ``__bases__``, lookup chains from
``__mro__`` and the supplier of an attribute from the classes' ``__dict__``
(:func:`netlesson.source.defining_class`, Python's own lookup rule).
"""

from __future__ import annotations

import html
import socketserver
import sys
from typing import Any, Iterable, Mapping, Sequence

import graphviz

from ..source import defining_class
from ._render import Diagram, Edge
from ._style import (
    FILL_COMBINED,
    FILL_MIXIN,
    FILL_OBJECT,
    FILL_SERVER,
    HIGHLIGHT_BORDER,
    HIGHLIGHT_FILL,
    LOOKUP,
    MUTED,
    new_graph,
)


def public_classes(module: Any = socketserver) -> list[type]:
    """The public classes *defined* in ``module`` on this interpreter, sorted by name.

    Scans ``module.__dict__``: a class is included if it was defined there (its
    ``__module__`` is the module) under its own name, and the name has no leading
    underscore.  Imported names and aliases are left out.  Because the scan runs on
    the live module, platform-dependent classes appear exactly when they exist.
    """
    found = [
        obj
        for name, obj in vars(module).items()
        if isinstance(obj, type)
        and obj.__module__ == module.__name__
        and obj.__name__ == name
        and not name.startswith("_")
    ]
    return sorted(found, key=lambda cls: cls.__name__)


def _hierarchy_key(cls: type) -> tuple[int, str]:
    """Sort bases before subclasses (shorter MRO first), then by name: stable and readable."""
    return (len(cls.__mro__), cls.__module__ + "." + cls.__qualname__)


def class_ids(classes: Iterable[type]) -> dict[type, str]:
    """Node ids: the class name, or ``module.qualname`` where two names would clash."""
    classes = list(dict.fromkeys(classes))
    counts: dict[str, int] = {}
    for cls in classes:
        counts[cls.__name__] = counts.get(cls.__name__, 0) + 1
    return {
        cls: cls.__name__ if counts[cls.__name__] == 1 else f"{cls.__module__}.{cls.__qualname__}"
        for cls in classes
    }


def _is_mixin(cls: type) -> bool:
    """A socketserver mix-in: a class meant to be combined, not a server or handler itself."""
    return (
        cls is not object
        and not issubclass(cls, (socketserver.BaseServer, socketserver.BaseRequestHandler))
        and cls.__module__ == "socketserver"
    )


def _class_fill(cls: type) -> str:
    if cls is object or cls.__module__ != "socketserver":
        return FILL_OBJECT
    if _is_mixin(cls):
        return FILL_MIXIN
    if any(_is_mixin(base) for base in cls.__bases__):
        return FILL_COMBINED
    return FILL_SERVER


def _base_number(position: int) -> dict[str, str]:
    """Edge attributes that print a base's position (1 = first base) next to the subclass."""
    return {"taillabel": str(position), "labelfontcolor": MUTED, "labelfontsize": "9", "labeldistance": "1.6"}


def _ancestors(classes: Iterable[type]) -> list[type]:
    """``classes`` and every class in their MROs, bases first."""
    seen: dict[type, None] = {}
    for cls in classes:
        for klass in cls.__mro__:
            seen.setdefault(klass, None)
    return sorted(seen, key=_hierarchy_key)


def _summary_line(cls: type, ids: Mapping[type, str]) -> str:
    bases = ", ".join(ids[base] for base in cls.__bases__)
    return f"{ids[cls]}({bases})" if bases else ids[cls]


def _class_diagram(name: str, title: str, heading: str, classes: Sequence[type]) -> Diagram:
    """Inheritance diagram of ``classes`` and their ancestors, one edge per ``__bases__`` entry."""
    everything = _ancestors(classes)
    ids = class_ids(everything)
    graph = new_graph(name, title, rankdir="BT")
    for cls in everything:
        muted = cls is object or cls.__module__ != "socketserver"
        graph.node(
            graphviz.nohtml(ids[cls]),
            label=graphviz.nohtml(ids[cls]),
            fillcolor=_class_fill(cls),
            tooltip=graphviz.nohtml(f"{cls.__module__}.{cls.__qualname__}"),
            **({"fontcolor": MUTED, "color": MUTED} if muted else {}),
        )
    edges: list[Edge] = []
    for cls in everything:
        several = len(cls.__bases__) > 1
        for position, base in enumerate(cls.__bases__, start=1):
            attrs = {"arrowhead": "empty"}
            if several:  # base order matters (a mix-in must come first): show it
                attrs.update(_base_number(position))
            graph.edge(ids[cls], ids[base], **attrs)
            edges.append(Edge(ids[cls], ids[base], "inherits"))
    shown = [cls for cls in everything if cls is not object]
    summary = "\n".join(
        [f"{heading} ({len(shown)} classes; base classes listed first):"]
        + [f"  {_summary_line(cls, ids)}" for cls in shown]
    )
    return Diagram(name, graph, summary, [ids[c] for c in everything], edges, classes={ids[c]: c for c in everything})


def server_classes() -> Diagram:
    """Seed pic 01: every server class and mix-in ``socketserver`` defines on this Python.

    That is every public class of the module that is not a request handler:
    ``BaseServer``, ``TCPServer``, ``UDPServer``, the ``Unix*`` servers (if the
    platform has ``AF_UNIX``), the ``Threading*``/``Forking*`` combinations (forking
    only with ``os.fork``) and the two mix-ins.  Arrows point from subclass to base,
    UML style, so base classes sit at the top; numbers on the arrows give the order
    of the bases.
    """
    classes = [c for c in public_classes() if not issubclass(c, socketserver.BaseRequestHandler)]
    title = f"socketserver server classes (Python {sys.version_info[0]}.{sys.version_info[1]})"
    legend = "blue: servers   purple: mix-ins   green: mix-in + server"
    return _class_diagram("server_classes", f"{title}\n{legend}", "socketserver server classes", classes)


def handler_classes() -> Diagram:
    """Seed pic 02: ``BaseRequestHandler`` and its stream/datagram subclasses."""
    classes = [c for c in public_classes() if issubclass(c, socketserver.BaseRequestHandler)]
    title = f"socketserver request handler classes (Python {sys.version_info[0]}.{sys.version_info[1]})"
    return _class_diagram("handler_classes", title, "socketserver request handler classes", classes)


def _resolve_class(spec: type | str) -> type:
    if isinstance(spec, type):
        return spec
    if isinstance(spec, str) and isinstance(getattr(socketserver, spec, None), type):
        return getattr(socketserver, spec)
    raise TypeError(f"expected a class or the name of a socketserver class, got {spec!r}")


def _mro_label(position: int, name: str, note: str | None = None, note_color: str = MUTED) -> str:
    """HTML-like label: MRO position, class name, optional small note underneath."""
    label = f'<font point-size="10" color="{LOOKUP}">{position}</font>  <b>{html.escape(name)}</b>'
    if note:
        label += f'<br/><font point-size="9" color="{note_color}">{html.escape(note)}</font>'
    return f"<{label}>"


def _add_lookup_chain(graph: Any, order: Sequence[str], edges: list[Edge]) -> None:
    """Dashed red arrows through the MRO; ``constraint=false`` keeps the UML layout."""
    for tail, head in zip(order, order[1:]):
        graph.edge(tail, head, style="dashed", color=LOOKUP, arrowhead="vee", constraint="false", penwidth="1.3")
        edges.append(Edge(tail, head, "lookup"))


def mixin_combinations(classes: Sequence[type | str] | None = None) -> Diagram:
    """Seed pics 03-05: how a mix-in and a server class combine, MRO numbered.

    By default draws ``ThreadingTCPServer`` and ``ThreadingUDPServer`` (those this
    Python has), each in its own box with every class of its MRO.  Solid arrows are
    inheritance (numbered by base position); the dashed red path and the numbers on
    the classes are the method-lookup order, i.e. ``__mro__``.  Any classes (names of
    socketserver classes or class objects) can be passed instead.
    """
    if classes is None:
        classes = [n for n in ("ThreadingTCPServer", "ThreadingUDPServer") if hasattr(socketserver, n)]
    combos = [_resolve_class(c) for c in classes]
    graph = new_graph("mixins", "Mix-in combinations and their lookup order (MRO)", rankdir="BT")
    graph.attr(compound="true")
    nodes: list[str] = []
    edges: list[Edge] = []
    index: dict[str, type] = {}
    summary: list[str] = []
    combo_ids = class_ids(combos)
    for combo in combos:
        ids = class_ids(combo.__mro__)
        prefix = combo_ids[combo]
        node_id = {cls: f"{prefix}/{ids[cls]}" for cls in combo.__mro__}
        with graph.subgraph(name=f"cluster_{prefix}") as box:
            box.attr(
                label=graphviz.nohtml(_summary_line(combo, ids)),
                labelloc="b",  # with rankdir=BT, "b" puts the title above the box
                style="rounded,dashed",
                color=MUTED,
                fontsize="13",
            )
            for position, cls in enumerate(combo.__mro__, start=1):
                box.node(
                    graphviz.nohtml(node_id[cls]),
                    label=_mro_label(position, ids[cls]),
                    fillcolor=_class_fill(cls),
                    tooltip=graphviz.nohtml(f"{position}. {cls.__module__}.{cls.__qualname__}"),
                )
                nodes.append(node_id[cls])
                index[node_id[cls]] = cls
            for cls in combo.__mro__:
                several = len(cls.__bases__) > 1
                for position, base in enumerate(cls.__bases__, start=1):
                    attrs = {"arrowhead": "empty"}
                    if several:
                        attrs.update(_base_number(position))
                    box.edge(node_id[cls], node_id[base], **attrs)
                    edges.append(Edge(node_id[cls], node_id[base], "inherits"))
            _add_lookup_chain(box, [node_id[c] for c in combo.__mro__], edges)
        summary.append(_summary_line(combo, ids))
        summary.append("  lookup order: " + " → ".join(ids[c] for c in combo.__mro__))
    return Diagram("mixins", graph, "\n".join(summary), nodes, edges, classes=index)


def mro(cls: type, attribute: str | None = None) -> Diagram:
    """The lookup chain of ``cls`` (its ``__mro__``), optionally for one attribute.

    Works for any class, including a student's own subclass.  Classes are numbered in
    lookup order and joined by a dashed red path; solid arrows show ``__bases__``.
    With ``attribute``, the class whose ``__dict__`` supplies it - the first in the
    MRO that defines it, as Python's own lookup does - is highlighted; classes checked
    before it are marked "no <attribute>".  If no class defines it (an instance
    attribute such as ``server_address``, or a typo), the summary says so.

    The summary reads e.g.::

        ThreadingTCPServer → ThreadingMixIn → TCPServer → BaseServer → object
        __init__: supplied by TCPServer
    """
    if not isinstance(cls, type):
        raise TypeError(
            f"mro() needs a class, got a {type(cls).__name__!r} instance; pass type(obj) to draw its class"
        )
    chain = cls.__mro__
    ids = class_ids(chain)
    supplier = defining_class(cls, attribute) if attribute is not None else None
    title = f"Lookup order of {ids[cls]}" + (f" for {attribute!r}" if attribute is not None else "")
    graph = new_graph(f"mro_{cls.__name__}", title, rankdir="BT")
    edges: list[Edge] = []
    searched = True  # classes up to (excluding) the supplier were searched in vain
    for position, klass in enumerate(chain, start=1):
        attrs: dict[str, str] = {"fillcolor": _class_fill(klass)}
        note = None
        if attribute is not None:
            if klass is supplier:
                note, searched = f"defines {attribute}", False
                attrs.update(fillcolor=HIGHLIGHT_FILL, color=HIGHLIGHT_BORDER, penwidth="2.5")
            elif searched:
                note = f"no {attribute}"
        graph.node(
            graphviz.nohtml(ids[klass]),
            label=_mro_label(position, ids[klass], note, HIGHLIGHT_BORDER if klass is supplier else MUTED),
            tooltip=graphviz.nohtml(f"{position}. {klass.__module__}.{klass.__qualname__}"),
            **attrs,
        )
    for klass in chain:
        several = len(klass.__bases__) > 1
        for position, base in enumerate(klass.__bases__, start=1):
            extra = _base_number(position) if several else {}
            graph.edge(ids[klass], ids[base], arrowhead="empty", **extra)
            edges.append(Edge(ids[klass], ids[base], "inherits"))
    _add_lookup_chain(graph, [ids[k] for k in chain], edges)

    summary = [" → ".join(ids[k] for k in chain)]
    if attribute is not None:
        if supplier is not None:
            summary.append(f"{attribute}: supplied by {ids[supplier]}")
        else:
            summary.append(
                f"{attribute}: not defined by any class in the MRO of {ids[cls]} "
                f"(an instance gets it only if set on the instance, e.g. in __init__; "
                f"otherwise AttributeError)"
            )
    return Diagram(
        graph.name,
        graph,
        "\n".join(summary),
        [ids[k] for k in chain],
        edges,
        highlighted=[ids[supplier]] if supplier is not None else [],
        classes={ids[k]: k for k in chain},
    )
