"""Facts 09_addresses states about addresses, checked on real loopback sockets.

The lesson says, and shows on the machine that runs it:

- ``getaddrinfo`` with ``AI_PASSIVE`` and no host gives the unspecified addresses
  (``0.0.0.0`` / ``::``) to bind; without it, the loopback addresses; ``AI_NUMERICHOST``
  refuses a name with ``EAI_NONAME`` instead of looking it up;
- ``create_connection("localhost", port)`` reaches a server on 127.0.0.1 whatever order
  the resolver gives ``::1`` and ``127.0.0.1`` in;
- a server bound to ``''`` is bound to ``0.0.0.0``; one bound to an IPv4 address refuses
  connections to ``::1``, one bound to ``::1`` refuses connections to 127.0.0.1;
- the course's server bound to ``::`` is dual-stack (``IPV6_V6ONLY`` 0) and sees an IPv4
  client as ``::ffff:127.0.0.1``; with ``IPV6_V6ONLY`` 1 it refuses IPv4 clients;
- a connected UDP socket receives only from its peer (a datagram from another sender is
  dropped, even one that arrives first);
- on Linux, a connected UDP socket that sent to a port nobody listens on gets
  ``ConnectionRefusedError`` from its next call, while an unconnected one hears nothing.

IPv6 tests are skipped, with the reason, where ``::1`` cannot be bound.
"""

from __future__ import annotations

import ipaddress
import socket
import sys

import pytest

from netlesson import background, tcp, udp

TIMEOUT = 2


def _outcome(host, port) -> str:
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT):
            return "connected"
    except OSError as exc:
        return type(exc).__name__


def _udp_socket(timeout=TIMEOUT):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
def dual_stack(ipv6_loopback):
    if not socket.has_dualstack_ipv6():
        pytest.skip("this platform cannot make a dual-stack IPv6 socket (IPV6_V6ONLY 0)")


# -- getaddrinfo ---------------------------------------------------------------------------

