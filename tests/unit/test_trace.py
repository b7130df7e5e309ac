"""netlesson.trace: the recorded order of a real request, the classes, and a clean exit.

Every test runs a real server on 127.0.0.1 (port 0) and a real client with timeouts.
They run on every interpreter the course supports (3.11-3.13); only line numbers
differ between those versions, and no assertion here depends on them.
"""

from __future__ import annotations

import gc
import os
import re
import socket
import socketserver
import sys
import threading
import time
import weakref

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netlesson import background, source, tcp, trace, udp
from netlesson.trace import _clients, _runner
from netlesson.errors import ServerNotResponding

# The request path the walkthrough notebooks teach, phase by phase.
TCP_CONSTRUCT = [
    "TCPServer.__init__",
    "BaseServer.__init__",
    "TCPServer.server_bind",
    "TCPServer.server_activate",
]
TCP_SERVE = [
    "BaseServer.serve_forever",
    "BaseServer._handle_request_noblock",
    "TCPServer.get_request",
    "BaseServer.verify_request",
    "ThreadingMixIn.process_request",
]
TCP_HANDLE = [
    "ThreadingMixIn.process_request_thread",
    "BaseServer.finish_request",
    "BaseRequestHandler.__init__",
    "UpperEchoHandler.setup",
    "UpperEchoHandler.handle",
    "UpperEchoHandler.finish",
    "TCPServer.shutdown_request",
    "TCPServer.close_request",
]
UDP_CONSTRUCT = [
    "TCPServer.__init__",
    "BaseServer.__init__",
    "TCPServer.server_bind",
    "UDPServer.server_activate",
]
UDP_SERVE = [
    "BaseServer.serve_forever",
    "BaseServer._handle_request_noblock",
    "UDPServer.get_request",
    "BaseServer.verify_request",
    "ThreadingMixIn.process_request",
]
UDP_HANDLE = [
    "ThreadingMixIn.process_request_thread",
    "BaseServer.finish_request",
    "BaseRequestHandler.__init__",
    "BaseRequestHandler.setup",
    "UpperEchoDatagramHandler.handle",
    "BaseRequestHandler.finish",
    "UDPServer.shutdown_request",
    "UDPServer.close_request",
]


