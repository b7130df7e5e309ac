"""The concurrency lab's child process: one echo server of a kind, until stdin ends.

Started by :class:`~netlesson.concurrency.EchoServerProcess` as
``python -m netlesson concurrency-server KIND ...``, which calls :func:`serve`.
The server prints the port it bound as the first line of standard output, then
points standard output at ``/dev/null`` and serves until standard input ends.

No thread watches standard input: ``socketserver`` servers check it in
``service_actions`` (after every request and every ``poll_interval``), the
asyncio server with ``loop.add_reader``.  A forking server that forks while
another thread runs gets a ``DeprecationWarning`` on Python 3.12+ (and, in
general, a child that may inherit a held lock).
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import socketserver
import sys
import time

from .. import constants
from ..classroom import make_server
from ._kinds import DEFAULT_BACKLOG, MODEL_KINDS, check_options

__all__ = ["ModelEchoHandler", "SeedStyleHandler", "asyncio_echo", "serve"]


def _simulate_work(work: str, seconds: float) -> None:
    """Pause the handler for *seconds*: ``sleep`` waits, ``cpu`` keeps the CPU busy."""
    if seconds <= 0:
        return
    if work == "sleep":
        time.sleep(seconds)
    else:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            pass


class _StdinClosed(Exception):
    """Raised inside ``serve_forever`` when standard input has ended: time to stop."""


class _StdinWatch:
    """Notice end of standard input without a thread.

    A thread would do, but a forking server that forks while another thread
    runs gets a ``DeprecationWarning`` on Python 3.12+ (and, in general, a
    child that may inherit a held lock).  ``serve_forever`` calls
    ``service_actions`` after every request and every ``poll_interval``, which
    is often enough for a zero-timeout ``select`` on standard input.
    """

    def __init__(self, enabled: bool):
        self.fd = None
        if enabled and sys.stdin is not None:
            try:
                self.fd = sys.stdin.fileno()
            except (OSError, ValueError):
                self.fd = None

    def closed(self) -> bool:
        if self.fd is None:
            return False
        try:
            readable, _, _ = select.select([self.fd], [], [], 0)
            if not readable:
                return False
            return os.read(self.fd, 4096) == b""  # anything typed is ignored
        except (OSError, ValueError):
            return True


class _WatchMixIn:
    """Leave ``serve_forever`` (by raising :class:`_StdinClosed`) when stdin ends."""

    stdin_watch: _StdinWatch | None = None

    def service_actions(self):
        super().service_actions()
        if self.stdin_watch is not None and self.stdin_watch.closed():
            raise _StdinClosed()


class ModelEchoHandler(socketserver.BaseRequestHandler):
    """Upper-case echo with simulated work per message, the same for every model.

    Reads what has arrived (``recv(buffer_size)``), works for
    ``server.work_seconds``, answers.  The measuring clients wait for each
    reply before they send again, so one ``recv`` is one message here.
    """

    def handle(self):
        work, seconds = self.server.work, self.server.work_seconds
        while True:
            try:
                data = self.request.recv(constants.buffer_size)
            except ConnectionError:
                return
            if not data:
                return
            _simulate_work(work, seconds)
            try:
                self.request.sendall(data.upper())
            except ConnectionError:
                return


class SeedStyleHandler(socketserver.BaseRequestHandler):
    """The seed tutorial's TCP handler, statement for statement (prints included)."""

    def handle(self):
        print('conn', self.request)
        print('address', self.client_address)
        while True:
            try:
                data = self.request.recv(constants.buffer_size)
                if not data:
                    break
                print('received from client', data)
                self.request.sendall(data.upper())
            except Exception as ex:
                print(ex)
                break


def _server_class(kind: str, backlog: int | None):
    """Build the ``socketserver`` class for *kind*, with the stdin watch mixed in first."""
    if kind == "netlesson":  # only the child that serves it imports netlesson.tcp
        from ..tcp import ClassroomTCPServer

        base = ClassroomTCPServer
    else:
        base = {
            "single": socketserver.TCPServer,
            "threading": socketserver.ThreadingTCPServer,
            "forking": getattr(socketserver, "ForkingTCPServer", None),
            "seed": socketserver.ThreadingTCPServer,
        }[kind]
    attrs = {"allow_reuse_address": True}
    if kind in MODEL_KINDS:
        attrs["request_queue_size"] = backlog or DEFAULT_BACKLOG
        attrs["daemon_threads"] = True
    elif backlog:
        attrs["request_queue_size"] = backlog
    return type(f"{kind.capitalize()}EchoServer", (_WatchMixIn, base), attrs)


