"""Start a server inside a notebook without blocking the cell.

``serve_forever()`` never returns, so a notebook that calls it in a cell is
stuck.  The launcher runs it in a daemon thread and hands back a
:class:`ServerHandle`::

    from netlesson import background
    srv = background.start_tcp()          # port 0: the system picks a free port
    srv.address                           # ('127.0.0.1', 43817)
    srv.log                               # what the handler threads logged
    srv.stop()

Re-running that cell is harmless: starting a server under a name that is
already running stops the old one first.  ``stop_all()`` stops everything, and
so does the interpreter at exit.  ``stop()`` ends open client connections and
returns in a few milliseconds: it wakes the ``serve_forever`` loop instead of
waiting for its next poll.

Used as a context manager (``with background.start_tcp(...) as srv:``), the
handle stops the server when the block ends, and if a handler raised while the
block ran it says so there, in the cell's own thread: as a note on the
exception leaving the block, or as a printed line.  The traceback itself stays
in ``srv.log``.
"""

from __future__ import annotations

import atexit
import os
import socket
import socketserver
import threading
import time

from . import tcp, udp
from .classroom import (ClassroomServerMixIn, count_error, log_handler_error, request_shutdown,
                        stop_serving)
from .errors import format_address
from .i18n import core as _messages
from .serverlog import ServerLog

_ = _messages.gettext

__all__ = ["ServerHandle", "start", "start_tcp", "start_udp", "stop", "stop_all", "running", "get"]

_registry: dict[str, "ServerHandle"] = {}
_registry_lock = threading.RLock()


