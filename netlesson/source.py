"""Show the real source of a function, method or class from the running Python.

The seed course explained ``socketserver`` with screenshots of ``socketserver.py``
taken on one old Python.  Screenshots go stale: line numbers move, methods gain
parameters (``allow_reuse_port`` appeared in 3.11), whole classes appear
(``ForkingUnixStreamServer`` in 3.12).  :func:`show_source` instead reads the source
of the interpreter that runs the notebook, via :func:`inspect.getsourcelines`, so what
the student sees is what their Python executes.

Two rules shape the output:

* **No absolute paths.**  Notebook outputs are saved and committed; a path such as
  ``/home/alice/.pyenv/versions/3.11.7/lib/python3.11/socketserver.py`` would leak
  the machine that ran the cell and change on every machine.  Files are named the way
  the import system names them (``socketserver.py``, ``http/server.py``,
  ``netlesson/tcp.py``) by :func:`display_filename`.
* **Stable plain text.**  nbval compares ``text/plain`` outputs, so the plain-text
  rendering depends only on the source and the Python version, never on the
  machine or on whether pygments is installed.

:func:`defining_class` answers "which class's source supplies this attribute?" and is
shared with :mod:`netlesson.diagrams`, which highlights that class in MRO diagrams.
"""

from __future__ import annotations

import functools
import html
import inspect
import os
import platform
import re
import sys
import sysconfig
from typing import Any, Iterable, NamedTuple
import warnings

__all__ = [
    "HighlightWarning",
    "Line",
    "SourceExcerpt",
    "defining_class",
    "display_filename",
    "show_source",
    "where",
]


class HighlightWarning(UserWarning):
    """A requested highlight matched no line of the shown source.

    This is a warning, not an error, on purpose: line numbers and source text differ
    between Python versions, and a student running the course on a newer Python
    should still see the source (unhighlighted) rather than a traceback.
    """


class Line(NamedTuple):
    """One shown source line: its line number in the file, its text, whether it is highlighted."""

    lineno: int
    text: str
    highlighted: bool


# ---------------------------------------------------------------------------
# Attribute lookup
# ---------------------------------------------------------------------------


def defining_class(cls: type, name: str) -> type | None:
    """Return the class whose ``__dict__`` supplies ``name`` when looked up on ``cls``.

    This is the rule Python's attribute lookup follows for class attributes and
    methods: walk ``cls.__mro__`` in order and take the first class that defines the
    name in its own namespace.  ``defining_class(ThreadingTCPServer, "__init__")`` is
    ``TCPServer`` because neither ``ThreadingTCPServer`` nor ``ThreadingMixIn``
    defines ``__init__``.

    Returns ``None`` when no class in the MRO defines ``name`` (for example an
    instance attribute such as ``server_address``, which ``__init__`` sets on the
    object, or a misspelt name).

    Raises :class:`TypeError` if ``cls`` is not a class, because asking an *instance*
    is a different question (its own ``__dict__`` comes first).
    """
    if not isinstance(cls, type):
        raise TypeError(
            f"defining_class() needs a class, got {type(cls).__name__!r} instance; "
            f"pass type(obj) to ask about the object's class"
        )
    for klass in cls.__mro__:
        if name in vars(klass):
            return klass
    return None


# ---------------------------------------------------------------------------
# File names without machine-specific paths
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _realpath(path: str) -> str:
    return os.path.realpath(path)


def _module_for_file(path: str) -> Any | None:
    """Find an imported module whose ``__file__`` is ``path`` (after resolving links)."""
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and _realpath(file) == path:
            return module
    return None


def _name_from_module(module: Any, path: str) -> str | None:
    """``http.server`` → ``http/server.py``; ``netlesson`` package → ``netlesson/__init__.py``."""
    spec = getattr(module, "__spec__", None)
    name = getattr(spec, "name", None) or getattr(module, "__name__", None)
    if not name or name == "__main__":
        return None
    parts = name.split(".")
    base = os.path.basename(path)
    if hasattr(module, "__path__"):  # a package: the file is its __init__
        parts.append(base)
    else:
        parts[-1] = base  # keep the real file name and extension
    return "/".join(parts)


def _search_roots() -> list[str]:
    """Directories a file may be named relative to: stdlib, site-packages, sys.path."""
    roots: list[str] = []
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(key):
            roots.append(paths[key])
    roots.append(os.path.dirname(os.__file__))
    roots.extend(p for p in sys.path if p and os.path.isabs(p))
    return sorted({_realpath(r) for r in roots}, key=len, reverse=True)


