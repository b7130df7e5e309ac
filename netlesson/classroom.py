"""What makes a socketserver server safe to run in a classroom.

:class:`ClassroomServerMixIn` adds, to any ``socketserver`` server class:

* configuration as class attributes, the way ``socketserver`` itself is
  configured: ``daemon_threads = True`` (a handler thread never keeps the
  kernel or interpreter alive) and ``request_queue_size = CLASS_BACKLOG``
  (a listen backlog a whole class can connect into at once; see
  :data:`CLASS_BACKLOG`, and the ``backlog=`` keyword for another value);
* a bounded, thread-safe :class:`~netlesson.serverlog.ServerLog` at
  ``server.log`` that handlers write to instead of printing;
* a record of the requests being handled, so :meth:`close_open_requests` can
  end client connections that are still open when the server stops;
* a :meth:`shutdown` that returns in about a millisecond instead of waiting out
  ``serve_forever``'s poll interval (0.5 s by default).

``allow_reuse_address`` is *not* set here: ``server_bind`` reads it from the
class, and the right value differs between TCP (``True``: restart on a port
still in TIME_WAIT) and UDP (``False``: on Linux, SO_REUSEADDR would let two UDP
servers bind the same port without an error), so each concrete class sets it.

* a :meth:`handle_error` that writes the traceback of a crashing handler to
  ``server.log`` instead of printing it to stderr from the handler thread
  (where, in a notebook, it would land in whichever cell happens to run).

The mixin overrides none of the steps that carry a request from ``get_request``
to the handler (``verify_request``, ``process_request``, ``finish_request``,
``shutdown_request``); it wraps ``serve_forever`` only to remember which thread
runs it.  So everything the walkthrough notebooks show about ``socketserver``
holds for these servers too.  (``ClassroomUDPServer`` additionally peeks in
``get_request`` to notice oversized datagrams; see :mod:`netlesson.udp`.)

:func:`make_server` builds any server class for an IPv4 or an IPv6 address:
for an IPv6 host (``"::1"``, ``"::"``, or a name that resolves only to IPv6) it
uses the class with :class:`IPv6MixIn` in front (``address_family = AF_INET6``;
bound to ``"::"`` it accepts IPv4 clients too where the platform allows).
"""

from __future__ import annotations

import errno
import functools
import ipaddress
import logging
import socket
import sys
import threading
import time
import traceback

from .errors import AddressNotAvailable, PortInUseError, PortNotAllowed, format_address
from .i18n import core as _messages

_ = _messages.gettext
from .serverlog import ServerLog, describe_error, render_record

__all__ = [
    "CLASS_BACKLOG",
    "ClassroomServerMixIn",
    "IPv6MixIn",
    "address_family",
    "request_shutdown",
    "stop_serving",
    "wake",
    "make_server",
    "peer_log",
    "count_error",
    "log_handler_error",
    "end_connections",
]

#: The listen backlog of classroom servers (``request_queue_size``): ``socket.SOMAXCONN``,
#: the largest the platform's headers name (4096 on current Linux; the kernel quietly caps
#: it at ``net.core.somaxconn``).  A whole class connects to one server at once: with the
#: seed's ``constants.back_log = 5`` (also ``socketserver``'s default) Linux drops every
#: handshake beyond the 6th that ``accept()`` has not taken yet, and those clients wait
#: 1, 3, 7 s for their retries or give up (measured: 500 clients starting together with
#: a 3 s connect deadline lost 289 of 924 replies).  The seed's 5 stays in
#: :mod:`netlesson.constants` for the lessons that show that overflow: pass
#: ``backlog=constants.back_log`` to :func:`make_server` (or ``tcp.create_server``).
CLASS_BACKLOG = socket.SOMAXCONN

# BaseServer keeps its shutdown flag and "is shut down" event in name-mangled
# private attributes.  They have had these names since Python 2.6 and still do
# on 3.11-3.13 (tests/unit/test_classroom.py pins that down); if a future
# version renames them, request_shutdown() reports False and callers fall back
# to the public, slower shutdown().
_FLAG = "_BaseServer__shutdown_request"
_EVENT = "_BaseServer__is_shut_down"


def wake(server) -> None:
    """Make the ``select()`` inside ``serve_forever`` return now.

    TCP: open (and at once drop) a connection to the listening socket.  UDP:
    send it an empty datagram.  Called only after the shutdown flag is set, so
    ``serve_forever`` sees the flag and leaves before it would accept or read.
    """
    sock = getattr(server, "socket", None)
    if sock is None or sock.fileno() < 0:
        return
    try:
        host, port = sock.getsockname()[:2]
    except OSError:
        return
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    try:
        if sock.type == socket.SOCK_STREAM:
            with socket.create_connection((host, port), timeout=0.5):
                pass
        else:
            with socket.socket(sock.family, socket.SOCK_DGRAM) as poke:
                poke.sendto(b"", (host, port))
    except OSError:
        pass  # the loop will notice the flag at its next poll anyway


