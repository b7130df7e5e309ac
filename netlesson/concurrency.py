"""Four ways to serve many TCP clients, each run as its own process and measured.

``socketserver`` offers three concurrency models for the same handler, and
``asyncio`` a fourth:

=============  ==============================================================
``single``     ``socketserver.TCPServer``: one connection at a time; the next
               client waits in the listen queue until the current one leaves.
``threading``  ``socketserver.ThreadingTCPServer``: a thread per connection.
``forking``    ``socketserver.ForkingTCPServer``: a child process per connection.
``asyncio``    ``asyncio.start_server``: one thread, one event loop, a
               coroutine per connection.
=============  ==============================================================

and two more kinds exist for ``benchmarks/echo_bench.py``:

=============  ==============================================================
``seed``       a server written exactly like the seed tutorial's:
               ``ThreadingTCPServer`` and a handler that ``print()``-s every
               message (stdout goes to ``/dev/null``).
``netlesson``  :class:`netlesson.tcp.ClassroomTCPServer` with
               :class:`netlesson.tcp.UpperEchoHandler`.
=============  ==============================================================

Why a separate process for every server?  A forking server calls ``fork()``
for every client; inside a Jupyter kernel that would copy the kernel itself,
with its threads and its ZeroMQ sockets, and the copies misbehave.  Running
every kind the same way also makes the comparison fair: the measuring clients
never share an interpreter (or its GIL) with the server they measure.

The server side is a small command::

    python -m netlesson.concurrency serve threading --port 0 --delay 0.01

It prints the port it bound as the first line of standard output and serves
until its standard input ends (Ctrl-D in a terminal; the parent closing the
pipe), so a server can never outlive the notebook or script that started it.
From Python, :func:`start_server` runs that command and returns an
:class:`EchoServerProcess`; :func:`run_clients` drives N concurrent clients x M
messages against an address and returns a :class:`Measurement`; and
:func:`compare` does both for several kinds and client counts, with a table
and a matplotlib plot.

``--delay`` makes the handler pause for every message, simulating work such
as a database query (``--work sleep``: waiting, which lets other threads run)
or a computation (``--work cpu``: a busy loop, which holds the GIL).  Without
it, loopback round trips are so fast that the models differ mostly in
overhead, and the effect of concurrency is hard to see.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import os
import select
import selectors
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import time
import weakref
from dataclasses import dataclass

from . import constants

__all__ = [
    "MODEL_KINDS",
    "BENCH_KINDS",
    "KINDS",
    "DEFAULT_PAYLOAD",
    "DEFAULT_BACKLOG",
    "ModelEchoHandler",
    "SeedStyleHandler",
    "asyncio_echo",
    "serve",
    "EchoServerProcess",
    "start_server",
    "stop_all",
    "WrongReply",
    "Measurement",
    "run_clients",
    "ideal_rate",
    "usable_cpus",
    "Comparison",
    "compare",
    "main",
]

#: The four concurrency models the notebook compares.
MODEL_KINDS = ("single", "threading", "forking", "asyncio")
#: The servers the benchmark compares.
BENCH_KINDS = ("seed", "netlesson", "asyncio")
KINDS = MODEL_KINDS + ("seed", "netlesson")

#: What each measuring client sends: short, with lower-case letters so the
#: upper-cased reply differs from the request (an echo that forgot ``.upper()``
#: is caught), and ending in a newline like a line typed in the seed's client.
DEFAULT_PAYLOAD = b"hello, socketserver\n"

#: Listen backlog of the model kinds.  ``socketserver`` uses 5; with 32
#: clients connecting at once to the single-threaded server, a queue of 5
#: overflows and Linux drops connection attempts, which the client's TCP
#: retries after a second -- the plot would then show SYN retransmission
#: timers instead of concurrency.  ``seed`` and ``netlesson`` keep their own
#: class defaults (5), since the benchmark compares them as they are.
DEFAULT_BACKLOG = 128

_WORKS = ("sleep", "cpu")


# ---------------------------------------------------------------------------
# Server side (runs in the child process)
# ---------------------------------------------------------------------------


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
    from .tcp import ClassroomTCPServer

    bases = {
        "single": socketserver.TCPServer,
        "threading": socketserver.ThreadingTCPServer,
        "forking": getattr(socketserver, "ForkingTCPServer", None),
        "seed": socketserver.ThreadingTCPServer,
        "netlesson": ClassroomTCPServer,
    }
    base = bases[kind]
    if base is None:
        raise SystemExit("this platform has no os.fork(): the forking server needs Linux or macOS")
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
        from .tcp import UpperEchoHandler

        handler = UpperEchoHandler
    server = cls((host, port), handler)
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


async def _serve_asyncio(host, port, delay, work, backlog, watch) -> int:
    writers = set()

    async def echo(reader, writer):
        writers.add(writer)
        try:
            await asyncio_echo(reader, writer, delay=delay, work=work)
        finally:
            writers.discard(writer)

    server = await asyncio.start_server(echo, host, port, backlog=backlog or DEFAULT_BACKLOG)
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
    """Run one echo server of *kind* in this process until standard input ends."""
    _check(kind, delay, work)
    if kind == "asyncio":
        try:
            return asyncio.run(_serve_asyncio(host, port, delay, work, backlog, watch_stdin))
        except KeyboardInterrupt:
            return 0
    return _serve_socketserver(kind, host, port, delay, work, backlog, watch_stdin)


def _check(kind: str, delay: float, work: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown server kind {kind!r}; choose one of {', '.join(KINDS)}")
    if work not in _WORKS:
        raise ValueError(f"work must be 'sleep' or 'cpu', not {work!r}")
    if delay < 0:
        raise ValueError(f"delay must be >= 0 seconds, got {delay}")
    if delay and kind not in MODEL_KINDS:
        raise ValueError(
            f"the {kind!r} server runs its handler unchanged, so it takes no delay; "
            f"simulated work is for {', '.join(MODEL_KINDS)}"
        )


# ---------------------------------------------------------------------------
# Parent side: start and stop server processes
# ---------------------------------------------------------------------------

_running: "weakref.WeakSet[EchoServerProcess]" = weakref.WeakSet()

#: The directory of the package this interpreter imported: the child must run this one.
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

# Run by the child's interpreter, in the child's environment: where would it
# import netlesson from, and what is its sys.path?  (find_spec imports nothing.)
_PROBE = ("import importlib.util, sys\n"
          "spec = importlib.util.find_spec('netlesson')\n"
          "places = list(spec.submodule_search_locations or []) if spec else []\n"
          "print(places[0] if places else '')\n"
          "print('\\n'.join(sys.path))\n")
_probed: dict = {}


def _netlesson_seen_by(executable: str, env: dict, cwd: str) -> tuple[str | None, list[str]]:
    """``(package directory or None, sys.path)`` of ``executable`` started with *env* in *cwd*.

    Asked once per interpreter, ``PYTHONPATH`` and directory (the answer is
    cached): a child started there with ``-m`` sees the same.  A probe that
    fails answers ``(None, [])``.
    """
    key = (executable, env.get("PYTHONPATH"), cwd)
    if key not in _probed:
        try:
            out = subprocess.run([executable, "-c", _PROBE], env=env, cwd=cwd, timeout=20,
                                 capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        found, *path = out.splitlines() or [""]
        _probed[key] = (found or None, path)
    return _probed[key]


def _same_dir(a: str, b: str) -> bool:
    return bool(a) and bool(b) and os.path.realpath(a) == os.path.realpath(b)


def _child_pythonpath(package_dir: str, found: str | None, child_path: list[str],
                     inherited: str | None) -> str | None:
    """The ``PYTHONPATH`` a server child needs to import *package_dir*, or ``None``: leave it alone.

    *found* is where the child's interpreter would import ``netlesson`` from
    on its own (``None``: nowhere), *child_path* its ``sys.path``, *inherited*
    the ``PYTHONPATH`` it would get.  ``PYTHONPATH`` entries come before the
    standard library on ``sys.path``, so adding a directory there is not
    harmless: for an installed package that directory is ``site-packages``, and
    a backport in it (``typing``, ``enum``, ``dataclasses``) would then replace
    the standard module in the child.  So the parent directory is added only
    when the child cannot find this package otherwise -- a plain source
    checkout -- and never when it is on the child's path already.
    """
    if found is not None and _same_dir(found, package_dir):
        return None  # installed (editable or not), or found from the working directory
    parent = os.path.dirname(package_dir)
    if any(_same_dir(parent, entry) for entry in child_path):
        return None  # already there, only shadowed: moving it first would shadow the stdlib
    return os.pathsep.join(p for p in (parent, inherited) if p)


def _child_env() -> dict:
    """This process's environment, with ``PYTHONPATH`` set only if the child needs it."""
    env = dict(os.environ)
    found, child_path = _netlesson_seen_by(sys.executable, env, os.getcwd())
    path = _child_pythonpath(_PACKAGE_DIR, found, child_path, env.get("PYTHONPATH"))
    if path is not None:
        env["PYTHONPATH"] = path
    return env