def projection(result: trace.Trace, phase: str, expected: list[str]) -> list[str]:
    """The phase's recorded qualnames, keeping only the names in *expected*."""
    wanted = set(expected)
    return [name for name in result.order(phase=phase, module=None) if name in wanted]


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture
def clean_exit():
    """Assert a test leaves no profiler hook, no new thread and no new socket behind."""
    sys_before = sys.getprofile()
    threading_before = threading.getprofile()
    threads_before = set(threading.enumerate())
    fds_before = open_fds() if os.path.isdir("/proc/self/fd") else None
    yield
    assert sys.getprofile() is sys_before
    assert threading.getprofile() is threading_before
    extra = [t for t in threading.enumerate() if t not in threads_before]
    assert extra == []
    if fds_before is not None:
        leaked = {fd for fd in open_fds() - fds_before
                  if os.path.exists(f"/proc/self/fd/{fd}")
                  and os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")}
        assert leaked == set()


# ---------------------------------------------------------------------------
# Order
# ---------------------------------------------------------------------------


def test_tcp_trace_records_the_seed_order_phase_by_phase(clean_exit):
    result = trace.trace_tcp(b"hello")
    assert result.reply == b"HELLO"
    assert projection(result, "construct", TCP_CONSTRUCT) == TCP_CONSTRUCT
    assert projection(result, "serve", TCP_SERVE) == TCP_SERVE
    assert projection(result, "handle", TCP_HANDLE) == TCP_HANDLE
    assert result.threads == ["main", "serve_forever", "handler"]


def test_udp_trace_records_the_seed_order_phase_by_phase(clean_exit):
    result = trace.trace_udp(b"hello")
    assert result.reply == b"HELLO"
    assert projection(result, "construct", UDP_CONSTRUCT) == UDP_CONSTRUCT
    assert projection(result, "serve", UDP_SERVE) == UDP_SERVE
    assert projection(result, "handle", UDP_HANDLE) == UDP_HANDLE
    assert result.threads == ["main", "serve_forever", "handler"]


def test_main_path_is_exactly_the_walkthrough_steps():
    result = trace.trace_tcp()
    assert result.order(main_path=True) == (
        TCP_CONSTRUCT + TCP_SERVE + TCP_HANDLE[:4] + ["BaseRequestHandler.setup"]
        + TCP_HANDLE[4:6] + ["BaseRequestHandler.finish"] + TCP_HANDLE[6:]
    )
    # helpers are recorded, but are not steps of the path
    everything = result.order()
    assert "BaseServer.service_actions" in everything
    assert "TCPServer.fileno" in everything
    assert "BaseServer.service_actions" not in result.order(main_path=True)


def test_calls_are_in_a_causal_order_that_is_the_same_on_every_run():
    """Running the same trace twice gives the same text: stored notebook output is stable."""
    first, second = trace.trace_tcp(), trace.trace_tcp()
    assert str(first) == str(second)
    names = [c.qualname for c in first.calls]
    threads = [c.thread for c in first.calls]
    # the handler thread is one block, right after process_request and its callees,
    # and the serving thread's loop continues after it
    start, end = threads.index("handler"), len(threads) - threads[::-1].index("handler")
    assert set(threads[start:end]) == {"handler"}
    assert "handler" not in threads[:start] + threads[end:]
    assert names[start - 3:start] == [
        "ThreadingMixIn.process_request", "_Threads.append", "_Threads.reap"]
    assert names[end:] == ["BaseServer.service_actions"]
    assert first.started_by("handler").qualname == "ThreadingMixIn.process_request"
    assert first.started_by("serve_forever") is None
    assert first.starters == {"handler": first.started_by("handler")}
    with pytest.raises(ValueError, match="no thread"):
        first.started_by("handler 7")
    # the real interleaving holds the same calls, each thread in the same order
    real = first.timeline()
    assert sorted(map(str, real)) == sorted(map(str, first.calls))
    for label in first.threads:
        assert [c for c in real if c.thread == label] == [c for c in first.calls if c.thread == label]


def test_depth_reflects_who_called_whom():
    result = trace.trace_tcp()
    by_name = {c.qualname: c for c in result.calls}
    assert by_name["TCPServer.__init__"].depth == 0
    assert by_name["BaseServer.__init__"].depth == 1
    assert by_name["TCPServer.server_bind"].depth == 1
    assert by_name["BaseServer.serve_forever"].depth == 0
    assert by_name["TCPServer.get_request"].depth == by_name["BaseServer._handle_request_noblock"].depth + 1
    assert by_name["ThreadingMixIn.process_request_thread"].depth == 0
    assert by_name["UpperEchoHandler.handle"].depth == by_name["BaseRequestHandler.__init__"].depth + 1
    assert by_name["TCPServer.close_request"].depth == by_name["TCPServer.shutdown_request"].depth + 1


def test_server_without_mixin_handles_in_the_serving_thread(clean_exit):
    result = trace.trace_tcp(b"abc", server_class=socketserver.TCPServer)
    assert result.reply == b"ABC"
    assert result.threads == ["main", "serve_forever"]
    serve = result.order(phase="serve", main_path=True)
    assert serve[:5] == [
        "BaseServer.serve_forever",
        "BaseServer._handle_request_noblock",
        "TCPServer.get_request",
        "BaseServer.verify_request",
        "BaseServer.process_request",
    ]
    assert serve[-2:] == ["TCPServer.shutdown_request", "TCPServer.close_request"]
    assert result.order(phase="handle") == []


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=st.binary(max_size=3000))
def test_tcp_path_does_not_depend_on_the_message(message):
    result = trace.trace_tcp(message)
    assert result.reply == message.upper()
    assert projection(result, "serve", TCP_SERVE) == TCP_SERVE
    assert projection(result, "handle", TCP_HANDLE) == TCP_HANDLE