def request_shutdown(server) -> bool:
    """Ask ``serve_forever`` to stop and wake it, without waiting.

    Returns ``False`` when this Python's ``BaseServer`` does not have the
    private flag we set; then only ``server.shutdown()`` can stop it.
    """
    if not hasattr(server, _FLAG):
        return False
    setattr(server, _FLAG, True)
    wake(server)
    return True


_error_count_lock = threading.Lock()


def count_error(server, exc: BaseException) -> None:
    """Count exception *exc* on *server*, whatever the log keeps.

    Sets ``server.error_count`` (one more) and ``server.last_error`` (*exc* in
    one line, as a log record shows it).  The launcher compares
    ``error_count`` before and after a ``with`` block; the bounded log may
    already have dropped the error's record by then.
    """
    with _error_count_lock:
        server.error_count = getattr(server, "error_count", 0) + 1
        server.last_error = describe_error(type(exc).__name__, str(exc))


def log_handler_error(server, client_address, log: ServerLog) -> None:
    """Count the exception being handled on *server*; record it in *log* with its traceback.

    What ``BaseServer.handle_error`` prints to stderr, kept in a log instead:
    a ``"handler_error"`` record about *client_address* with the exception's
    ``error_type`` and ``message`` and the ``traceback`` text.  Call it from
    ``handle_error`` (where an exception is being handled).
    """
    exc = sys.exc_info()[1]
    if exc is None:  # called outside an except block: there is nothing to show
        exc = RuntimeError("handle_error() was called while no exception was being handled")
    count_error(server, exc)
    log.record("handler_error", client_address, error=exc,
               traceback=traceback.format_exc().rstrip())


def peer_log(server, peer):
    """The callable a handler writes records about client *peer* with: ``log(kind, **fields)``.

    ``log("received", data=data)`` adds a ``"received"`` record about *peer*
    (see :data:`netlesson.serverlog.KINDS`) to ``server.log`` when that is a
    :class:`~netlesson.serverlog.ServerLog`, as on every netlesson server and
    every server started with :func:`netlesson.background.start`.  On any
    other server -- a plain ``socketserver`` one run from a script, as in the
    seed -- the record's text goes to ``server.log`` if that is callable (a
    ``log`` method of the student's own), otherwise to the ``netlesson`` logger
    (with ``kind`` and ``peer`` as extra attributes); never into a random
    notebook cell.  Either way a record that lacks a field its text shows
    raises ``ValueError`` in the handler that writes it.
    """
    log = getattr(server, "log", None)
    if isinstance(log, ServerLog):
        return log.writer(peer)
    if callable(log):
        def write(kind: str, **fields) -> None:
            log(render_record(kind, peer, **fields))
    else:
        def write(kind: str, **fields) -> None:
            logging.getLogger("netlesson").info(render_record(kind, peer, **fields),
                                                extra={"kind": kind, "peer": peer})
    return write


class _HandlerThreads(list):
    """``ThreadingMixIn``'s list of handler threads (its ``_threads``), daemon ones too.

    ``ThreadingMixIn.process_request`` appends each thread before starting it, and
    ``server_close`` calls ``join()``.  The standard list keeps only non-daemon threads,
    so nothing knows a daemon handler thread once it runs; this one keeps every thread
    until it has ended (``join_handlers`` waits for them), and ``join()`` still waits
    for non-daemon threads only, as ``server_close`` does with the standard list.
    """

    def append(self, thread):
        self[:] = [t for t in self if t.is_alive()]  # the ones that ended: forgotten
        super().append(thread)

    def join(self):
        for thread in list(self):
            if not thread.daemon and thread is not threading.current_thread():
                thread.join()


