"""Pins down the CPython internals the fast stop relies on, on every interpreter tested."""

import socket
import socketserver
import sys
import threading
import time

import pytest

from netlesson import classroom, tcp, udp
from netlesson.serverlog import ServerLog


def test_baseserver_keeps_its_shutdown_flag_in_the_private_names_we_use():
    server = socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
    try:
        assert getattr(server, classroom._FLAG) is False
        assert isinstance(getattr(server, classroom._EVENT), threading.Event)
    finally:
        server.server_close()


@pytest.mark.parametrize("server_class", [socketserver.ThreadingTCPServer, socketserver.ThreadingUDPServer])
def test_request_shutdown_wakes_a_plain_serve_forever_before_its_poll_interval(server_class):
    server = server_class(("127.0.0.1", 0), socketserver.BaseRequestHandler)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 5.0})
    t.start()
    try:
        time.sleep(0.05)  # inside select() now, for up to 5 s
        t0 = time.perf_counter()
        assert classroom.request_shutdown(server)
        t.join(2)
        assert not t.is_alive()
        assert time.perf_counter() - t0 < 1.0  # far less than the 5 s poll
    finally:
        if t.is_alive():
            server.shutdown()
        server.server_close()


def test_classroom_shutdown_from_the_serving_thread_raises_instead_of_deadlocking():
    errors = []

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            pass

    server = tcp.ClassroomTCPServer(("127.0.0.1", 0), Handler)

    def run():
        server.service_actions = lambda: _try_shutdown()
        server.serve_forever(poll_interval=0.01)

    def _try_shutdown():
        try:
            server.shutdown()
        except RuntimeError as exc:
            errors.append(str(exc))
            classroom.request_shutdown(server)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(3)
    server.server_close()
    assert not t.is_alive()
    assert errors and "would wait for itself forever" in errors[0]


def test_make_server_explains_privileged_ports():
    import errno

    class Refused:
        def __init__(self, *args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied")

    # root may bind port 80 here, so the kernel's refusal is simulated
    with pytest.raises(OSError, match="below 1024") as info:
        classroom.make_server(Refused, ("127.0.0.1", 80), socketserver.BaseRequestHandler)
    assert "127.0.0.1:80" in str(info.value)


def test_make_server_explains_an_address_this_machine_does_not_have():
    with pytest.raises(OSError, match="no such address"):
        tcp.create_server(("192.0.2.1", 0))  # TEST-NET-1: never assigned to a host


def test_udp_classroom_server_keeps_reuse_address_off():
    assert udp.ClassroomUDPServer.allow_reuse_address is False
    assert udp.ClassroomUDPServer.max_packet_size == 8192


def test_python_version_is_supported():
    assert sys.version_info >= (3, 11)


def test_classroom_shutdown_of_a_server_that_never_served_raises_instead_of_hanging():
    server = tcp.ClassroomTCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
    server.shutdown_timeout = 0.2
    try:
        t0 = time.monotonic()
        with pytest.raises(RuntimeError, match="never started"):
            server.shutdown()
        assert time.monotonic() - t0 < 2
        # and the refused shutdown does not make a later serve_forever exit at once
        t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        t.start()
        time.sleep(0.2)
        assert t.is_alive()
        server.shutdown()
        t.join(2)
        assert not t.is_alive()
    finally:
        server.server_close()


def test_stop_serving_is_bounded_and_reports_what_still_runs():
    release = threading.Event()

    class Stuck(socketserver.BaseRequestHandler):
        def handle(self):
            release.wait(5)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Stuck)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    import socket

    client = socket.create_connection(server.server_address, timeout=2)
    try:
        time.sleep(0.1)  # the handler thread is now stuck
        log = ServerLog()
        t0 = time.monotonic()
        alive = classroom.stop_serving(server, thread, timeout=0.3, log=log)
        assert time.monotonic() - t0 < 1.5
        assert not thread.is_alive()
        assert alive and [e.kind for e in log.select()] == ["close_waiting"]
    finally:
        release.set()
        client.close()


# -- the listen backlog ------------------------------------------------------
def test_classroom_servers_listen_with_a_backlog_for_a_whole_class():
    from netlesson import constants

    assert classroom.CLASS_BACKLOG == socket.SOMAXCONN
    assert tcp.ClassroomTCPServer.request_queue_size == classroom.CLASS_BACKLOG
    assert constants.back_log == 5  # the seed's value stays, for the lesson that shows it
    assert socketserver.TCPServer.request_queue_size == 5