def display_filename(filename: str | os.PathLike[str] | None) -> str:
    """Name a source file the way the import system does, never by absolute path.

    * ``.../lib/python3.11/socketserver.py`` → ``socketserver.py``
    * ``.../site-packages/graphviz/graphs.py`` → ``graphviz/graphs.py``
    * ``/work/main/netlesson/tcp.py`` (an imported module) → ``netlesson/tcp.py``
    * a notebook cell's temporary file (``/tmp/ipykernel_123/456.py``) → ``notebook cell``
    * pseudo files such as ``<frozen os>`` or ``<stdin>``, and relative names such as
      ``netlesson/tcp.py``, are kept as they are

    Anything else falls back to the bare file name, which may be ambiguous but never
    reveals the directory layout of the machine.
    """
    if not filename:
        return "<unknown>"
    filename = os.fspath(filename)
    if filename.startswith("<") and filename.endswith(">"):
        return filename
    if not os.path.isabs(filename):
        # Already relative (``socketserver.py``, ``netlesson/tcp.py``, as netlesson.trace
        # records them): it names no machine directory, and resolving it against the
        # current directory would give different answers in different notebooks.
        return filename.replace(os.sep, "/")
    path = _realpath(filename)
    module = _module_for_file(path)
    if module is not None:
        name = _name_from_module(module, path)
        if name:
            return name
    if os.path.basename(os.path.dirname(path)).startswith("ipykernel_"):
        return "notebook cell"
    for root in _search_roots():
        if path.startswith(root + os.sep):
            return os.path.relpath(path, root).replace(os.sep, "/")
    return os.path.basename(path)


# ---------------------------------------------------------------------------
# Finding the source
# ---------------------------------------------------------------------------


def _unwrap(obj: Any) -> Any:
    """Reduce bound methods, classmethods, properties, partials and decorators to code."""
    for _ in range(20):  # wrappers can nest; the bound keeps a cycle from spinning
        if isinstance(obj, (classmethod, staticmethod)):
            obj = obj.__func__
        elif isinstance(obj, property) and obj.fget is not None:
            obj = obj.fget
        elif isinstance(obj, functools.partial):
            obj = obj.func
        elif inspect.ismethod(obj):
            obj = obj.__func__
        else:
            break
    if inspect.isfunction(obj) or callable(obj) and hasattr(obj, "__wrapped__"):
        obj = inspect.unwrap(obj)
    return obj


def _qualname(obj: Any) -> str:
    if inspect.ismodule(obj):
        return obj.__name__
    return getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj)


def where(obj: Any) -> str:
    """Where ``obj`` is defined, as ``socketserver.py:123`` (no directory, ever).

    The line is the first line of the definition (a decorator line counts, as in
    :func:`inspect.getsourcelines`).
    """
    target = _unwrap(obj)
    _, start = _getsourcelines(obj, target)
    return f"{_source_filename(target)}:{max(start, 1)}"


def _source_filename(target: Any) -> str:
    """The display name of the file *target*'s source was read from.

    :func:`inspect.getsourcefile` is ``None`` for code whose file exists neither on
    disk nor in :mod:`linecache`'s cache although :func:`inspect.getsourcelines`
    still finds its lines -- e.g. a function defined in a doctest, whose
    ``<doctest name[0]>`` lines doctest serves through a patched ``linecache``.
    :func:`inspect.getfile` still names it; without this fallback such code would be
    shown as ``<unknown>``.  :func:`where` and :func:`show_source` share this rule,
    so both always name the same file.
    """
    return display_filename(inspect.getsourcefile(target) or inspect.getfile(target))


def _getsourcelines(obj: Any, target: Any) -> tuple[list[str], int]:
    try:
        return inspect.getsourcelines(target)
    except TypeError as exc:
        raise TypeError(
            f"cannot show the source of {obj!r}: it is not a function, method, class "
            f"or module (for a class attribute such as max_packet_size, show the class "
            f"and highlight the line instead)"
        ) from exc
    except OSError as exc:
        raise OSError(
            f"the source of {_qualname(target)} is not available on this Python "
            f"(built-in, or defined interactively without a file): {exc}"
        ) from exc


# ---------------------------------------------------------------------------
# Highlights
# ---------------------------------------------------------------------------

HighlightSpec = int | str | re.Pattern[str] | Iterable[int | str | re.Pattern[str]] | None


