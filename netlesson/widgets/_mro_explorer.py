"""The MRO explorer: choose a class and an attribute, see which class supplies it.

See :class:`MroExplorer`; the package docstring (:mod:`netlesson.widgets`)
lists the CSS classes browser tests find its parts by.
"""

from __future__ import annotations

import difflib
import html
import socketserver
from collections.abc import Iterable

import ipywidgets as widgets

from .. import diagrams
from ..source import defining_class
from ._common import WidgetHolder, html_pre
from ..i18n import core as _messages

_ = _messages.gettext

__all__ = ["MroExplorer", "mro_explorer"]


def _attribute_order(name: str) -> tuple[int, str]:
    """Public names first, then ``_private``, then ``__dunder__``: what students look up."""
    if name.startswith("__") and name.endswith("__"):
        return (2, name)
    return (1 if name.startswith("_") else 0, name)


class MroExplorer(WidgetHolder):
    """Choose a class and an attribute name; see where Python finds the attribute.

    *extra* classes (e.g. a student's ``class MyServer(ThreadingMixIn, TCPServer)``)
    are listed first, before ``socketserver``'s own classes.  *cls* (a class or a
    listed class name) and *attribute* choose what is shown first.

    Parts: ``class_select`` (``Dropdown``), ``attribute`` (``Combobox`` whose
    suggestions are ``dir(cls)``), ``line`` (the plain text ``attribute →
    Supplier``), ``supplier`` (the supplier's name alone), ``message`` (the chain,
    or why nothing was found), ``diagram_output`` (the diagram), in the box
    ``widget``.  State after each update: ``current_class``, ``current_attribute``,
    ``current_supplier``, ``result_text`` (the plain line) and ``explanation``
    (the message as plain text).
    """

    def __init__(self, extra: Iterable[type] = (), *, cls: type | str | None = None,
                 attribute: str = "process_request"):
        extra = list(extra)
        for klass in extra:
            if not isinstance(klass, type):
                raise TypeError(_("mro_explorer() takes classes, not {value}; pass "
                                  "type(obj)").format(value=repr(klass)))
        # the classes the class diagrams show: Forking* only where os.fork exists, ...
        classes = list(dict.fromkeys(extra + diagrams.public_classes(socketserver)))
        self.classes = classes
        # Class names, or module.QualName where two names clash: the same names
        # the diagrams give their nodes.
        self._labels = diagrams.class_ids(classes)
        if cls is None:
            cls = extra[0] if extra else getattr(socketserver, "ThreadingTCPServer", classes[0])
        start_cls = self._resolve(cls)

        self.class_select = widgets.Dropdown(
            options=[(self._labels[k], k) for k in classes], value=start_cls,
            description=_("class"),
        )
        self.class_select.add_class("netlesson-mro-class")
        self.attribute = widgets.Combobox(
            value=attribute, options=self._suggestions(start_cls), ensure_option=False,
            placeholder=_("attribute name, e.g. process_request"), description=_("attribute"),
        )
        self.attribute.add_class("netlesson-mro-attr")
        self.line = widgets.HTML()
        self.line.add_class("netlesson-mro-line")
        self.supplier = widgets.HTML()
        self.supplier.add_class("netlesson-mro-supplier")
        self.message = widgets.HTML()
        self.message.add_class("netlesson-mro-message")
        self.diagram_output = widgets.Output()
        self.diagram_output.add_class("netlesson-mro-diagram")
        self.result = widgets.VBox([
            widgets.HBox([self.line, self.supplier]), self.message, self.diagram_output,
        ])
        self.result.add_class("netlesson-mro-result")
        self.widget = widgets.VBox([widgets.HBox([self.class_select, self.attribute]), self.result])
        self.widget.add_class("netlesson-mro")

        self.current_class: type = start_cls
        self.current_attribute = ""
        self.current_supplier: type | None = None
        self.result_text = ""
        self.explanation = ""
        self._updating = False
        self.class_select.observe(self._on_class, names="value")
        self.attribute.observe(self._on_attribute, names="value")
        self._refresh()

    # -- choosing -----------------------------------------------------------
    def _resolve(self, cls: type | str) -> type:
        if isinstance(cls, type):
            if cls not in self._labels:
                raise ValueError(
                    _("{qualname} is not in this explorer: pass it when making it, "
                      "mro_explorer({name})").format(qualname=cls.__qualname__, name=cls.__name__)
                )
            return cls
        for klass, label in self._labels.items():
            if cls in (label, klass.__name__):
                return klass
        raise ValueError(
            _("no class called {name} in this explorer; choose one of: {classes}").format(
                name=repr(cls), classes=", ".join(self._labels.values()))
        )

    @staticmethod
    def _suggestions(cls: type) -> list[str]:
        return sorted(dir(cls), key=_attribute_order)

    def _on_class(self, change):
        if self._updating:
            return
        self.attribute.options = self._suggestions(change["new"])
        self._refresh()

    def _on_attribute(self, change):
        if not self._updating:
            self._refresh()

    def select(self, cls: type | str, attribute: str) -> type | None:
        """Show *attribute* looked up on *cls* (a class or its name); return the supplier."""
        klass = self._resolve(cls)
        self._updating = True
        try:
            self.class_select.value = klass
            self.attribute.options = self._suggestions(klass)
            self.attribute.value = attribute
        finally:
            self._updating = False
        self._refresh()
        return self.current_supplier

    # -- showing --------------------------------------------------------------
    def _refresh(self) -> None:
        cls = self.class_select.value
        attribute = self.attribute.value.strip()
        label = self._labels[cls]
        supplier = defining_class(cls, attribute) if attribute else None
        self.current_class, self.current_attribute, self.current_supplier = cls, attribute, supplier

        if not attribute:
            self.result_text = _("{label}: choose or type an attribute name").format(label=label)
            self.line.value = html.escape(self.result_text)
            self.supplier.value = ""
            self.explanation = _("lookup order: {classes}").format(
                classes=" → ".join(self._name(k) for k in cls.__mro__))
            self.message.value = html_pre(self.explanation)
        elif supplier is not None:
            self.result_text = f"{attribute} → {self._name(supplier)}"
            self.line.value = f"<code>{html.escape(attribute)}</code> →&nbsp;"
            self.supplier.value = f"<b>{html.escape(self._name(supplier))}</b>"
            position = cls.__mro__.index(supplier) + 1
            self.explanation = _(
                "Python looks in {label}.__mro__ in order and stops at the first class whose "
                "own __dict__ has {attribute}: class {position} of {count}, {supplier}."
            ).format(label=label, attribute=repr(attribute), position=position,
                     count=len(cls.__mro__), supplier=self._name(supplier))
            self.message.value = html_pre(self.explanation)
        else:
            self.result_text = _("{attribute} → not defined by any class of {label}").format(
                attribute=attribute, label=label)
            self.line.value = html.escape(self.result_text)
            self.supplier.value = ""
            self.explanation = self._not_found(cls, attribute)
            self.message.value = html_pre(self.explanation, "color:#b91c1c")
        self._show_diagram(cls, attribute or None, supplier)

    def _name(self, klass: type) -> str:
        return self._labels.get(klass, klass.__name__)

    def _not_found(self, cls: type, attribute: str) -> str:
        text = _("No class in {label}.__mro__ defines {attribute}. Either it is an instance "
                 "attribute, set on the object itself (as __init__ sets server_address and "
                 "socket), or the name is misspelt: looking it up on the class raises "
                 "AttributeError.").format(label=self._labels[cls], attribute=repr(attribute))
        close = difflib.get_close_matches(attribute, dir(cls), n=3, cutoff=0.75)
        if close:
            text += _(" Did you mean: {names}?").format(names=", ".join(close))
        return text

    def _show_diagram(self, cls: type, attribute: str | None, supplier: type | None) -> None:
        """Put the diagram (or its text version) into ``diagram_output``.

        Only a name some class defines, or no name at all, gets a diagram: while
        a student is still typing ``proc…`` there is nothing to highlight, and
        running ``dot`` on every keystroke would only slow the kernel down.
        """
        if attribute is not None and supplier is None:
            self.diagram_output.outputs = ()
            return
        # Never raises for a missing or failing `dot`: the Diagram then shows its
        # summary and DOT source instead (see netlesson.diagrams.Diagram).
        bundle = diagrams.mro(cls, attribute)._repr_mimebundle_()
        # Set the outputs directly instead of `with output: display(...)`: this
        # works from any thread and without a running kernel (unit tests).
        self.diagram_output.outputs = (
            {"output_type": "display_data", "data": bundle, "metadata": {}},
        )

    def __repr__(self) -> str:
        return f"<MroExplorer {self.result_text}>"


def mro_explorer(*extra: type, cls: type | str | None = None,
                 attribute: str = "process_request") -> MroExplorer:
    """Make an :class:`MroExplorer`; positional arguments are extra classes to list.

    >>> mro_explorer(MyServer, attribute="__init__")      # doctest: +SKIP
    """
    if len(extra) == 1 and not isinstance(extra[0], type) and isinstance(extra[0], Iterable):
        extra = tuple(extra[0])
    return MroExplorer(extra, cls=cls, attribute=attribute)