@settings(max_examples=8, deadline=None)
@given(message=st.binary(max_size=socketserver.UDPServer.max_packet_size))
def test_udp_path_does_not_depend_on_the_datagram(message):
    result = trace.trace_udp(message)
    assert result.reply == message.upper()
    assert projection(result, "handle", UDP_HANDLE) == UDP_HANDLE


# ---------------------------------------------------------------------------
# Defining classes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("run", [trace.trace_tcp, trace.trace_udp], ids=["tcp", "udp"])
def test_defining_class_is_the_one_attribute_lookup_finds(run):
    result = run()
    server_class, handler = result.server_class, result.handler_class
    for index, call in enumerate(result.calls):
        assert call.defining_class is not None
        assert call.method in vars(call.defining_class), call
        assert call.qualname == f"{call.defining_class.__name__}.{call.method}"
        # A call reached by ordinary lookup on the instance (not by super() or an
        # explicit BaseServer.__init__(self, ...)) must come from the class that
        # Python's own lookup picks.
        parent = next((p for p in reversed(result.calls[:index])
                       if p.thread == call.thread and p.depth == call.depth - 1), None)
        if parent is not None and parent.method == call.method:
            continue
        if issubclass(server_class, call.defining_class):
            assert source.defining_class(server_class, call.method) is call.defining_class, call
        elif issubclass(handler, call.defining_class):
            assert source.defining_class(handler, call.method) is call.defining_class, call


def test_known_suppliers():
    tcp_calls = {c.method: c.defining_class for c in trace.trace_tcp().calls if c.depth <= 3}
    assert tcp_calls["process_request"] is socketserver.ThreadingMixIn
    assert tcp_calls["process_request_thread"] is socketserver.ThreadingMixIn
    assert tcp_calls["get_request"] is socketserver.TCPServer
    assert tcp_calls["serve_forever"] is socketserver.BaseServer
    assert tcp_calls["finish_request"] is socketserver.BaseServer
    assert tcp_calls["handle"] is tcp.UpperEchoHandler
    udp_calls = {c.method: c.defining_class for c in trace.trace_udp().calls}
    assert udp_calls["server_activate"] is socketserver.UDPServer
    assert udp_calls["get_request"] is socketserver.UDPServer
    assert udp_calls["server_bind"] is socketserver.TCPServer
    assert udp_calls["close_request"] is socketserver.UDPServer


def test_classroom_servers_show_their_own_overrides(clean_exit):
    result = trace.trace_tcp(server_class=tcp.ClassroomTCPServer)
    assert result.reply == b"HELLO"
    everything = result.order(module=None)
    assert everything[:2] == ["ClassroomServerMixIn.__init__", "TCPServer.__init__"]
    assert "ClassroomServerMixIn.serve_forever" in everything
    assert result.find("ClassroomServerMixIn.serve_forever")[0].filename == "netlesson/classroom.py"
    # the socketserver path underneath is unchanged
    assert projection(result, "construct", TCP_CONSTRUCT) == TCP_CONSTRUCT
    assert projection(result, "serve", TCP_SERVE) == TCP_SERVE
    assert projection(result, "handle", TCP_HANDLE) == TCP_HANDLE
    # the default view leaves netlesson's classroom additions out
    assert "ClassroomServerMixIn.serve_forever" not in result.order()

    result = trace.trace_udp(server_class=udp.ClassroomUDPServer)
    serve = result.order(phase="serve", module=None, main_path=True)
    assert serve.index("ClassroomUDPServer.get_request") + 1 == serve.index("UDPServer.get_request")
    assert projection(result, "handle", UDP_HANDLE) == UDP_HANDLE


class ShoutingHandler(socketserver.BaseRequestHandler):
    """A student's handler: one recv, one reply."""

    def handle(self):
        data = self.request.recv(1024)
        self.request.sendall(data.upper() + b"!")


def test_a_students_handler_is_traced_with_its_own_file():
    result = trace.trace_tcp(b"hi", handler=ShoutingHandler)
    assert result.reply == b"HI!"
    handle = result.find("handle")[0]
    assert handle.defining_class is ShoutingHandler
    assert handle.qualname == "ShoutingHandler.handle"
    assert handle.filename.endswith("test_trace.py")
    assert not os.path.isabs(handle.filename)
    assert "ShoutingHandler.handle" in result.order()  # the handler counts as "the story"


