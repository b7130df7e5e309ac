"""A class connecting at once, and thousands of connections in a row.

The burst is the classroom's worst minute: 500 clients start together, each
sends 1-3 messages of random size (up to 64 KiB) and reads every reply back in
full, and a tenth of them reset their connection in the middle of a message
(``SO_LINGER`` 0).  Each connect has a short deadline (3 s), as a student's
client would: a listen backlog too small for the crowd makes the kernel drop
handshakes, the clients retry after 1 s, 3 s ... and miss it.  Every
well-behaved client must get every reply -- from ``background.start_tcp()``
and from ``python -m netlesson tcp-server`` run as a real process.

The clients are one thread driving all 500 sockets with a selector, so the
test measures the server, not 500 client threads fighting over the GIL.

The soak opens a few thousand short connections through ``start_tcp`` and
checks that handler threads and file descriptors come back to where they
started.  Randomness is seeded; every socket has a deadline; every server is
stopped in ``finally``.
"""

from __future__ import annotations

import os
import random
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from netlesson import background, tcp

pytestmark = pytest.mark.timeout(120)

BURST_CLIENTS = 500
#: a student's client gives up on a connect after this long
CONNECT_DEADLINE = 3.0
#: the whole burst must be over by then (it takes a second or two when nothing is lost)
BURST_DEADLINE = 60.0
MAX_MESSAGE = 64 * 1024
RESET_SHARE = 0.1
SOAK_CONNECTIONS = 3000
SOAK_CONCURRENCY = 8
#: sockets the burst needs at once (both ends in this process for start_tcp), with room to spare
FDS_NEEDED = 2 * BURST_CLIENTS + 500

_LETTERS = b"abcdefghijklmnopqrstuvwxyz"


