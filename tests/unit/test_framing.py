"""netlesson.framing on real loopback TCP connections: where a message ends, and split UTF-8.

Every test builds a connected pair of TCP sockets on 127.0.0.1 (port 0) with a
timeout on both ends, so a framing bug shows up as a failure, never a hang.
"""

import socket
import struct
import threading
import time
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netlesson import framing
from netlesson.framing import (
    MAX_MESSAGE,
    IncompleteMessage,
    LineReader,
    MessageTooLong,
    Utf8Stream,
    recv_msg,
    recvall,
    send_line,
    send_msg,
)

TIMEOUT = 5.0
CHINESE = "你好，世界！网络编程 socketserver 粘包 🐍"


@contextmanager
def tcp_pair(timeout=TIMEOUT):
    """``(sender, receiver)``: two ends of one real TCP connection on loopback."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(timeout)
        sender = socket.create_connection(listener.getsockname(), timeout=timeout)
        try:
            receiver, _ = listener.accept()
        except BaseException:
            sender.close()
            raise
    receiver.settimeout(timeout)
    sender.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        yield sender, receiver
    finally:
        sender.close()
        receiver.close()


@contextmanager
def sending_in_background(sock, pieces, pause=0.001, close=False):
    """Send *pieces* one ``sendall`` each, pausing between them, from a thread.

    The pauses make the pieces arrive as separate TCP segments, so the receiver
    really sees them in several ``recv`` calls.
    """
    errors = []

    def run():
        try:
            for piece in pieces:
                sock.sendall(piece)
                time.sleep(pause)
            if close:
                sock.shutdown(socket.SHUT_WR)
        except OSError as exc:  # reported by the test, not lost in a thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "the sending thread did not finish"
    assert not errors, errors


class CountingSocket:
    """Wraps a socket and records the size of every ``recv`` result."""

    def __init__(self, sock):
        self.sock = sock
        self.sizes = []

    def recv(self, n):
        data = self.sock.recv(n)
        self.sizes.append(len(data))
        return data


# -- recvall ------------------------------------------------------------------


def test_recvall_collects_a_message_sent_in_many_small_pieces():
    pieces = [bytes([65 + i % 26]) * (1 + i % 7) for i in range(60)]
    whole = b"".join(pieces)
    with tcp_pair() as (a, b), sending_in_background(a, pieces):
        counting = CountingSocket(b)
        assert recvall(counting, len(whole)) == whole
    assert len(counting.sizes) > 1, "the pieces should have needed several recv calls"


def test_recvall_reads_exactly_n_and_leaves_the_rest_for_the_next_call():
    with tcp_pair() as (a, b):
        a.sendall(b"first|second")
        assert recvall(b, 5) == b"first"
        assert recvall(b, 7) == b"|second"


def test_recvall_with_a_small_chunk_size_still_returns_everything():
    payload = bytes(range(256)) * 40
    with tcp_pair() as (a, b):
        a.sendall(payload)
        counting = CountingSocket(b)
        assert recvall(counting, len(payload), chunk_size=100) == payload
    assert max(counting.sizes) <= 100


def test_recvall_of_zero_bytes_returns_empty_without_reading():
    with tcp_pair() as (a, b):
        counting = CountingSocket(b)
        assert recvall(counting, 0) == b""
        assert counting.sizes == []


def test_recvall_rejects_a_negative_length():
    with tcp_pair() as (a, b), pytest.raises(ValueError, match="n must be >= 0"):
        recvall(b, -1)


def test_recvall_raises_incomplete_message_keeping_the_partial_bytes():
    with tcp_pair() as (a, b):
        a.sendall(b"12345")
        a.shutdown(socket.SHUT_WR)
        with pytest.raises(IncompleteMessage) as info:
            recvall(b, 10)
    err = info.value
    assert err.partial == b"12345"
    assert err.expected == 10
    assert isinstance(err, EOFError)
    assert "after 5 of 10 bytes" in str(err) and ".partial" in str(err)


def test_recvall_on_a_closed_stream_reports_zero_partial_bytes():
    with tcp_pair() as (a, b):
        a.close()
        with pytest.raises(IncompleteMessage) as info:
            recvall(b, 3)
    assert info.value.partial == b""


def test_recvall_lets_a_socket_timeout_through_instead_of_waiting_forever():
    with tcp_pair(timeout=0.2) as (a, b):
        a.sendall(b"ab")
        t0 = time.monotonic()
        with pytest.raises(TimeoutError) as info:  # still a TimeoutError for callers
            recvall(b, 3)
        assert time.monotonic() - t0 < 3
    assert isinstance(info.value, framing.ReceiveTimeout)
    assert info.value.partial == b"ab" and info.value.expected == 3
    assert "after 2 of 3 bytes" in str(info.value)


def test_recv_msg_keeps_the_bytes_of_a_prefix_cut_short():
    with tcp_pair() as (a, b):
        a.sendall(b"\x00\x00")
        a.shutdown(socket.SHUT_WR)
        with pytest.raises(IncompleteMessage) as info:
            recv_msg(b)
    assert info.value.partial == b"\x00\x00"
    assert "after 2 of 4 bytes" in str(info.value)
    with tcp_pair(timeout=0.2) as (a, b):
        a.sendall(b"\x00\x00\x00")
        with pytest.raises(framing.ReceiveTimeout) as info:
            recv_msg(b)
    assert info.value.partial == b"\x00\x00\x00"


# -- length prefix ------------------------------------------------------------


@pytest.mark.parametrize("payload", [b"", b"x", "中文".encode(), bytes(range(256)),
                                     b"\x00" * 1024 * 1024], ids=["empty", "one", "chinese",
                                                                 "all-bytes", "1MiB"])
def test_length_prefix_round_trip(payload):
    with tcp_pair() as (a, b):
        result = []
        reader = threading.Thread(target=lambda: result.append(recv_msg(b)), daemon=True)
        reader.start()  # a 1 MiB send would block if nobody read meanwhile
        send_msg(a, payload)
        reader.join(TIMEOUT)
    assert result == [payload]


def test_length_prefix_puts_four_big_endian_bytes_before_the_payload():
    with tcp_pair() as (a, b):
        send_msg(a, b"abc")
        assert recvall(b, 7) == b"\x00\x00\x00\x03abc"
    assert framing.PREFIX.size == 4


def test_length_prefix_separates_messages_that_arrive_stuck_together():
    messages = [b"one", b"", b"three", "四".encode()]
    wire = b"".join(struct.pack("!I", len(m)) + m for m in messages)
    with tcp_pair() as (a, b):
        a.sendall(wire)  # one sendall: the receiver's first recv may hold all of them
        a.shutdown(socket.SHUT_WR)
        got = []
        while (m := recv_msg(b)) is not None:
            got.append(m)
    assert got == messages


def test_length_prefix_survives_a_prefix_split_between_segments():
    wire = struct.pack("!I", 5) + b"hello"
    pieces = [wire[:1], wire[1:3], wire[3:6], wire[6:]]
    with tcp_pair() as (a, b), sending_in_background(a, pieces, pause=0.01):
        assert recv_msg(b) == b"hello"


def test_recv_msg_returns_none_at_a_clean_end_between_messages():
    with tcp_pair() as (a, b):
        send_msg(a, b"last")
        a.shutdown(socket.SHUT_WR)
        assert recv_msg(b) == b"last"
        assert recv_msg(b) is None


def test_recv_msg_raises_incomplete_message_when_the_body_is_cut():
    with tcp_pair() as (a, b):
        a.sendall(struct.pack("!I", 10) + b"abc")
        a.shutdown(socket.SHUT_WR)
        with pytest.raises(IncompleteMessage) as info:
            recv_msg(b)
    assert info.value.partial == b"abc"
    assert info.value.expected == 10


def test_recv_msg_raises_incomplete_message_when_the_prefix_is_cut():
    with tcp_pair() as (a, b):
        a.sendall(b"\x00\x00")
        a.shutdown(socket.SHUT_WR)
        with pytest.raises(IncompleteMessage):
            recv_msg(b)


def test_recv_msg_refuses_a_garbage_prefix_instead_of_allocating_gigabytes():
    with tcp_pair() as (a, b):
        a.sendall(b"GET / HTTP/1.1\r\n\r\n")  # b"GET " read as a length: 1.2 GB
        with pytest.raises(MessageTooLong, match="length-prefix protocol"):
            recv_msg(b)


def test_recv_msg_honours_a_smaller_max_size():
    with tcp_pair() as (a, b):
        send_msg(a, b"x" * 101)
        with pytest.raises(MessageTooLong, match="max_size=100"):
            recv_msg(b, max_size=100)


def test_send_msg_refuses_a_message_over_the_limit_before_sending_anything():
    with tcp_pair(timeout=0.2) as (a, b):
        with pytest.raises(MessageTooLong, match="MAX_MESSAGE"):
            send_msg(a, bytes(MAX_MESSAGE + 1))
        with pytest.raises(TimeoutError):
            b.recv(1)  # nothing went out


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=3000), max_size=8))
def test_any_sequence_of_messages_survives_length_prefix_framing(messages):
    with tcp_pair() as (a, b):
        for m in messages:
            send_msg(a, m)
        a.shutdown(socket.SHUT_WR)
        got = []
        while (m := recv_msg(b)) is not None:
            got.append(m)
    assert got == messages


# -- delimiter ----------------------------------------------------------------


def test_line_reader_splits_sticky_lines_and_keeps_the_remainder():
    with tcp_pair() as (a, b):
        reader = LineReader(b)
        a.sendall(b"one\ntwo\nthr")
        assert reader.readline() == b"one"
        assert reader.readline() == b"two"
        assert reader.pending == b"thr"  # the start of the next message is kept...
        a.sendall(b"ee\n")
        assert reader.readline() == b"three"  # ...and completed by the next recv
        assert reader.pending == b""


def test_line_reader_joins_a_line_sent_byte_by_byte():
    line = "逐字节 byte by byte".encode()
    pieces = [bytes([x]) for x in line + b"\n"]
    with tcp_pair() as (a, b), sending_in_background(a, pieces, pause=0):
        assert LineReader(b).readline() == line


def test_line_reader_with_a_two_byte_delimiter_split_between_segments():
    pieces = [b"one\r", b"\ntwo\r\n"]
    with tcp_pair() as (a, b), sending_in_background(a, pieces, pause=0.01, close=True):
        assert list(LineReader(b, b"\r\n")) == [b"one", b"two"]


def test_line_reader_keeps_empty_lines_as_messages():
    with tcp_pair() as (a, b):
        a.sendall(b"\n\nx\n")
        a.shutdown(socket.SHUT_WR)
        assert list(LineReader(b)) == [b"", b"", b"x"]


def test_line_reader_returns_none_at_a_clean_end():
    with tcp_pair() as (a, b):
        a.sendall(b"only\n")
        a.shutdown(socket.SHUT_WR)
        reader = LineReader(b)
        assert reader.readline() == b"only"
        assert reader.readline() is None


def test_line_reader_raises_incomplete_message_for_an_unterminated_last_line():
    with tcp_pair() as (a, b):
        a.sendall(b"done\nhalf a li")
        a.shutdown(socket.SHUT_WR)
        reader = LineReader(b)
        assert reader.readline() == b"done"
        with pytest.raises(IncompleteMessage) as info:
            reader.readline()
    assert info.value.partial == b"half a li"
    assert info.value.expected is None
    assert "before the message delimiter" in str(info.value)


def test_line_reader_gives_up_when_no_delimiter_comes_within_max_line():
    with tcp_pair() as (a, b):
        a.sendall(b"x" * 5000)
        with pytest.raises(MessageTooLong, match="within 1000 bytes"):
            LineReader(b, max_line=1000).readline()


def test_send_line_refuses_a_payload_that_contains_the_delimiter():
    with tcp_pair() as (a, b), pytest.raises(ValueError, match="contains the delimiter"):
        send_line(a, b"two\nlines")


def test_send_line_and_line_reader_round_trip():
    with tcp_pair() as (a, b):
        for word in (b"alpha", b"", "贝塔".encode()):
            send_line(a, word)
        a.shutdown(socket.SHUT_WR)
        assert list(LineReader(b)) == [b"alpha", b"", "贝塔".encode()]


def test_line_reader_refuses_an_empty_delimiter():
    with tcp_pair() as (a, b), pytest.raises(ValueError, match="must not be empty"):
        LineReader(b, b"")


@settings(max_examples=40, deadline=None)
@given(lines=st.lists(st.binary(max_size=200).map(lambda x: x.replace(b"\n", b"")), max_size=10),
       cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=6))
def test_lines_come_out_whole_wherever_the_stream_is_cut(lines, cuts):
    wire = b"".join(line + b"\n" for line in lines)
    points = sorted({c for c in cuts if c < len(wire)} | {0, len(wire)})
    pieces = [wire[i:j] for i, j in zip(points, points[1:])]
    with tcp_pair() as (a, b), sending_in_background(a, pieces, pause=0.001, close=True):
        assert list(LineReader(b, chunk_size=64)) == lines


# -- UTF-8 across reads -------------------------------------------------------


def test_decoding_each_recv_separately_fails_when_a_character_is_split():
    data = "你好".encode()
    with pytest.raises(UnicodeDecodeError):
        data[:4].decode("utf-8")  # this is the bug Utf8Stream exists for


@pytest.mark.parametrize("cut", range(len(CHINESE.encode()) + 1))
def test_utf8_stream_decodes_a_split_at_every_byte_boundary(cut):
    data = CHINESE.encode()
    stream = Utf8Stream()
    assert stream.feed(data[:cut]) + stream.feed(data[cut:]) + stream.close() == CHINESE


def test_utf8_stream_decodes_byte_by_byte_and_emits_each_character_when_complete():
    stream = Utf8Stream()
    out = []
    for x in "中文".encode():
        out.append(stream.feed(bytes([x])))
    assert out == ["", "", "中", "", "", "文"]
    assert stream.close() == ""


def test_utf8_stream_pending_holds_the_unfinished_character():
    stream = Utf8Stream()
    assert stream.feed("a好".encode()[:2]) == "a"
    assert stream.pending == "好".encode()[:1]


def test_utf8_stream_close_raises_for_an_incomplete_last_character():
    stream = Utf8Stream()
    stream.feed("好".encode()[:2])
    with pytest.raises(UnicodeDecodeError):
        stream.close()


def test_utf8_stream_with_errors_replace_marks_invalid_bytes_instead_of_raising():
    stream = Utf8Stream(errors="replace")
    assert stream.feed(b"ok\xff") + stream.close() == "ok\ufffd"


def test_utf8_stream_strict_by_default_rejects_invalid_bytes():
    with pytest.raises(UnicodeDecodeError):
        Utf8Stream().feed(b"\xff")


def test_utf8_stream_over_a_real_socket_with_one_byte_per_segment():
    data = CHINESE.encode()
    pieces = [bytes([x]) for x in data]
    with tcp_pair() as (a, b), sending_in_background(a, pieces, pause=0, close=True):
        stream = Utf8Stream()
        text = ""
        while chunk := b.recv(3):  # 3 bytes per recv: boundaries fall inside characters
            text += stream.feed(chunk)
        text += stream.close()
    assert text == CHINESE


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=200), cuts=st.lists(st.integers(min_value=0, max_value=800)))
def test_any_text_cut_anywhere_decodes_back_to_itself(text, cuts):
    data = text.encode("utf-8")
    points = sorted({c for c in cuts if c < len(data)} | {0, len(data)})
    stream = Utf8Stream()
    decoded = "".join(stream.feed(data[i:j]) for i, j in zip(points, points[1:]))
    assert decoded + stream.close() == text
