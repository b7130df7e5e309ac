"""ServerLog.writer: the per-connection callable a handler writes with (``self.log``).

It stores the record a handler writes for every message without calling
``ServerLog.record``; these tests pin that it stores exactly what ``record`` would,
refuses what ``record`` refuses, and keeps the echo's lines whole and complete.
"""

import io
import os
import threading
import time

import pytest

from netlesson import tcp
from netlesson.classroom import peer_log
from netlesson.serverlog import KINDS, PREVIEW_BYTES, ServerLog

PEER = ("127.0.0.1", 5000)


def _same_records(a: ServerLog, b: ServerLog):
    """(kind, peer, fields, thread) of every record of two logs, and each log's lines."""
    def facts(log):
        return [(e.kind, e.peer, dict(e.fields), e.thread) for e in log.select()]
    return facts(a), facts(b), a.lines(), b.lines()


@pytest.mark.parametrize("data", [b"hi", b"", b"x" * (PREVIEW_BYTES + 40), b"\xff\x00"])
def test_a_received_record_from_the_writer_is_the_record_record_stores(data):
    by_writer, by_record = ServerLog(), ServerLog()
    by_writer.writer(PEER)("received", data=data)
    by_record.record("received", PEER, data=data)
    facts_w, facts_r, lines_w, lines_r = _same_records(by_writer, by_record)
    assert facts_w == facts_r
    assert lines_w == lines_r
    assert facts_w[0][2] == {"data": data[:PREVIEW_BYTES], "nbytes": len(data)}


@pytest.mark.parametrize("kind, fields", [
    ("connected", {}),
    ("closed", {"messages": 3, "nbytes": 12}),
    ("received", {"data": bytearray(b"not bytes")}),
    ("received", {"data": b"hi", "extra": 1}),
    ("receive_failed", {"error": OSError(9, "Bad file descriptor")}),
])
def test_every_other_record_goes_through_record(kind, fields):
    by_writer, by_record = ServerLog(), ServerLog()
    by_writer.writer(PEER)(kind, **fields)
    by_record.record(kind, PEER, **fields)
    facts_w, facts_r, lines_w, lines_r = _same_records(by_writer, by_record)
    assert facts_w == facts_r and lines_w == lines_r


def test_the_writer_refuses_what_record_refuses():
    log = ServerLog()
    write = log.writer(PEER)
    with pytest.raises(ValueError, match="needs the field"):
        write("closed", messages=1)  # no nbytes
    with pytest.raises(ValueError, match="unknown log record kind"):
        write("recieved", data=b"typo")
    with pytest.raises(ValueError, match="is about a client"):
        log.writer(None)("received", data=b"no peer")
    with pytest.raises(TypeError):
        write("received", b"data must be named")
    assert len(log) == 0


def test_a_data_field_given_as_none_is_kept_as_record_keeps_it():
    by_writer, by_record = ServerLog(), ServerLog()
    by_writer.writer(PEER)("note", text="t", data=None)
    by_record.record("note", PEER, text="t", data=None)
    facts_w, facts_r, lines_w, lines_r = _same_records(by_writer, by_record)
    assert facts_w == facts_r and lines_w == lines_r
    assert by_writer.select()[0].fields["data"] is None


def test_the_writer_records_the_thread_that_writes():
    log = ServerLog()
    write = log.writer(PEER)
    worker = threading.Thread(target=write, args=("received",), kwargs={"data": b"a"},
                              name="handler-for-5000")
    worker.start()
    worker.join(5)
    write("received", data=b"b")
    assert [e.thread for e in log.select()] == ["handler-for-5000",
                                                threading.current_thread().name]


def test_peer_log_on_a_netlesson_server_writes_through_its_log(tcp_server):
    server = tcp_server.server
    write = peer_log(server, PEER)
    write("received", data=b"via peer_log")
    entry = server.log.wait_for(kind="received", peer=PEER)
    assert entry.fields["data"] == b"via peer_log" and entry.fields["nbytes"] == 12


def test_a_terminal_gets_each_line_from_the_writer_at_once():
    terminal = io.StringIO()  # in memory: each line at once, like a terminal
    write = ServerLog(echo=terminal).writer(PEER)
    write("received", data=b"hi")
    assert terminal.getvalue() == "received b'hi' from 127.0.0.1:5000\n"