def test_make_server_takes_a_backlog_for_one_server_without_changing_the_class():
    server = classroom.make_server(tcp.ClassroomTCPServer, ("127.0.0.1", 0), tcp.UpperEchoHandler,
                                   backlog=5)
    try:
        assert server.request_queue_size == 5
        assert type(server) is tcp.ClassroomTCPServer
        assert tcp.ClassroomTCPServer.request_queue_size == classroom.CLASS_BACKLOG
    finally:
        server.server_close()


def test_make_server_gives_a_plain_server_class_a_backlog_by_subclassing_it():
    server = classroom.make_server(socketserver.ThreadingTCPServer, ("127.0.0.1", 0),
                                   socketserver.BaseRequestHandler, backlog=64)
    try:
        assert server.request_queue_size == 64
        assert isinstance(server, socketserver.ThreadingTCPServer)
        assert type(server).__name__ == "ThreadingTCPServer"
        assert socketserver.ThreadingTCPServer.request_queue_size == 5
    finally:
        server.server_close()


@pytest.mark.parametrize("backlog", [-1, True, "5", 2.5])
def test_make_server_refuses_a_backlog_that_is_not_a_whole_number(backlog):
    with pytest.raises(ValueError, match="listen backlog"):
        classroom.make_server(tcp.ClassroomTCPServer, ("127.0.0.1", 0), tcp.UpperEchoHandler,
                              backlog=backlog)


# -- IPv4 or IPv6 ------------------------------------------------------------
@pytest.mark.parametrize("host, family", [
    ("127.0.0.1", socket.AF_INET), ("", socket.AF_INET), ("0.0.0.0", socket.AF_INET),
    ("::1", socket.AF_INET6), ("::", socket.AF_INET6), ("fe80::1%lo", socket.AF_INET6),
    ("no-such-host.invalid", socket.AF_INET),
])
def test_address_family_follows_the_host(host, family):
    assert classroom.address_family(host) == family


def test_a_name_with_an_ipv4_address_stays_ipv4_where_clients_expect_it():
    # "localhost" often resolves to ::1 as well; the course's clients meet servers on 127.0.0.1
    assert classroom.address_family("localhost") == socket.AF_INET


def test_ipv6_variant_of_a_server_class_keeps_its_name_and_bases():
    cls = classroom._ipv6_class(tcp.ClassroomTCPServer)
    assert cls.address_family == socket.AF_INET6
    assert cls.__name__ == "ClassroomTCPServer"
    assert issubclass(cls, tcp.ClassroomTCPServer) and issubclass(cls, classroom.IPv6MixIn)
    assert classroom._ipv6_class(tcp.ClassroomTCPServer) is cls  # built once


def test_an_ipv6_server_on_the_unspecified_address_is_made_dual_stack():
    """Bound to "::" the socket also takes IPv4 clients (IPV6_V6ONLY = 0) where possible.

    Checked without binding "::" (every interface): the base's server_bind is replaced.
    """
    if not socket.has_ipv6 or not socket.has_dualstack_ipv6():
        pytest.skip("no dual-stack IPv6 here")

    class _NoBind(socketserver.TCPServer):
        def server_bind(self):
            self.v6only = self.socket.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)

    class Probe(classroom.IPv6MixIn, _NoBind):
        pass

    try:
        server = Probe(("::", 0), socketserver.BaseRequestHandler, bind_and_activate=False)
    except OSError as exc:
        pytest.skip(f"no IPv6 sockets here ({exc})")
    try:
        server.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        server.server_bind()
        assert server.v6only == 0
    finally:
        server.server_close()


@pytest.mark.parametrize("module", [tcp, udp])
def test_create_server_on_ipv6_loopback_is_an_ipv6_server(module, ipv6_loopback):
    server = module.create_server((ipv6_loopback, 0))
    try:
        assert server.socket.family == socket.AF_INET6
        assert server.server_address[0] == "::1" and server.server_address[1] > 0
    finally:
        server.server_close()


@pytest.mark.parametrize("module", [tcp, udp])
def test_request_shutdown_wakes_an_ipv6_server_before_its_poll_interval(module, ipv6_loopback):
    server = module.create_server((ipv6_loopback, 0))
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 5.0})
    t.start()
    try:
        time.sleep(0.05)  # inside select() now, for up to 5 s
        assert classroom.request_shutdown(server)  # wakes it over ::1
        t.join(2)
        assert not t.is_alive()
    finally:
        if t.is_alive():
            server.shutdown()
        server.server_close()