@pytest.fixture(scope="module", autouse=True)
def _enough_file_descriptors():
    """Raise the soft limit on open files if it is lower than the burst needs; skip if we cannot."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < FDS_NEEDED:
        pytest.skip(f"the hard limit on open files ({hard}) is below the {FDS_NEEDED} "
                    f"the burst needs")
    raised = soft != resource.RLIM_INFINITY and soft < FDS_NEEDED
    if raised:
        resource.setrlimit(resource.RLIMIT_NOFILE, (FDS_NEEDED, hard))
    try:
        yield
    finally:
        if raised:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# ---------------------------------------------------------------------------
# the burst: 500 clients in one selector loop
# ---------------------------------------------------------------------------
class _Client:
    """One burst client: its messages, where it is in them, what came back."""

    def __init__(self, n: int, messages: list[bytes], reset_after: int | None):
        self.n = n
        self.messages = messages
        self.reset_after = reset_after  # bytes of the first message sent before resetting
        self.sock: socket.socket | None = None
        self.connect_deadline = 0.0
        self.connected = False
        self.index = 0  # which message is being exchanged
        self.unsent = memoryview(b"")
        self.reply = bytearray()
        self.replies = 0  # complete, correct replies
        self.failure: str | None = None
        self.done = False

    @property
    def resets(self) -> bool:
        return self.reset_after is not None


def _burst_plan(seed: int) -> list[_Client]:
    """500 clients, 1-3 messages each, sizes 1 B .. 64 KiB; a tenth reset mid-message."""
    rng = random.Random(seed)
    block = bytes(rng.choice(_LETTERS) for _ in range(2 * MAX_MESSAGE))
    clients = []
    for n in range(BURST_CLIENTS):
        messages = []
        for _ in range(rng.randint(1, 3)):
            size = rng.randint(1, MAX_MESSAGE)
            start = rng.randrange(len(block) - size)
            messages.append(block[start:start + size])
        reset_after = None
        if rng.random() < RESET_SHARE:
            messages[0] = messages[0] if len(messages[0]) > 1 else b"ab"
            reset_after = rng.randrange(1, len(messages[0]))
        clients.append(_Client(n, messages, reset_after))
    return clients


def _end(client: _Client, selector, failure: str | None = None) -> None:
    client.done = True
    client.failure = failure
    if client.sock is not None:
        try:
            selector.unregister(client.sock)
        except (KeyError, ValueError):
            pass
        client.sock.close()


def _reset(client: _Client, selector) -> None:
    """Close with ``SO_LINGER`` 0: the kernel sends RST instead of FIN."""
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    _end(client, selector)


def _next_message(client: _Client, selector) -> None:
    if client.index == len(client.messages):
        _end(client, selector)
        return
    message = client.messages[client.index]
    if client.resets:
        message = message[:client.reset_after]
    client.unsent = memoryview(message)
    client.reply = bytearray()
    selector.modify(client.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)


def _on_event(client: _Client, events: int, selector) -> None:
    sock = client.sock
    if not client.connected:
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            _end(client, selector, f"connect failed: {os.strerror(error)}")
            return
        client.connected = True
        _next_message(client, selector)
        return
    try:
        if events & selectors.EVENT_WRITE and client.unsent:
            client.unsent = client.unsent[sock.send(client.unsent[:MAX_MESSAGE]):]
            if not client.unsent:
                if client.resets:
                    _reset(client, selector)
                    return
                selector.modify(sock, selectors.EVENT_READ, client)
        if events & selectors.EVENT_READ:
            expected = client.messages[client.index]
            chunk = sock.recv(len(expected) - len(client.reply) or 1)
            if not chunk:
                _end(client, selector, f"server closed after {len(client.reply)} reply bytes")
                return
            client.reply += chunk
            if len(client.reply) > len(expected):
                _end(client, selector, "reply longer than the message")
            elif len(client.reply) == len(expected):
                if bytes(client.reply) != expected.upper():
                    _end(client, selector, "wrong reply")
                    return
                client.replies += 1
                client.index += 1
                _next_message(client, selector)
    except BlockingIOError:
        pass
    except OSError as exc:
        _end(client, selector, f"{type(exc).__name__}: {exc}")


def run_burst(address, seed: int = 500) -> dict:
    """Start every client's connect at once; drive them all; count what was lost.

    Returns counts: ``lost`` replies of the clients that do not reset (a
    failed connect loses all its messages), ``expected``, ``failures`` (first
    few reasons), and ``seconds``.
    """
    clients = _burst_plan(seed)
    selector = selectors.DefaultSelector()
    started = time.monotonic()
    try:
        for client in clients:  # all connects in flight before any is waited for
            client.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            client.sock.setblocking(False)
            client.sock.connect_ex(address)
            client.connect_deadline = time.monotonic() + CONNECT_DEADLINE
            selector.register(client.sock, selectors.EVENT_WRITE, client)
        deadline = started + BURST_DEADLINE
        while not all(c.done for c in clients) and time.monotonic() < deadline:
            for key, events in selector.select(0.1):
                if not key.data.done:
                    _on_event(key.data, events, selector)
            now = time.monotonic()
            for client in clients:
                if not client.done and not client.connected and now > client.connect_deadline:
                    _end(client, selector, f"no connection within {CONNECT_DEADLINE:g} s")
    finally:
        for client in clients:
            if not client.done:
                _end(client, selector, "burst deadline")
        selector.close()
    polite = [c for c in clients if not c.resets]
    failures = [f"client {c.n}: {c.failure}" for c in polite if c.failure]
    return {
        "expected": sum(len(c.messages) for c in polite),
        "lost": sum(len(c.messages) - c.replies for c in polite),
        "failed_clients": len(failures),
        "failures": failures[:5],
        "resetting_clients": len(clients) - len(polite),
        "seconds": time.monotonic() - started,
    }


def test_a_burst_of_500_clients_gets_every_reply_from_start_tcp():
    srv = background.start_tcp("test-load-burst")
    try:
        result = run_burst(srv.address)
        assert result["resetting_clients"] > 0  # the plan really has resets
        assert result["lost"] == 0, result
        assert tcp.echo("still serving?", srv.address, timeout=5) == "STILL SERVING?"
    finally:
        srv.stop()


_BANNER = re.compile(r"TCP upper-case echo server on \[?([^\s\]]+?)\]?:(\d+)\s")


class _ServerProcess:
    """``python -m netlesson tcp-server --port 0``, its output drained by a thread."""

    def __init__(self, *args: str):
        root = Path(__file__).resolve().parents[2]
        env = dict(os.environ, PYTHONUNBUFFERED="1",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(root),
                                                            os.environ.get("PYTHONPATH")])))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "netlesson", "tcp-server", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=root)
        self.first_line = ""
        self.lines = 0
        self._banner = threading.Event()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        for raw in self.proc.stdout:
            if not self._banner.is_set():
                self.first_line = raw.decode(errors="replace")
                self._banner.set()
            self.lines += 1
        self._banner.set()

    def address(self, timeout: float = 20.0) -> tuple[str, int]:
        assert self._banner.wait(timeout), "the server printed nothing"
        match = _BANNER.search(self.first_line)
        assert match, f"unexpected first line: {self.first_line!r}"
        return match.group(1), int(match.group(2))

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self._reader.join(timeout)
        return self.proc.returncode


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or sys.platform == "win32",
                    reason="stops the server with SIGINT")
def test_a_burst_of_500_clients_gets_every_reply_from_the_cli_server():
    server = _ServerProcess()
    try:
        address = server.address()
        result = run_burst(address, seed=501)
        assert result["lost"] == 0, result
        assert tcp.echo("still serving?", address, timeout=5) == "STILL SERVING?"
    finally:
        returncode = server.stop()
    assert returncode == 0, server.first_line


# ---------------------------------------------------------------------------
# the soak: thousands of short connections, nothing left behind
# ---------------------------------------------------------------------------
def _open_fds() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        try:
            import psutil
            return psutil.Process().num_fds()
        except (ImportError, AttributeError, OSError):
            return None


def _settles(measure, target: int, timeout: float = 10.0) -> int:
    """Poll *measure* until it is at most *target* or *timeout* passes; return the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = measure()
        if value <= target or time.monotonic() >= deadline:
            return value
        time.sleep(0.05)


def test_thousands_of_connections_through_start_tcp_leak_no_threads_or_fds():
    threads_before = threading.active_count()
    fds_before = _open_fds()
    srv = background.start_tcp("test-load-soak")
    try:
        threads_serving = threading.active_count()
        fds_serving = _open_fds()
        rng = random.Random(3000)
        messages = [bytes(rng.choice(_LETTERS) for _ in range(rng.randint(1, 200)))
                    for _ in range(SOAK_CONNECTIONS)]

        def one(message: bytes) -> bool:
            return tcp.echo(message, srv.address, timeout=10) == message.upper()

        with ThreadPoolExecutor(SOAK_CONCURRENCY) as pool:
            results = list(pool.map(one, messages, timeout=120))
        assert all(results)
        # every handler thread ends once its client has closed; nothing is left open
        assert _settles(threading.active_count, threads_serving) <= threads_serving
        if fds_serving is not None:
            assert _settles(_open_fds, fds_serving) <= fds_serving
        assert not srv.server.open_requests()
    finally:
        srv.stop()
    assert _settles(threading.active_count, threads_before) <= threads_before
    if fds_before is not None:
        assert _settles(_open_fds, fds_before) <= fds_before