# ---------------------------------------------------------------------------
# Clean exit, also on failure
# ---------------------------------------------------------------------------


def test_hooks_removed_when_the_client_fails(monkeypatch, clean_exit):
    def broken_client(address, message, timeout):
        with socket.create_connection(address, timeout=timeout) as sock:
            sock.sendall(message)
        raise ConnectionError("client gave up")

    monkeypatch.setattr(_clients, "tcp_request", broken_client)
    with pytest.raises(ConnectionError, match="client gave up"):
        trace.trace_tcp(b"hello", timeout=2.0)


class SlowToAcceptServer(socketserver.ThreadingTCPServer):
    """Accepts 0.3 s late: the client below has given up before the handler thread starts."""

    def get_request(self):
        time.sleep(0.3)
        return super().get_request()


def test_a_request_taken_after_the_client_failed_is_let_finish_quickly(monkeypatch, clean_exit):
    """The handler thread starting after the client's failure must still be traced.

    Otherwise its end is never seen, the trace waits out the whole timeout for it,
    and has no time left to stop the server.
    """
    def hit_and_run(address, message, timeout):
        with socket.create_connection(address, timeout=timeout) as sock:
            sock.sendall(message)
        time.sleep(0.1)  # the server is inside get_request now, not yet accepted
        raise ConnectionError("client gave up")

    monkeypatch.setattr(_clients, "tcp_request", hit_and_run)
    started = time.monotonic()
    with pytest.raises(ConnectionError) as caught:
        trace.trace_tcp(b"hello", server_class=SlowToAcceptServer, timeout=6.0)
    assert not getattr(caught.value, "__notes__", None)  # nothing was left running
    assert time.monotonic() - started < 3.5  # not the whole 6 s timeout


def test_hooks_removed_when_the_client_cannot_even_connect(monkeypatch, clean_exit):
    def no_client(address, message, timeout):
        raise OSError("network is down")

    monkeypatch.setattr(_clients, "tcp_request", no_client)
    with pytest.raises(OSError, match="network is down"):
        trace.trace_tcp()


class FailingDatagramHandler(socketserver.BaseRequestHandler):
    def handle(self):
        raise RuntimeError("student bug")


def test_hooks_removed_when_the_handler_raises(clean_exit, capsys):
    with pytest.raises(ServerNotResponding):
        trace.trace_udp(b"x", handler=FailingDatagramHandler, timeout=0.5)
    # socketserver reported the bug via handle_error, on stderr, and kept serving
    assert "student bug" in capsys.readouterr().err


class FailingStreamHandler(socketserver.BaseRequestHandler):
    def handle(self):
        raise RuntimeError("student bug")


def test_a_failing_tcp_handler_shows_handle_error_in_the_trace(clean_exit, capsys):
    result = trace.trace_tcp(b"x", handler=FailingStreamHandler)
    assert result.reply == b""  # the server closed the connection without a reply
    handle_order = result.order(phase="handle")
    assert handle_order.index("BaseServer.handle_error") > handle_order.index("FailingStreamHandler.handle")
    assert handle_order[-2:] == ["TCPServer.shutdown_request", "TCPServer.close_request"]
    assert "student bug" in capsys.readouterr().err


class SlowToHalfCloseSocket(socket.socket):
    """A client socket whose shutdown() comes late: after the server has reset the connection."""

    def shutdown(self, how):
        time.sleep(0.3)
        super().shutdown(how)


