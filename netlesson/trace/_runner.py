"""Running a trace: build a real server, serve it under the recorder, send one request, stop it.

:func:`trace_tcp` and :func:`trace_udp` are the two public entry points; they
share :func:`_run`, which installs the profiler hooks, takes them off again in
every case, and stops the server within the trace's one deadline.
"""

from __future__ import annotations

import platform
import socketserver
import sys
import threading
import time
from typing import Any, Callable

from .. import tcp, udp
from ..classroom import make_server, stop_serving
from . import _clients
from ._clients import seconds_left
from ._recorder import Recorder, finish_calls, interesting_codes
from ._result import Trace, TraceError

#: How long serve_forever's select() may wait.  Long on purpose: the loop is woken
#: explicitly when the trace is over, and a loop that never times out records the
#: same calls on every run (each timeout would add a ``service_actions`` call).
_POLL_INTERVAL = 30.0

#: At most this long (and never longer than the trace's own timeout) is added to the
#: deadline to stop the server when the request itself used up the whole timeout:
#: a serving thread needs a few milliseconds to leave ``serve_forever``.
_STOP_GRACE = 1.0


def _check_classes(server_class: type, handler: type) -> None:
    if not (isinstance(server_class, type) and issubclass(server_class, socketserver.BaseServer)):
        raise TypeError(f"server_class must be a socketserver server class, not {server_class!r}")
    if not (isinstance(handler, type) and issubclass(handler, socketserver.BaseRequestHandler)):
        raise TypeError(f"handler must be a socketserver.BaseRequestHandler subclass, not {handler!r}")
    if hasattr(socketserver, "ForkingMixIn") and issubclass(server_class, socketserver.ForkingMixIn):
        raise ValueError(
            "a Forking* server would fork this process (in a notebook: the kernel) for the "
            "request; trace a Threading* server instead, and run forking servers as a "
            "separate program (python -m netlesson tcp-server)"
        )


def _run(protocol: str, message: bytes, server_class: type, handler: type,
         request: Callable[[Any, bytes, float], bytes], timeout: float) -> Trace:
    message = bytes(message)
    _check_classes(server_class, handler)
    codes = interesting_codes([*server_class.__mro__, *handler.__mro__])
    recorder = Recorder(codes, threading.get_ident())
    old_sys = sys.getprofile()
    old_threading = threading.getprofile()
    recorder.chain = old_sys
    server = None
    serve_thread = None
    serve_errors: list[BaseException] = []
    reply = b""
    deadline: float | None = None
    failure: BaseException | None = None
    still_running: list[str] = []
    try:
        # 1. construction, recorded on this thread
        sys.setprofile(recorder.hook)
        try:
            server = make_server(server_class, ("127.0.0.1", 0), handler)
        finally:
            sys.setprofile(old_sys)
        recorder.server = server

        # 2. serving, recorded in the serving thread and the threads it starts
        def serve():
            try:
                server.serve_forever(_POLL_INTERVAL)
            except BaseException as exc:  # keep a traceback out of whichever cell runs
                serve_errors.append(exc)

        serve_thread = threading.Thread(target=serve, name="netlesson-trace-serve", daemon=True)
        recorder.serve_thread = serve_thread
        recorder.chain = old_threading
        threading.setprofile(recorder.hook)
        serve_thread.start()

        # 3. one real request; from here on every wait shares one deadline
        deadline = time.monotonic() + timeout
        address = tuple(server.server_address[:2])
        reply = request(address, message, timeout)
        if not recorder.handler_done.wait(seconds_left(deadline)):
            raise TraceError(
                f"the client got its reply but the handler had not finished within {timeout:g} s "
                f"(no shutdown_request was recorded): does handle() wait for more data?"
            )
    except BaseException as exc:
        failure = exc
        raise
    finally:
        try:
            if server is not None:
                # A request the server already took is let finish, so its handler
                # thread ends and server_close() has nothing to wait for.  The hook
                # stays in threading until then: the handler thread may only now be
                # starting, and an unhooked one would never report that it is done.
                if deadline is not None and any(r.method == "get_request" for r in recorder.raw):
                    recorder.handler_done.wait(seconds_left(deadline))
                # Threads started from now on (stop_serving's closer) are not part of
                # the trace; the serving and handler threads record until they end.
                threading.setprofile(old_threading)
                still_running = _stop(server, serve_thread, recorder, deadline, timeout)
                if still_running and failure is not None:
                    failure.add_note(_still_running(still_running, timeout))
        finally:
            threading.setprofile(old_threading)
            recorder.active = False
            sys.setprofile(old_sys)
    if still_running:
        raise TraceError(_still_running(still_running, timeout))
    if serve_errors:
        raise TraceError(f"serve_forever failed: {serve_errors[0]!r}") from serve_errors[0]
    calls, starters = finish_calls(recorder)
    return Trace(calls, starters=starters, reply=reply, message=message, protocol=protocol,
                 server_class=server_class, handler_class=handler,
                 python_version=platform.python_version())


