"""The notebook launcher: start, restart under a name, stop fast, leave nothing behind."""

import gc
import io
import logging
import os
import socket
import socketserver
import threading
import time

import pytest

from netlesson import background, classroom, tcp, udp
from netlesson.serverlog import ServerLog



def open_fds() -> set:
    return set(os.listdir("/proc/self/fd"))


def live_threads() -> set:
    return {t for t in threading.enumerate() if t.is_alive()}


def test_start_tcp_binds_port_zero_and_reports_the_real_port():
    with background.start_tcp("test-bg-port") as srv:
        assert srv.host == "127.0.0.1"
        assert srv.port != 0
        assert srv.server.server_address == srv.address
        assert srv.running
        assert "running" in repr(srv)
    assert not srv.running
    assert "stopped" in repr(srv)


def test_starting_under_a_running_name_stops_the_old_server_first():
    first = background.start_tcp("test-bg-rerun")
    second = background.start_tcp("test-bg-rerun")
    try:
        assert not first.running
        assert second.running
        assert background.get("test-bg-rerun") is second
        with pytest.raises(OSError):  # the old port is closed
            socket.create_connection(first.address, timeout=1).close()
    finally:
        second.stop()


def test_restarting_on_a_fixed_port_under_the_same_name_succeeds():
    srv = background.start_tcp("test-bg-fixed")
    port = srv.port
    tcp.echo("x", srv.address)  # leave a connection in TIME_WAIT
    again = background.start_tcp("test-bg-fixed", port=port)
    try:
        assert again.port == port
        assert tcp.echo("y", again.address) == "Y"
    finally:
        again.stop()


def _settle(predicate, timeout=2.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.01)
    return predicate()


@pytest.mark.parametrize("kind", ["tcp", "udp"])
def test_restarting_a_named_server_50_times_leaks_no_threads_or_sockets(kind):
    start = background.start_tcp if kind == "tcp" else background.start_udp
    client = tcp.echo if kind == "tcp" else udp.echo
    threads_before = live_threads()
    fds_before = open_fds()
    for i in range(50):
        srv = start(f"test-bg-50-{kind}")
        assert client(f"round {i}", srv.address) == f"ROUND {i}"
    srv.stop()
    assert _settle(lambda: live_threads() <= threads_before), live_threads() - threads_before
    assert _settle(lambda: open_fds() <= fds_before), open_fds() - fds_before


def test_stop_with_connected_clients_returns_promptly_and_frees_the_port():
    # A 10 s poll interval: a stop that waited out the poll, or for a handler
    # thread stuck in recv(), would take seconds, so the 2 s bound below has a
    # wide margin on a loaded machine.  The real numbers are in benchmarks/.
    server = tcp.create_server(log=ServerLog(100))
    srv = background.start(server, "test-bg-connected", poll_interval=10)
    clients = [tcp.TCPEchoClient(srv.address, timeout=5).connect() for _ in range(5)]
    try:
        for c in clients:
            assert c.send("hi") == "HI"  # each has a live handler thread in recv()
        t0 = time.perf_counter()
        srv.stop()
        elapsed = time.perf_counter() - t0
        assert elapsed < 2, f"stop() took {elapsed:.3f} s"
        # the handlers saw end-of-stream: each client sees the connection closed
        for c in clients:
            assert c.sock.recv(10) == b""
        with socket.socket() as s:  # the port is free again
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(srv.address)
    finally:
        for c in clients:
            c.close()


def test_stop_is_idempotent_and_context_manager_stops():
    with background.start_udp("test-bg-idem") as srv:
        pass
    srv.stop()
    srv.stop()
    assert background.get("test-bg-idem") is None


def test_stop_all_stops_every_server():
    a = background.start_tcp("test-bg-all-a")
    b = background.start_udp("test-bg-all-b")
    assert background.stop_all() >= 2
    assert not a.running and not b.running
    assert background.running() == []


def test_start_runs_a_plain_socketserver_and_gives_it_a_log():
    server = socketserver.TCPServer(("127.0.0.1", 0), tcp.UpperEchoHandler)
    with background.start(server, "test-bg-plain") as srv:
        assert isinstance(srv.log, ServerLog)
        assert tcp.echo("plain", srv.address) == "PLAIN"
        assert srv.log.wait_for(kind="received", data=b"plain", timeout=2)