def test_ai_passive_without_a_host_gives_the_unspecified_addresses_to_bind():
    passive = socket.getaddrinfo(None, 8081, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    hosts = {info[4][0] for info in passive}
    assert "0.0.0.0" in hosts and hosts <= {"0.0.0.0", "::"}
    active = socket.getaddrinfo(None, 8081, type=socket.SOCK_STREAM)
    assert {info[4][0] for info in active} <= {"127.0.0.1", "::1"}
    assert "127.0.0.1" in {info[4][0] for info in active}


def test_getaddrinfo_gives_an_ipv6_sockaddr_as_a_four_tuple():
    [info] = socket.getaddrinfo("::1", 8081, type=socket.SOCK_DGRAM,
                                flags=socket.AI_NUMERICHOST)
    assert info[0] == socket.AF_INET6 and info[2] == socket.IPPROTO_UDP
    assert info[4] == ("::1", 8081, 0, 0)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.256"])
def test_ai_numerichost_refuses_a_name_with_eai_noname(host):
    with pytest.raises(socket.gaierror) as caught:
        socket.getaddrinfo(host, 8081, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    assert caught.value.errno == socket.EAI_NONAME


def test_create_connection_to_localhost_reaches_an_ipv4_only_server(tcp_server):
    with socket.create_connection(("localhost", tcp_server.port), timeout=TIMEOUT) as sock:
        assert sock.getpeername()[0] == "127.0.0.1"


# -- who can connect -----------------------------------------------------------------------

@pytest.mark.parametrize("host", ["", "0.0.0.0"])
def test_binding_empty_string_or_0000_binds_every_ipv4_address(host):
    srv = background.start_tcp("facts-any", host=host)
    try:
        assert srv.address[0] == "0.0.0.0"
        assert srv.server.socket.family == socket.AF_INET
        assert _outcome("127.0.0.1", srv.port) == "connected"
    finally:
        srv.stop()


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_an_ipv4_server_refuses_connections_to_ipv6_loopback(ipv6_loopback, host):
    srv = background.start_tcp("facts-v4", host=host)
    try:
        assert _outcome("::1", srv.port) == "ConnectionRefusedError"
    finally:
        srv.stop()


def test_a_server_on_ipv6_loopback_refuses_ipv4_and_serves_ipv6(ipv6_loopback):
    srv = background.start_tcp("facts-v6", host="::1")
    try:
        assert srv.server.socket.family == socket.AF_INET6
        assert _outcome("127.0.0.1", srv.port) == "ConnectionRefusedError"
        assert tcp.echo("ipv6", ("::1", srv.port)) == "IPV6"
    finally:
        srv.stop()


# -- dual stack ----------------------------------------------------------------------------

def test_dual_stack_tcp_server_sees_an_ipv4_client_as_mapped_address(dual_stack):
    srv = background.start_tcp("facts-dual", host="::")
    try:
        assert srv.server.socket.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0
        with socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT) as sock:
            mine = sock.getsockname()
            sock.sendall(b"x\n")
            assert sock.recv(16) == b"X\n"
        peer = srv.log.wait_for(kind="connected").peer
        assert peer[:2] == ("::ffff:127.0.0.1", mine[1])
        assert str(ipaddress.ip_address(peer[0]).ipv4_mapped) == "127.0.0.1"
        assert _outcome("::1", srv.port) == "connected"
    finally:
        srv.stop()


def test_dual_stack_udp_server_sees_an_ipv4_client_as_mapped_address(dual_stack):
    srv = background.start_udp("facts-dual-udp", host="::")
    try:
        assert udp.echo("dgram", ("127.0.0.1", srv.port)) == "DGRAM"
        assert srv.log.wait_for(kind="received").peer[0] == "::ffff:127.0.0.1"
    finally:
        srv.stop()


class _V6OnlyTCPServer(tcp.ClassroomTCPServer):
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()


def test_v6only_server_on_the_unspecified_address_refuses_ipv4_clients(ipv6_loopback):
    srv = background.start_tcp("facts-v6only", host="::", server_class=_V6OnlyTCPServer)
    try:
        assert srv.server.socket.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
        assert _outcome("127.0.0.1", srv.port) == "ConnectionRefusedError"
        assert _outcome("::1", srv.port) == "connected"
    finally:
        srv.stop()


# -- UDP connect ---------------------------------------------------------------------------

def test_connected_udp_socket_drops_datagrams_from_other_senders():
    with _udp_socket() as receiver, _udp_socket() as friend, _udp_socket() as stranger:
        receiver.connect(friend.getsockname())
        stranger.sendto(b"stranger", receiver.getsockname())
        friend.sendto(b"friend", receiver.getsockname())
        assert receiver.recvfrom(64) == (b"friend", friend.getsockname())
        receiver.settimeout(0.2)
        with pytest.raises(TimeoutError):
            receiver.recvfrom(64)


def test_unconnected_udp_socket_receives_from_every_sender_in_arrival_order():
    with _udp_socket() as receiver, _udp_socket() as friend, _udp_socket() as stranger:
        stranger.sendto(b"stranger", receiver.getsockname())
        friend.sendto(b"friend", receiver.getsockname())
        assert receiver.recvfrom(64) == (b"stranger", stranger.getsockname())
        assert receiver.recvfrom(64) == (b"friend", friend.getsockname())


def _closed_udp_port() -> int:
    with _udp_socket() as gone:
        return gone.getsockname()[1]


@pytest.mark.skipif(sys.platform != "linux", reason="the lesson states Linux's behaviour; "
                    "Windows reports ConnectionResetError, on unconnected sockets too")
def test_on_linux_connected_udp_socket_gets_connection_refused_from_a_closed_port():
    port = _closed_udp_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.connect(("127.0.0.1", port))
        sock.send(b"anyone there?")
        with pytest.raises(ConnectionRefusedError):
            sock.recv(64)
        sock.send(b"again")  # the error was reported once, then cleared


@pytest.mark.skipif(sys.platform != "linux", reason="the lesson states Linux's behaviour; "
                    "Windows reports ConnectionResetError, on unconnected sockets too")
def test_on_linux_unconnected_udp_socket_hears_nothing_from_a_closed_port():
    port = _closed_udp_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        sock.sendto(b"anyone there?", ("127.0.0.1", port))
        with pytest.raises(TimeoutError):
            sock.recvfrom(64)