class ClassroomServerMixIn:
    """Mix in *before* the socketserver class: ``class S(ClassroomServerMixIn, ThreadingTCPServer)``."""

    daemon_threads = True
    #: the listen backlog: :data:`CLASS_BACKLOG`, not the seed's 5 (``backlog=`` overrides it)
    request_queue_size = CLASS_BACKLOG
    #: how many log lines a server keeps (older ones are dropped)
    log_size = 500
    #: how long stop() waits for handler threads to finish
    handler_join_timeout = 2.0
    #: how long shutdown() waits for a serve_forever() that may not have started
    shutdown_timeout = 1.0

    def __init__(self, server_address, RequestHandlerClass, bind_and_activate=True, *, log=None,
                 backlog: int | None = None):
        if backlog is not None:  # read by server_activate() -> listen(), inside super().__init__
            self.request_queue_size = _check_backlog(backlog)
        self.log = log if log is not None else ServerLog(self.log_size)
        self._open_requests = {}
        # every handler thread ThreadingMixIn.process_request starts, daemon ones too
        self._threads = _HandlerThreads()
        self._open_lock = threading.Lock()
        super().__init__(server_address, RequestHandlerClass, bind_and_activate)

    # -- bookkeeping called by netlesson's handlers -------------------------
    def track_request(self, request) -> None:
        with self._open_lock:
            self._open_requests[id(request)] = (request, threading.current_thread())

    def untrack_request(self, request) -> None:
        with self._open_lock:
            self._open_requests.pop(id(request), None)

    def open_requests(self) -> list:
        with self._open_lock:
            return [req for req, _ in self._open_requests.values()]

    def close_open_requests(self) -> int:
        """End every connection a handler is still serving; return how many.

        ``shutdown(SHUT_RDWR)`` makes the handler's blocked ``recv`` return
        ``b''`` (end of stream), so the handler leaves its loop normally.  UDP
        requests are ``(data, server_socket)`` pairs: nothing to close.  When a
        handler itself stops the server, its own connection is left to it, so
        it can still finish its reply.
        """
        with self._open_lock:
            items = list(self._open_requests.values())
        me = threading.current_thread()
        return end_connections(request for request, thread in items if thread is not me)

    def shutdown_request(self, request):
        """Close a request -- unless a handler thread is still serving it: then only wake
        that thread (``shutdown(SHUT_RDWR)``), which closes the socket itself when it ends.

        ``BaseServer`` also calls this from the serving thread when ``process_request``
        raises -- a Ctrl-C (``KeyboardInterrupt``) that arrives while
        ``ThreadingMixIn.process_request`` still waits in ``Thread.start()`` for the handler
        thread, which by then may already be serving the client.  Closing the socket under
        a thread blocked in ``recv`` does not wake it: it would wait on a closed socket
        until the process ends, and no stop could end it.
        """
        with self._open_lock:
            entry = self._open_requests.get(id(request))
        if entry is not None and entry[1] is not threading.current_thread():
            end_connections([request])
            return
        super().shutdown_request(request)

    def join_handlers(self, timeout: float | None = None) -> list:
        """Wait for the handler threads; return those still alive.

        Every thread ``ThreadingMixIn.process_request`` started that is still running: a
        TCP handler still serving its client, a UDP handler still replying, a handler
        that has finished but whose thread still closes its request.
        """
        timeout = self.handler_join_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._open_lock:
            threads = [t for _, t in self._open_requests.values()]
        threads += [t for t in list(vars(self).get("_threads", ())) if t not in threads]
        for t in threads:
            if t is threading.current_thread():
                continue
            try:
                t.join(max(0.0, deadline - time.monotonic()))
            except RuntimeError:  # appended by process_request, never started (or not yet)
                pass
        return [t for t in threads if t.is_alive()]

    # -- errors -------------------------------------------------------------
    def handle_error(self, request, client_address):
        """Log the traceback of a handler that raised; keep serving.

        ``BaseServer.handle_error`` prints it to stderr -- from the handler's
        thread, so in a notebook it would appear in an unrelated cell.
        """
        log_handler_error(self, client_address, self.log)

    # -- stopping -----------------------------------------------------------
    def shutdown(self):
        """Stop ``serve_forever`` now (wakes it instead of waiting for the poll).

        Like ``BaseServer.shutdown`` it must be called from another thread
        than the one running ``serve_forever`` -- from that thread it would
        wait for itself forever, so here it raises ``RuntimeError`` instead.
        And where ``BaseServer.shutdown`` on a server that was never started
        waits forever too, this one raises ``RuntimeError`` after
        ``shutdown_timeout`` seconds.
        """
        if getattr(self, "_serving_thread", None) is threading.current_thread():
            raise RuntimeError(
                _("shutdown() was called from the thread that runs serve_forever(); it would "
                  "wait for itself forever. Call it from another thread (netlesson's "
                  "background handles do).")
            )
        if not request_shutdown(self):  # pragma: no cover - a Python that renamed the flag
            return super().shutdown()
        stopped = getattr(self, _EVENT)
        if stopped.wait(self.shutdown_timeout):
            return None
        if getattr(self, "_serving_thread", None) is None:
            setattr(self, _FLAG, False)  # do not make a later serve_forever() exit at once
            raise RuntimeError(
                _("shutdown() stops a running serve_forever(), but this server is not serving "
                  "(it was never started); there is nothing to stop -- call server_close() to "
                  "release its port")
            )
        stopped.wait()  # serving, but busy with a request in the serving thread: it will end
        return None

    def serve_forever(self, poll_interval=0.5):
        self._serving_thread = threading.current_thread()
        try:
            super().serve_forever(poll_interval)
        finally:
            self._serving_thread = None


