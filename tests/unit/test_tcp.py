"""The TCP upper-case echo: handler, server and client, on real loopback sockets."""

import socket
import socketserver
import struct
import sys
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netlesson import background, classroom, constants, tcp
from netlesson.errors import (
    ConnectionClosed,
    ReplyDecodeError,
    ReplyTimeout,
    ReplyTooLong,
    ServerUnavailable,
)


def test_tcp_client_echoes_chinese_text_upper_cased(tcp_server):
    # bytes.upper() changes ASCII letters only; Chinese characters come back as they went
    assert tcp.echo("hello 你好 World", tcp_server.address) == "HELLO 你好 WORLD"


def test_tcp_client_reads_reply_longer_than_buffer(tcp_server):
    message = "abc" * 1000  # 3000 bytes: three recv(1024) on the server side
    assert tcp.echo(message, tcp_server.address) == message.upper()


def test_tcp_client_reads_one_mebibyte_reply(tcp_server):
    payload = bytes(range(256)) * 4096
    assert tcp.echo(payload, tcp_server.address) == payload.upper()


@pytest.mark.timeout(60)
def test_tcp_client_sends_and_reads_together_so_a_huge_message_cannot_deadlock(tcp_server):
    """32 MiB is far more than both sides' socket buffers on loopback.

    A client that sent everything before reading would block in sendall()
    while the server blocks sending the reply nobody reads (measured: 16 MiB
    hung until the timeout with the old client).
    """
    with socket.socket() as probe:  # the buffers really are smaller than the message
        buffers = (probe.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
                   + probe.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
    payload = b"netlesson " * (32 * 1024 * 1024 // 10)
    assert len(payload) > 4 * buffers
    assert tcp.echo(payload, tcp_server.address, timeout=10) == payload.upper()


class _TooMuchHandler(socketserver.BaseRequestHandler):
    """Not an echo: answers every message with its upper case plus b'EXTRA'."""

    def handle(self):
        while data := self.request.recv(1024):
            self.request.sendall(data.upper() + b"EXTRA")


def test_a_reply_longer_than_the_request_is_reported_not_read_as_the_next_reply():
    with background.start_tcp("test-too-much", handler=_TooMuchHandler) as srv:
        with tcp.TCPEchoClient(srv.address, timeout=2) as client:
            with pytest.raises(ReplyTooLong) as info:
                client.send("abc")
                client.send("def")  # if the extra bytes came late, the next send sees them
            assert client.sock is None  # closed: nothing stale is left on it
    error = info.value
    assert error.extra == b"EXTRA"[:len(error.extra)] and error.extra
    assert "more than the 3-byte reply" in str(error)
    assert "is this an echo server?" in str(error)


class _AnswersBeforeReading(socketserver.BaseRequestHandler):
    """Reads one byte, then sends a whole 'reply' while the client is still sending."""

    size = 8 * 1024 * 1024  # more than loopback's socket buffers can hold unread
    done = threading.Event()

    def handle(self):
        self.request.recv(1)
        self.request.sendall(b"Z" * self.size)
        self.done.wait(10)  # reads nothing more: the client cannot finish sending


@pytest.mark.timeout(30)
def test_a_complete_reply_while_the_request_is_still_being_sent_is_an_error():
    with background.start_tcp("test-early-answer", handler=_AnswersBeforeReading) as srv:
        _AnswersBeforeReading.done.clear()
        try:
            with tcp.TCPEchoClient(srv.address, timeout=5) as client:
                t0 = time.monotonic()
                with pytest.raises(ReplyTooLong) as info:
                    client.send(b"a" * _AnswersBeforeReading.size)
                assert time.monotonic() - t0 < 4  # no wait for the timeout
                assert client.sock is None
        finally:
            _AnswersBeforeReading.done.set()
    assert info.value.unsent > 0
    assert "while" in str(info.value) and "were still unsent" in str(info.value)


def test_any_socket_error_closes_the_connection(monkeypatch):
    with background.start_tcp("test-oserror") as srv:
        with tcp.TCPEchoClient(srv.address, timeout=2) as client:
            assert client.send("a") == "A"

            class Broken:
                def __init__(self, sock):
                    self._sock = sock

                def fileno(self):
                    return self._sock.fileno()

                def send(self, data):
                    raise OSError(41, "Protocol wrong type for socket")  # macOS's EPROTOTYPE

                def close(self):
                    self._sock.close()

            client.sock = Broken(client.sock)
            with pytest.raises(OSError, match="Protocol wrong type"):
                client.send("b")
            assert client.sock is None  # not reused
            assert client.send("c") == "C"


def test_a_huge_timeout_is_accepted(tcp_server):
    assert tcp.echo("x", tcp_server.address, timeout=1e7) == "X"


def test_no_timeout_means_blocking_as_with_a_plain_socket(tcp_server):
    with tcp.TCPEchoClient(tcp_server.address, timeout=None) as client:
        client.sock.settimeout(5)  # the test itself must not hang
        client.timeout = None
        assert client.send("x") == "X"


def test_bytes_that_come_before_anything_was_sent_are_reported():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(5)
        with tcp.TCPEchoClient(listener.getsockname(), timeout=2) as client:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(b"220 welcome\r\n")  # a server that talks first (SMTP, FTP...)
                time.sleep(0.05)
                with pytest.raises(ReplyTooLong) as info:
                    client.send("hello")
    assert info.value.extra == b"220 welcome\r\n"
    assert "sent 13 byte(s) before it was sent anything" in str(info.value)


def test_tcp_client_sends_non_utf8_bytes_unchanged_but_upper_cased(tcp_server):
    payload = b"\xff\xfeabc\x80"
    assert tcp.echo(payload, tcp_server.address) == b"\xff\xfeABC\x80"


def test_tcp_empty_message_returns_at_once_instead_of_hanging(tcp_server):
    with tcp.TCPEchoClient(tcp_server.address, timeout=10) as client:
        t0 = time.monotonic()
        assert client.send("") == ""
        assert time.monotonic() - t0 < 3  # waiting for a reply would take the 10 s timeout
        assert client.send("after empty") == "AFTER EMPTY"  # connection still usable


def test_tcp_one_client_many_messages_on_one_connection(tcp_server):
    with tcp.TCPEchoClient(tcp_server.address) as client:
        for i in range(50):
            assert client.send(f"message {i}") == f"MESSAGE {i}"
    assert tcp_server.log.wait_for(kind="closed", messages=50, timeout=2)


def test_tcp_server_logs_connection_message_and_close(tcp_server):
    tcp.echo("ping", tcp_server.address)
    closed = tcp_server.log.wait_for(kind="closed", timeout=2)
    entries = tcp_server.log.select(peer=closed.peer)
    assert [(e.kind, e.fields) for e in entries] == [
        ("connected", {}), ("received", {"data": b"ping", "nbytes": 4}),
        ("closed", {"messages": 1, "nbytes": 4})]
    assert closed.peer[0] == "127.0.0.1"
    peer = f"127.0.0.1:{closed.peer[1]}"
    assert tcp_server.log.lines() == [  # the text a cell shows
        f"connected: {peer}", f"received b'ping' from {peer}", f"closed: {peer} (1 recv, 4 bytes)"]


class _DribbleHandler(socketserver.BaseRequestHandler):
    """Replies one byte per send, so UTF-8 characters are split between reads."""

    def handle(self):
        data = self.request.recv(1 << 16)
        for i in range(len(data)):
            self.request.sendall(data[i:i + 1].upper())
            time.sleep(0.001)


def test_tcp_client_decodes_utf8_split_between_reads():
    with background.start_tcp("test-dribble", handler=_DribbleHandler) as srv:
        assert tcp.echo("中文 abc", srv.address) == "中文 ABC"


class _GarbageHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data = self.request.recv(1024)
        self.request.sendall(b"\xff" * len(data))


def test_tcp_client_reports_non_utf8_reply_and_keeps_the_bytes():
    with background.start_tcp("test-garbage", handler=_GarbageHandler) as srv:
        with pytest.raises(ReplyDecodeError) as info:
            tcp.echo("abc", srv.address)
    assert info.value.raw == b"\xff\xff\xff"
    assert "not valid utf-8" in str(info.value)


class _SilentHandler(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.recv(1024)
        self.request.sendall(b"AB")  # 2 of 5 bytes, then silence
        self.request.recv(1024)  # wait for the client to give up


def test_tcp_client_times_out_with_partial_reply():
    with background.start_tcp("test-silent", handler=_SilentHandler) as srv:
        with pytest.raises(ReplyTimeout) as info:
            tcp.echo("abcde", srv.address, timeout=0.3)
    assert info.value.partial == b"AB"
    assert "2 of the 5 reply bytes" in str(info.value)


class _HangUpHandler(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.recv(1024)
        self.request.sendall(b"ABC")


def test_tcp_client_reports_server_closing_mid_reply():
    with background.start_tcp("test-hangup", handler=_HangUpHandler) as srv:
        with pytest.raises(ConnectionClosed) as info:
            tcp.echo("abcdefgh", srv.address)
    assert info.value.partial == b"ABC"


def test_tcp_client_to_closed_port_says_nothing_is_listening():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        with pytest.raises(ServerUnavailable) as info:
            tcp.echo("x", ("127.0.0.1", port), timeout=1)
    assert f"nothing is listening on 127.0.0.1:{port}" in str(info.value)
    assert isinstance(info.value, ConnectionRefusedError)


def test_client_that_vanishes_mid_message_with_reset_is_logged_and_server_keeps_serving(tcp_server):
    s = socket.create_connection(tcp_server.address, timeout=2)
    s.sendall(b"half a mess")
    received = tcp_server.log.wait_for(kind="received", data=b"half a mess", timeout=2)
    assert received is not None
    # SO_LINGER with a zero timeout: close() sends RST instead of FIN
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    assert tcp_server.log.wait_for(kind="closed", peer=received.peer, timeout=2)
    assert tcp.echo("still here", tcp_server.address) == "STILL HERE"
    kinds = [e.kind for e in tcp_server.log.select(peer=received.peer)]
    # Depending on timing the handler sees the RST as a reset (usual) or, if it
    # was not in recv() yet, as a reply that failed: either way exactly one record
    # says how the conversation broke off, and the handler ends normally (a
    # "closed" record, no "handler_error").
    assert kinds[:2] == ["connected", "received"] and kinds[-1] == "closed", kinds
    assert kinds[2:-1] in (["reset"], ["reply_failed"], ["receive_failed"]), kinds
    assert not tcp_server.log.select("handler_error")


def test_tcp_client_vanishing_during_reply_does_not_kill_the_server(tcp_server):
    s = socket.create_connection(tcp_server.address, timeout=2)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.sendall(b"x" * 200_000)
    s.close()
    assert tcp.echo("ok", tcp_server.address) == "OK"


def test_200_concurrent_clients_20_messages_each_all_replies_correct(tcp_server):
    """200 connections open at once, each sending 20 messages, every reply checked.

    The clients are asyncio tasks in one thread, not 200 threads: 200 client
    threads plus 200 handler threads in one process leave the thread running
    ``serve_forever`` waiting for the GIL.  They all connect at once: the
    classroom server's listen backlog (``classroom.CLASS_BACKLOG``) queues
    them all.  (With the seed's ``back_log`` of 5, Linux dropped handshakes
    and, with SYN cookies, reset connections -- up to 27 of 200 reset and two
    minutes for the run; 06_pitfalls shows that overflow, test_load.py the
    burst.)
    """
    import asyncio

    async def client(n, state):
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(*tcp_server.address), timeout=10)
        first = f"client {n} hello".encode()
        writer.write(first)
        reply = await asyncio.wait_for(reader.readexactly(len(first)), timeout=30)
        assert reply == first.upper()
        try:
            state["open"] += 1
            if state["open"] == 200:
                state["all_open"].set()
            await asyncio.wait_for(state["all_open"].wait(), timeout=60)
            for i in range(20):
                msg = f"client {n} message {i} 你好".encode()
                writer.write(msg)
                await writer.drain()
                reply = await asyncio.wait_for(reader.readexactly(len(msg)), timeout=30)
                assert reply == msg.upper(), (n, i, reply)
            assert tcp_server.server.open_requests(), "connections should still be open"
        finally:
            writer.close()
            await writer.wait_closed()
        return n

    async def main():
        state = {"open": 0, "all_open": asyncio.Event()}
        return await asyncio.wait_for(
            asyncio.gather(*(client(n, state) for n in range(200))), timeout=120)

    assert sorted(asyncio.run(main())) == list(range(200))
    assert tcp_server.log.wait_for(kind="closed", messages=21, timeout=5)


def test_port_in_use_error_names_host_port_and_the_fix(tcp_server):
    with pytest.raises(OSError) as info:
        tcp.create_server(tcp_server.address)
    message = str(info.value)
    assert f"127.0.0.1:{tcp_server.port} is in use" in message
    assert "port=0" in message and "stop" in message


def test_classroom_tcp_server_settings_are_class_attributes():
    cls = tcp.ClassroomTCPServer
    assert cls.__dict__["allow_reuse_address"] is True  # read by server_bind: must be on the class
    assert cls.daemon_threads is True
    assert cls.request_queue_size == classroom.CLASS_BACKLOG  # room for a whole class
    assert issubclass(cls, socketserver.ThreadingTCPServer)
    # ThreadingMixIn still supplies process_request: the mixin changes no loop step
    supplier = next(k for k in cls.__mro__ if "process_request" in k.__dict__)
    assert supplier is socketserver.ThreadingMixIn


def test_seed_name_myserver_is_the_handler():
    assert tcp.MyServer is tcp.UpperEchoHandler


def test_handler_works_under_plain_threading_tcp_server_like_the_seed():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), tcp.MyServer)
    with background.start(server, "test-plain-seed") as srv:
        assert tcp.echo("seed style", srv.address) == "SEED STYLE"
        # no server.log on a plain server: the handler logged through `logging`
        assert srv.log is server.log


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.binary(min_size=1, max_size=20_000))
def test_any_tcp_payload_comes_back_exactly_upper_cased(tcp_server, payload):
    assert tcp.echo(payload, tcp_server.address) == payload.upper()


