"""Class and call-flow diagrams of ``socketserver``, drawn from the running Python.

The seed course showed ``socketserver``'s class hierarchy as screenshots of diagrams
made on one old Python.  Here every diagram is built by *introspection*: the classes
come from scanning ``socketserver.__dict__``, the edges from each class's
``__bases__``, lookup chains from ``__mro__`` and the classes' ``__dict__``.  Nothing
is hard-coded, so the picture is true for the interpreter and platform that draw it
(``Forking*`` servers need ``os.fork``, ``Unix*`` servers need ``AF_UNIX``, and
Python 3.12 added ``ForkingUnixStreamServer`` / ``ForkingUnixDatagramServer``).

Every builder returns a :class:`Diagram`.  In JupyterLab it displays as SVG together
with a short ``text/plain`` summary (``ThreadingTCPServer → ThreadingMixIn →
TCPServer → BaseServer → object``): nbval compares that stable text while unit tests
check the SVG.  Without Graphviz's ``dot`` program a diagram displays an
installation hint, its summary and its DOT source instead of a traceback.

DOT output is deterministic (same interpreter → same bytes) because the committed
``pics/*.dot`` files are regenerated and compared by the test-suite; each file's first
line records the Python it was drawn with (:func:`provenance`): ``major.minor`` and
the platform features for class diagrams, the full version (``3.11.7``) for call flows,
whose ``socketserver.py`` line numbers can move between patch releases.

The DOT text does not depend on the version of the Python ``graphviz`` package: the
same diagrams were drawn byte for byte identically with graphviz 0.20, 0.20.1 and
0.21 (the range ``pyproject.toml`` allows), so the provenance line leaves it out.
Rendering to SVG is done by the ``dot`` program, whose version does change the SVG;
that is why only the ``.dot`` files are compared.
"""

from __future__ import annotations

import html
import importlib
import os
import shutil
import socket
import platform
import socketserver
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import graphviz

from .source import defining_class, display_filename

__all__ = [
    "Diagram",
    "DotNotFound",
    "DotTimeout",
    "Edge",
    "call_flow",
    "class_ids",
    "defining_class",
    "handler_classes",
    "mixin_combinations",
    "mro",
    "provenance",
    "public_classes",
    "server_classes",
    "standard_diagrams",
    "traced_diagrams",
    "write_all",
]

FONT = "Helvetica,Arial,sans-serif"

# One palette for every diagram, so colours mean the same thing everywhere.
_FILL_SERVER = "#dbeafe"  # servers and handlers
_FILL_MIXIN = "#ede9fe"  # mix-in classes
_FILL_COMBINED = "#dcfce7"  # classes that combine a mix-in with a server
_FILL_OBJECT = "#f3f4f6"  # object, and classes outside socketserver's hierarchy
_FILL_USER = "#fef3c7"  # the student's own code in a call flow
_BORDER = "#475569"
_MUTED = "#6b7280"
_HIGHLIGHT_FILL = "#fb923c"  # the class that supplies the looked-up attribute
_HIGHLIGHT_BORDER = "#9a3412"
_LOOKUP = "#dc2626"  # the lookup chain (MRO order)

INSTALL_HINT = (
    "Graphviz's `dot` program is missing, so this diagram cannot be drawn as a picture.\n"
    "The Python package `graphviz` is installed, but it needs the separate `dot` program.\n"
    "Install Graphviz, then run the cell again:\n"
    "  Debian/Ubuntu:  sudo apt-get install graphviz\n"
    "  macOS:          brew install graphviz\n"
    "  conda:          conda install -c conda-forge graphviz"
)


#: Seconds ``dot`` may take to draw one diagram before it is stopped.  The course's
#: diagrams take well under a second; a graph that takes longer is almost certainly
#: not one a student meant to draw (e.g. a call flow of thousands of calls), and a
#: notebook cell must not hang on it.
RENDER_TIMEOUT = 20.0


class DotNotFound(RuntimeError):
    """Graphviz's ``dot`` executable is not on ``PATH`` (the message says how to install it)."""


class DotTimeout(RuntimeError):
    """Graphviz's ``dot`` did not finish drawing within the time limit and was stopped."""