def stop_serving(server, thread=None, timeout: float = 2.0, *,
                 log: ServerLog | None = None) -> list:
    """Stop a server whose ``serve_forever`` runs in *thread*; close it; bounded in time.

    The one stop sequence used by the launcher, the tracer and the exercise
    checkers: ask ``serve_forever`` to stop and wake it (:func:`request_shutdown`),
    join its thread, end the connections a classroom server still serves, then
    ``server_close()`` -- in a helper thread, because a plain
    ``ThreadingMixIn.server_close`` joins handler threads that may still be
    talking to a client.  Every wait shares one deadline of *timeout* seconds.

    Returns the threads still alive at the deadline (the serving thread, the
    closer, or handler threads); an empty list means everything ended.  The
    listening socket is closed by then either way (``server_close`` is given
    at least 50 ms for that, even when the budget is spent).  *log*, if given, is the
    :class:`~netlesson.serverlog.ServerLog` that gets a record of what is still running
    (``"close_deferred"`` or ``"close_waiting"``).
    """
    deadline = time.monotonic() + timeout

    def left() -> float:
        return max(0.0, deadline - time.monotonic())

    if thread is threading.current_thread():
        raise RuntimeError(
            _("stop_serving() was called from the thread that runs serve_forever() (a handler "
              "of a server without handler threads?): it cannot wait for itself. Ask with "
              "request_shutdown(server) and close the server after serve_forever() returns; "
              "a background handle's stop() does this for you."))
    alive = []
    if thread is not None and thread.is_alive():
        if not request_shutdown(server):  # pragma: no cover - Python renamed the flag
            threading.Thread(target=server.shutdown, daemon=True).start()
        thread.join(left())
        if thread.is_alive():
            alive.append(thread)
    close_open = getattr(server, "close_open_requests", None)
    if close_open is not None:
        close_open()
    # before server_close() runs: ThreadingMixIn's empties its list of threads
    caller_is_a_handler = _is_handler_thread(server, threading.current_thread())
    closer = threading.Thread(target=server.server_close, name="netlesson-server-close",
                              daemon=True)
    closer.start()
    # server_close() closes the listening socket first and only then joins
    # handler threads: a short minimum wait lets that first step finish even
    # when the serving thread used up the whole budget.  Called from a handler
    # thread, that is all there is to wait for: server_close() also waits for
    # the caller, which can only end after this returns.
    closer.join(0.05 if caller_is_a_handler else max(left(), 0.05))
    if closer.is_alive():
        alive.append(closer)
        if log is not None:
            log.record("close_deferred" if caller_is_a_handler else "close_waiting")
    elif isinstance(server, ClassroomServerMixIn):
        alive += server.join_handlers(left())
    return alive


def end_connections(requests) -> int:
    """``shutdown(SHUT_RDWR)`` every TCP socket among *requests*; return how many.

    The handler blocked in ``recv`` on one of them gets ``b''`` and ends
    normally.  UDP requests (``(data, socket)`` pairs) have nothing to end.
    """
    ended = 0
    for request in requests:
        if isinstance(request, socket.socket):
            try:
                request.shutdown(socket.SHUT_RDWR)
                ended += 1
            except OSError:
                pass  # already closed by the client or the handler
    return ended


def _is_handler_thread(server, thread) -> bool:
    """Is *thread* one of the handler threads ``ThreadingMixIn`` registered for *server*?"""
    if isinstance(server, ClassroomServerMixIn):
        with server._open_lock:
            if any(t is thread for _, t in server._open_requests.values()):
                return True
    try:
        return any(t is thread for t in list(vars(server).get("_threads", ())))
    except TypeError:  # _NoThreads (block_on_close = False): nothing is registered
        return False


def _check_backlog(backlog) -> int:
    """*backlog* if it is a whole number >= 0 (what ``listen()`` takes); else ``ValueError``."""
    if isinstance(backlog, bool) or not isinstance(backlog, int) or backlog < 0:
        raise ValueError(_("a listen backlog is a whole number >= 0, not {backlog}").format(
            backlog=repr(backlog)))
    return backlog