def test_stop_does_not_hang_on_a_plain_server_with_a_connected_client():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), tcp.UpperEchoHandler)
    srv = background.start(server, "test-bg-plain-busy")
    client = tcp.TCPEchoClient(srv.address, timeout=5).connect()
    try:
        assert client.send("x") == "X"
        t0 = time.perf_counter()
        srv.stop(timeout=0.3)  # server_close() joins handler threads: bounded here
        assert time.perf_counter() - t0 < 2
        assert srv.log.wait_for(kind="close_waiting", timeout=1)
    finally:
        client.close()


def test_handler_threads_never_print(capfd, tcp_server, udp_server):
    tcp.echo("quiet please", tcp_server.address)
    udp.echo("quiet please", udp_server.address)
    tcp_server.log.wait_for(kind="closed", timeout=2)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_log_is_bounded_so_a_busy_server_does_not_grow_memory():
    with background.start_tcp("test-bg-bounded", log_size=10) as srv:
        with tcp.TCPEchoClient(srv.address) as c:
            for i in range(40):
                c.send(f"m{i}")
        assert srv.log.wait_for(kind="received", data=b"m39", timeout=2)
        assert len(srv.log) == 10
        assert srv.log.dropped > 0


def test_show_log_prints_from_the_calling_thread(capsys):
    with background.start_tcp("test-bg-show") as srv:
        tcp.echo("shown", srv.address)
        srv.log.wait_for(kind="closed", timeout=2)
        srv.show_log(last=1)
    assert capsys.readouterr().out.startswith("closed: 127.0.0.1:")


def test_log_records_render_the_lines_notebooks_show():
    """Records are data; their text is rendered from kind, peer and fields, unchanged wording."""
    log = ServerLog()
    peer = ("127.0.0.1", 5000)
    log.record("connected", peer)
    log.record("received", peer, data=b"hi \xe4\xbd\xa0")
    log.record("received", peer, data=b"y" * 8192)
    log.record("reset", peer)
    log.record("closed", peer, messages=3, nbytes=33)
    log.record("truncated", peer, nbytes=8192)
    log.record("handler_error", ("::1", 5001, 0, 0), error=ValueError("x"), traceback="Tb")
    log("a {free} sentence")
    assert log.lines() == [
        "connected: 127.0.0.1:5000",
        "received b'hi \\xe4\\xbd\\xa0' from 127.0.0.1:5000",
        f"received {b'y' * 60!r}... (8192 bytes) from 127.0.0.1:5000",
        "reset by client: 127.0.0.1:5000 (it aborted: closed with unread data or SO_LINGER 0)",
        "closed: 127.0.0.1:5000 (3 recv, 33 bytes)",
        "datagram from 127.0.0.1:5000 was longer than 8192 bytes: max_packet_size cut it; "
        "echoing the first 8192 bytes",
        "exception while handling a request from [::1]:5001 (the server keeps serving): "
        "ValueError: x\nTb",
        "a {free} sentence",
    ]
    assert [e.kind for e in log.select()][-1] == "note"
    with pytest.raises(ValueError, match="unknown log record kind 'recieved'"):
        log.record("recieved", peer)


def test_log_select_matches_kind_peer_and_fields():
    log = ServerLog()
    log.record("closed", ("127.0.0.1", 5000), messages=1, nbytes=3)
    log.record("closed", ("::1", 5000, 0, 0), messages=2, nbytes=3)
    log.record("received", ("127.0.0.1", 5000), data=b"abc")
    assert [e.seq for e in log.select("closed")] == [1, 2]
    assert [e.seq for e in log.select(peer=("127.0.0.1", 5000))] == [1, 3]
    assert [e.seq for e in log.select(peer=("::1", 5000))] == [2]  # host and port compared
    assert [e.seq for e in log.select("closed", nbytes=3, messages=2)] == [2]
    assert [e.seq for e in log.select(after=2)] == [3]
    assert log.wait_for(kind="received", data=b"abc", timeout=0).seq == 3
    assert log.wait_for(kind="received", data=b"xyz", timeout=0) is None


def test_log_echo_writes_each_records_text_to_a_terminal():
    """The command-line servers' ServerLog(200, echo=sys.stdout): like the seed's print()."""
    terminal = io.StringIO()
    log = ServerLog(200, echo=terminal)
    log.record("received", ("127.0.0.1", 5000), data=b"hi")
    log("bye")
    assert terminal.getvalue() == "received b'hi' from 127.0.0.1:5000\nbye\n"