def _announce(port: int, kind: str, host: str) -> None:
    """Print the port (first stdout line, for the parent), then silence stdout.

    After the announcement standard output points at ``/dev/null``: the
    parent stops reading the pipe, and the seed-style handler's ``print``
    calls must never fill it and block.
    """
    print(port, flush=True)
    print(f"{kind} echo server on {host}:{port} (pid {os.getpid()}); "
          f"end of standard input stops it", file=sys.stderr, flush=True)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def _serve_socketserver(kind, host, port, delay, work, backlog, watch) -> int:
    cls = _server_class(kind, backlog)
    handler = SeedStyleHandler if kind == "seed" else ModelEchoHandler
    if kind == "netlesson":
        from ..tcp import UpperEchoHandler

        handler = UpperEchoHandler
    server = make_server(cls, (host, port), handler)  # bind failures in plain words
    server.work, server.work_seconds = work, delay
    server.stdin_watch = _StdinWatch(watch)
    with server:
        _announce(server.server_address[1], kind, host)
        try:
            server.serve_forever(poll_interval=0.05)
        except (_StdinClosed, KeyboardInterrupt):
            pass
        close_open = getattr(server, "close_open_requests", None)
        if close_open is not None:
            close_open()
    return 0


async def asyncio_echo(reader, writer, *, delay: float = 0.0, work: str = "sleep"):
    """The asyncio model's handler: one coroutine per connection.

    ``await`` marks every place where this coroutine may pause and let the
    event loop run another connection: waiting for data, for simulated work
    (``asyncio.sleep``), for the reply to drain.  CPU work (``work="cpu"``)
    has no ``await`` inside, so it stops every connection at once.
    """
    try:
        while data := await reader.read(constants.buffer_size):
            if delay > 0:
                if work == "sleep":
                    await asyncio.sleep(delay)
                else:
                    _simulate_work(work, delay)  # blocks the whole loop, on purpose
            writer.write(data.upper())
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


def _listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A listening TCP socket for the asyncio server, bound as the other kinds bind theirs.

    ``make_server`` turns a bind failure into the same errors (address in use,
    not allowed, no such address) as for the ``socketserver`` kinds.
    """
    def bind(address, _handler):
        return socket.create_server(address, backlog=backlog)

    return make_server(bind, (host, port), None)


async def _serve_asyncio(host, port, delay, work, backlog, watch) -> int:
    writers = set()

    async def echo(reader, writer):
        writers.add(writer)
        try:
            await asyncio_echo(reader, writer, delay=delay, work=work)
        finally:
            writers.discard(writer)

    backlog = backlog or DEFAULT_BACKLOG
    listener = _listening_socket(host, port, backlog)
    server = await asyncio.start_server(echo, sock=listener, backlog=backlog)
    loop = asyncio.get_running_loop()
    stopped = loop.create_future()
    watcher = _StdinWatch(watch)
    if watcher.fd is not None:
        def on_stdin():
            if watcher.closed():
                loop.remove_reader(watcher.fd)
                if not stopped.done():
                    stopped.set_result(None)

        loop.add_reader(watcher.fd, on_stdin)
    _announce(server.sockets[0].getsockname()[1], "asyncio", host)
    try:
        await stopped
    finally:
        server.close()
        for writer in list(writers):
            writer.close()
        await asyncio.wait_for(server.wait_closed(), 2)
    return 0


def serve(kind: str, *, host: str = "127.0.0.1", port: int = 0, delay: float = 0.0,
          work: str = "sleep", backlog: int | None = None, watch_stdin: bool = True) -> int:
    """Run one echo server of *kind* in this process until standard input ends.

    Prints the bound port as the first line of standard output, then serves;
    with ``watch_stdin=False`` it serves until Ctrl-C instead.  Returns the
    exit status (0).  Bad options raise ``ValueError`` and a bind failure an
    ``OSError`` (for the usual causes ``netlesson.errors.PortInUseError``,
    ``PortNotAllowed`` or ``AddressNotAvailable``, each with ``.address``),
    before anything is printed.
    """
    check_options(kind, delay, work)
    if kind == "asyncio":
        try:
            return asyncio.run(_serve_asyncio(host, port, delay, work, backlog, watch_stdin))
        except KeyboardInterrupt:
            return 0
    return _serve_socketserver(kind, host, port, delay, work, backlog, watch_stdin)
