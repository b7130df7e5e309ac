"""On a shared host, another user's connections cannot make a correct answer fail.

On a JupyterHub node every student shares loopback: while a self-check runs,
anyone can connect to the check server's port or send it datagrams.  Here a
stranger -- a separate process, as another user's would be -- is pointed at
every check server as soon as it listens, and keeps connecting, sending junk,
holding connections open, resetting and sending datagrams until the check
ends.  The notebook solutions must still pass, and a wrong answer must get the
same explanation as without the stranger.
"""

from __future__ import annotations

import contextlib
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time

import pytest
from exercise_solutions import failure, load_solution, no_check_threads_left

from netlesson import exercises
from netlesson.exercises import (_ex01_line_echo, _ex02_udp_retry, _ex05_allow_list,
                                 _ex06_visitor_counter, _wire)

#: The stranger: reads "tcp|udp|stop HOST PORT" lines, and hammers each target until stopped.
_STRANGER = r'''
import socket, struct, sys, threading, time

targets = {}

def hammer_tcp(key, address):
    held = []
    n = 0
    while key in targets:
        n += 1
        try:
            s = socket.create_connection(address, timeout=1)
        except OSError:
            time.sleep(0.01)
            continue
        try:
            s.settimeout(0.2)
            if n % 4 == 0:
                held.append(s)  # hold it open, silent
                if len(held) > 20:
                    held.pop(0).close()
                continue
            s.sendall(b"JUNK FROM ANOTHER USER\n" * (n % 3 + 1))
            if n % 4 == 1:  # reset instead of closing
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif n % 4 == 2:
                try:
                    s.recv(100)
                except OSError:
                    pass
        except OSError:
            pass
        s.close()
        time.sleep(0.005)
    for s in held:
        s.close()

def hammer_udp(key, address):
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        while key in targets:
            try:
                s.sendto(b"junk datagram from another user", address)
            except OSError:
                pass
            time.sleep(0.003)

for line in sys.stdin:
    what, host, port = line.split()
    key = (host, int(port))
    if what == "stop":
        targets.pop(key, None)
        continue
    targets[key] = what
    worker = hammer_tcp if what == "tcp" else hammer_udp
    threading.Thread(target=worker, args=(key, key), daemon=True).start()
'''


class Stranger:
    """Another process on the host, pointed at our check servers."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", _STRANGER], stdin=subprocess.PIPE,
                                     text=True)
        self.servers = 0

    def command(self, what: str, address) -> None:
        self.proc.stdin.write(f"{what} {address[0]} {address[1]}\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture(scope="module")
def stranger():
    s = Stranger()
    try:
        yield s
    finally:
        s.close()


def _wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def _point_at_every_check(stranger, monkeypatch):
    """Every check server gets the stranger as soon as it serves, until the check ends.

    The check runs only once the server has already dropped a stranger's
    connection or datagram, so the stranger is really there during the check.
    """
    def with_stranger(original):
        @contextlib.contextmanager
        def serving(server):
            with original(server) as served:
                kind = "tcp" if server.socket.type == socket.SOCK_STREAM else "udp"
                address = server.server_address[:2]
                stranger.command(kind, address)
                stranger.servers += 1
                try:
                    assert _wait_until(lambda: server._nl_strangers > 0, 5.0), \
                        "the stranger never reached the check server"
                    yield served
                finally:
                    stranger.command("stop", address)
        return serving

    for module in (_ex01_line_echo, _ex02_udp_retry, _ex05_allow_list, _ex06_visitor_counter):
        monkeypatch.setattr(module, "serving", with_stranger(module.serving))
    stranger.servers = 0
    return stranger


@pytest.fixture
def strangers_at_every_check(stranger, monkeypatch):
    return _point_at_every_check(stranger, monkeypatch)


def test_line_checkers_pass_the_solution_while_a_stranger_connects(strangers_at_every_check):
    handler = load_solution("ex01_line_echo")["LineUpperHandler"]
    exercises.check_line_handler(handler)
    exercises.check_line_handler_stream(handler)
    assert strangers_at_every_check.servers == 2
    assert no_check_threads_left()


def test_udp_checkers_pass_the_solution_while_a_stranger_sends_datagrams(
        strangers_at_every_check):
    udp_request = load_solution("ex02_udp_retry")["udp_request"]
    exercises.check_udp_request(udp_request)
    exercises.check_udp_request_retries(udp_request)
    assert strangers_at_every_check.servers == 4
    assert no_check_threads_left()


def test_allow_list_checkers_pass_the_solution_while_a_stranger_connects(
        strangers_at_every_check):
    server_class = load_solution("ex05_allow_list")["AllowListServer"]
    exercises.check_verify_request(server_class)
    exercises.check_allow_list_server(server_class)
    assert strangers_at_every_check.servers == 1
    assert no_check_threads_left()


def test_visitor_checkers_pass_the_solution_while_a_stranger_connects(
        strangers_at_every_check):
    ex06 = load_solution("ex06_visitor_counter")
    exercises.check_visitor_greeting(ex06["VisitorServer"], ex06["VisitorHandler"])
    exercises.check_visitor_counter(ex06["VisitorServer"], ex06["VisitorHandler"])
    assert strangers_at_every_check.servers == 2


class _UnnumberedHandler(socketserver.StreamRequestHandler):
    """Upper-cases whole lines but forgets the numbers."""

    def handle(self):
        for line in self.rfile:
            self.wfile.write(line.rstrip(b"\r\n").upper() + b"\n")


def _impatient(address, data, timeout=0.5, retries=3):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        for _ in range(retries + 1):
            sock.sendto(data, address)  # all tries at once, then wait
        return sock.recvfrom(65535)[0]


def _accepts_everyone(ex05):
    def verify_request(self, request, client_address):
        return True

    return type("AllowListServer", (ex05["AllowListServer"],), {"verify_request": verify_request})


def test_a_wrong_answer_gets_the_same_explanation_with_a_stranger(stranger, monkeypatch):
    ex05 = load_solution("ex05_allow_list")
    cases = [
        (exercises.check_line_handler, _UnnumberedHandler),
        (exercises.check_udp_request, _impatient),
        (exercises.check_allow_list_server, _accepts_everyone(ex05)),
    ]
    alone = [failure(check, answer) for check, answer in cases]
    with monkeypatch.context() as patch:
        _point_at_every_check(stranger, patch)
        crowded = [failure(check, answer) for check, answer in cases]
    assert crowded == alone
    assert "start each reply with the line's number" in alone[0]
    assert "the server received 3 datagrams" in alone[1]
    assert "was still served" in alone[2]


def test_tcp_pair_keeps_only_its_own_connection(monkeypatch):
    """A connection that reaches tcp_pair's listener first is not taken for our own end."""
    real_create_server = socket.create_server
    strays = []

    def create_server_with_a_stray(*args, **kwargs):
        listener = real_create_server(*args, **kwargs)
        strays.append(socket.create_connection(listener.getsockname()[:2], timeout=2))
        return listener

    monkeypatch.setattr(_wire.socket, "create_server", create_server_with_a_stray)
    a, b = _wire.tcp_pair()
    try:
        assert b.getpeername() == a.getsockname()
        a.sendall(b"ping")
        assert b.recv(4) == b"ping"
        assert strays[0].recv(1) == b""  # the stray was closed
    finally:
        _wire.close_quietly(a, b, *strays)