def _stop(server, serve_thread: threading.Thread | None, recorder: Recorder,
          deadline: float | None, timeout: float) -> list[str]:
    """Stop the server; return descriptions of the threads still running.

    All waits end at *deadline* (set when the request was sent), extended to at most
    :data:`_STOP_GRACE` seconds from now if the request used it all up, so the
    serving thread has a moment to leave its loop.
    """
    grace = time.monotonic() + min(timeout, _STOP_GRACE)
    until = grace if deadline is None else max(deadline, grace)
    alive = stop_serving(server, serve_thread, seconds_left(until))
    handlers = [s.thread for s in list(recorder.handler_states) if s.thread is not None]
    for thread in handlers:
        if thread is not threading.current_thread():
            thread.join(seconds_left(until))
    names = []
    if serve_thread is not None and serve_thread.is_alive():
        names.append("the serving thread (serve_forever)")
    stuck = [t for t in handlers if t.is_alive()]
    if stuck:
        names.append(f"{len(stuck)} handler thread{'s' if len(stuck) != 1 else ''}")
    if any(t.name == "netlesson-server-close" and t.is_alive() for t in alive):
        # ThreadingMixIn.server_close() waits for the handler threads; or the serving
        # thread used up the time and server_close() has only just been started
        names.append("server_close() (not finished, in a helper thread)")
    others = [t for t in alive if t.is_alive() and t is not serve_thread and t not in handlers
              and t.name != "netlesson-server-close"]
    if others:  # any other thread stop_serving reported (a handler it tracked)
        names.append(", ".join(sorted(t.name for t in others)))
    if names:
        # server_close() closes the listening socket before it waits for handler
        # threads; close it here too, whatever server_close() got to, so the port is free.
        try:
            server.socket.close()
        except OSError:  # pragma: no cover - already closed
            pass
    return names


def _still_running(names: list[str], timeout: float) -> str:
    return (
        f"still running when the trace's {timeout:g} s deadline passed: {', '.join(names)}. "
        f"server_close() was attempted and the listening socket is closed, so the port is "
        f"free; these threads end when handle() returns."
    )


def trace_tcp(message: bytes = b"hello", *, server_class: type = socketserver.ThreadingTCPServer,
              handler: type = tcp.UpperEchoHandler, timeout: float = 5.0) -> Trace:
    """Trace one real TCP request: construction, serving, and handling, call by call.

    Builds ``server_class(("127.0.0.1", 0), handler)`` -- by default the seed's exact
    ``socketserver.ThreadingTCPServer`` with the upper-case echo handler, so the trace
    shows socketserver's own path -- runs ``serve_forever`` in a background thread,
    connects, sends *message*, half-closes and reads the reply until the server closes
    the connection, waits until the handler has finished, and stops the server.

    The request -- connecting, sending, reading the reply, waiting for the handler --
    gets *timeout* seconds in all, and stopping the server at most one more second
    (:data:`_STOP_GRACE`).  Raises what the client raised (e.g. ``ConnectionError``)
    or :class:`TraceError`: when the handler never closes the connection (so the
    reply never ends), when it does not finish, or when threads are still running
    at the deadline (the message names them; the listening socket is closed and
    ``server_close()`` was attempted).  The profiler hooks are removed in every case.
    """
    return _run("tcp", message, server_class, handler, _clients.tcp_request, timeout)


def trace_udp(message: bytes = b"hello", *, server_class: type = socketserver.ThreadingUDPServer,
              handler: type = udp.UpperEchoDatagramHandler, timeout: float = 5.0) -> Trace:
    """Trace one real UDP datagram: construction, serving, and handling, call by call.

    Like :func:`trace_tcp`, with ``socketserver.ThreadingUDPServer`` and the
    upper-case datagram echo by default.  The client sends one datagram and waits up
    to *timeout* seconds for one reply (no retries: a retry would be a second
    request); silence raises :class:`~netlesson.errors.ServerNotResponding`.
    """
    return _run("udp", message, server_class, handler, _clients.udp_request, timeout)
