"""TLS on the classroom server: real handshakes on loopback, with a throw-away CA (trustme).

Each test runs a real :class:`netlesson.tls.ClassroomTLSServer` on 127.0.0.1 port 0 in the
background launcher and talks to it with real ``ssl`` clients; every socket has a timeout
and every server is stopped.
"""

from __future__ import annotations

import socket
import ssl
import time

import pytest

from netlesson import background, tcp, tls
from netlesson.errors import PortInUseError

trustme = pytest.importorskip("trustme")

TIMEOUT = 5.0


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture(scope="module")
def server_context(ca):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


@pytest.fixture(scope="module")
def client_context(ca):
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
def tls_server(server_context, request):
    server = tls.create_server(context=server_context)
    handle = background.start(server, f"test-tls-{request.node.name}")
    try:
        yield handle
    finally:
        handle.stop()


def tls_echo(address, message: bytes, context, server_hostname: str) -> bytes:
    """Connect, verify, send *message*, read the whole reply (as long as the message)."""
    with socket.create_connection(address, timeout=TIMEOUT) as raw:
        with context.wrap_socket(raw, server_hostname=server_hostname) as conn:
            conn.sendall(message)
            reply = b""
            while len(reply) < len(message):
                chunk = conn.recv(len(message) - len(reply))
                if not chunk:
                    break
                reply += chunk
            return reply


def wait_for_error_records(handle, count: int) -> list:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        records = handle.log.select(kind="handler_error")
        if len(records) >= count:
            return records
        time.sleep(0.01)
    return handle.log.select(kind="handler_error")


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1"])
def test_tls_echo_verifies_the_certificate_for_the_names_it_was_issued_for(
        tls_server, client_context, name):
    assert tls_echo(tls_server.address, b"hello over tls", client_context, name) == b"HELLO OVER TLS"


def test_the_handler_reads_plaintext_and_logs_it_like_the_plain_echo(tls_server, client_context):
    tls_echo(tls_server.address, b"secret", client_context, "localhost")
    tls_server.log.wait_for(kind="closed", timeout=TIMEOUT)
    [received] = tls_server.log.select(kind="received")
    assert received.fields["data"] == b"secret"


def test_a_wrong_name_fails_verification_on_the_client_and_the_server_keeps_serving(
        tls_server, client_context):
    with pytest.raises(ssl.SSLCertVerificationError) as caught:
        tls_echo(tls_server.address, b"hello", client_context, "netlesson.example")
    assert "netlesson.example" in caught.value.verify_message
    # the server saw the client abort the handshake, logged it, and serves the next client
    [record] = wait_for_error_records(tls_server, 1)
    assert issubclass(getattr(ssl, record.fields["error_type"]), ssl.SSLError)
    assert tls_echo(tls_server.address, b"again", client_context, "localhost") == b"AGAIN"


def test_a_client_that_does_not_trust_the_ca_refuses_the_server(tls_server):
    stranger = ssl.create_default_context(cafile=None)
    stranger.load_verify_locations(cadata=trustme.CA().cert_pem.bytes().decode())
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_echo(tls_server.address, b"hello", stranger, "localhost")


def test_a_silent_client_does_not_hold_up_the_others(tls_server, client_context):
    # connects, never sends a ClientHello: its handshake waits in its own thread
    with socket.create_connection(tls_server.address, timeout=TIMEOUT):
        started = time.monotonic()
        assert tls_echo(tls_server.address, b"next", client_context, "localhost") == b"NEXT"
        assert time.monotonic() - started < tls.ClassroomTLSServer.handshake_timeout


def test_the_handshake_timeout_ends_a_silent_client(server_context):
    class QuickTLSServer(tls.ClassroomTLSServer):
        handshake_timeout = 0.2

    server = tls.create_server(server_class=QuickTLSServer, context=server_context)
    with background.start(server, "test-tls-quick") as handle:
        with socket.create_connection(handle.address, timeout=TIMEOUT) as silent:
            assert silent.recv(1) == b""  # the server gave up and closed the connection
        [record] = wait_for_error_records(handle, 1)
        assert record.fields["error_type"] in ("TimeoutError", "timeout")


def test_a_plain_tcp_client_never_gets_a_plaintext_reply(tls_server, client_context):
    with socket.create_connection(tls_server.address, timeout=TIMEOUT) as plain:
        plain.sendall(b"hello\n" * 10)
        received = b""
        try:
            while chunk := plain.recv(4096):
                received += chunk
        except ConnectionResetError:
            pass
    assert b"HELLO" not in received
    wait_for_error_records(tls_server, 1)
    assert tls_echo(tls_server.address, b"still here", client_context, "localhost") == b"STILL HERE"


def test_stop_ends_an_open_tls_connection(server_context, client_context):
    server = tls.create_server(context=server_context)
    handle = background.start(server, "test-tls-stop")
    try:
        raw = socket.create_connection(handle.address, timeout=TIMEOUT)
        with client_context.wrap_socket(raw, server_hostname="localhost") as conn:
            conn.sendall(b"x")
            assert conn.recv(1) == b"X"
            handle.stop()
            assert conn.recv(1) == b""  # the server ended the connection
    finally:
        handle.stop()
    assert not handle.running


def test_create_server_reports_a_busy_port(server_context):
    with background.start(tls.create_server(context=server_context), "test-tls-busy") as handle:
        with pytest.raises(PortInUseError):
            tls.create_server(handle.address, context=server_context)


def test_create_server_refuses_a_server_class_without_tls(server_context):
    with pytest.raises(TypeError, match="TLSServerMixIn"):
        tls.create_server(server_class=tcp.ClassroomTCPServer, context=server_context)


def test_the_context_must_be_an_ssl_context():
    with pytest.raises(TypeError, match="SSLContext"):
        tls.ClassroomTLSServer(("127.0.0.1", 0), tcp.UpperEchoHandler, context="cert.pem")