def test_a_handler_that_ends_without_reading_resets_the_connection_and_is_still_traced(
        monkeypatch, clean_exit, capsys):
    """Closing a socket with unread data sends a reset; the client must take it as the end.

    The handler raises before reading b"x", so the server closes with the byte unread
    and the kernel resets the connection.  A client whose half-close comes after that
    gets ENOTCONN from shutdown() and ECONNRESET from recv(); both just mean "over".
    """
    real = socket.create_connection

    def late_half_close(address, timeout=None, *args, **kwargs):
        conn = real(address, timeout, *args, **kwargs)
        slow = SlowToHalfCloseSocket(conn.family, conn.type, conn.proto, fileno=conn.detach())
        slow.settimeout(timeout)
        return slow

    monkeypatch.setattr(socket, "create_connection", late_half_close)
    result = trace.trace_tcp(b"x", handler=FailingStreamHandler)
    assert result.reply == b""
    assert "BaseServer.handle_error" in result.order(phase="handle")
    assert "student bug" in capsys.readouterr().err


class StuckHandler(socketserver.BaseRequestHandler):
    release = threading.Event()

    def handle(self):
        self.release.wait(10)


def _release_and_join(event: threading.Event) -> None:
    event.set()
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and thread.name.startswith(("Thread-", "netlesson-")):
            thread.join(5)
            assert not thread.is_alive(), thread


def test_a_handler_that_never_finishes_does_not_hang_the_trace():
    """The error says what happened (no end of reply), and all waits share one deadline.

    With timeout=2 the trace used to wait for the client (2 s), for the handler
    (2 s more) and for the handler thread (2 s more), and then blamed a short reply.
    Now: one deadline for the request, plus at most 1 s to stop the server (~3 s).
    """
    StuckHandler.release.clear()
    before = (sys.getprofile(), threading.getprofile())
    started = time.monotonic()
    try:
        with pytest.raises(trace.TraceError) as caught:
            trace.trace_tcp(b"x", handler=StuckHandler, timeout=2.0)
        elapsed = time.monotonic() - started
        assert (sys.getprofile(), threading.getprofile()) == before
    finally:
        _release_and_join(StuckHandler.release)
    message = str(caught.value)
    assert "the handler sent nothing and never closed the connection within 2 s" in message
    assert "expected" not in message  # not "sent 1 of the 1 reply bytes expected"
    notes = "\n".join(getattr(caught.value, "__notes__", []))
    assert "1 handler thread" in notes and "server_close() was attempted" in notes
    assert elapsed < 4.5, f"the trace took {elapsed:.1f} s; the waits must share one deadline"


class ReplyThenWaitHandler(socketserver.BaseRequestHandler):
    """Answers, then waits instead of returning: the reply never ends."""

    release = threading.Event()

    def handle(self):
        self.request.sendall(self.request.recv(1024).upper())
        self.release.wait(10)


def test_a_handler_that_replies_but_never_returns_is_named_as_such():
    ReplyThenWaitHandler.release.clear()
    try:
        with pytest.raises(trace.TraceError, match=r"the handler sent 5 bytes \(b'HELLO'\) but never "
                                                   r"closed the connection within 0\.5 s"):
            trace.trace_tcp(b"hello", handler=ReplyThenWaitHandler, timeout=0.5)
    finally:
        _release_and_join(ReplyThenWaitHandler.release)


def test_the_stop_sequence_is_classrooms_bounded_one(monkeypatch):
    """trace stops its server with classroom.stop_serving, within the shared deadline."""
    calls = []
    real = _runner.stop_serving

    def spy(server, thread, timeout, **kwargs):
        calls.append(timeout)
        return real(server, thread, timeout, **kwargs)

    monkeypatch.setattr(_runner, "stop_serving", spy)
    assert trace.trace_tcp(timeout=3.0).reply == b"HELLO"
    assert len(calls) == 1 and 0 < calls[0] <= 3.0