class _SlowOnce(socketserver.BaseRequestHandler):
    """Answers the server's very first message late, every other at once."""

    answered_late = threading.Event()

    def handle(self):
        while data := self.request.recv(1024):
            if not self.answered_late.is_set():
                self.answered_late.set()
                time.sleep(0.5)
            self.request.sendall(data.upper())


def test_tcp_client_after_a_timeout_never_reads_the_late_reply_as_the_next_one():
    with background.start_tcp("test-slow-once", handler=_SlowOnce) as srv:
        client = tcp.TCPEchoClient(srv.address, timeout=0.2)
        with client:
            with pytest.raises(ReplyTimeout):
                client.send("aaa")
            assert client.send("bbb") == "BBB"  # a new connection: not the late 'AAA'


def _connects_completed(address, count: int, seconds: float = 0.3) -> int:
    """Start *count* non-blocking connects at once; how many handshakes finish within *seconds*."""
    import select

    pending = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(address)
            pending.append(s)
        done = 0
        waiting = list(pending)
        deadline = time.monotonic() + seconds
        while waiting and (left := deadline - time.monotonic()) > 0:
            _, ready, _ = select.select([], waiting, [], left)
            for s in ready:
                waiting.remove(s)
                done += s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        return done
    finally:
        for s in pending:
            s.close()


