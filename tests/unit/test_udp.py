"""The UDP upper-case echo: handler, server and client, on real loopback sockets."""

import socket
import socketserver
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netlesson import background, udp
from netlesson.errors import DatagramTooLong, PortInUseError, ServerNotResponding, TruncatedReply


def test_udp_echo_upper_cases_chinese_and_ascii(udp_server):
    assert udp.echo("hello 你好", udp_server.address) == "HELLO 你好"


def test_udp_empty_datagram_gets_empty_reply(udp_server):
    assert udp.echo(b"", udp_server.address) == b""


def test_udp_non_utf8_bytes_round_trip(udp_server):
    assert udp.echo(b"\xff\x00abc", udp_server.address) == b"\xff\x00ABC"


def test_udp_server_logs_each_datagram(udp_server):
    udp.echo("ping", udp_server.address)
    received = udp_server.log.wait_for(kind="received", data=b"ping", timeout=2)
    assert received.peer[0] == "127.0.0.1"
    assert received.text == f"received b'ping' from 127.0.0.1:{received.peer[1]}"


def test_udp_to_a_port_with_no_server_raises_clear_timeout_quickly():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(ServerNotResponding) as info:
        udp.echo("anyone?", ("127.0.0.1", port), timeout=0.1, retries=2, max_timeout=0.2)
    elapsed = time.monotonic() - t0
    assert elapsed < 3
    assert info.value.attempts == 3
    assert f"no reply from 127.0.0.1:{port} after 3 tries" in str(info.value)
    assert isinstance(info.value, TimeoutError)


def test_udp_client_refuses_datagram_the_server_would_cut(udp_server):
    with pytest.raises(DatagramTooLong) as info:
        udp.echo(b"x" * 8193, udp_server.address)
    assert "8193 bytes" in str(info.value) and "8192" in str(info.value)


def test_a_datagram_over_udps_own_limit_is_explained_as_such(udp_server):
    with pytest.raises(DatagramTooLong) as info:
        udp.echo(b"x" * 65508, udp_server.address, max_datagram=None)
    text = str(info.value)
    assert "65508 bytes" in text and "at most 65507 bytes" in text
    assert "max_packet_size" not in text  # no server setting can help here
    assert "Split the data" in text
    with pytest.raises(OSError):  # and it is true: the operating system refuses it
        import socket
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"x" * 65508, udp_server.address)


def test_udp_datagram_longer_than_8192_is_reported_not_silent(udp_server):
    with pytest.raises(TruncatedReply) as info:
        udp.echo(b"y" * 9000, udp_server.address, max_datagram=None)
    assert info.value.reply == b"Y" * 8192
    assert "9000-byte datagram" in str(info.value)
    cut = udp_server.log.wait_for(kind="truncated", nbytes=8192, timeout=2)
    assert cut.text == (f"datagram from 127.0.0.1:{cut.peer[1]} was longer than 8192 bytes: "
                        f"max_packet_size cut it; echoing the first 8192 bytes")


def test_a_udp_server_reading_big_datagrams_logs_only_their_start():
    """03_udp_echo lets students raise max_packet_size to 65507: the log stays small."""
    class BigDatagrams(udp.ClassroomUDPServer):
        max_packet_size = udp.MAX_UDP_PAYLOAD

    with background.start_udp("test-udp-big", server_class=BigDatagrams) as srv:
        assert udp.echo(b"q" * 60000, srv.address, max_datagram=None) == b"Q" * 60000
        received = srv.log.wait_for(kind="received", nbytes=60000, timeout=2)
    assert received.fields["data"] == b"q" * 60
    assert received.text == (f"received {b'q' * 60!r}... (60000 bytes) from "
                             f"127.0.0.1:{received.peer[1]}")


def test_udp_exactly_8192_bytes_is_not_truncated(udp_server):
    assert udp.echo(b"z" * 8192, udp_server.address) == b"Z" * 8192
    assert udp_server.log.wait_for(kind="received", timeout=2)  # logged after "truncated"
    assert not udp_server.log.select("truncated")


def test_udp_max_packet_size_is_read_from_socketserver():
    assert udp.MAX_PACKET_SIZE == socketserver.UDPServer.max_packet_size == 8192


class _DropFirst(udp.UpperEchoDatagramHandler):
    """Loses the first datagram it sees (deterministic loss)."""

    seen = 0
    lock = threading.Lock()

    def handle(self):
        with self.lock:
            type(self).seen += 1
            first = type(self).seen == 1
        if not first:
            super().handle()


