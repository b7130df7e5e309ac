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

Call flows are drawn from data they are given (:func:`call_flow` takes call
records, such as those :mod:`netlesson.trace` records); this package never runs a
trace itself.  :mod:`netlesson.pics` writes the course's diagrams into ``pics/``.

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

The package, by job: ``_render`` (the :class:`Diagram` object and drawing it with
``dot``), ``_style`` (palette, graph style, provenance), ``_classes`` (class
hierarchies, mix-in combinations, one MRO), ``_callflow`` (the call flow of recorded
calls), ``_sequence`` (a sequence diagram of recorded socket calls, one column per
thread: :func:`sequence` of :class:`SocketEvent` records).
"""

from ._callflow import CallRecord, call_flow
from ._classes import (
    class_ids,
    handler_classes,
    mixin_combinations,
    mro,
    public_classes,
    server_classes,
)
from ._render import RENDER_TIMEOUT, Diagram, DotNotFound, DotTimeout, Edge
from ._sequence import SocketEvent, sequence
from ._style import provenance

__all__ = [
    "RENDER_TIMEOUT",
    "CallRecord",
    "Diagram",
    "DotNotFound",
    "DotTimeout",
    "Edge",
    "call_flow",
    "class_ids",
    "handler_classes",
    "mixin_combinations",
    "mro",
    "provenance",
    "public_classes",
    "sequence",
    "server_classes",
    "SocketEvent",
]