class SpawningHandler(socketserver.BaseRequestHandler):
    """A handler that starts a worker thread which outlives the request."""

    running = threading.Event()
    go = threading.Event()
    checked = threading.Event()
    workers: list[threading.Thread] = []
    during: list = []
    after: list = []

    def handle(self):
        data = self.request.recv(1024)
        worker = threading.Thread(target=self.work, name="Thread-spawned-by-handler", daemon=True)
        self.workers.append(worker)
        worker.start()
        self.running.wait(5)  # the worker runs, so threading has given it its profiler
        self.request.sendall(data.upper())

    @classmethod
    def work(cls):
        profile = sys.getprofile()
        # weakly: the test checks that nothing but the hook keeps the recorder alive
        cls.during.append(weakref.ref(profile.__self__) if hasattr(profile, "__self__") else profile)
        cls.running.set()
        cls.go.wait(10)
        profile = sys.getprofile()  # the first call after the trace has happened by now
        cls.after.append(profile if profile is None or profile is _outer_profiler
                         else getattr(profile, "__qualname__", repr(profile)))
        cls.checked.set()
        cls.go.wait(10)  # stay alive while the test looks

    @classmethod
    def reset(cls):
        for event in (cls.running, cls.go, cls.checked):
            event.clear()
        for bucket in (cls.workers, cls.during, cls.after):
            bucket.clear()


def _outer_profiler(frame, event, arg):
    return None


@pytest.mark.parametrize("previous", [None, _outer_profiler], ids=["no-profiler", "outer-profiler"])
def test_threads_started_during_the_trace_drop_the_hook_afterwards(previous, clean_exit):
    """threading.setprofile(old) does not reach running threads: they remove the hook themselves."""
    SpawningHandler.reset()
    threading.setprofile(previous)
    try:
        result = trace.trace_tcp(b"hi", handler=SpawningHandler)
    finally:
        threading.setprofile(None)
    try:
        assert result.reply == b"HI"
        [recorder] = SpawningHandler.during
        assert isinstance(recorder, weakref.ref)  # the hook was installed in the worker
        SpawningHandler.go.set()
        assert SpawningHandler.checked.wait(5)
        assert SpawningHandler.after == [previous]
        gc.collect()
        assert recorder() is None, "a live thread still keeps the trace's recorder alive"
    finally:
        SpawningHandler.go.set()
        for worker in SpawningHandler.workers:
            worker.join(5)


class ProfileReportingHandler(socketserver.StreamRequestHandler):
    """For each line: does this handler thread run under a profiler?"""

    timeout = 10

    def handle(self):
        while self.rfile.readline():
            profile = sys.getprofile()
            self.wfile.write(b"none\n" if profile is None
                             else getattr(profile, "__qualname__", "other").encode() + b"\n")


def test_another_servers_handler_thread_started_during_the_trace_drops_the_hook(monkeypatch):
    other = background.start_tcp("test-trace-other-profile", handler=ProfileReportingHandler)
    held: list[socket.socket] = []
    real = _clients.tcp_request

    def client(address, message, timeout):
        # a student's client connects to their other server while the trace runs
        conn = socket.create_connection(other.address, timeout=5)
        held.append(conn)
        conn.sendall(b"during\n")
        held.append(conn.makefile("rb"))
        assert held[1].readline() == b"Recorder.hook\n"  # the hook did reach that thread
        return real(address, message, timeout)

    monkeypatch.setattr(_clients, "tcp_request", client)
    try:
        assert trace.trace_tcp().reply == b"HELLO"
        conn, reader = held
        conn.sendall(b"after\n")
        assert reader.readline() == b"none\n"
    finally:
        for thing in reversed(held):
            thing.close()
        other.stop()


def test_a_profiler_set_before_is_kept_and_restored(clean_exit):
    events = []

    def outer_profiler(frame, event, arg):
        events.append(event)

    sys.setprofile(outer_profiler)
    try:
        trace.trace_tcp()
        assert sys.getprofile() is outer_profiler
    finally:
        sys.setprofile(None)
    assert "call" in events  # it kept receiving events while the trace ran


def test_another_running_server_does_not_leak_into_the_trace():
    stop = threading.Event()
    other = background.start_tcp("test-trace-other")
    replies = []

    def chatter():
        while not stop.is_set():
            replies.append(tcp.echo("noise", other.address, timeout=2))

    talker = threading.Thread(target=chatter, daemon=True)
    talker.start()
    try:
        result = trace.trace_tcp()
    finally:
        stop.set()
        talker.join(5)
        other.stop()
    assert replies  # the other server was busy while we traced
    assert result.threads == ["main", "serve_forever", "handler"]
    assert len(result.find("process_request_thread")) == 1


