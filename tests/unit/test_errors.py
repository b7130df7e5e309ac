"""netlesson.errors: every fact of a message is also an attribute, and the old ``except`` still works."""

import errno
import socket
import socketserver

import pytest

from netlesson import tcp, udp
from netlesson.classroom import make_server
from netlesson.errors import AddressNotAvailable, DatagramTooLong, NetlessonError, PortNotAllowed


def test_a_refused_privileged_port_is_a_permission_error_with_its_address():
    class Refused:  # the kernel's EACCES, simulated: this may run as root
        def __init__(self, *args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied")

    with pytest.raises(PortNotAllowed) as info:
        make_server(Refused, ("127.0.0.1", 80), socketserver.BaseRequestHandler)
    exc = info.value
    assert isinstance(exc, PermissionError) and isinstance(exc, NetlessonError)
    assert exc.errno == errno.EACCES and exc.address == ("127.0.0.1", 80)
    # the explanation alone, like PortInUseError's: no "[Errno 13]" before it
    assert str(exc) == ("not allowed to bind 127.0.0.1:80: ports below 1024 need "
                        "administrator rights — use a port from 1024 up, or port=0 for any "
                        "free one")


def test_an_address_this_machine_lacks_is_reported_with_its_address():
    # TEST-NET-1 is assigned to no host: bind() fails locally, nothing is sent
    with pytest.raises(AddressNotAvailable) as info:
        tcp.create_server(("192.0.2.1", 0))
    exc = info.value
    assert isinstance(exc, OSError) and isinstance(exc, NetlessonError)
    assert exc.errno == errno.EADDRNOTAVAIL and exc.address == ("192.0.2.1", 0)
    assert str(exc) == ("cannot bind 192.0.2.1:0: this machine has no such address — use "
                        "127.0.0.1 (this machine only) or 0.0.0.0 (every interface)")


def test_udp_servers_raise_the_same_bind_errors():
    with pytest.raises(AddressNotAvailable):
        udp.create_server(("192.0.2.1", 0))


def test_other_bind_failures_are_left_as_they_are():
    class Odd:
        def __init__(self, *args, **kwargs):
            raise OSError(errno.EINVAL, "Invalid argument")

    with pytest.raises(OSError) as info:
        make_server(Odd, ("127.0.0.1", 0), socketserver.BaseRequestHandler)
    assert type(info.value) is OSError and info.value.errno == errno.EINVAL


def test_datagram_too_long_says_whose_limit_as_data():
    server = DatagramTooLong(9000, 8192)
    assert (server.size, server.limit, server.protocol_limit) == (9000, 8192, False)
    assert str(server) == (
        "this datagram is 9000 bytes, but socketserver.UDPServer reads at most 8192 bytes per "
        "datagram (max_packet_size) and silently drops the rest; send at most 8192 bytes per "
        "datagram, or raise max_packet_size on the server class")
    own = DatagramTooLong(65508, 65507, protocol_limit=True)
    assert own.protocol_limit is True
    assert str(own).startswith("this datagram is 65508 bytes, but one UDP datagram over IPv4 "
                               "carries at most 65507 bytes")
    assert "max_packet_size" not in str(own)


def test_the_udp_client_marks_which_limit_a_datagram_broke():
    with udp.UDPEchoClient(("127.0.0.1", 9), timeout=0.1) as client:  # nothing is sent
        with pytest.raises(DatagramTooLong) as info:
            client.send(b"x" * 9000)
        assert info.value.protocol_limit is False and info.value.limit == 8192
    with udp.UDPEchoClient(("127.0.0.1", 9), timeout=0.1, max_datagram=None) as client:
        with pytest.raises(DatagramTooLong) as info:
            client.send(b"x" * 65508)
        assert info.value.protocol_limit is True and info.value.limit == 65507


def test_a_socket_bound_here_is_reported_as_in_use():
    from netlesson.errors import PortInUseError

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError) as info:
            tcp.create_server(("127.0.0.1", port))
    assert info.value.address == ("127.0.0.1", port) and info.value.errno == errno.EADDRINUSE
