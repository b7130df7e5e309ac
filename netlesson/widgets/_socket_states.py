"""Socket states, seen live: this process's TCP sockets and the state each one is in.

:func:`socket_table` is the data: one :class:`SocketRow` per TCP socket of this
process (for a notebook, the Jupyter kernel), read from the operating system at the
moment of the call, plus the connections the operating-system kernel still keeps
for it *without* a file descriptor: a connection in TIME_WAIT after ``close()``, or
one that finished its handshake and waits in a listening socket's accept queue for
an ``accept()`` that has not come yet.  The state names are the system's own, as
psutil (or ``/proc/net/tcp``) reports them: ``LISTEN``, ``ESTABLISHED``,
``FIN_WAIT2``, ``CLOSE_WAIT``, ``TIME_WAIT`` ...

:class:`SocketStates` (``socket_states()``) shows that table as a widget, refreshed
after every cell that runs (an IPython ``post_run_cell`` hook), by its *Refresh*
button, every two seconds while *auto* is ticked, and whenever code calls
:meth:`SocketStates.refresh`.

Where the rows come from
------------------------
* **psutil** (the ecosystem's library, every platform): ``Process.net_connections``
  for this process's sockets (``Process.connections`` before psutil 6), and the
  host's table (``psutil.net_connections``) for connections no process holds
  (``pid`` is ``None``).  On macOS the host's table needs root; without it the
  rows held by no descriptor are left out.
* **/proc/net/tcp and /proc/net/tcp6** (Linux), when psutil cannot: a socket is
  this process's when its inode is one of the ``socket:[inode]`` links in
  ``/proc/self/fd``; inode 0 means no descriptor holds it.  The state codes are
  those of the Linux kernel's ``include/net/tcp_states.h``, named as psutil
  names them.

Which connections without a descriptor count as this process's?  The operating
system no longer says (no descriptor, no owner).  A row held by no descriptor is
shown when its local or remote port is one of *ports*, or -- without *ports* -- one
of the local ports of this process's own sockets.  So a client's TIME_WAIT shows
while its server is still listening here; pass the ports to see it after that.
"""

from __future__ import annotations

import asyncio
import html
import ipaddress
import os
import sys
import time
import weakref
from pathlib import Path
from typing import Iterable, NamedTuple

import ipywidgets as widgets

from ._common import WidgetHolder, html_pre
from ..i18n import core as _messages

_ = _messages.gettext

__all__ = ["SocketRow", "SocketTable", "SocketStates", "StatesUnavailable", "socket_states",
           "socket_table", "wait_for_state"]

#: /proc/net/tcp state codes (include/net/tcp_states.h), named as psutil names them
PROC_STATES = {
    "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
    "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
    "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING", "0C": "NEW_SYN_RECV",
}

_PROC = Path("/proc")


class StatesUnavailable(RuntimeError):
    """Neither psutil nor ``/proc/net/tcp`` could list this process's sockets (says why)."""


class SocketRow(NamedTuple):
    """One TCP socket, or one connection the operating system keeps without a descriptor.

    ``local`` and ``remote`` are ``(host, port)``; ``remote`` is ``None`` for a
    listening socket.  ``state`` is the system's name for the TCP state.  ``fd`` is
    this process's file descriptor for it, ``None`` when no descriptor holds it
    (``owned`` is then false).
    """

    local: tuple
    remote: tuple | None
    state: str
    fd: int | None

    @property
    def owned(self) -> bool:
        """Does a file descriptor of this process hold the socket?"""
        return self.fd is not None

    @property
    def listening(self) -> bool:
        return self.state == "LISTEN"

    def ports(self) -> set[int]:
        return {self.local[1]} | ({self.remote[1]} if self.remote else set())


def _endpoint(text) -> str:
    host, port = text
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _same(a, b) -> bool:
    """Same ``(host, port)``?  An IPv4-mapped IPv6 host equals its IPv4 address."""
    if a is None or b is None:
        return a is None and b is None
    if a[1] != b[1]:
        return False
    try:
        one, two = (ipaddress.ip_address(str(h).partition("%")[0]) for h in (a[0], b[0]))
    except ValueError:
        return str(a[0]) == str(b[0])
    one = one.ipv4_mapped or one if one.version == 6 else one
    two = two.ipv4_mapped or two if two.version == 6 else two
    return one == two