class IPv6MixIn:
    """Mix in before a server class to serve IPv6: ``address_family = AF_INET6``.

    Bound to the unspecified address ``"::"`` the socket is made dual-stack
    (``IPV6_V6ONLY = 0``) where the platform allows, so IPv4 clients reach it
    too (their addresses then look like ``::ffff:127.0.0.1``); elsewhere it
    serves IPv6 only.  :func:`make_server` puts it in front by itself when the
    host is an IPv6 one.
    """

    address_family = socket.AF_INET6

    def server_bind(self):
        if _is_unspecified(self.server_address[0]) and socket.has_dualstack_ipv6():
            try:
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            except (AttributeError, OSError):
                pass  # the platform's default stays: IPv6 only
        super().server_bind()


def _is_unspecified(host) -> bool:
    try:
        return ipaddress.ip_address(str(host).partition("%")[0]).is_unspecified
    except ValueError:
        return False


def address_family(host) -> socket.AddressFamily:
    """The family a server bound to *host* needs: ``AF_INET6`` or ``AF_INET``.

    ``AF_INET6`` for an IPv6 address (``"::1"``, ``"::"``, ``"fe80::1%eth0"``)
    and for a name that resolves to IPv6 addresses only; ``AF_INET`` for
    everything else -- an IPv4 address, ``""`` (every IPv4 interface), a name
    with an IPv4 address (``"localhost"`` often has both: the course's clients
    and servers meet on 127.0.0.1), or a name that does not resolve (binding it
    then says so).
    """
    host = str(host)
    if ":" in host:
        return socket.AF_INET6
    if not host:
        return socket.AF_INET
    try:
        return socket.AF_INET if ipaddress.ip_address(host).version == 4 else socket.AF_INET6
    except ValueError:
        pass  # a name
    try:
        families = {info[0] for info in socket.getaddrinfo(host, None, 0, socket.SOCK_STREAM)}
    except (OSError, UnicodeError):
        return socket.AF_INET
    if socket.AF_INET6 in families and socket.AF_INET not in families:
        return socket.AF_INET6
    return socket.AF_INET


@functools.lru_cache(maxsize=64)
def _ipv6_class(server_class):
    """*server_class* with :class:`IPv6MixIn` in front, under the same name."""
    return type(server_class.__name__, (IPv6MixIn, server_class),
                {"__module__": server_class.__module__,
                 "__qualname__": server_class.__qualname__,
                 "__doc__": server_class.__doc__})


@functools.lru_cache(maxsize=64)
def _backlog_class(server_class, backlog: int):
    """*server_class* with ``request_queue_size = backlog``, under the same name."""
    return type(server_class.__name__, (server_class,),
                {"__module__": server_class.__module__,
                 "__qualname__": server_class.__qualname__,
                 "__doc__": server_class.__doc__,
                 "request_queue_size": backlog})


def make_server(server_class, address, handler_class, *, backlog: int | None = None, **kwargs):
    """Build ``server_class(address, handler_class)`` with errors in plain words.

    A bind failure becomes :class:`~netlesson.errors.PortInUseError` ("127.0.0.1:8081
    is in use — ...") or an ``OSError`` naming the address and the fix.

    An IPv6 host (see :func:`address_family`) gets ``server_class`` with
    :class:`IPv6MixIn` in front, unless the class already has ``AF_INET6``.
    *backlog*, if given, is the listen backlog (``request_queue_size``) of
    this server instead of the class's -- for a classroom server
    :data:`CLASS_BACKLOG`; ``backlog=constants.back_log`` gives the seed's 5.
    A 4-tuple address from ``getsockname()`` is accepted as it is.
    """
    address = tuple(address)
    if (getattr(server_class, "address_family", socket.AF_INET) == socket.AF_INET
            and address_family(address[0]) == socket.AF_INET6):
        server_class = _ipv6_class(server_class)
    if backlog is not None:
        backlog = _check_backlog(backlog)
        if issubclass(server_class, ClassroomServerMixIn):
            kwargs["backlog"] = backlog
        else:
            server_class = _backlog_class(server_class, backlog)
    try:
        return server_class(address, handler_class, **kwargs)
    except OSError as exc:
        where = format_address(address)
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(address) from None
        if exc.errno == errno.EACCES:
            raise PortNotAllowed(address) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise AddressNotAvailable(address) from None
        if isinstance(exc, socket.gaierror):
            raise OSError(
                exc.errno, _("cannot bind {address}: the host name does not resolve "
                             "({reason})").format(address=where, reason=exc.strerror)
            ) from None
        raise