def test_the_check_servers_serve_their_own_threads_clients():
    """Clients in this process -- the student's, in other threads -- are never strangers."""
    handler = load_solution("ex01_line_echo")["LineUpperHandler"]
    server = exercises._harness.make_check_server(exercises._harness.CheckTCPServer, handler, "x")
    with exercises._harness.serving(server):
        replies = []

        def client():
            with _wire.connect(server.server_address) as sock:
                sock.sendall(b"from a thread\n")
                replies.append(sock.recv(100))

        threads = [threading.Thread(target=client) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
    assert replies == [b"1: FROM A THREAD\n"] * 5
    assert server._nl_strangers == 0


def test_looking_at_this_processs_sockets_leaves_their_blocking_mode_alone():
    """The lookup wraps duplicates of our descriptors; a default timeout must not leak into them."""
    from netlesson.exercises._peers import is_own_peer

    assert socket.getdefaulttimeout() is not None  # conftest sets one: the dangerous case
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=2)
        client.settimeout(None)  # a blocking socket, as a student's may be
        accepted, _ = listener.accept()
        try:
            assert is_own_peer(client.getsockname(), listener.getsockname(), "tcp")
            assert not is_own_peer(("127.0.0.1", 9), listener.getsockname(), "tcp")
            assert client.getblocking()
            if hasattr(os, "get_blocking"):
                assert os.get_blocking(client.fileno())  # the file itself, not just Python's view
        finally:
            client.close()
            accepted.close()


def test_without_proc_the_lookup_asks_psutil_and_without_either_accepts(monkeypatch):
    from netlesson.exercises import _peers

    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=2)
        accepted, _ = listener.accept()
        try:
            monkeypatch.setattr(_peers, "_descriptor_sockets", lambda sock_type: None)
            assert _peers.is_own_peer(client.getsockname(), listener.getsockname(), "tcp")
            assert not _peers.is_own_peer(("127.0.0.1", 9), listener.getsockname(), "tcp")
            monkeypatch.setattr(_peers, "_psutil_sockets", lambda kind: None)
            # the platform cannot tell: every peer is served, as by a plain server
            assert _peers.is_own_peer(("127.0.0.1", 9), listener.getsockname(), "tcp")
        finally:
            client.close()
            accepted.close()