class Edge(NamedTuple):
    """One drawn edge, by DOT node id.

    ``kind`` is ``"inherits"`` (subclass → base, i.e. ``head in tail.__bases__``),
    ``"lookup"`` (next class in the MRO), ``"calls"`` (caller → callee in one thread),
    ``"then"`` (previous call of a thread → its next top-level call) or ``"thread"`` (into
    the first call of a new thread, from the call that started it if known, else from
    a label node ``<id>_origin``: "thread started outside the traced calls").
    """

    tail: str
    head: str
    kind: str


def provenance(full_version: bool = False) -> str:
    """Where a diagram was drawn: the Python version and the features that add classes.

    Class diagrams record only ``major.minor``: patch releases do not add classes,
    and a patch number in their committed DOT files would make them stale for no
    reason.  Call flows (``full_version=True``) record the whole version
    (``3.11.7``): each node names a ``socketserver.py`` line, and those lines move
    between patch releases, so a call flow can only be compared with one drawn on
    exactly the same Python.
    """
    version = platform.python_version() if full_version else "{}.{}".format(*sys.version_info[:2])
    fork = "yes" if hasattr(os, "fork") else "no"
    unix = "yes" if hasattr(socket, "AF_UNIX") else "no"
    return f"generated by netlesson on Python {version} (os.fork: {fork}, AF_UNIX: {unix})"


# ---------------------------------------------------------------------------
# The Diagram object
# ---------------------------------------------------------------------------


