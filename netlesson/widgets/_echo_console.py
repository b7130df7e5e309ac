"""The echo console: type a message, see the upper-cased reply and the server's log records.

See :class:`EchoConsole`; the package docstring (:mod:`netlesson.widgets`)
lists the CSS classes browser tests find its parts by.
"""

from __future__ import annotations

import asyncio
import html

import ipywidgets as widgets

from .. import background, tcp, udp
from ..errors import format_address
from ..serverlog import ServerLog
from ._common import WidgetHolder, html_pre
from ..i18n import core as _messages

_ = _messages.gettext

__all__ = ["EchoConsole", "echo_console"]


def _preview(message: str, limit: int = 60) -> str:
    """``repr`` of *message*, cut to about *limit* characters for a one-line note."""
    if len(message) <= limit:
        return repr(message)
    size = _messages.ngettext("{count} character", "{count} characters", len(message))
    return repr(message[:limit]) + f"… ({size.format(count=len(message))})"


def _find_handle(address, kind: str) -> background.ServerHandle | None:
    """The running background *kind* server at *address*, if this kernel started one.

    The kind matters: a TCP and a UDP server may share a port number.
    """
    address = tuple(address[:2])
    for handle in background.running():
        if tuple(handle.address) == address and handle.kind == kind:
            return handle
    return None