class SocketTable(NamedTuple):
    """What :func:`socket_table` read: the rows, and where they came from (``"psutil"`` or
    ``"/proc/net/tcp"``)."""

    rows: tuple[SocketRow, ...]
    source: str

    def find(self, local, remote=None) -> SocketRow | None:
        """The row with this local address (and this remote one, if given), or ``None``."""
        for row in self.rows:
            if _same(row.local, tuple(local)[:2]) and (
                    remote is None or _same(row.remote, tuple(remote)[:2])):
                return row
        return None

    def state(self, local, remote=None) -> str | None:
        """The state of the row :meth:`find` finds, or ``None`` when there is no such socket."""
        row = self.find(local, remote)
        return None if row is None else row.state

    def __str__(self) -> str:
        lines = [f"{'local':<24} {'remote':<24} {'state':<12} held by"]
        for row in self.rows:
            remote = _endpoint(row.remote) if row.remote else "-"
            holder = f"fd {row.fd}" if row.owned else "no descriptor"
            lines.append(f"{_endpoint(row.local):<24} {remote:<24} {row.state:<12} {holder}")
        return "\n".join(lines)


# -- reading the rows ---------------------------------------------------------------

def _psutil_rows(pid: int) -> tuple[list[SocketRow], list[SocketRow]]:
    """(this process's rows, the host's rows held by no process) from psutil."""
    import psutil

    process = psutil.Process(pid)
    listing = getattr(process, "net_connections", None) or process.connections
    own = [SocketRow(tuple(c.laddr)[:2], tuple(c.raddr)[:2] or None, c.status, c.fd)
           for c in listing(kind="tcp") if c.laddr]
    try:
        host = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, NotImplementedError):
        host = []  # macOS without root: the rows without a descriptor cannot be seen
    loose = [SocketRow(tuple(c.laddr)[:2], tuple(c.raddr)[:2] or None, c.status, None)
             for c in host if c.pid is None and c.laddr]
    return own, loose


def _hex_endpoint(text: str) -> tuple[str, int]:
    """``0100007F:1F91`` -> ``('127.0.0.1', 8081)``: the kernel prints each 32-bit word in host order."""
    host_hex, port_hex = text.split(":")
    raw = bytes.fromhex(host_hex)
    words = b"".join(int.from_bytes(raw[i:i + 4], sys.byteorder).to_bytes(4, "big")
                     for i in range(0, len(raw), 4))
    return (str(ipaddress.ip_address(words)), int(port_hex, 16))


def _parse_proc_net_tcp(text: str) -> list[tuple[tuple, tuple | None, str, int]]:
    """``(local, remote, state, inode)`` for each line of a ``/proc/net/tcp{,6}`` text."""
    found = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 10:
            continue
        try:
            local, remote = _hex_endpoint(parts[1]), _hex_endpoint(parts[2])
            inode = int(parts[9])
        except ValueError:
            continue
        state = PROC_STATES.get(parts[3].upper(), f"UNKNOWN({parts[3]})")
        found.append((local, None if state == "LISTEN" else remote, state, inode))
    return found


def _socket_inodes(pid: int, proc: Path) -> dict[int, int]:
    """inode -> fd for the sockets among *pid*'s descriptors (``socket:[inode]`` links)."""
    fd_dir = proc / str(pid) / "fd"
    inodes = {}
    for name in os.listdir(fd_dir):
        try:
            target = os.readlink(fd_dir / name)
        except OSError:
            continue  # closed since listdir
        if target.startswith("socket:["):
            inodes[int(target[len("socket:["):-1])] = int(name)
    return inodes


def _proc_rows(pid: int, proc: Path = _PROC) -> tuple[list[SocketRow], list[SocketRow]]:
    """(this process's rows, the rows no descriptor holds) from ``/proc/net/tcp`` and ``tcp6``."""
    inodes = _socket_inodes(pid, proc)
    own, loose = [], []
    for name in ("tcp", "tcp6"):
        try:
            text = (proc / str(pid) / "net" / name).read_text()
        except OSError:
            continue  # no IPv6 in this kernel
        for local, remote, state, inode in _parse_proc_net_tcp(text):
            if inode in inodes:
                own.append(SocketRow(local, remote, state, inodes[inode]))
            elif inode == 0:
                loose.append(SocketRow(local, remote, state, None))
    return own, loose


def _read(pid: int, backend: str) -> tuple[list[SocketRow], list[SocketRow], str]:
    problems = []
    if backend in ("auto", "psutil"):
        try:
            import psutil
        except ImportError:
            problems.append(_("psutil is not installed"))
        else:
            try:
                return (*_psutil_rows(pid), "psutil")
            except (psutil.Error, NotImplementedError, OSError) as exc:
                problems.append(_("psutil could not: {error}: {detail}").format(
                    error=type(exc).__name__, detail=exc))
    if backend in ("auto", "proc"):
        try:
            return (*_proc_rows(pid), "/proc/net/tcp")
        except OSError as exc:
            problems.append(_("/proc/net/tcp could not be read ({reason})").format(
                reason=exc.strerror or exc))
    raise StatesUnavailable(_("cannot list the sockets of this process: {problems}").format(
        problems=_("; ").join(problems)))