class Diagram:
    """A built diagram: DOT source, a plain-text summary, and rendering to SVG.

    Attributes:
        name: a short identifier, also the default file stem for :meth:`save`.
        graph: the underlying :class:`graphviz.Digraph`.
        summary: short, stable plain text (what nbval compares in notebooks).
        nodes: the DOT node ids, in drawing order.
        edges: the drawn edges as :class:`Edge` tuples (by DOT node id).
        highlighted: node ids drawn in the highlight colour.
        classes: node id → class, for diagrams of classes (empty for call flows).
        render_timeout: seconds ``dot`` may take in :meth:`svg` (:data:`RENDER_TIMEOUT`).
    """

    render_timeout = RENDER_TIMEOUT

    def __init__(
        self,
        name: str,
        graph: graphviz.Digraph,
        summary: str,
        nodes: Sequence[str],
        edges: Sequence[Edge],
        highlighted: Sequence[str] = (),
        classes: Mapping[str, type] | None = None,
    ) -> None:
        self.name = name
        self.graph = graph
        self.summary = summary
        self.nodes = tuple(nodes)
        self.edges = tuple(edges)
        self.highlighted = tuple(highlighted)
        self.classes = dict(classes or {})
        self._svg: tuple[str, str] | None = None  # (DOT source, its SVG)

    @property
    def dot_source(self) -> str:
        """The DOT text; identical bytes for identical input on the same interpreter."""
        return self.graph.source

    @staticmethod
    def dot_available() -> bool:
        """Whether Graphviz's ``dot`` program can be found on ``PATH``."""
        return shutil.which("dot") is not None

    def svg(self, timeout: float | None = None) -> str:
        """Render with ``dot`` and return the SVG text.

        Jupyter asks for the SVG every time the diagram is displayed (and
        :meth:`save` asks again), so the result is kept on the diagram and ``dot``
        runs again only if the DOT source has changed since (``graph`` is a public,
        mutable :class:`graphviz.Digraph`).

        ``dot`` may run for *timeout* seconds (default :attr:`render_timeout`); then it
        is stopped and :class:`DotTimeout` is raised, so a cell never hangs on a
        pathological graph.  ``graphviz``'s own ``pipe()`` has no time limit, so
        ``dot`` is run here directly, with the same arguments ``pipe()`` uses
        (``dot -Kdot -Tsvg``, the DOT text on standard input), which gives the same
        SVG.  Raises :class:`DotNotFound` (with installation instructions) when
        ``dot`` is missing, and :class:`subprocess.CalledProcessError` (carrying
        ``dot``'s complaint in ``stderr``) when it fails.  The SVG is rendered from
        standard input, so it names no file or directory of this machine.
        """
        source = self.dot_source
        if self._svg is not None and self._svg[0] == source:
            return self._svg[1]
        dot = shutil.which("dot")
        if dot is None:
            raise DotNotFound(INSTALL_HINT)
        limit = self.render_timeout if timeout is None else timeout
        command = [dot, f"-K{self.graph.engine}", "-Tsvg"]
        try:
            done = subprocess.run(command, input=source.encode(self.graph.encoding or "utf-8"),
                                  capture_output=True, timeout=limit, check=False)
        except FileNotFoundError as exc:  # removed between which() and run()
            raise DotNotFound(INSTALL_HINT) from exc
        except subprocess.TimeoutExpired:  # run() has killed dot and reaped it
            raise DotTimeout(
                f"Graphviz's `dot` program took more than {limit:g} s to draw the diagram "
                f"{self.name!r} ({len(self.nodes)} nodes, {len(self.edges)} edges) and was "
                f"stopped.\nA diagram this slow to lay out is too big to read anyway: draw "
                f"fewer calls or classes, or allow more time with "
                f".svg(timeout=...) or Diagram.render_timeout."
            ) from None
        if done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, ["dot", *command[1:]],
                                                done.stdout, done.stderr)
        svg = done.stdout.decode("utf-8")
        self._svg = (source, svg)
        return svg

    def _fallback_text(self, problem: str) -> str:
        return f"{problem}\n\n{self.summary}\n\nDOT source (any Graphviz viewer can draw it):\n{self.dot_source}"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Jupyter display: SVG + summary, or a clear message + DOT source without ``dot``.

        Never raises: a notebook cell that shows a diagram must not end in a
        traceback because of a missing system program.
        """
        try:
            bundle = {"image/svg+xml": self.svg(), "text/plain": self.summary}
        except DotNotFound:
            bundle = self._fallback_bundle(INSTALL_HINT)
        except DotTimeout as exc:
            bundle = self._fallback_bundle(str(exc))
        except Exception as exc:  # noqa: BLE001 - any dot failure becomes a message
            said = getattr(exc, "stderr", None)
            if isinstance(said, bytes):
                said = said.decode("utf-8", "replace")
            detail = said.strip() if isinstance(said, str) and said.strip() else f"{type(exc).__name__}: {exc}"
            bundle = self._fallback_bundle(f"Graphviz's `dot` program failed to draw this diagram:\n{detail}")
        if include:
            bundle = {k: v for k, v in bundle.items() if k in include}
        if exclude:
            bundle = {k: v for k, v in bundle.items() if k not in exclude}
        return bundle

    def _fallback_bundle(self, problem: str) -> dict[str, str]:
        text = self._fallback_text(problem)
        lines = problem.split("\n")
        page = (
            '<div class="netlesson-diagram-fallback" style="border-left:4px solid #d97706;'
            'padding:4px 10px;background:#fffbeb;color:#1f2937">'
            f"<p><b>{html.escape(lines[0])}</b><br>"
            + "<br>".join(html.escape(line) for line in lines[1:])
            + "</p>"
            f"<pre>{html.escape(self.summary)}</pre>"
            "<details><summary>DOT source (any Graphviz viewer can draw it)</summary>"
            f"<pre>{html.escape(self.dot_source)}</pre></details></div>"
        )
        return {"text/plain": text, "text/html": page}

    def save(self, directory: str | os.PathLike[str], stem: str | None = None, *, svg: bool = True) -> list[Path]:
        """Write ``stem.dot`` (and ``stem.svg`` unless ``svg=False``) into ``directory``.

        Returns the written paths.  Raises :class:`DotNotFound` for the SVG when
        ``dot`` is missing (the ``.dot`` file is written first).
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        stem = stem or self.name
        dot_path = directory / f"{stem}.dot"
        dot_path.write_bytes(self.dot_source.encode("utf-8"))
        written = [dot_path]
        if svg:
            svg_path = directory / f"{stem}.svg"
            svg_path.write_bytes(self.svg().encode("utf-8"))
            written.append(svg_path)
        return written

    def __str__(self) -> str:
        return self.summary

    def __repr__(self) -> str:
        first = self.summary.split("\n", 1)[0]
        return f"<Diagram {self.name!r}: {first}>"