class EchoServerProcess:
    """One echo server running in a child process; a context manager.

    >>> with start_server("threading", delay=0.01) as srv:   # doctest: +SKIP
    ...     print(run_clients(srv.address, clients=8, messages=5))

    The child is ``python -m netlesson.concurrency serve KIND --port 0``.  It
    announces its port on standard output; :meth:`stop` closes its standard
    input, which makes it leave ``serve_forever`` and exit, and only if it has
    not exited within *timeout* is it terminated, then killed.
    """

    def __init__(self, kind: str, *, delay: float = 0.0, work: str = "sleep",
                 backlog: int | None = None, host: str = "127.0.0.1", port: int = 0):
        _check(kind, delay, work)
        self.kind = kind
        self.delay = delay
        self.work = work
        self.backlog = backlog
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self.returncode: int | None = None
        self._stderr = None

    @property
    def address(self) -> tuple[str, int]:
        if self.port is None:
            raise RuntimeError("the server has not been started: call start() or use start_server()")
        return (self.host, self.port)

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def cpu_seconds(self) -> float | None:
        """CPU time the server has used so far, user + system, reaped children included.

        Read from ``/proc/PID/stat`` (Linux; ``None`` elsewhere or once the
        process has exited).  Under a busy machine, round trips per second
        swing with what else runs; CPU seconds per round trip barely move, so
        the benchmark reports both.
        """
        if self.process is None:
            return None
        try:
            with open(f"/proc/{self.process.pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            return None
        # the command name (field 2) is in parentheses and may hold spaces
        fields = stat[stat.rindex(b")") + 2:].split()
        utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
        return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "netlesson.concurrency", "serve", self.kind,
               "--host", self.host, "--port", str(self.requested_port)]
        if self.delay:
            cmd += ["--delay", repr(self.delay), "--work", self.work]
        if self.backlog:
            cmd += ["--backlog", str(self.backlog)]
        return cmd

    def start(self, timeout: float = 10.0) -> "EchoServerProcess":
        """Start the child and wait (at most *timeout* s) for it to announce its port."""
        if self.process is not None:
            raise RuntimeError("this server process was already started; make a new one")
        env = _child_env()  # the child must import this very package, installed or not
        self._stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            self.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, env=env,
        )
        _running.add(self)
        try:
            self.port = self._read_port(timeout)
        except BaseException:
            self.stop(timeout=1.0)
            raise
        return self

    def _read_port(self, timeout: float) -> int:
        out = self.process.stdout
        ready, _, _ = select.select([out], [], [], timeout)
        line = out.readline() if ready else b""
        out.close()
        try:
            return int(line)
        except ValueError:
            pass
        try:
            self.process.wait(0.5)
        except subprocess.TimeoutExpired:
            pass
        why = "exited" if self.process.poll() is not None else f"did not start within {timeout:g} s"
        raise RuntimeError(f"the {self.kind} echo server {why}: {self.stderr_text().strip()}")

    def stderr_text(self) -> str:
        """What the child wrote to standard error so far (its start line, or a traceback)."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def stop(self, timeout: float = 3.0) -> int | None:
        """End the child: close its stdin, wait, then terminate/kill.  Idempotent.

        Returns the exit status (0 when it stopped on its own).
        """
        proc = self.process
        if proc is None:
            return None
        if proc.stdin is not None and not proc.stdin.closed:
            try:
                proc.stdin.close()
            except OSError:
                pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(1.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5.0)
        self.returncode = proc.returncode
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        _running.discard(self)
        return self.returncode

    def __enter__(self) -> "EchoServerProcess":
        if self.process is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        if self.process is None:
            state = "not started"
        elif self.running:
            state = f"running on {self.host}:{self.port}"
        else:
            state = f"exited ({self.process.returncode})"
        return f"<EchoServerProcess {self.kind} {state}>"


def start_server(kind: str, *, delay: float = 0.0, work: str = "sleep", backlog: int | None = None,
                 host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0) -> EchoServerProcess:
    """Start an echo server of *kind* in a child process; return it once it listens."""
    return EchoServerProcess(kind, delay=delay, work=work, backlog=backlog, host=host,
                             port=port).start(timeout)


def stop_all() -> int:
    """Stop every server process this interpreter started; return how many."""
    procs = list(_running)
    for proc in procs:
        proc.stop()
    return len(procs)


atexit.register(stop_all)


# ---------------------------------------------------------------------------
# Parent side: measuring clients
# ---------------------------------------------------------------------------


class WrongReply(AssertionError):
    """A reply was not the upper-cased request: the server under test is not an upper-case echo."""


@dataclass(frozen=True)
class Measurement:
    """N clients x M messages against one server, and how long the exchange took."""

    kind: str | None
    clients: int
    messages: int  #: per client
    seconds: float

    @property
    def round_trips(self) -> int:
        return self.clients * self.messages

    @property
    def rate(self) -> float:
        """Round trips per second, all clients together."""
        return self.round_trips / self.seconds if self.seconds > 0 else float("inf")

    def __str__(self) -> str:
        who = f"{self.kind}: " if self.kind else ""
        return (f"{who}{self.clients} clients x {self.messages} messages = {self.round_trips} "
                f"round trips in {self.seconds * 1000:.0f} ms -> {self.rate:,.0f} round trips/s")


class _Client:
    """One measuring client's state in the selector loop."""

    __slots__ = ("sock", "left", "out", "inbuf")

    def __init__(self, sock):
        self.sock = sock
        self.left = 0
        self.out = b""
        self.inbuf = bytearray()


