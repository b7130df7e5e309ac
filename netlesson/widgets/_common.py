"""What both widgets share: escaped ``<pre>`` text and a stable ``text/plain``."""

from __future__ import annotations

import html

import ipywidgets as widgets


def html_pre(text: str, css: str = "") -> str:
    """Text as HTML that keeps line breaks and wraps long lines, escaped."""
    style = "margin:0;white-space:pre-wrap;word-break:break-word;font-family:monospace;" + css
    return f'<pre style="{style}">{html.escape(text)}</pre>'


class WidgetHolder:
    """Display ``self.widget`` with a stable ``text/plain`` instead of the box's repr.

    The default ``text/plain`` of an ipywidgets box is the repr of every child,
    which changes with each click; a short repr of our own is easier to read in
    a static notebook and stays the same between runs.  Composition (not
    subclassing ``VBox``) keeps ``send``, ``log`` and friends free of clashes
    with ipywidgets' own ``Widget.send`` and ``Widget.log``.
    """

    widget: widgets.Widget

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = self.widget._repr_mimebundle_() or {}
        bundle["text/plain"] = repr(self)
        return bundle