@pytest.mark.skipif(sys.platform != "linux", reason="Linux's accept-queue rule (backlog + 1)")
def test_the_seeds_backlog_queues_six_connections_and_the_classroom_backlog_all():
    """A server nobody accept()s from: what its listen backlog lets the kernel queue."""
    seeds = tcp.create_server(backlog=constants.back_log)
    roomy = tcp.create_server()
    try:
        assert _connects_completed(seeds.server_address, 12) == constants.back_log + 1
        assert _connects_completed(roomy.server_address, 12) == 12
    finally:
        seeds.server_close()
        roomy.server_close()


# -- IPv6 ----------------------------------------------------------------------
def test_tcp_echo_over_ipv6_loopback(ipv6_loopback):
    srv = background.start_tcp("test-tcp-ipv6", host=ipv6_loopback)
    try:
        assert srv.address == ("::1", srv.port)
        assert srv.server.socket.family == socket.AF_INET6
        assert tcp.echo("hello ipv6 你好", srv.address) == "HELLO IPV6 你好"
        four_tuple = srv.server.socket.getsockname()  # ('::1', port, flowinfo, scope_id)
        assert len(four_tuple) == 4
        with tcp.TCPEchoClient(four_tuple, timeout=5) as client:
            assert client.send(b"abc") == b"ABC"
            assert f"[::1]:{srv.port}" in repr(client)
        assert f"tcp://[::1]:{srv.port}" in repr(srv)
        assert srv.log.wait_for(kind="closed", messages=1, timeout=5)
        assert srv.log.select(kind="connected")[0].peer[0] == "::1"
    finally:
        srv.stop()
    assert not srv.running