def _exchange(clients, messages, payload, expected, timeout, *, close_when_done=False) -> None:
    """Every client sends *payload*, waits for *expected*, *messages* times over.

    With *close_when_done* a client closes its connection after its last reply:
    a single-threaded server serves the next client only once the current
    one has left.

    One thread and a selector drive all clients: the measuring side then costs
    the same whatever the server does, and never competes with itself for the
    GIL the way 64 client threads would.
    """
    if messages <= 0:
        return
    sel = selectors.DefaultSelector()
    try:
        for c in clients:
            c.left = messages
            c.out = payload
            c.inbuf.clear()
            sel.register(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
        active = len(clients)
        while active:
            events = sel.select(timeout)
            if not events:
                done = sum(messages - c.left for c in clients)
                raise TimeoutError(
                    f"no reply for {timeout:g} s after {done} of {len(clients) * messages} "
                    f"round trips: the server is stuck, or too slow for this timeout"
                )
            for key, mask in events:
                c = key.data
                if mask & selectors.EVENT_WRITE and c.out:
                    sent = c.sock.send(c.out)
                    c.out = c.out[sent:]
                    if not c.out:
                        sel.modify(c.sock, selectors.EVENT_READ, c)
                if mask & selectors.EVENT_READ:
                    chunk = c.sock.recv(max(len(expected) - len(c.inbuf), 1))
                    if not chunk:
                        raise ConnectionError(
                            f"the server closed a connection after "
                            f"{messages - c.left} of {messages} round trips")
                    c.inbuf += chunk
                    if len(c.inbuf) < len(expected):
                        continue
                    if c.inbuf != expected:
                        raise WrongReply(f"sent {payload!r}, expected {expected!r}, "
                                         f"got {bytes(c.inbuf)!r}")
                    c.inbuf.clear()
                    c.left -= 1
                    if c.left:
                        c.out = payload
                        sel.modify(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
                    else:
                        sel.unregister(c.sock)
                        active -= 1
                        if close_when_done:
                            c.sock.close()
    finally:
        sel.close()


def run_clients(address, clients: int = 1, messages: int = 100, *,
                payload: bytes = DEFAULT_PAYLOAD, timeout: float = 5.0, warmup: bool = True,
                kind: str | None = None) -> Measurement:
    """Measure *clients* concurrent connections, each doing *messages* round trips.

    With ``warmup`` the clients connect one after another, and each does one
    round trip (not counted) before the next connects.  That proves the
    connection was accepted and has a handler before the clock starts
    (connection set-up is not what we measure), and it keeps the server's
    listen queue short: 64 clients connecting at once to a server with
    ``socketserver``'s backlog of 5 overflow it, and Linux makes the extra
    clients retry a second or more later.  A single-threaded server serves one
    connection at a time, so there a warm-up would wait forever for the second
    client: pass ``warmup=False`` (:func:`compare` does); the clients then all
    connect first, and the server needs a listen queue that holds them.

    Every reply is checked (:class:`WrongReply` if it is not the upper-cased
    request); *timeout* bounds each wait, so nothing here can hang.
    """
    if clients < 1 or messages < 0:
        raise ValueError("need clients >= 1 and messages >= 0")
    payload = bytes(payload)
    if not payload:
        raise ValueError("an empty payload gets no reply; send at least one byte")
    expected = payload.upper()
    state = []
    try:
        for _ in range(clients):
            sock = socket.create_connection(tuple(address), timeout=timeout)
            client = _Client(sock)
            state.append(client)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            if warmup:
                _exchange([client], 1, payload, expected, timeout)
        started = time.perf_counter()
        _exchange(state, messages, payload, expected, timeout, close_when_done=True)
        seconds = time.perf_counter() - started
    finally:
        for client in state:
            client.sock.close()
    return Measurement(kind, clients, messages, seconds)


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, not the machine's total.

    ``os.cpu_count()`` counts every CPU of the machine, also those a container
    or ``taskset`` does not let this process use.
    """
    if hasattr(os, "process_cpu_count"):  # Python 3.13+
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def ideal_rate(kind: str, clients: int, delay: float, work: str = "sleep",
               cpus: int | None = None) -> float | None:
    """Round trips/s if the handler's simulated work were the only cost.

    A single-threaded server does one message at a time: ``1 / delay``.  With
    ``work="sleep"`` the other models wait for all clients at once:
    ``clients / delay``.  With ``work="cpu"`` only separate processes run
    Python code in parallel: forking reaches ``min(clients, cpus) / delay``,
    threads and asyncio ``1 / delay`` (the GIL, or the one event loop).
    """
    if delay <= 0:
        return None
    if kind == "single":
        return 1 / delay
    if work == "sleep":
        return clients / delay
    if kind == "forking":
        return min(clients, cpus or usable_cpus()) / delay
    return 1 / delay


class Comparison:
    """Measurements of several kinds at several client counts, as a table and a plot."""

    def __init__(self, measurements, *, delay: float, work: str):
        self.measurements = list(measurements)
        self.delay = delay
        self.work = work

    @property
    def kinds(self) -> list[str]:
        return list(dict.fromkeys(m.kind for m in self.measurements))

    @property
    def client_counts(self) -> list[int]:
        return sorted({m.clients for m in self.measurements})

    def rate(self, kind: str, clients: int) -> float:
        rates = [m.rate for m in self.measurements if m.kind == kind and m.clients == clients]
        if not rates:
            raise KeyError((kind, clients))
        return statistics.median(rates)

    def table(self) -> str:
        """Round trips/s, one row per kind, one column per client count (ideal in brackets)."""
        counts = self.client_counts
        head = ["server"] + [f"{n} client{'s' if n > 1 else ''}" for n in counts]
        rows = [head]
        for kind in self.kinds:
            row = [kind]
            for n in counts:
                cell = f"{self.rate(kind, n):,.0f}"
                ideal = ideal_rate(kind, n, self.delay, self.work)
                if ideal is not None:
                    cell += f" ({ideal:,.0f})"
                row.append(cell)
            rows.append(row)
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                           for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        note = (f"round trips per second; in brackets: the ideal if {self.delay * 1000:g} ms "
                f"of {'waiting' if self.work == 'sleep' else 'CPU work'} per message were "
                f"the only cost") if self.delay else "round trips per second"
        return "\n".join(lines + ["", note])

    def __str__(self) -> str:
        return self.table()

    def _repr_pretty_(self, p, cycle):
        p.text(self.table())

    def plot(self, ax=None):
        """Round trips/s against concurrent clients, one line per kind (log-log)."""
        import matplotlib.pyplot as plt

        own = ax is None
        if own:
            fig, ax = plt.subplots(figsize=(6.4, 4.0))
        else:
            fig = ax.figure
        counts = self.client_counts
        # distinct markers and dashes: lines that coincide (threading and
        # asyncio often do) must stay tellable apart
        styles = [("o", "-"), ("s", "--"), ("^", "-."), ("D", (0, (1, 1))), ("v", "-"), ("P", "--")]
        for i, kind in enumerate(self.kinds):
            marker, dashes = styles[i % len(styles)]
            ax.plot(counts, [self.rate(kind, n) for n in counts], marker=marker,
                    linestyle=dashes, markersize=7 - i % 3, alpha=0.85, label=kind)
        if self.delay:
            ax.plot(counts, [n / self.delay for n in counts], linestyle=":", color="grey",
                    label=f"clients / {self.delay * 1000:g} ms")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(counts)
        ax.set_xticklabels([str(n) for n in counts])
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel("round trips per second")
        what = (f"{self.delay * 1000:g} ms {'sleep' if self.work == 'sleep' else 'CPU work'} "
                f"per message") if self.delay else "no simulated work"
        ax.set_title(f"TCP echo, {what}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        if own:
            fig.tight_layout()
            plt.close(fig)  # returned, displayed once by whoever shows it
        return fig


def compare(kinds=MODEL_KINDS, clients=(1, 8, 32), *, messages: int = 5, delay: float = 0.01,
            work: str = "sleep", payload: bytes = DEFAULT_PAYLOAD, timeout: float = 10.0,
            rounds: int = 1) -> Comparison:
    """Start each kind in turn, measure it at every client count, stop it.

    ``rounds > 1`` repeats every measurement and the table shows the median.
    """
    results = []
    for kind in kinds:
        with start_server(kind, delay=delay, work=work) as srv:
            for _ in range(rounds):
                for n in clients:
                    results.append(run_clients(srv.address, n, messages, payload=payload,
                                               timeout=timeout, warmup=kind != "single",
                                               kind=kind))
    return Comparison(results, delay=delay, work=work)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def _parse_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return (host or "127.0.0.1", int(port))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m netlesson.concurrency",
        description="Echo servers of each concurrency model, and clients that measure them.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run one echo server until standard input ends")
    p.add_argument("kind", choices=KINDS)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 (default): any free port")
    p.add_argument("--delay", type=float, default=0.0, help="simulated work per message, seconds")
    p.add_argument("--work", choices=_WORKS, default="sleep")
    p.add_argument("--backlog", type=int, default=None, help="listen queue length")
    p.add_argument("--forever", action="store_true",
                   help="do not stop at end of standard input (Ctrl-C stops it)")

    p = sub.add_parser("measure", help="N clients x M messages against HOST:PORT")
    p.add_argument("address", type=_parse_address, help="HOST:PORT")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--messages", type=int, default=100)
    p.add_argument("--no-warmup", dest="warmup", action="store_false")

    p = sub.add_parser("compare", help="start each model in turn and print a table")
    p.add_argument("--kinds", nargs="+", choices=KINDS, default=list(MODEL_KINDS))
    p.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--messages", type=int, default=5)
    p.add_argument("--delay", type=float, default=0.01)
    p.add_argument("--work", choices=_WORKS, default="sleep")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        try:
            return serve(args.kind, host=args.host, port=args.port, delay=args.delay,
                         work=args.work, backlog=args.backlog, watch_stdin=not args.forever)
        except (ValueError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    if args.command == "measure":
        print(run_clients(args.address, args.clients, args.messages, warmup=args.warmup))
        return 0
    delay = args.delay if all(k in MODEL_KINDS for k in args.kinds) else 0.0
    print(compare(args.kinds, args.clients, messages=args.messages, delay=delay, work=args.work))
    return 0


if __name__ == "__main__":
    sys.exit(main())