def _in_recv(thread) -> bool:
    frame = sys._current_frames().get(thread.ident)
    return frame is not None and frame.f_code.co_name == "handle"


def test_ctrl_c_while_a_handler_thread_starts_leaves_no_thread_waiting_on_a_closed_socket():
    """A Ctrl-C can arrive while ``ThreadingMixIn.process_request`` still waits in
    ``Thread.start()`` (on a busy machine the new thread may have served its client by
    then).  ``BaseServer`` answers the ``KeyboardInterrupt`` with ``shutdown_request``,
    in the serving thread.  Closing the socket would leave the handler blocked in ``recv``
    on it for good (closing does not wake ``recv``); the classroom server wakes it
    instead, and the handler ends and closes the socket itself."""
    served = threading.Event()

    class InterruptedWhileStarting(tcp.ClassroomTCPServer):
        def get_request(self):
            request, client_address = super().get_request()
            # blocking, as outside this suite (conftest gives sockets a default timeout,
            # and a socket with a timeout waits in poll(), which a close does end)
            request.settimeout(None)
            return request, client_address

        def process_request(self, request, client_address):
            super().process_request(request, client_address)
            assert served.wait(5)
            handler = self._open_requests[id(request)][1]
            deadline = time.monotonic() + 5
            while not _in_recv(handler) and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.05)  # from handle() into the recv() system call
            raise KeyboardInterrupt  # as the signal handler would, from inside start()

    server = tcp.create_server(("127.0.0.1", 0), server_class=InterruptedWhileStarting)
    client = socket.create_connection(server.server_address, timeout=5)
    try:
        def talk():
            client.sendall(b"hi")
            assert client.recv(16) == b"HI"
            served.set()

        talker = threading.Thread(target=talk, daemon=True)
        talker.start()
        with pytest.raises(KeyboardInterrupt):
            server.handle_request()
        talker.join(5)
        assert served.is_set()
        server.close_open_requests()
        assert server.join_handlers(5) == []  # the handler saw b'' and ended
        assert client.recv(16) == b""  # ... and the client saw the connection end
        closed = server.log.select("closed")
        assert [(e.fields["messages"], e.fields["nbytes"]) for e in closed] == [(1, 2)]
    finally:
        client.close()
        server.server_close()


@pytest.mark.parametrize("module", [tcp, udp])
def test_join_handlers_waits_for_every_handler_thread_still_running(module):
    """A TCP handler untracks its connection in ``finish()`` and its thread still runs
    ``shutdown_request`` after that; a UDP handler is never tracked.  ``join_handlers``
    waits for every thread ``process_request`` started, daemon threads included, so a
    stopped server leaves no handler thread running."""
    gate = threading.Event()

    class Slow(module.ClassroomTCPServer if module is tcp else module.ClassroomUDPServer):
        def shutdown_request(self, request):
            if threading.current_thread() is not threading.main_thread():
                gate.wait(5)  # the handler is done; its thread is not
            super().shutdown_request(request)

    server = module.create_server(("127.0.0.1", 0), server_class=Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kind = socket.SOCK_STREAM if module is tcp else socket.SOCK_DGRAM
    try:
        with socket.socket(server.address_family, kind) as client:
            client.settimeout(5)
            client.connect(server.server_address)
            client.send(b"x")
            assert client.recv(16) == b"X"
        handlers = [t for t in server._threads if t.is_alive()]
        assert len(handlers) == 1 and handlers[0].daemon
        assert server.join_handlers(0.2) == handlers  # still in shutdown_request
        gate.set()
        assert server.join_handlers(5) == []
        assert not handlers[0].is_alive()
    finally:
        gate.set()
        classroom.stop_serving(server, thread, timeout=5)


def test_join_handlers_passes_over_a_thread_that_never_started():
    """``process_request`` appends its thread before ``start()``: a Ctrl-C inside that
    ``start()``, or a failed start, leaves a thread that cannot be joined."""
    server = tcp.create_server(("127.0.0.1", 0))
    try:
        server._threads.append(threading.Thread(target=lambda: None, daemon=True))
        assert server.join_handlers(1) == []
    finally:
        server.server_close()