def test_a_plain_server_without_a_log_sends_records_to_logging(caplog):
    class Plain:  # a socketserver server nobody gave a log
        pass

    with caplog.at_level(logging.INFO, logger="netlesson"):
        classroom.peer_log(Plain(), ("127.0.0.1", 5000))("closed", messages=1, nbytes=2)
    (record,) = caplog.records
    assert record.getMessage() == "closed: 127.0.0.1:5000 (1 recv, 2 bytes)"
    assert record.kind == "closed" and record.peer == ("127.0.0.1", 5000)


def test_server_log_counts_dropped_lines_but_not_cleared_ones():
    log = ServerLog(3)
    for i in range(5):
        log(f"line {i}")
    assert log.lines() == ["line 2", "line 3", "line 4"]
    assert log.dropped == 2
    log.clear()
    assert log.dropped == 0 and len(log) == 0
    log("after clear")
    assert log.dropped == 0
    assert [e.seq for e in log.select()] == [6]
    assert log.select(after=5)[0].text == "after clear"


class _Crashes(socketserver.BaseRequestHandler):
    def handle(self):
        raise ValueError("student bug")


@pytest.mark.parametrize("kind", ["tcp", "udp"])
def test_crashing_handler_goes_to_the_log_not_to_stderr_and_server_keeps_serving(kind, capfd):
    start = background.start_tcp if kind == "tcp" else background.start_udp
    with start(f"test-bg-crash-{kind}", handler=_Crashes) as srv:
        if kind == "tcp":
            with pytest.raises(OSError):  # the handler died: no reply, connection closed
                tcp.echo("x", srv.address, timeout=1)
        else:
            with pytest.raises(OSError):
                udp.echo("x", srv.address, timeout=0.1, retries=0)
        error = srv.log.wait_for(kind="handler_error", timeout=2)
        assert error is not None
        assert (error.fields["error_type"], error.fields["message"]) == ("ValueError", "student bug")
        assert error.peer[0] == "127.0.0.1"
        assert 'raise ValueError("student bug")' in error.fields["traceback"]
        assert srv.running
        out, err = capfd.readouterr()  # the handler thread printed nothing
        assert "student bug" not in out + err
    assert error.text.startswith(f"exception while handling a request from 127.0.0.1:"
                                 f"{error.peer[1]} (the server keeps serving): "
                                 f"ValueError: student bug\nTraceback (most recent call last):")
    # the end of the block, in this thread, names the error once
    out, err = capfd.readouterr()
    assert out.count("ValueError: student bug") == 1 and not err


def test_a_block_whose_handler_raised_says_so_when_it_ends(capsys):
    with background.start_tcp("test-bg-says", handler=_Crashes) as srv:
        for _ in range(2):
            with pytest.raises(OSError):
                tcp.echo("x", srv.address, timeout=1)
        assert srv.log.wait_for(lambda _: len(srv.log.select("handler_error")) == 2, timeout=2)
    assert capsys.readouterr().out == (
        "server 'test-bg-says' logged 2 errors while this block ran; the last: "
        "ValueError: student bug\n"
        "(its log has the full traceback: show_log() on the handle prints it)\n")


def test_an_exception_leaving_the_block_carries_the_servers_error_as_a_note(capsys):
    class Refuses(socketserver.ThreadingTCPServer):
        def verify_request(self, request, client_address):
            raise NotImplementedError()

    server = Refuses(("127.0.0.1", 0), socketserver.BaseRequestHandler)
    with pytest.raises(OSError) as caught:
        with background.start(server, "test-bg-note") as srv:
            with socket.create_connection(srv.address, timeout=2) as client:
                assert srv.log.wait_for(kind="serve_error", error_type="NotImplementedError",
                                        timeout=2)
                client.sendall(b"x")
                client.recv(1)  # serve_forever died: the connection is reset or closed
                raise ConnectionError("no reply")  # what a client reports in either case
    notes = getattr(caught.value, "__notes__", [])
    assert len(notes) == 1
    assert notes[0].startswith("server 'test-bg-note' logged an error while this block ran; "
                               "the last: NotImplementedError\n")
    assert capsys.readouterr().out == ""