def _new_graph(name: str, title: str, *, rankdir: str, full_version: bool = False) -> graphviz.Digraph:
    """A Digraph with the course's common style (fonts, colours, title on top)."""
    return graphviz.Digraph(
        name=name,
        comment=provenance(full_version),
        graph_attr={
            "rankdir": rankdir,
            "label": title,
            "labelloc": "t",
            "fontname": FONT,
            "fontsize": "16",
            "bgcolor": "white",
            "nodesep": "0.35",
            "ranksep": "0.5",
            "pad": "0.2",
        },
        node_attr={
            "shape": "box",
            "style": "rounded,filled",
            "fillcolor": _FILL_SERVER,
            "color": _BORDER,
            "fontname": FONT,
            "fontsize": "12",
            "margin": "0.12,0.06",
        },
        edge_attr={"fontname": FONT, "fontsize": "10", "color": _BORDER, "arrowsize": "0.8"},
    )


# ---------------------------------------------------------------------------
# Classes
# ---------------------------------------------------------------------------


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
        return _FILL_OBJECT
    if _is_mixin(cls):
        return _FILL_MIXIN
    if any(_is_mixin(base) for base in cls.__bases__):
        return _FILL_COMBINED
    return _FILL_SERVER


def _base_number(position: int) -> dict[str, str]:
    """Edge attributes that print a base's position (1 = first base) next to the subclass."""
    return {"taillabel": str(position), "labelfontcolor": _MUTED, "labelfontsize": "9", "labeldistance": "1.6"}


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
    graph = _new_graph(name, title, rankdir="BT")
    for cls in everything:
        muted = cls is object or cls.__module__ != "socketserver"
        graph.node(
            graphviz.nohtml(ids[cls]),
            label=graphviz.nohtml(ids[cls]),
            fillcolor=_class_fill(cls),
            tooltip=graphviz.nohtml(f"{cls.__module__}.{cls.__qualname__}"),
            **({"fontcolor": _MUTED, "color": _MUTED} if muted else {}),
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


def _mro_label(position: int, name: str, note: str | None = None, note_color: str = _MUTED) -> str:
    """HTML-like label: MRO position, class name, optional small note underneath."""
    label = f'<font point-size="10" color="{_LOOKUP}">{position}</font>  <b>{html.escape(name)}</b>'
    if note:
        label += f'<br/><font point-size="9" color="{note_color}">{html.escape(note)}</font>'
    return f"<{label}>"


def _add_lookup_chain(graph: Any, order: Sequence[str], edges: list[Edge]) -> None:
    """Dashed red arrows through the MRO; ``constraint=false`` keeps the UML layout."""
    for tail, head in zip(order, order[1:]):
        graph.edge(tail, head, style="dashed", color=_LOOKUP, arrowhead="vee", constraint="false", penwidth="1.3")
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
    graph = _new_graph("mixins", "Mix-in combinations and their lookup order (MRO)", rankdir="BT")
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
                color=_MUTED,
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
    graph = _new_graph(f"mro_{cls.__name__}", title, rankdir="BT")
    edges: list[Edge] = []
    searched = True  # classes up to (excluding) the supplier were searched in vain
    for position, klass in enumerate(chain, start=1):
        attrs: dict[str, str] = {"fillcolor": _class_fill(klass)}
        note = None
        if attribute is not None:
            if klass is supplier:
                note, searched = f"defines {attribute}", False
                attrs.update(fillcolor=_HIGHLIGHT_FILL, color=_HIGHLIGHT_BORDER, penwidth="2.5")
            elif searched:
                note = f"no {attribute}"
        graph.node(
            graphviz.nohtml(ids[klass]),
            label=_mro_label(position, ids[klass], note, _HIGHLIGHT_BORDER if klass is supplier else _MUTED),
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


# ---------------------------------------------------------------------------
# Call flow of a traced request
# ---------------------------------------------------------------------------

_CALL_FIELDS = ("thread", "qualname", "depth", "defining_class", "filename", "lineno")


def _check_record(position: int, record: Any) -> None:
    missing = [f for f in _CALL_FIELDS if not hasattr(record, f)]
    if missing:
        raise TypeError(
            f"call record {position} ({record!r}) lacks {', '.join(missing)}; call_flow() needs "
            f"objects with attributes {', '.join(_CALL_FIELDS)} (such as netlesson.trace.Call)"
        )


def _thread_starters(trace: Any) -> dict[str, Any]:
    """Thread label → the record during which that thread was started, if the trace knows.

    ``netlesson.trace.Trace.started_by(label)`` gives it (for a ``ThreadingMixIn``
    server, ``process_request`` starts the handler thread).  Plain lists of records
    carry no such information.
    """
    started_by = getattr(trace, "started_by", None)
    if not callable(started_by) or not hasattr(trace, "calls"):
        return {}
    starters = {}
    for thread in dict.fromkeys(str(r.thread) for r in trace.calls):
        try:
            starter = started_by(thread)
        except Exception:  # noqa: BLE001 - optional information; draw without it
            continue
        if starter is not None:
            starters[thread] = starter
    return starters


def _index_of(records: Sequence[Any], record: Any) -> int | None:
    if record is None:
        return None
    for index, candidate in enumerate(records):
        if candidate is record:
            return index
    return None


def _owner_name(record: Any) -> str:
    """``defining_class`` may be a class (netlesson.trace) or already its name."""
    owner = record.defining_class
    if owner is None:
        return "(module)"
    return getattr(owner, "__name__", None) or str(owner)


def _call_label(number: int, qualname: str, where: str) -> str:
    owner, dot, method = qualname.rpartition(".")
    name = f"<b>{html.escape(owner)}</b>.{html.escape(method)}" if dot else f"<b>{html.escape(qualname)}</b>"
    return (
        f'<<font point-size="10" color="{_LOOKUP}">{number}</font>  {name}'
        f'<br/><font point-size="9" color="{_MUTED}">{html.escape(where)}</font>>'
    )


def call_flow(calls: Iterable[Any] | Any, title: str = "Call flow") -> Diagram:
    """Draw recorded calls, one lane (cluster) per thread, numbered in recorded order.

    ``calls`` is a sequence of records with attributes ``thread`` (a stable label
    such as ``"main"``, ``"serve_forever"``, ``"handler"`` or, when a trace has
    several handler threads, ``"handler 1"``), ``qualname``
    (``"TCPServer.get_request"``), ``depth`` (call nesting, 0 = outermost recorded),
    ``defining_class`` (a class or its name), ``filename`` and ``lineno`` - for example
    ``netlesson.trace.Call`` - or an object with such a list in ``.calls`` (a trace
    result).  Any objects with those attributes work.

    Solid arrows go from caller to callee (the nearest earlier call in the same
    thread with a smaller depth); a dotted line leads from the previous call of the
    same thread to each later top-level call, so time runs downwards; a dashed arrow
    leads into each new thread from the call that started it when the trace knows
    it (``Trace.started_by``: for ``ThreadingMixIn``, ``process_request``), else
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
    starters = _thread_starters(calls)
    if hasattr(calls, "calls") and not isinstance(calls, (list, tuple)):
        calls = calls.calls
    records = list(calls)
    for position, record in enumerate(records, start=1):
        _check_record(position, record)

    graph = _new_graph("call_flow", title, rankdir="TB", full_version=True)
    graph.attr(ordering="out", newrank="true", ranksep="0.35")
    threads = list(dict.fromkeys(str(r.thread) for r in records))
    node_ids = [f"c{n}" for n in range(1, len(records) + 1)]
    edges: list[Edge] = []

    for lane, thread in enumerate(threads):
        with graph.subgraph(name=f"cluster_{lane}") as box:
            box.attr(label=graphviz.nohtml(thread), style="rounded,filled", fillcolor="#f8fafc", color=_MUTED)
            for number, record in enumerate(records, start=1):
                if str(record.thread) != thread:
                    continue
                where = f"{display_filename(record.filename)}:{record.lineno}"
                library = display_filename(record.filename) == "socketserver.py"
                box.node(
                    node_ids[number - 1],
                    label=_call_label(number, str(record.qualname), where),
                    fillcolor=_FILL_SERVER if library else _FILL_USER,
                    tooltip=graphviz.nohtml(f"{record.qualname}, defined in {_owner_name(record)} at {where}"),
                )

    stacks: dict[str, list[tuple[int, int]]] = {t: [] for t in threads}  # (depth, index)
    last_in_thread: dict[str, int] = {}
    started: set[str] = set()
    for index, record in enumerate(records):
        thread, depth = str(record.thread), int(record.depth)
        if thread not in started:
            started.add(thread)
            starter = _index_of(records, starters.get(thread))
            if starter is not None:  # the trace knows which call started this thread
                graph.edge(node_ids[starter], node_ids[index], style="dashed", color=_LOOKUP,
                           label="starts thread", fontcolor=_LOOKUP)
                edges.append(Edge(node_ids[starter], node_ids[index], "thread"))
            elif index > 0:
                # Started by code the trace did not record (the tracer's own
                # Thread(target=serve_forever)): say so, rather than draw an arrow
                # from whatever call happens to be recorded just before.
                origin = f"{node_ids[index]}_origin"
                graph.node(origin, label="thread started outside the traced calls",
                           shape="plaintext", style="", fillcolor="none", fontcolor=_LOOKUP,
                           fontsize="10")
                graph.edge(node_ids[index - 1], origin, style="invis")  # keeps time running down
                graph.edge(origin, node_ids[index], style="dashed", color=_LOOKUP,
                           label="new thread", fontcolor=_LOOKUP)
                edges.append(Edge(origin, node_ids[index], "thread"))
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

    if records:
        summary = [f"{title}: {len(records)} calls in {len(threads)} thread{'s' if len(threads) != 1 else ''}"]
        for thread in threads:
            summary.append(f"{thread}: " + " → ".join(str(r.qualname) for r in records if str(r.thread) == thread))
    else:
        graph.node("empty", label="no calls recorded", shape="plaintext", style="")
        summary = [f"{title}: no calls recorded"]
    return Diagram("call_flow", graph, "\n".join(summary), node_ids, edges)


# ---------------------------------------------------------------------------
# pics/
# ---------------------------------------------------------------------------


def standard_diagrams() -> dict[str, Diagram]:
    """The course's diagrams that need no live server, by file stem.

    These are the ones the test-suite regenerates and compares with ``pics/*.dot``.
    The MROs highlight ``__init__``: the walkthroughs start by asking where
    ``ThreadingTCPServer(...)`` finds its constructor (``TCPServer``, for UDP too).
    """
    diagrams = {
        "server_classes": server_classes(),
        "handler_classes": handler_classes(),
        "mixins": mixin_combinations(),
    }
    for name in ("ThreadingTCPServer", "ThreadingUDPServer"):
        if hasattr(socketserver, name):
            diagrams[f"mro_{name}"] = mro(getattr(socketserver, name), "__init__")
    return diagrams


def traced_diagrams() -> dict[str, Diagram]:
    """The call flows of one real TCP and one real UDP request, by file stem.

    Each is drawn from a request traced by :mod:`netlesson.trace` (imported only
    here, because tracing starts servers -- briefly, on ``127.0.0.1`` port 0).  The
    test-suite regenerates them and compares them with ``pics/call_flow_*.dot`` when
    it runs on the exact Python version recorded in those files.  Raises
    ``ImportError`` if :mod:`netlesson.trace` cannot be imported.
    """
    trace = importlib.import_module("netlesson.trace")
    return {
        stem: call_flow(run(), title=title)
        for stem, run, title in (
            ("call_flow_tcp", trace.trace_tcp, "Call flow of one TCP request (ThreadingTCPServer)"),
            ("call_flow_udp", trace.trace_udp, "Call flow of one UDP request (ThreadingUDPServer)"),
        )
    }


def write_all(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write every course diagram as ``.dot`` and ``.svg`` into ``out_dir``; return the paths.

    :func:`standard_diagrams`, then :func:`traced_diagrams`.  If
    :mod:`netlesson.trace` cannot be imported, the two call flows are skipped with a
    warning.
    """
    written: list[Path] = []
    for stem, diagram in standard_diagrams().items():
        written += diagram.save(out_dir, stem)
    try:
        traced = traced_diagrams()
    except ImportError as exc:
        warnings.warn(
            f"netlesson.trace is not importable ({exc}); call_flow_tcp and call_flow_udp were not drawn",
            RuntimeWarning,
            stacklevel=2,
        )
        return written
    for stem, diagram in traced.items():
        written += diagram.save(out_dir, stem)
    return written