def _sort_key(row: SocketRow):
    return (not row.listening, row.local[1], row.remote[1] if row.remote else 0, row.state)


def socket_table(ports: Iterable[int] | None = None, *, pid: int | None = None,
                 backend: str = "auto") -> SocketTable:
    """The TCP sockets of process *pid* (default: this one), read now.

    Args:
        ports: keep only rows whose local or remote port is one of these; ``None``
            keeps every socket of the process.  Rows held by no descriptor
            (TIME_WAIT, a connection waiting in an accept queue) are kept when they
            touch one of *ports* -- or, without *ports*, one of the process's own
            local ports (see the module docstring).
        pid: the process; default ``os.getpid()``.
        backend: ``"auto"`` (psutil, then ``/proc``), ``"psutil"`` or ``"proc"``.

    Returns:
        A :class:`SocketTable`: rows sorted listening sockets first, then by port.
        Raises :class:`StatesUnavailable` (saying why) when no way to read them works.
    """
    if backend not in ("auto", "psutil", "proc"):
        raise ValueError(_("backend must be 'auto', 'psutil' or 'proc', not {backend}").format(
            backend=repr(backend)))
    own, loose, source = _read(os.getpid() if pid is None else pid, backend)
    wanted = set(ports) if ports is not None else None
    watch = wanted if wanted is not None else {row.local[1] for row in own}
    rows = [row for row in own if wanted is None or row.ports() & wanted]
    rows += [row for row in loose if row.ports() & watch]
    return SocketTable(tuple(sorted(set(rows), key=_sort_key)), source)


def wait_for_state(local, remote=None, states: Iterable[str] = (), *, timeout: float = 2.0,
                   backend: str = "auto") -> str | None:
    """Read the state of the socket at *local* (to *remote*) until it is one of *states*.

    The operating-system kernel moves a connection on when a packet arrives, a
    moment after the call that sent it returned; this polls (every 10 ms) instead
    of sleeping and hoping.  Returns the last state read -- one of *states*, or
    whatever it was when *timeout* seconds ran out -- or ``None`` when there is
    no such socket (also a valid thing to wait for: pass ``None`` in *states*).
    """
    wanted = set(states)
    ports = {tuple(local)[1]} | ({tuple(remote)[1]} if remote is not None else set())
    deadline = time.monotonic() + timeout
    while True:
        state = socket_table(ports, backend=backend).state(local, remote)
        if state in wanted or time.monotonic() >= deadline:
            return state
        time.sleep(0.01)


# -- the widget -----------------------------------------------------------------------

#: widgets refreshed after every cell (one IPython hook for all of them)
_LIVE: "weakref.WeakSet[SocketStates]" = weakref.WeakSet()
_HOOKED: list = []  # the IPython shell our post_run_cell hook is registered with


def _after_cell(*_args) -> None:
    for states in list(_LIVE):
        states.refresh()


def _hook_cells() -> None:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - ipywidgets needs IPython
        return
    shell = get_ipython()
    if shell is None or shell in _HOOKED:
        return
    shell.events.register("post_run_cell", _after_cell)
    _HOOKED.append(shell)


_STATE_COLOURS = {"LISTEN": "#1d4ed8", "ESTABLISHED": "#15803d", "TIME_WAIT": "#b45309",
                  "CLOSE_WAIT": "#b91c1c", "FIN_WAIT2": "#7c3aed", "FIN_WAIT1": "#7c3aed",
                  "SYN_SENT": "#0e7490", "SYN_RECV": "#0e7490"}


