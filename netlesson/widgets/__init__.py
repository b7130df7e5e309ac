"""Notebook widgets: an echo console and an attribute-lookup (MRO) explorer.

Both are built from plain ipywidgets 8 controls and do their work in the
kernel's main thread, when a button is clicked or a value changes.  Nothing
here runs in a server thread, so whatever a widget shows lands in the widget
that asked for it, never in an unrelated cell.

:class:`EchoConsole` (``echo_console(srv)``)
    Type a message, press Enter or click *Send*: the message goes to the
    server with netlesson's own TCP or UDP client, the upper-cased reply is
    shown, and so are the records the server's handler threads logged while
    answering.  The log is read from the main thread *after* the reply, once
    the handler's last record for this very request is in (selected by kind,
    peer and sequence number: ``wait_for(kind="closed", peer=..., after=seq)``
    for TCP), which is why it is complete and in order.  Errors -- a stopped server, a timeout, an empty message --
    appear in the reply area as one readable sentence,
    never as a traceback; for a stopped server the sentence says which cell to
    run again.  A click or Enter is answered only once the front end has
    confirmed that every keystroke typed before it has reached the kernel:
    ipywidgets may deliver the click before the text box's last value (see
    the class docstring).

:class:`MroExplorer` (``mro_explorer(MyServer)``)
    Choose a class (every public ``socketserver`` class this Python has, plus
    any classes passed in, such as a student's own subclass) and type or pick
    an attribute name: the explorer shows the lookup chain (``__mro__``) as a
    diagram from :func:`netlesson.diagrams.mro` with the supplying class
    highlighted, and a plain line such as ``process_request → ThreadingMixIn``.

`SocketStates` (``socket_states(port, ...)``)
    The TCP sockets of this Jupyter kernel and the state of each (``LISTEN``,
    ``ESTABLISHED``, ``TIME_WAIT`` ...), read with psutil (``/proc/net/tcp`` on
    Linux when psutil cannot), refreshed after every cell, by *Refresh*, on a
    timer while *auto* is ticked, and by ``.refresh()``.  Its data part,
    :func:`socket_table`, returns the rows and needs no browser.

Stable CSS classes
------------------
Browser tests find the parts by these classes (set with ``add_class``):

==============================  ==================================================
``netlesson-echo``              the whole echo console (a ``VBox``)
``netlesson-echo-title``        which server the console talks to
``netlesson-echo-text``         the message box (``Text``)
``netlesson-echo-send``         the *Send* button
``netlesson-echo-reply``        the reply, or the error message; its text is
                                exactly the reply (or ``error: ...``, naming
                                the message that was not echoed)
``netlesson-echo-error``        added to the reply area while it shows an error
``netlesson-echo-unconfirmed``  added to the reply area when its message was sent
                                without the front end's confirmation (timeout)
``netlesson-echo-log``          the server log lines seen by this console
``netlesson-mro``               the whole MRO explorer (a ``VBox``)
``netlesson-mro-class``         the class ``Dropdown`` (labels are class names)
``netlesson-mro-attr``          the attribute ``Combobox``
``netlesson-mro-result``        the result: text line, message and diagram
``netlesson-mro-supplier``      the supplying class name alone (empty when no
                                class in the MRO defines the attribute)
``netlesson-mro-line``          the plain line ``attribute → Supplier``
``netlesson-mro-message``       the lookup chain, or why nothing was found
``netlesson-mro-diagram``       the ``Output`` holding the diagram
``netlesson-states``            the whole socket-state table (a ``VBox``)
``netlesson-states-refresh``    its *Refresh* button
``netlesson-states-auto``       the *auto* checkbox (refresh on a timer)
``netlesson-states-table``      the table; each row has the class
                                ``netlesson-states-row`` and ``data-state``
``netlesson-states-status``     how many sockets, read with what, which refresh
==============================  ==================================================

Each widget object is displayed by its ``.widget`` box and also carries a short,
stable ``text/plain`` representation (e.g. ``<EchoConsole tcp
127.0.0.1:8081>``), which is what a notebook stores for readers without a
widget-aware front end and what nbval compares.

Layout: ``_echo_console``, ``_mro_explorer`` and ``_socket_states`` hold one widget each,
``_common`` the little they share; this package's names are the public ones.
"""

from ._echo_console import EchoConsole, echo_console
from ._mro_explorer import MroExplorer, mro_explorer
from ._socket_states import (SocketRow, SocketStates, SocketTable, StatesUnavailable,
                             socket_states, socket_table, wait_for_state)

__all__ = ["EchoConsole", "echo_console", "MroExplorer", "mro_explorer",
           "SocketRow", "SocketStates", "SocketTable", "StatesUnavailable", "socket_states",
           "socket_table", "wait_for_state"]