def test_udp_client_retries_after_a_lost_datagram():
    _DropFirst.seen = 0
    with background.start_udp("test-lossy", handler=_DropFirst) as srv:
        with udp.UDPEchoClient(srv.address, timeout=0.2) as client:
            assert client.send("again") == "AGAIN"
            assert client.attempts == 2


def test_udp_client_ignores_datagrams_from_anyone_but_the_server():
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(5)

    def fake_server():
        data, addr = server.recvfrom(1024)
        stranger.sendto(b"NOT FROM THE SERVER", addr)
        time.sleep(0.05)
        server.sendto(data.upper(), addr)

    t = threading.Thread(target=fake_server)
    t.start()
    try:
        with udp.UDPEchoClient(server.getsockname(), timeout=2) as client:
            assert client.send(b"real") == b"REAL"
            assert client.ignored == 1
    finally:
        t.join(5)
        server.close()
        stranger.close()


def test_udp_client_drops_stale_reply_from_an_earlier_try():
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(5)

    def slow_server():
        # answer the first request twice (a late reply to a retry), then the second
        data, addr = server.recvfrom(1024)
        server.sendto(data.upper(), addr)
        server.sendto(data.upper(), addr)
        data, addr = server.recvfrom(1024)
        server.sendto(data.upper(), addr)

    t = threading.Thread(target=slow_server)
    t.start()
    try:
        with udp.UDPEchoClient(server.getsockname(), timeout=2) as client:
            assert client.send(b"one") == b"ONE"
            time.sleep(0.05)  # the duplicate arrives
            assert client.send(b"two") == b"TWO"
            assert client.stale == 1
    finally:
        t.join(5)
        server.close()


def test_second_udp_server_on_same_port_is_an_error_not_a_silent_steal(udp_server):
    # SO_REUSEADDR on Linux would let two UDP sockets share the port silently
    with pytest.raises(PortInUseError):
        udp.create_server(udp_server.address)


def test_udp_handler_works_under_plain_threading_udp_server_like_the_seed():
    server = socketserver.ThreadingUDPServer(("127.0.0.1", 0), udp.MyServer)
    with background.start(server, "test-plain-udp") as srv:
        assert udp.echo("seed", srv.address) == "SEED"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.binary(max_size=8192))
def test_any_udp_payload_up_to_the_limit_comes_back_exactly_upper_cased(udp_server, payload):
    assert udp.echo(payload, udp_server.address) == payload.upper()


def test_udp_client_given_localhost_reaches_a_server_on_127_0_0_1(udp_server):
    assert udp.echo("by name", ("localhost", udp_server.port)) == "BY NAME"


def test_udp_client_given_the_unspecified_address_accepts_the_reply_from_loopback(udp_server):
    # sending to 0.0.0.0 reaches this machine; the reply comes from 127.0.0.1, not "0.0.0.0"
    assert udp.echo("anyone home", ("0.0.0.0", udp_server.port)) == "ANYONE HOME"


def test_udp_echo_over_ipv6_loopback(ipv6_loopback):
    srv = background.start_udp("test-udp-ipv6", host=ipv6_loopback)
    try:
        assert srv.address == ("::1", srv.port)
        assert srv.server.socket.family == socket.AF_INET6
        assert udp.echo("hello ipv6", srv.address) == "HELLO IPV6"
        four_tuple = srv.server.socket.getsockname()
        with udp.UDPEchoClient(four_tuple) as client:
            assert client.send(b"abc") == b"ABC"
            assert client.family == socket.AF_INET6 and client.ignored == 0
        record = srv.log.wait_for(kind="received", timeout=5)
        assert record.peer[0] == "::1"
    finally:
        srv.stop()


class _WindowsStyleSocket:
    """A real UDP socket whose first recvfrom raises ConnectionResetError: how Windows
    reports an ICMP "port unreachable" from an earlier datagram (Linux says Refused)."""

    def __init__(self, sock):
        self._sock = sock
        self.raised = False

    def recvfrom(self, *args):
        if not self.raised:
            self.raised = True
            raise ConnectionResetError(10054, "WSAECONNRESET")
        return self._sock.recvfrom(*args)

    def __getattr__(self, name):
        return getattr(self._sock, name)


def test_udp_client_treats_windows_connection_reset_as_an_icmp_error_and_keeps_waiting(udp_server):
    client = udp.UDPEchoClient(udp_server.address, timeout=2.0, retries=1)
    try:
        client.connect()
        client.sock = wrapped = _WindowsStyleSocket(client.sock)
        assert client.send_text("still there?") == "STILL THERE?"
        assert wrapped.raised
    finally:
        client.close()