class SocketStates(WidgetHolder):
    """A live table of this process's TCP sockets and their states.

    Shows local and remote address, state, and who holds each socket (a file
    descriptor of this process, or no descriptor at all); the listening sockets
    come first and say so.  Ports passed to :meth:`watch` (or *ports*) are drawn
    in bold, and rows held by no descriptor that touch them are shown too.

    Refreshed after every cell that runs, by *Refresh*, every *interval* seconds
    while *auto* is ticked (on the Jupyter kernel's event loop, so between
    cells), and by :meth:`refresh`, which also returns the :class:`SocketTable`.
    """

    def __init__(self, ports: Iterable[int] = (), *, interval: float = 2.0,
                 backend: str = "auto") -> None:
        self.watched: set[int] = set(ports)
        self.interval = interval
        self.backend = backend
        self.table: SocketTable | None = None
        self.error: str | None = None
        self.refreshes = 0
        self._timer = None
        self.title = widgets.HTML(
            "<b>{}</b>".format(html.escape(_("TCP sockets of this Jupyter kernel"))))
        self.title.add_class("netlesson-states-title")
        self.refresh_button = widgets.Button(description=_("Refresh"), icon="refresh")
        self.refresh_button.add_class("netlesson-states-refresh")
        self.auto = widgets.Checkbox(value=False, indent=False,
                                     description=_("auto (every {seconds} s)").format(
                                         seconds=f"{interval:g}"))
        self.auto.add_class("netlesson-states-auto")
        self.output = widgets.HTML()
        self.output.add_class("netlesson-states-table")
        self.status = widgets.HTML()
        self.status.add_class("netlesson-states-status")
        self.widget = widgets.VBox([self.title,
                                    widgets.HBox([self.refresh_button, self.auto]),
                                    self.output, self.status])
        self.widget.add_class("netlesson-states")
        self.refresh_button.on_click(lambda _button: self.refresh())
        self.auto.observe(self._on_auto, names="value")
        _LIVE.add(self)
        _hook_cells()
        self.refresh()

    def watch(self, *ports: int) -> "SocketStates":
        """Also show (in bold) the connections on these ports, even without a descriptor."""
        self.watched.update(int(p) for p in ports)
        self.refresh()
        return self

    def refresh(self) -> SocketTable | None:
        """Read the sockets now and redraw; return the table (``None`` if it cannot be read)."""
        self.refreshes += 1
        try:
            mine = socket_table(backend=self.backend)
            extra = socket_table(self.watched, backend=self.backend) if self.watched else None
        except StatesUnavailable as exc:
            self.table, self.error = None, str(exc)
            self.output.value = html_pre(self.error, "color:#b91c1c")
            return None
        rows = set(mine.rows) | set(extra.rows if extra else ())
        self.table = SocketTable(tuple(sorted(rows, key=_sort_key)), mine.source)
        self.error = None
        self.output.value = self._html(self.table)
        status = _messages.ngettext(
            "{count} socket, read with {source} (refresh {refresh})",
            "{count} sockets, read with {source} (refresh {refresh})", len(self.table.rows))
        self.status.value = "<small>{}</small>".format(html.escape(status.format(
            count=len(self.table.rows), source=self.table.source, refresh=self.refreshes)))
        return self.table

    def _html(self, table: SocketTable) -> str:
        head = "".join(f"<th style='text-align:left;padding:0 12px 0 0'>{h}</th>"
                       for h in (html.escape(_("local")), html.escape(_("remote")),
                                 html.escape(_("state")), html.escape(_("held by"))))
        body = []
        for row in table.rows:
            bold = "font-weight:bold;" if row.ports() & self.watched else ""
            colour = _STATE_COLOURS.get(row.state, "#374151")
            remote = _endpoint(row.remote) if row.remote else html.escape(_("— (listening)"))
            holder = (f"fd {row.fd}" if row.owned
                      else html.escape(_("no descriptor (the operating-system kernel keeps it)")))
            cells = [_endpoint(row.local), remote,
                     f"<span style='color:{colour}'>{row.state}</span>", holder]
            body.append(f"<tr class='netlesson-states-row' data-state='{row.state}' "
                        f"style='{bold}'>"
                        + "".join(f"<td style='padding:0 12px 0 0'>{c}</td>" for c in cells)
                        + "</tr>")
        if not body:
            body.append("<tr><td colspan='4'>{}</td></tr>".format(
                html.escape(_("(no TCP sockets)"))))
        return (f"<table style='font-family:monospace;border-collapse:collapse'>"
                f"<tr>{head}</tr>{''.join(body)}</table>")

    # -- the timer ---------------------------------------------------------------------
    def _on_auto(self, change) -> None:
        if change["new"]:
            self._tick()
        elif self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        self._timer = None
        if not self.auto.value:
            return
        self.refresh()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no event loop (plain Python): refresh by hand
        self._timer = loop.call_later(self.interval, self._tick)

    def close(self) -> None:
        """Stop refreshing (timer and after-cell hook) and close the widget."""
        self.auto.value = False
        _LIVE.discard(self)
        self.widget.close()

    def __repr__(self) -> str:
        return "<SocketStates: TCP sockets of this Jupyter kernel>"


def socket_states(*ports: int, interval: float = 2.0, backend: str = "auto") -> SocketStates:
    """Make a :class:`SocketStates` widget that watches *ports* (see there)."""
    return SocketStates(ports, interval=interval, backend=backend)