def test_a_plain_servers_handler_error_goes_to_the_log_not_stderr(capfd):
    """A student's own ThreadingTCPServer keeps BaseServer.handle_error, which prints."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Crashes)
    server.daemon_threads = True
    with background.start(server, "test-bg-plain-error") as srv:
        with socket.create_connection(srv.address, timeout=2) as client:
            client.sendall(b"x")
            assert client.recv(1) == b""  # the handler died; the request was shut down
        assert srv.log.wait_for(kind="handler_error", error_type="ValueError",
                                message="student bug", timeout=2)
        out, err = capfd.readouterr()
        assert "student bug" not in out + err  # nothing printed from the handler's thread
    assert "the last: ValueError: student bug" in capfd.readouterr().out


def test_a_clean_block_prints_nothing(capsys):
    with background.start_udp("test-bg-clean") as srv:
        assert udp.echo("ok", srv.address, timeout=1) == "OK"
    assert capsys.readouterr().out == ""
    assert srv.log.select("handler_error") == srv.log.select("serve_error") == []


def test_log_wait_for_after_ignores_older_records():
    log = ServerLog()
    log.record("closed", ("127.0.0.1", 5000), messages=1, nbytes=3)
    mark = log.last_seq
    assert log.wait_for(kind="closed", timeout=0.05)
    assert log.wait_for(kind="closed", timeout=0.05, after=mark) is None
    log.record("closed", ("127.0.0.1", 5001), messages=2, nbytes=4)
    newer = log.wait_for(kind="closed", timeout=0.05, after=mark)
    assert newer.peer == ("127.0.0.1", 5001) and newer.fields["nbytes"] == 4


@pytest.mark.parametrize("how", ["handle", "by name", "stop_all"])
def test_a_handler_of_a_single_threaded_server_can_stop_it(how):
    """The handler runs in the serving thread: stop() must not join itself, and must still close."""
    calls = []

    class StopsTheServer(socketserver.StreamRequestHandler):
        def handle(self):
            self.rfile.readline()
            try:
                if how == "handle":
                    handle.stop()
                elif how == "by name":
                    background.stop("test-bg-self-stop")
                else:
                    background.stop_all()
            except Exception as exc:  # noqa: BLE001 - recorded for the assertion below
                calls.append(exc)
            self.wfile.write(b"bye\n")  # the request is still served to its end

    class Server(socketserver.TCPServer):  # one thread: handlers run in serve_forever's
        allow_reuse_address = True  # so the port can be bound again despite TIME_WAIT

    server = Server(("127.0.0.1", 0), StopsTheServer)
    handle = background.start(server, "test-bg-self-stop")
    address = handle.address
    with socket.create_connection(address, timeout=2) as client:
        client.sendall(b"stop\n")
        assert client.makefile("rb").readline() == b"bye\n"
    handle.thread.join(2)
    assert not handle.thread.is_alive()
    assert calls == []
    assert server.socket.fileno() == -1  # closed by the serving thread
    assert handle not in background.running()
    handle.stop()  # idempotent
    with socket.socket() as again:  # the port can be bound again
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(address)


def test_a_stop_from_a_cell_still_ends_a_server_whose_handler_asked_to_stop():
    """The handler's stop() only asks; the handle stays running until a cell's stop() ends it."""
    asked = threading.Event()

    class AsksThenKeepsTalking(socketserver.StreamRequestHandler):
        def handle(self):
            handle.stop()  # from the serving thread: cannot wait for itself
            asked.set()
            for line in self.rfile:  # the client is still there
                self.wfile.write(line.upper())

    class Server(socketserver.TCPServer):
        allow_reuse_address = True

    server = Server(("127.0.0.1", 0), AsksThenKeepsTalking)
    handle = background.start(server, "test-bg-asked")
    with socket.create_connection(handle.address, timeout=2) as client:
        client.sendall(b"x\n")
        assert asked.wait(2)
        assert handle.running and handle in background.running()
        assert background.stop_all() == 1  # the cell's stop ends what the handler began
        assert server.socket.fileno() == -1  # the port is closed at once...
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(handle.address, timeout=2).close()
        client.sendall(b"y\n")  # ...while the conversation under way may finish
        with client.makefile("rb") as replies:  # closed too, or the socket stays open
            assert [replies.readline(), replies.readline()] == [b"X\n", b"Y\n"]
    handle.thread.join(3)  # the client left: the handler and the serving thread end
    assert not handle.thread.is_alive()
    assert handle not in background.running()


@pytest.mark.skipif(not hasattr(socketserver, "ForkingTCPServer"), reason="needs os.fork")
def test_a_forking_server_keeps_its_stock_handle_error():
    """Its handlers run in forked children: a log written there would be a copy nobody reads."""
    server = socketserver.ForkingTCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
    with background.start(server, "test-bg-forking"):
        assert "handle_error" not in vars(server)
    server.server_close()


def test_the_summary_counts_errors_the_bounded_log_has_dropped(capsys):
    server = tcp.create_server(handler=_Crashes, log=ServerLog(5))
    with background.start(server, "test-bg-dropped") as srv:
        with pytest.raises(OSError):
            tcp.echo("x", srv.address, timeout=1)
        assert srv.log.wait_for(kind="handler_error", timeout=2)
        for i in range(10):  # push the error's record out of the 5-record log
            srv.log(f"filler {i}")
        assert not srv.log.select("handler_error")
    assert "logged an error while this block ran; the last: ValueError: student bug" \
        in capsys.readouterr().out


def test_a_multi_line_exception_is_summarised_by_its_type_and_first_line(capsys):
    class Explains(socketserver.BaseRequestHandler):
        def handle(self):
            raise AssertionError("got 'abc'\nexpected 'ABC'")

    with background.start_tcp("test-bg-multiline", handler=Explains) as srv:
        with pytest.raises(OSError):
            tcp.echo("x", srv.address, timeout=1)
        error = srv.log.wait_for(kind="handler_error", timeout=2)
        assert "expected 'ABC'" in error.fields["traceback"]
    assert "the last: AssertionError: got 'abc' ...\n" in capsys.readouterr().out


@pytest.mark.parametrize("server_kind", ["plain", "classroom"])
def test_a_handler_of_a_threaded_server_can_stop_it_and_still_reply(server_kind):
    """stop() from a handler thread: no 2 s wait for itself, and its own reply still goes out."""
    class StopsThenReplies(tcp.UpperEchoHandler):  # its setup() registers the connection
        def handle(self):
            self.request.recv(100)
            t0 = time.perf_counter()
            handle.stop()
            self.server.stop_took = time.perf_counter() - t0
            self.request.sendall(b"bye\n")

    if server_kind == "plain":
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), StopsThenReplies)
    else:
        server = tcp.create_server(handler=StopsThenReplies, log=ServerLog(50))
    handle = background.start(server, f"test-bg-thread-stop-{server_kind}")
    with socket.create_connection(handle.address, timeout=3) as client:
        client.sendall(b"stop\n")
        assert client.makefile("rb").readline() == b"bye\n"
    assert server.stop_took < 1.5  # not the 2 s server_close() would wait for the caller
    assert server.socket.fileno() == -1
    assert not handle.log.select("close_waiting")


def test_a_record_missing_a_field_is_refused_when_written_and_the_log_stays_readable():
    terminal = io.StringIO()
    log = ServerLog(echo=terminal)
    log.record("connected", ("127.0.0.1", 5000))
    with pytest.raises(ValueError, match=r"'closed' record needs the field\(s\) messages, nbytes"):
        log.record("closed", ("127.0.0.1", 5000))
    with pytest.raises(ValueError, match="'received' record is about a client"):
        log.record("received", data=b"x")  # no peer to name
    assert len(log) == 1  # nothing half-written was stored...
    assert log.lines() == ["connected: 127.0.0.1:5000"]  # ...so every read still works
    assert str(log) == "connected: 127.0.0.1:5000"
    assert terminal.getvalue() == "connected: 127.0.0.1:5000\n"


def test_a_handler_that_writes_an_incomplete_record_gets_a_clear_error(capsys):
    class Forgets(tcp.UpperEchoHandler):
        def handle(self):
            self.log("received")  # no data=

    with background.start_tcp("test-bg-incomplete", handler=Forgets) as srv:
        with pytest.raises(OSError):
            tcp.echo("x", srv.address, timeout=1)
        error = srv.log.wait_for(kind="handler_error", error_type="ValueError", timeout=2)
        assert error is not None
        assert "'received' record needs the field(s) data" in error.fields["message"]
        assert srv.log.wait_for(kind="closed", timeout=2)  # finish() still logged
        srv.show_log()  # every record can be shown
    out = capsys.readouterr().out
    assert "exception while handling a request" in out and "ValueError: a 'received'" in out


def test_an_error_field_takes_the_exception_and_keeps_its_type_and_message():
    log = ServerLog()
    log.record("serve_error", error=OSError("first line\nsecond line"))
    (entry,) = log.select("serve_error", error_type="OSError")
    assert dict(entry.fields) == {"error_type": "OSError", "message": "first line\nsecond line"}
    assert entry.text == "serve_forever stopped with an error: OSError: first line ..."
    with pytest.raises(ValueError, match="error= takes the exception itself"):
        log.record("serve_error", error="OSError: a sentence")
    with pytest.raises(ValueError, match="select by those"):
        log.select("serve_error", error="OSError: first line ...")


def test_select_and_wait_for_refuse_an_unknown_kind():
    log = ServerLog()
    with pytest.raises(ValueError, match="unknown log record kind 'handler_eror'"):
        log.select("handler_eror")
    t0 = time.monotonic()
    with pytest.raises(ValueError, match="unknown log record kind 'clsoed'"):
        log.wait_for(kind="clsoed", timeout=2)
    assert time.monotonic() - t0 < 1  # refused at once, not after the timeout


def test_a_reader_cannot_change_a_stored_record():
    log = ServerLog()
    log.record("closed", ("127.0.0.1", 5000), messages=1, nbytes=3)
    entry = log.select()[0]
    with pytest.raises(TypeError):
        entry.fields["messages"] = 99
    assert log.select()[0].fields["messages"] == 1


def test_a_text_to_wait_for_is_looked_for_in_notes_only():
    log = ServerLog()
    log.record("received", ("127.0.0.1", 5000), data=b"handled")  # its text contains "handled"
    assert log.wait_for("handled", timeout=0) is None
    log("WhereAmI: handled b'hi'")
    assert log.wait_for("handled", timeout=0).kind == "note"
    with pytest.raises(ValueError, match="selects notes"):
        log.wait_for("handled", kind="received", timeout=0)


def test_a_record_keeps_only_the_start_of_large_data_and_its_length():
    log = ServerLog()
    big = bytes(range(256)) * 256  # 65536 bytes
    log.record("received", ("127.0.0.1", 5000), data=bytearray(big))
    (entry,) = log.select("received", nbytes=len(big))
    assert entry.fields["data"] == big[:60] and type(entry.fields["data"]) is bytes
    assert entry.text == f"received {big[:60]!r}... (65536 bytes) from 127.0.0.1:5000"


def test_start_leaves_a_log_method_of_the_servers_own_alone():
    lines = []

    class OwnLog(socketserver.ThreadingTCPServer):
        daemon_threads = True

        def log(self, text):  # the student's own
            lines.append(text)

    server = OwnLog(("127.0.0.1", 0), tcp.UpperEchoHandler)
    with background.start(server, "test-bg-own-log") as srv:
        assert tcp.echo("mine", srv.address) == "MINE"
        assert "log" not in vars(server) and server.log.__func__ is OwnLog.log
        assert isinstance(srv.log, ServerLog) and srv.log is not server.log
        deadline = time.monotonic() + 2
        while not any(line.startswith("closed:") for line in lines):
            assert time.monotonic() < deadline, lines
            time.sleep(0.01)
    assert "received b'mine' from 127.0.0.1:" in "\n".join(lines)  # its records, as text


def test_an_unregistered_server_is_left_out_of_the_launchers_registry():
    named = background.start_tcp("test-bg-unregistered")
    extra = background.start(tcp.create_server(), "test-bg-unregistered", register=False)
    try:
        assert named.running and extra.running  # the same name stopped neither
        assert background.get("test-bg-unregistered") is named
        assert extra not in background.running()
        assert tcp.echo("still", extra.address) == "STILL"
    finally:
        extra.stop()
        named.stop()
    assert not extra.running and background.get("test-bg-unregistered") is None


def test_start_tcp_listens_with_the_classroom_backlog_unless_given_one():
    from netlesson import constants

    with background.start_tcp("test-backlog-default") as srv:
        assert srv.server.request_queue_size == classroom.CLASS_BACKLOG
    with background.start_tcp("test-backlog-seed", backlog=constants.back_log) as srv:
        assert srv.server.request_queue_size == 5
        assert tcp.echo("five", srv.address) == "FIVE"


def test_start_tcp_and_start_udp_serve_ipv6_loopback(ipv6_loopback):
    tcp_srv = background.start_tcp("test-tcp6", host=ipv6_loopback)
    udp_srv = background.start_udp("test-udp6", host=ipv6_loopback)
    try:
        assert tcp.echo("six", tcp_srv.address) == "SIX"
        assert udp.echo("six", udp_srv.address) == "SIX"
    finally:
        tcp_srv.stop()
        udp_srv.stop()
    assert not tcp_srv.running and not udp_srv.running