def _flatten_highlight(highlight: HighlightSpec) -> list[int | str | re.Pattern[str]]:
    if highlight is None:
        return []
    if isinstance(highlight, bool):
        raise TypeError("highlight must be line numbers, substrings or a regex, not a bool")
    if isinstance(highlight, (int, str, re.Pattern)):
        return [highlight]
    try:
        items = list(highlight)
    except TypeError:
        raise TypeError(
            f"highlight must be line numbers, substrings or a compiled regex "
            f"(or a list of them), not {type(highlight).__name__}"
        ) from None
    flat: list[int | str | re.Pattern[str]] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, str, re.Pattern)):
            raise TypeError(
                f"highlight items must be int line numbers, str substrings or compiled "
                f"regexes, not {item!r}"
            )
        flat.append(item)
    return flat


def _matches(spec: int | str | re.Pattern[str], lineno: int, text: str) -> bool:
    if isinstance(spec, int):
        return lineno == spec
    if isinstance(spec, str):
        return spec in text
    return spec.search(text) is not None


# ---------------------------------------------------------------------------
# The excerpt
# ---------------------------------------------------------------------------

_HIGHLIGHT_BG = "#fff1a8"
_HIGHLIGHT_BAR = "#e0a800"
_CODE_BG = "#f7f7f7"


class SourceExcerpt:
    """Source lines of one object, some highlighted, with where they come from.

    Displays as HTML in JupyterLab (syntax colours, line numbers, highlighted lines
    on a yellow background) and as plain text elsewhere (``>`` marks highlighted
    lines).  Both carry a header such as
    ``socketserver.py, lines 478-489 (TCPServer.server_bind), Python 3.11.7``.

    Attributes:
        qualname: the object's qualified name, e.g. ``TCPServer.server_bind``.
        filename: the display name of the file (see :func:`display_filename`).
        lines: the shown lines as ``(lineno, text, highlighted)`` tuples.
        start, end: first and last shown line number (file line numbers).
        python_version: ``platform.python_version()`` of the running interpreter.
    """

    def __init__(
        self,
        qualname: str,
        filename: str,
        lines: list[Line],
        python_version: str,
        all_source: list[str],
        all_start: int,
    ) -> None:
        self.qualname = qualname
        self.filename = filename
        self.lines = lines
        self.python_version = python_version
        self.start = lines[0].lineno if lines else all_start
        self.end = lines[-1].lineno if lines else all_start
        # Kept so that HTML colouring lexes the whole definition: lexing only the
        # shown lines would mis-colour a docstring cut in the middle.
        self._all_source = all_source
        self._all_start = all_start

    # -- data ---------------------------------------------------------------

    @property
    def highlighted(self) -> list[int]:
        """Line numbers of the highlighted lines."""
        return [line.lineno for line in self.lines if line.highlighted]

    @property
    def code(self) -> str:
        """The shown source text (gaps from ``context`` are simply left out)."""
        return "\n".join(line.text for line in self.lines)

    @property
    def location(self) -> str:
        """``socketserver.py:478`` for the first shown line."""
        return f"{self.filename}:{self.start}"

    @property
    def header(self) -> str:
        span = f"line {self.start}" if self.start == self.end else f"lines {self.start}-{self.end}"
        return f"{self.filename}, {span} ({self.qualname}), Python {self.python_version}"

    # -- plain text -----------------------------------------------------------

    def __str__(self) -> str:
        width = len(str(self.end))
        out = [self.header]
        previous = None
        for line in self.lines:
            if previous is not None and line.lineno != previous + 1:
                out.append(f"  {'.' * width} |")
            marker = ">" if line.highlighted else " "
            out.append(f"{marker} {line.lineno:>{width}} | {line.text}".rstrip())
            previous = line.lineno
        return "\n".join(out)

    __repr__ = __str__

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))

    # -- HTML -----------------------------------------------------------------

    def _coloured_lines(self) -> dict[int, str]:
        """Map line number → HTML for that line, coloured by pygments if it is installed."""
        escaped = {self._all_start + i: html.escape(t) for i, t in enumerate(self._all_source)}
        try:
            from pygments import highlight as pyg_highlight
            from pygments.formatters import HtmlFormatter
            from pygments.lexers import PythonLexer
        except ImportError:
            return escaped
        text = "\n".join(self._all_source) + "\n"
        formatted = pyg_highlight(
            text,
            PythonLexer(stripnl=False, ensurenl=True),
            HtmlFormatter(nowrap=True, noclasses=True, style="default"),
        )
        # HtmlFormatter closes every <span> at the end of each line, so splitting on
        # newlines gives self-contained per-line HTML.  If a future pygments breaks
        # that, fall back to uncoloured text rather than to broken markup.
        pieces = formatted.split("\n")
        if pieces and pieces[-1] == "":
            pieces.pop()
        if len(pieces) != len(self._all_source):
            return escaped
        return {self._all_start + i: piece for i, piece in enumerate(pieces)}

    def _repr_html_(self) -> str:
        coloured = self._coloured_lines()
        width = len(str(self.end))
        rows = []
        previous = None
        number_style = (
            "display:inline-block;min-width:{w}ch;text-align:right;color:#8a8a8a;"
            "padding:0 0.8em 0 0.4em;user-select:none;-webkit-user-select:none"
        ).format(w=width)
        for line in self.lines:
            if previous is not None and line.lineno != previous + 1:
                rows.append(
                    f'<span style="display:block;color:#8a8a8a;'
                    f'border-left:3px solid transparent">'
                    f'<span style="{number_style}">&#8942;</span></span>'
                )
            if line.highlighted:
                row_style = (
                    f"display:block;background:{_HIGHLIGHT_BG};"
                    f"border-left:3px solid {_HIGHLIGHT_BAR}"
                )
            else:
                row_style = "display:block;border-left:3px solid transparent"
            code = coloured.get(line.lineno, html.escape(line.text)) or " "
            rows.append(
                f'<span style="{row_style}"><span style="{number_style}">{line.lineno}</span>'
                f"{code}</span>"
            )
            previous = line.lineno
        header = (
            f'<div style="font-family:Helvetica,Arial,sans-serif;font-size:0.85em;'
            f'color:#555;margin:0 0 2px 0">'
            f"<code>{html.escape(self.filename)}</code>, "
            f"{'line' if self.start == self.end else 'lines'} "
            f"{self.start}{'' if self.start == self.end else '&ndash;' + str(self.end)} "
            f"&middot; <code>{html.escape(self.qualname)}</code> "
            f"&middot; Python {html.escape(self.python_version)}</div>"
        )
        # Rows are joined without newlines: inside <pre>, a newline after a
        # display:block span would add an empty line.
        body = (
            f'<pre style="margin:0;padding:4px 0;background:{_CODE_BG};color:#1f1f1f;'
            f'line-height:1.4;font-size:12px;overflow-x:auto">' + "".join(rows) + "</pre>"
        )
        return f'<div class="netlesson-source">{header}{body}</div>'