def test_many_handler_threads_writing_to_a_pipe_never_merge_or_lose_lines():
    read_fd, write_fd = os.pipe()
    stream = open(write_fd, "w", encoding="utf-8")  # buffered, not a terminal: batches
    chunks = []

    def read():
        while chunk := os.read(read_fd, 1 << 16):
            chunks.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    log = ServerLog(50, echo=stream)
    threads, each = 32, 300

    def handler(i):
        write = log.writer((f"10.0.0.{i}", 4000 + i))
        write("connected")
        for m in range(each):
            write("received", data=b"m%d " % m + b"x" * (m % 90))  # some longer than a preview
        write("closed", messages=each, nbytes=0)

    workers = [threading.Thread(target=handler, args=(i,)) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
    log.flush_echo()
    stream.close()  # end of file for the reader
    reader.join(10)
    os.close(read_fd)
    lines = b"".join(chunks).decode().split("\n")
    assert lines.pop() == ""
    assert len(lines) == threads * (each + 2)
    for i in range(threads):  # each connection's lines whole, once, in its own order
        peer = f"10.0.0.{i}:{4000 + i}"
        mine = [line for line in lines if line.endswith(f" {peer}") or f": {peer}" in line]
        expected = [f"connected: {peer}"]
        for m in range(each):
            data = b"m%d " % m + b"x" * (m % 90)
            shown = (repr(data) if len(data) <= PREVIEW_BYTES
                     else f"{data[:PREVIEW_BYTES]!r}... ({len(data)} bytes)")
            expected.append(f"received {shown} from {peer}")
        expected.append(f"closed: {peer} ({each} recv, 0 bytes)")
        assert mine == expected
    assert log.last_seq == threads * (each + 2) and len(log) == 50


def test_the_upper_echo_handler_logs_every_message_through_its_writer(tcp_server):
    with tcp.TCPEchoClient(tcp_server.address) as client:
        for word in ("one", "two", "three"):
            assert client.send(word) == word.upper()
        peer = client.sock.getsockname()
    assert tcp_server.log.wait_for(kind="closed", peer=peer, timeout=5) is not None
    received = tcp_server.log.select("received", peer=peer)
    assert [e.fields["data"] for e in received] == [b"one", b"two", b"three"]
    assert time.time() - received[0].time < 60


def _echoed_and_shown(peers, payloads):
    """What a pipe gets from a log for these peers and messages, and the log's own lines."""
    read_fd, write_fd = os.pipe()
    stream = open(write_fd, "w", encoding="utf-8")
    log = ServerLog(maxlen=10_000, echo=stream)
    log.echo_delay = 30  # written by flush_echo below
    for peer in peers:
        write = log.writer(peer)
        write("connected")
        for data in payloads:
            write("received", data=data)
            log.record("received", peer, data=data)
        write("closed", messages=len(payloads), nbytes=0)
    for data in payloads:  # runs of records from several peers, interleaved
        for peer in peers:
            log.writer(peer)("received", data=data)
    log.flush_echo()
    stream.close()
    echoed = b""
    while chunk := os.read(read_fd, 1 << 16):
        echoed += chunk
    os.close(read_fd)
    return echoed.decode().split("\n")[:-1], log.lines()


PAYLOADS = [b"hi", b"", b"%s %d {peer}", "中文".encode(), bytes(range(256)), b"y" * 61,
            b"z" * PREVIEW_BYTES, b"'\"\\"]


@pytest.mark.parametrize("peers", [
    [("127.0.0.1", 5000), ("::1", 5001, 0, 0), ("fe80::1%lo", 5003)],
    # an unhashable address in the batch: every line through the template
    [("127.0.0.1", 5000), ("::1", 5001, 0, 0), ["10.0.0.1", 5002], ("fe80::1%lo", 5003)],
])
def test_the_lines_a_pipe_gets_are_the_lines_the_log_shows(peers):
    """The echo renders ``received`` records by a shorter way than ``LogEntry.text``:
    the same text, for every shape of address and data."""
    echoed, shown = _echoed_and_shown(peers, PAYLOADS)
    assert echoed == shown
    assert len(shown) == len(peers) * (2 + 3 * len(PAYLOADS))
    assert f"received {PAYLOADS[0]!r} from 127.0.0.1:5000" in shown


@pytest.mark.parametrize("template, line", [
    ("{peer} sent {data}", "127.0.0.1:5000 sent b'hi'"),  # the peer first
    ("{peer}: {data}", "127.0.0.1:5000: b'hi'"),  # ends with the message
    ("received {data} from {peer}!", "received b'hi' from 127.0.0.1:5000!"),  # text after
    # a conversion, a format spec: rendered through the template
    ("received {data!s} from {peer}", "received b'hi' from 127.0.0.1:5000"),
    ("{data:>7} from {peer}", "  b'hi' from 127.0.0.1:5000"),
])
def test_the_echo_follows_the_received_template_whatever_its_shape(monkeypatch, template, line):
    monkeypatch.setitem(KINDS, "received", template)
    echoed, shown = _echoed_and_shown([("127.0.0.1", 5000), ("::1", 5001, 0, 0)], PAYLOADS)
    assert echoed == shown
    assert shown[1] == line