class ServerHandle:
    """A server whose ``serve_forever`` runs in a background daemon thread.

    ``log`` is the server's :class:`~netlesson.serverlog.ServerLog` if it has
    one (netlesson's servers do).  A server without a ``log`` attribute gets a
    new one as ``server.log``, so its handlers can write ``self.server.log("...")``.
    A server whose ``log`` is something else -- a ``log`` method or attribute
    of the student's own -- keeps it untouched; the handle's ``log`` is then a
    log of its own, with the launcher's records (errors, stops).
    """

    def __init__(self, name: str, server, poll_interval: float = 0.5):
        self.name = name
        self.server = server
        log = getattr(server, "log", None)
        if not isinstance(log, ServerLog):
            log = ServerLog()
            if not hasattr(server, "log"):  # never replace a log the server has
                try:
                    server.log = log
                except AttributeError:  # pragma: no cover - exotic server without __dict__
                    pass
        self.log: ServerLog = log
        self._pid = os.getpid()
        forking = isinstance(server, getattr(socketserver, "ForkingMixIn", ()))
        if (getattr(type(server), "handle_error", None) is socketserver.BaseServer.handle_error
                and not forking):  # a forked child's log is a copy nobody reads
            # the stock handle_error prints the traceback from the handler's
            # thread, into whichever cell happens to be running: log it instead
            def handle_error(request, client_address):
                log_handler_error(server, client_address, log)

            server.handle_error = handle_error
        self.kind = "tcp" if server.socket.type == socket.SOCK_STREAM else "udp"
        self.address = tuple(server.server_address[:2])
        self.stopped = False
        self.stop_seconds: float | None = None
        self._lock = threading.Lock()
        self.thread = threading.Thread(
            target=self._serve, args=(poll_interval,), name=f"netlesson-{name}", daemon=True
        )
        self._started = threading.Event()
        self._close_when_served = False

    def _serve(self, poll_interval):
        self._started.set()
        try:
            self.server.serve_forever(poll_interval)
        except Exception as exc:  # never let the thread print a traceback into a cell
            count_error(self.server, exc)  # e.g. a verify_request that raises
            self.log.record("serve_error", error=exc)
        finally:
            if self._close_when_served:  # stop() was called from this very thread
                self._close_here()

    def _close_here(self) -> None:
        """The end of a stop asked for from the serving thread, now that serving is over."""
        with self._lock:
            if self.stopped:  # a stop() from another thread got there first
                return
            self.stopped = True
        t0 = time.perf_counter()
        try:
            stop_serving(self.server, None, 2.0, log=self.log)
        except Exception as exc:  # noqa: BLE001 - a student's server_close; keep the thread quiet
            self.log.record("close_error", error=exc)
        self.stop_seconds = time.perf_counter() - t0
        self._unregister()

    def _unregister(self) -> None:
        with _registry_lock:
            if _registry.get(self.name) is self:
                del _registry[self.name]

    def _start(self) -> "ServerHandle":
        self.thread.start()
        self._started.wait(5)
        return self

    # -- public -------------------------------------------------------------
    @property
    def host(self) -> str:
        return self.address[0]

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def running(self) -> bool:
        return not self.stopped and self.thread.is_alive()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop serving, end open connections, close the socket.  Idempotent.

        Returns within a few milliseconds for netlesson's servers.  For a plain
        ``socketserver`` server whose handler threads are still talking to a
        client, ``server_close()`` (which joins them) is given *timeout*
        seconds and then left to finish in the background, with a log line.
        Called from a handler that runs in the serving thread itself (a server
        without handler threads), it cannot wait: the server stops and closes
        as soon as that request is finished.
        """
        in_serving_thread = (threading.current_thread() is self.thread
                             and os.getpid() == self._pid)  # not a forked child
        with self._lock:
            if self.stopped or (in_serving_thread and self._close_when_served):
                return
            if in_serving_thread:
                self._close_when_served = True
            else:
                self.stopped = True
        if in_serving_thread:
            # A handler of a server without handler threads (TCPServer, or a
            # SingleClassroomServer) runs in the serving thread: it cannot wait
            # for serve_forever to return.  Ask it to stop; the serving thread
            # closes the server once this request is finished (see _serve).
            # Until then the handle stays registered and running, so a stop()
            # from a cell still closes the port (and ends the connection being
            # served, if the server tracks its connections as netlesson's do).
            if not request_shutdown(self.server):  # pragma: no cover - Python renamed the flag
                threading.Thread(target=self.server.shutdown, daemon=True).start()
            self.log.record("stop_deferred")
            return
        self._unregister()
        t0 = time.perf_counter()
        stop_serving(self.server, self.thread, timeout, log=self.log)
        self.stop_seconds = time.perf_counter() - t0

    def __enter__(self):
        self._errors_at_enter = getattr(self.server, "error_count", 0)
        return self

    def __exit__(self, exc_type, exc, tb):
        """Stop the server; then say so if it logged errors during the block.

        A handler that raises never prints (its thread is not the cell's); the
        traceback goes to the log.  A student whose ``with`` block then sees
        only ``b''`` or a closed connection would look for the bug in the
        wrong place, so the block's end -- in the cell's own thread -- names
        the error: as a note on the exception the block raised, or printed.
        """
        self.stop()
        summary = self._error_summary(since=getattr(self, "_errors_at_enter", 0))
        if summary:
            if exc is not None:
                exc.add_note(summary)
            else:
                print(summary)
        return False

    def _error_summary(self, since: int = 0) -> str | None:
        """One line on the errors counted after *since* (an earlier ``error_count``)."""
        count = getattr(self.server, "error_count", 0) - since
        if count <= 0:
            return None
        return _messages.ngettext(
            "server {name} logged an error while this block ran; the last: {error}\n"
            "(its log has the full traceback: show_log() on the handle prints it)",
            "server {name} logged {count} errors while this block ran; the last: {error}\n"
            "(its log has the full traceback: show_log() on the handle prints it)",
            count).format(name=repr(self.name), count=count,
                          error=getattr(self.server, "last_error", "?"))

    def show_log(self, last: int | None = None) -> None:
        """Print the log (or its *last* lines) from the calling -- main -- thread."""
        lines = self.log.lines()
        if last is not None:
            lines = lines[-last:]
        print("\n".join(lines) if lines else _("(log is empty)"))

    def __repr__(self):
        state = "running" if self.running else "stopped"
        return (f"<ServerHandle {self.name!r} {type(self.server).__name__} "
                f"{self.kind}://{format_address(self.address)} {state}>")


def start(server, name: str | None = None, *, poll_interval: float = 0.5,
          register: bool = True) -> ServerHandle:
    """Run an already-built ``socketserver`` server in the background.

    Works for any server -- a student's ``socketserver.ThreadingTCPServer(...)``
    too.  If a server named *name* is running, it is stopped first.  A server
    without a ``log`` attribute gets one (``server.log``, a
    :class:`~netlesson.serverlog.ServerLog`); a ``log`` it already has is left
    as it is (see :class:`ServerHandle`).  A server that keeps
    ``BaseServer.handle_error`` (which prints a handler's traceback from the
    handler's thread) gets one that writes it to the handle's log.

    Args:
        server: a built (bound and listening) ``socketserver`` server.
        name: what :func:`get`, :func:`stop` and a restart know it by
            (default: its class name).
        poll_interval: passed to ``serve_forever``.
        register: ``False`` keeps the handle out of the registry: it neither
            stops a server of the same name nor is seen by :func:`running`,
            :func:`stop_all` or the exit hook -- the caller must stop it (the
            exercise checkers do, for the servers they check).

    Returns:
        The :class:`ServerHandle`, once its serving thread has started.
    """
    if name is None:
        name = type(server).__name__
    if register:
        with _registry_lock:
            old = _registry.pop(name, None)
        if old is not None:
            old.stop()
    handle = ServerHandle(name, server, poll_interval)
    if register:
        with _registry_lock:
            _registry[name] = handle
    return handle._start()


def _start_kind(module, name, host, port, handler, server_class, log_size, **kwargs):
    with _registry_lock:
        old = _registry.pop(name, None)
    if old is not None:
        old.stop()  # frees the port before the new server binds it
    if issubclass(server_class, ClassroomServerMixIn):
        kwargs["log"] = ServerLog(log_size)
    # create_server's own default handler is the upper-case echo
    handler_kw = {} if handler is None else {"handler": handler}
    server = module.create_server((host, port), server_class=server_class, **handler_kw, **kwargs)
    return start(server, name)


def start_tcp(name: str = "tcp", *, host: str = "127.0.0.1", port: int = 0, handler=None,
              server_class=tcp.ClassroomTCPServer, log_size: int = 500,
              backlog: int | None = None) -> ServerHandle:
    """Start a threaded TCP server (upper-case echo unless *handler* is given).

    *host* may be IPv6 (``"::1"``; ``"::"`` is dual-stack where the platform
    allows).  *backlog* is the listen backlog; ``None`` keeps the class's
    (:data:`netlesson.classroom.CLASS_BACKLOG`, room for a whole class
    connecting at once); ``constants.back_log`` gives the seed's 5.
    """
    return _start_kind(tcp, name, host, port, handler, server_class, log_size, backlog=backlog)


def start_udp(name: str = "udp", *, host: str = "127.0.0.1", port: int = 0, handler=None,
              server_class=udp.ClassroomUDPServer, log_size: int = 500) -> ServerHandle:
    """Start a threaded UDP server (upper-case echo unless *handler* is given; IPv6 *host* too)."""
    return _start_kind(udp, name, host, port, handler, server_class, log_size)


def get(name: str) -> ServerHandle | None:
    with _registry_lock:
        return _registry.get(name)


def stop(name: str) -> bool:
    """Stop the server called *name*; ``False`` if there was none."""
    with _registry_lock:
        handle = _registry.get(name)
    if handle is None:
        return False
    handle.stop()
    return True


def running() -> list[ServerHandle]:
    with _registry_lock:
        return [h for h in _registry.values() if h.running]


def stop_all() -> int:
    """Stop every server this interpreter started; return how many."""
    with _registry_lock:
        handles = list(_registry.values())
    for handle in handles:
        handle.stop()
    return len(handles)


atexit.register(stop_all)