def show_source(
    obj: Any,
    highlight: HighlightSpec = None,
    *,
    context: int | None = None,
) -> SourceExcerpt:
    """Return the real source of ``obj`` from the running interpreter, lines highlighted.

    ``obj`` is a function, a method (``socketserver.TCPServer.server_bind``, or a bound
    method of a live server), a class, or a module.  Decorators, ``classmethod``,
    ``staticmethod``, ``property`` and ``functools.partial`` are looked through.

    ``highlight`` chooses the lines to mark, and may be

    * an ``int`` or several: absolute line numbers in the file (as in tracebacks);
    * a ``str`` or several: every line containing that substring;
    * a compiled regular expression (``re.compile(...)``): every line it ``search``-es;
    * a list mixing the above.

    Substrings are usually the better choice in course material: they survive line
    numbers moving between Python versions.  A highlight that matches nothing issues a
    :class:`HighlightWarning` (naming the file and Python version) and the source is
    still shown.

    ``context`` (lines) shows only the highlighted lines plus that many lines around
    each, with a gap marker between separate parts; useful for long methods such as
    ``serve_forever``.  ``None`` (the default) shows the whole definition.
    """
    if context is not None and (isinstance(context, bool) or not isinstance(context, int) or context < 0):
        raise ValueError(f"context must be None or a non-negative int, not {context!r}")
    target = _unwrap(obj)
    raw_lines, start = _getsourcelines(obj, target)
    start = max(start, 1)  # inspect reports modules as starting at line 0
    texts = [text.rstrip("\r\n") for text in raw_lines]
    filename = _source_filename(target)
    qualname = _qualname(target)
    version = platform.python_version()

    specs = _flatten_highlight(highlight)
    numbered = [(start + i, text) for i, text in enumerate(texts)]
    marked = {n for n, text in numbered if any(_matches(s, n, text) for s in specs)}
    for spec in specs:
        if not any(_matches(spec, n, text) for n, text in numbered):
            shown = spec.pattern if isinstance(spec, re.Pattern) else spec
            warnings.warn(
                f"highlight {shown!r} matches no line of {qualname} "
                f"({filename}, lines {start}-{start + len(texts) - 1}, Python {version})",
                HighlightWarning,
                stacklevel=2,
            )

    if context is not None and marked:
        keep = {n for m in marked for n in range(m - context, m + context + 1)}
    else:
        keep = {n for n, _ in numbered}
    lines = [Line(n, text, n in marked) for n, text in numbered if n in keep]
    return SourceExcerpt(qualname, filename, lines, version, texts, start)
