"""The :class:`Diagram` object: DOT source, a stable summary, and SVG drawn by ``dot``.

Every builder in :mod:`netlesson.diagrams` returns a :class:`Diagram`.  This module
owns drawing it with Graphviz's ``dot`` program -- with a time limit, and with a
clear message plus the DOT source instead of a traceback when ``dot`` is missing,
hangs or fails -- and saving it to files.
"""

from __future__ import annotations

import base64
import html
import os
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

import graphviz

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
        self._rendered: dict[str, tuple[str, bytes]] = {}  # format -> (DOT source, picture)

    @property
    def dot_source(self) -> str:
        """The DOT text; identical bytes for identical input on the same interpreter."""
        return self.graph.source

    def svg(self, timeout: float | None = None) -> str:
        """Render with ``dot`` and return the SVG text.

        Jupyter asks for the picture every time the diagram is displayed (and
        :meth:`save` asks again), so each rendering is kept on the diagram and
        ``dot`` runs again only if the DOT source has changed since (``graph`` is a
        public, mutable :class:`graphviz.Digraph`).

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
        return self._render("svg", timeout).decode("utf-8")

    def png(self, timeout: float | None = None) -> bytes:
        """Render with ``dot`` and return PNG bytes, at 96 dots per inch: a browser
        shows it at the SVG's size (dot's SVG is measured in points, 96 CSS pixels
        to the inch).  Same caching, time limit and errors as :meth:`svg`.

        Why a PNG too: JupyterLab does not render stored SVG from an *untrusted*
        notebook -- and every notebook a student opens on a hub, on Binder or after
        nbgitpuller is untrusted until its cells run -- but it does show a PNG.
        """
        return self._render("png", timeout)

    #: resolution of :meth:`png`: CSS pixels per inch, so the PNG and the SVG match in size
    png_dpi = 96

    def _render(self, fmt: str, timeout: float | None) -> bytes:
        source = self.dot_source
        cached = self._rendered.get(fmt)
        if cached is not None and cached[0] == source:
            return cached[1]
        dot = shutil.which("dot")
        if dot is None:
            raise DotNotFound(INSTALL_HINT)
        limit = self.render_timeout if timeout is None else timeout
        command = [dot, f"-K{self.graph.engine}", f"-T{fmt}"]
        if fmt == "png":
            command.append(f"-Gdpi={self.png_dpi}")
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
        self._rendered[fmt] = (source, done.stdout)
        return done.stdout

    def _fallback_text(self, problem: str) -> str:
        return f"{problem}\n\n{self.summary}\n\nDOT source (any Graphviz viewer can draw it):\n{self.dot_source}"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Jupyter display: SVG, PNG and the summary, or a clear message + DOT source
        without ``dot``.

        A trusted notebook shows the SVG (JupyterLab prefers it); an untrusted one,
        which will not render stored SVG, shows the PNG, at the same size.  Never
        raises: a notebook cell that shows a diagram must not end in a traceback
        because of a missing system program.
        """
        try:
            bundle = {"image/svg+xml": self.svg(), "image/png": base64.b64encode(self.png()).decode("ascii"),
                      "text/plain": self.summary}
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
        """Write ``stem.dot`` (and ``stem.svg`` and ``stem.png`` unless ``svg=False``)
        into ``directory``.

        Returns the written paths.  Raises :class:`DotNotFound` for the pictures when
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
            png_path = directory / f"{stem}.png"
            png_path.write_bytes(self.png())
            written += [svg_path, png_path]
        return written

    def __str__(self) -> str:
        return self.summary

    def __repr__(self) -> str:
        first = self.summary.split("\n", 1)[0]
        return f"<Diagram {self.name!r}: {first}>"


def _png_size(data: bytes) -> tuple[int, int]:
    """(width, height) in pixels from a PNG's header."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return struct.unpack(">II", data[16:24])