class EchoConsole(WidgetHolder):
    """Type a message, send it to an upper-case echo server, see reply and log.

    *target* is a :class:`~netlesson.background.ServerHandle` (the console then
    knows the address, whether it is TCP or UDP, and the server's log) or an
    address ``(host, port)``; for an address *kind* says ``"tcp"`` (default) or
    ``"udp"``, and the log is shown if a background server of this kernel
    listens there.

    Every message uses a fresh client and, for TCP, a fresh connection, as in
    ``tcp.echo``: a console that held one connection open would keep a handler
    thread busy for as long as the notebook is open, and would keep talking to
    a dead socket after its server was stopped and restarted.

    A console made from a ServerHandle follows its server by name: when the
    server was stopped and a cell started one under the same name again (on a
    new port), the next message goes to the new server.  So the way out of
    "server stopped" is to re-run the cell that starts it -- which is what the
    error message says.

    **Why Send and Enter wait.**  ipywidgets 8's front end sends a text box's
    value as a state update and holds an update back while the previous
    update of the same widget is unanswered (no "idle" from the kernel yet);
    a button's click and the Text's Enter are custom messages, sent at once.
    So the click can reach the kernel before the last keystrokes.  Enter even
    comes before the box's value whenever the value is sent on "change":
    Chromium fires "change" in the Enter key's default action, after the key
    handler that sent Enter.  Therefore a click or Enter only bumps
    ``confirm_request``; ``confirm_link``, a ``jsdlink`` carried out by the
    front end, copies the number into ``confirm_reply``, whose update comes
    back; then the console sends ``text.value``.  That copy reaches the kernel
    after every value typed before the click: an update that was not held back
    left before it, and a held-back one leaves as soon as the front end
    handles the kernel's "idle" for the update in flight -- which the kernel
    published before it even read the click, so before the new
    ``confirm_request`` (the front end handles the kernel's messages in
    order).  No timing is involved.  If no copy comes within
    ``confirm_timeout`` seconds (a front end without ipywidgets' links), the
    box's text is sent anyway, counted in ``unconfirmed_sends`` and marked
    with the CSS class ``netlesson-echo-unconfirmed``.  The text box has
    ``continuous_update=False``: its value travels once per message (when
    Enter is pressed or the box loses focus, as it does when *Send* is
    pressed), not once per keystroke.

    Parts (all public, for tests and for rearranging): ``title``, ``text``,
    ``send_button``, ``reply``, ``log_output``, and the invisible
    ``confirm_request``, ``confirm_reply``, ``confirm_link``; the box
    containing the visible ones is ``widget``.  State: ``last_reply``,
    ``last_error``, ``history`` (a list of ``(message, reply_or_None,
    error_or_None)``), ``log_lines``, ``log_complete`` (whether the server's
    last line for the latest request arrived within ``log_wait`` seconds),
    ``waiting`` (a Send or Enter awaits the front end's confirmation) and
    ``unconfirmed_sends``.

    From Python, ``send(message)`` sends at once.  ``request_send()`` is what
    Send and Enter do; without a front end the confirmation is delivered by
    hand: ``console.confirm_reply.value = console.confirm_request.value``.
    """

    def __init__(self, target, kind: str | None = None, *, timeout: float = 2.0,
                 udp_timeout: float = 0.25, udp_retries: int = 2,
                 log_wait: float = 1.0, max_log_lines: int = 200,
                 confirm_timeout: float = 3.0):
        follows_name = isinstance(target, background.ServerHandle)
        if follows_name:
            handle = target
            if kind is not None and kind != handle.kind:
                raise ValueError(_("server {name} is a {kind} server, not {wanted}").format(
                    name=repr(handle.name), kind=handle.kind, wanted=kind))
            kind = handle.kind
            address = tuple(handle.address)
        else:
            try:
                host, port = target[0], int(target[1])
            except (TypeError, IndexError, ValueError):
                raise TypeError(
                    _("echo_console() needs a ServerHandle (from background.start_tcp/start_udp) "
                      "or an address (host, port), not {target}").format(target=repr(target))
                ) from None
            address = (host, port)
            kind = "tcp" if kind is None else kind
            handle = _find_handle(address, kind)
        if kind not in ("tcp", "udp"):
            raise ValueError(_("kind must be 'tcp' or 'udp', not {kind}").format(kind=repr(kind)))
        self.handle = handle
        self.follows_name = follows_name
        self.kind = kind
        self.address = address
        self.timeout = timeout
        self.udp_timeout = udp_timeout
        self.udp_retries = udp_retries
        self.log_wait = log_wait
        self.max_log_lines = max_log_lines
        self.confirm_timeout = confirm_timeout
        self.last_reply: str | None = None
        self.last_error: str | None = None
        self.history: list[tuple[str, str | None, str | None]] = []
        self.log_lines: list[str] = []
        self.log_complete = False
        self.unconfirmed_sends = 0
        self._awaited: int | None = None   # the confirm_request number a Send/Enter waits for
        self._fallback = None              # asyncio TimerHandle of the confirm_timeout

        self.title = widgets.HTML()
        self.title.add_class("netlesson-echo-title")
        self.text = widgets.Text(
            placeholder=_("type a message, then Enter or Send"),
            continuous_update=False,
            layout=widgets.Layout(flex="1 1 auto", width="auto"),
        )
        self.text.add_class("netlesson-echo-text")
        self.send_button = widgets.Button(description=_("Send"), button_style="primary")
        self.send_button.add_class("netlesson-echo-send")
        self._show_target()
        self.reply = widgets.HTML(html_pre(_("(no reply yet)"), "color:#6b7280"))
        self.reply.add_class("netlesson-echo-reply")
        self.log_output = widgets.HTML(self._log_html())
        self.log_output.add_class("netlesson-echo-log")
        self.widget = widgets.VBox([
            self.title,
            widgets.HBox([self.text, self.send_button]),
            widgets.HTML("<small>{}</small>".format(html.escape(_("reply")))),
            self.reply,
            widgets.HTML("<small>{}</small>".format(html.escape(_("server log")))),
            self.log_output,
        ])
        self.widget.add_class("netlesson-echo")

        # The confirmation round trip (see the class docstring).  The two
        # numbers are never displayed: a link works on the models alone.
        self.confirm_request = widgets.IntText(value=0)
        self.confirm_reply = widgets.IntText(value=0)
        self.confirm_link = widgets.jsdlink((self.confirm_request, "value"),
                                            (self.confirm_reply, "value"))
        self.confirm_reply.observe(self._on_confirm_reply, names="value")

        self.send_button.on_click(lambda _button: self.request_send())
        # The Text view sends {"event": "submit"} when Enter is pressed.  Listening
        # for that custom message (public Widget.on_msg) avoids the deprecated
        # Text.on_submit, and unlike observing "value" it does not also fire when
        # the box merely loses focus (which would send twice: blur, then click).
        self.text.on_msg(self._on_text_msg)

    # -- where the messages go -------------------------------------------------
    def _where(self) -> str:
        where = f"{self.kind.upper()} {format_address(self.address)}"
        if self.handle is not None:
            where += _(" (server {name})").format(name=repr(self.handle.name))
        return where

    def _show_target(self) -> None:
        where = self._where()
        self.title.value = "<b>{}</b> → {}".format(html.escape(_("Echo console")),
                                                   html.escape(where))
        self.send_button.tooltip = _("send the message to {target}").format(target=where)

    def _follow_restarted_server(self) -> None:
        """Talk to the server now running under this console's server name, if it was restarted.

        Only a console made from a ServerHandle does this; one made from an
        address keeps the address it was given (and only looks again for a
        background server listening there).
        """
        if self.handle is None or self.handle.running:
            return
        if not self.follows_name:
            self.handle = _find_handle(self.address, self.kind) or self.handle
            return
        current = background.get(self.handle.name)
        if current is None or current is self.handle or not current.running \
                or current.kind != self.kind:
            return
        self.handle = current
        self.address = tuple(current.address)
        self._show_target()

    # -- Send and Enter -------------------------------------------------------
    @property
    def waiting(self) -> bool:
        """Whether a Send or Enter is waiting for the front end's confirmation."""
        return self._awaited is not None

    def request_send(self) -> None:
        """What *Send* and Enter do: send the box's text once all of it has arrived.

        Asks the front end for the confirmation described in the class
        docstring; :meth:`send` runs when it arrives.  A second request while
        one is waiting replaces it, so a double click sends once.
        """
        self._awaited = self.confirm_request.value + 1
        self.confirm_request.value = self._awaited
        self._arm_fallback(self._awaited)

    def _on_text_msg(self, _widget, content, _buffers):
        if isinstance(content, dict) and content.get("event") == "submit":
            self.request_send()

    def _on_confirm_reply(self, change):
        # An older number (a confirmation overtaken by a newer request, or the
        # copy a reloaded page makes of the current one) is not this request's.
        if self._awaited is not None and change["new"] >= self._awaited:
            self._send_requested(confirmed=True)

    def _arm_fallback(self, number: int) -> None:
        """Send anyway after ``confirm_timeout`` s, on the kernel's event loop, if there is one."""
        self._disarm_fallback()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # driven from plain Python: the confirmation is delivered by hand
        self._fallback = loop.call_later(self.confirm_timeout, self._confirm_timed_out, number)

    def _disarm_fallback(self) -> None:
        if self._fallback is not None:
            self._fallback.cancel()
            self._fallback = None

    def _confirm_timed_out(self, number: int) -> None:
        self._fallback = None
        if self._awaited == number:
            self._send_requested(confirmed=False)

    def _send_requested(self, *, confirmed: bool) -> None:
        self._awaited = None
        self._disarm_fallback()
        self.send()   # clears the "unconfirmed" mark of the previous reply
        if not confirmed:
            self.unconfirmed_sends += 1
            self.reply.add_class("netlesson-echo-unconfirmed")

    # -- sending --------------------------------------------------------------
    def _client(self):
        if self.kind == "tcp":
            return tcp.TCPEchoClient(self.address, timeout=self.timeout)
        return udp.UDPEchoClient(self.address, timeout=self.udp_timeout, retries=self.udp_retries,
                                 max_timeout=max(self.udp_timeout, self.timeout / 2))

    def _exchange(self, message: str) -> tuple[str, tuple | None]:
        """Send one message with a fresh client; return the reply and the client's address."""
        client = self._client()
        with client:
            reply = client.send(message)
            local = client.sock.getsockname()[:2] if client.sock is not None else None
        return reply, local

    def _server_lines(self, since_seq: int, local) -> list[str]:
        """The text of the records logged after *since_seq*, once this request's last one is in.

        The request's last record is selected by kind, peer and sequence number.
        TCP: the handler records ``"closed"`` after the client hangs up, which
        happens just after the reply arrived, so wait (briefly) for the record
        whose peer is this console's client.  UDP: the ``"received"`` record is
        written before the reply is sent, so it is already there; the client is
        recognised by its port, since an unconnected UDP socket reports
        ``0.0.0.0`` as its own host while the server sees the address the
        datagram came from.  Only records after *since_seq* count: an older
        ``"closed"`` from the same port (ports are reused) or a record about
        another client must not end the wait early.  ``log_complete`` records
        whether this request's last record was seen in time.
        """
        log: ServerLog | None = getattr(self.handle, "log", None)
        if log is None:
            self.log_complete = False
            return []
        if local is None:
            self.log_complete = False
        elif self.kind == "tcp":
            self.log_complete = log.wait_for(kind="closed", peer=local, after=since_seq,
                                             timeout=self.log_wait) is not None
        else:
            port = local[1]
            self.log_complete = log.wait_for(
                lambda entry: entry.peer is not None and entry.peer[1] == port,
                kind="received", after=since_seq, timeout=self.log_wait) is not None
        return [entry.text for entry in log.select(after=since_seq)]

    def send(self, message: str | None = None) -> str | None:
        """Send *message* (default: the text box) now; show and return the reply.

        Returns ``None`` when the message could not be echoed; the reply area
        then shows why, and ``last_error`` holds the same sentence.
        """
        from_box = message is None
        if from_box:
            message = self.text.value
        self._follow_restarted_server()
        log = getattr(self.handle, "log", None)
        since_seq = log.last_seq if log is not None else 0
        reply = error = None
        local = None
        if message == "":
            error = _("the message is empty, so nothing was sent: over TCP an empty send "
                      "transmits no bytes and no reply could ever come back")
        elif self.handle is not None and not self.handle.running:
            error = self._stopped_message()
        else:
            try:
                reply, local = self._exchange(message)
            except Exception as exc:  # noqa: BLE001 - shown to the student as a sentence
                error = self._explain(exc)
        self.last_reply, self.last_error = reply, error
        self.history.append((message, reply, error))
        self.reply.remove_class("netlesson-echo-unconfirmed")
        if error is None:
            self.reply.value = html_pre(reply)
            self.reply.remove_class("netlesson-echo-error")
            if from_box:
                self.text.value = ""
        else:
            # Name the message: clicking Send again on a stopped server then
            # still visibly does something, and says which message failed.
            if message == "":
                shown = _("error: {message}").format(message=error)
            else:
                shown = _("error: {message} was not echoed: {error}").format(
                    message=_preview(message), error=error)
            self.reply.value = html_pre(shown, "color:#b91c1c")
            self.reply.add_class("netlesson-echo-error")
        new_lines = self._server_lines(since_seq, local)
        if new_lines:
            self.log_lines = (self.log_lines + new_lines)[-self.max_log_lines:]
            self.log_output.value = self._log_html()
        return reply

    def _start_call(self) -> str:
        """The call that starts this console's server, as a notebook cell would write it."""
        name, server = self.handle.name, self.handle.server
        if isinstance(server, tcp.ClassroomTCPServer):
            return f"background.start_tcp({name!r})"
        if isinstance(server, udp.ClassroomUDPServer):
            return f"background.start_udp({name!r})"
        return f"background.start(server, {name!r})"

    def _stopped_message(self) -> str:
        """What a student does when this console's server is stopped, in one sentence."""
        if self.follows_name:
            text = _("server {name} is stopped, so nothing answers on {address} — run the cell "
                     "with {start} again, then send again: this console finds the restarted "
                     "server by its name")
        else:
            text = _("server {name} is stopped, so nothing answers on {address} — run the cell "
                     "with {start} again, then make a new console for the new server (a "
                     "restarted server gets a new port)")
        return text.format(name=repr(self.handle.name), address=format_address(self.address),
                           start=self._start_call())

    def _explain(self, exc: BaseException) -> str:
        """One readable sentence for a failed exchange (netlesson's errors already are)."""
        text = str(exc) or type(exc).__name__
        if self.handle is not None and not self.handle.running:
            return self._stopped_message()
        if not isinstance(exc, OSError | ValueError):
            return _("unexpected {error}: {text}").format(error=type(exc).__name__, text=text)
        return text

    def _log_html(self) -> str:
        if self.log_lines:
            return html_pre("\n".join(self.log_lines), "max-height:12em;overflow-y:auto")
        if self.handle is None:
            note = _("(no server log: this console was given an address, and no background "
                     "server of this Jupyter kernel listens there)")
        else:
            note = _("(nothing logged yet: send a message)")
        return html_pre(note, "color:#6b7280")

    def __repr__(self) -> str:
        return f"<EchoConsole {self.kind} {format_address(self.address)}>"


def echo_console(target, kind: str | None = None, **kwargs) -> EchoConsole:
    """Make an :class:`EchoConsole` for a ServerHandle or an address (see there)."""
    return EchoConsole(target, kind, **kwargs)


