"""The course's pictures in ``pics/``: the class diagrams and two traced call flows.

``python -m netlesson diagrams --out pics`` runs :func:`write_all`.  The
test-suite regenerates the same diagrams and compares them with the committed
``pics/*.dot`` files: :func:`standard_diagrams` always (on the Python
``major.minor`` they record), :func:`traced_diagrams` on exactly the Python
release the call flows record, because their ``socketserver.py`` line numbers
belong to it.

This module sits above :mod:`netlesson.diagrams` (which draws from data it is
given) and :mod:`netlesson.trace` (which records a real request): it is the one
place that needs both.
"""

from __future__ import annotations

import os
import socketserver
from pathlib import Path

from . import diagrams, trace

__all__ = ["standard_diagrams", "traced_diagrams", "write_all"]


def standard_diagrams() -> dict[str, diagrams.Diagram]:
    """The course's diagrams that need no live server, by file stem.

    The MROs highlight ``__init__``: the walkthroughs start by asking where
    ``ThreadingTCPServer(...)`` finds its constructor (``TCPServer``, for UDP too).
    """
    drawn = {
        "server_classes": diagrams.server_classes(),
        "handler_classes": diagrams.handler_classes(),
        "mixins": diagrams.mixin_combinations(),
    }
    for name in ("ThreadingTCPServer", "ThreadingUDPServer"):
        if hasattr(socketserver, name):
            drawn[f"mro_{name}"] = diagrams.mro(getattr(socketserver, name), "__init__")
    return drawn


def traced_diagrams() -> dict[str, diagrams.Diagram]:
    """The call flows of one real TCP and one real UDP request, by file stem.

    Each request is traced by :mod:`netlesson.trace`, which starts a server briefly on
    ``127.0.0.1`` port 0 and stops it again.
    """
    return {
        stem: diagrams.call_flow(run(), title=title)
        for stem, run, title in (
            ("call_flow_tcp", trace.trace_tcp, "Call flow of one TCP request (ThreadingTCPServer)"),
            ("call_flow_udp", trace.trace_udp, "Call flow of one UDP request (ThreadingUDPServer)"),
        )
    }


def write_all(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write every course diagram as ``.dot``, ``.svg`` and ``.png`` into ``out_dir``;
    return the paths.

    :func:`standard_diagrams`, then :func:`traced_diagrams`.  Raises
    :class:`netlesson.diagrams.DotNotFound` when Graphviz's ``dot`` is missing
    (each ``.dot`` file is written before its pictures).
    """
    written: list[Path] = []
    for build in (standard_diagrams, traced_diagrams):
        for stem, diagram in build().items():
            written += diagram.save(out_dir, stem)
    return written