def test_forking_servers_are_refused():
    if not hasattr(socketserver, "ForkingTCPServer"):
        pytest.skip("no os.fork on this platform")
    with pytest.raises(ValueError, match="fork"):
        trace.trace_tcp(server_class=socketserver.ForkingTCPServer)
    with pytest.raises(TypeError):
        trace.trace_tcp(handler=object)
    assert sys.getprofile() is None and threading.getprofile() is None


# ---------------------------------------------------------------------------
# Displays
# ---------------------------------------------------------------------------


def test_text_has_no_paths_ports_or_thread_idents(monkeypatch):
    seen = {}
    real = _clients.tcp_request

    def spy(address, message, timeout):
        seen["port"] = address[1]
        return real(address, message, timeout)

    monkeypatch.setattr(_clients, "tcp_request", spy)
    result = trace.trace_tcp()
    text = str(result)
    assert text == repr(result)
    assert str(seen["port"]) not in text
    assert "127.0.0.1" not in text
    assert not re.search(r"\d{5,}", text)  # no port, no thread ident, no fd
    assert "0x" not in text
    assert os.sep + "lib" not in text and os.getcwd() not in text
    lines = text.splitlines()
    assert lines[0].startswith("ThreadingTCPServer + UpperEchoHandler: one TCP request b'hello'")
    assert re.fullmatch(r" 1\. \[main\] +TCPServer\.__init__  \(socketserver\.py:\d+\)", lines[1])
    assert len(lines) == len(result.calls) + 1
    for call in result.calls:
        assert not os.path.isabs(call.filename)
        assert call.filename in ("socketserver.py", "netlesson/tcp.py")


def test_pretty_and_html_displays():
    result = trace.trace_udp()

    class Printer:
        def __init__(self):
            self.parts = []

        def text(self, s):
            self.parts.append(s)

    p = Printer()
    result._repr_pretty_(p, False)
    assert "".join(p.parts) == str(result)
    page = result._repr_html_()
    assert page.count("<tr") == len(result.calls) + 1
    assert "UDPServer.get_request" in page and "socketserver.py:" in page
    assert os.getcwd() not in page


def test_focus_marks_the_step_in_context():
    result = trace.trace_tcp()
    excerpt = result.focus("server_bind")
    lines = str(excerpt).splitlines()
    marked = [line for line in lines if line.startswith("-> ")]
    assert len(marked) == 1 and "TCPServer.server_bind" in marked[0]
    assert any("BaseServer.__init__" in line for line in lines)
    assert any("TCPServer.server_activate" in line for line in lines)
    assert [c.qualname for c in excerpt.calls] == ["TCPServer.server_bind"]
    assert "<table" in excerpt._repr_html_()
    with pytest.raises(ValueError, match="no recorded call"):
        result.focus("no_such_method")


def test_order_rejects_an_unknown_phase():
    with pytest.raises(ValueError, match="phase"):
        trace.trace_tcp().order(phase="handling")


def test_diagram_has_one_lane_per_thread_and_starts_the_handler_from_process_request():
    result = trace.trace_tcp()
    diagram = result.diagram()
    summary = str(diagram)
    assert summary.splitlines()[0].startswith("Call flow of one TCP request (ThreadingTCPServer)")
    assert f"{len(result.calls)} calls in 3 threads" in summary.splitlines()[0]
    lanes = [line.split(":", 1)[0] for line in summary.splitlines()[1:]]
    assert lanes == result.threads
    handler_lane = next(line for line in summary.splitlines() if line.startswith("handler:"))
    assert handler_lane.split(": ", 1)[1].split(" → ") == result.order(phase="handle", module=None)
    # the dashed "new thread" arrow leaves the call that started the thread
    node = {id(call): diagram.nodes[i] for i, call in enumerate(result.calls)}
    first_handler_call = next(c for c in result.calls if c.thread == "handler")
    into_handler = [e for e in diagram.edges if e.kind == "thread" and e.head == node[id(first_handler_call)]]
    assert [e.tail for e in into_handler] == [node[id(result.started_by("handler"))]]
