"""Exercise 4 (recvall, length-prefixed messages): the checkers accept the solution and
explain typical mistakes.

The wrong answers below are mistakes students really make; every test asserts
that the checker says *why* it is wrong, not merely that it fails.
"""

from __future__ import annotations

import struct

import pytest
from exercise_solutions import failure, load_solution, no_check_threads_left

from netlesson import exercises


@pytest.fixture(scope="module")
def ex04():
    return load_solution("ex04_framing")


def test_framing_checkers_accept_the_notebook_solution(ex04):
    exercises.check_recvall(ex04["recvall"])
    exercises.check_length_prefix(ex04["send_msg"], ex04["recv_msg"])


def test_framing_checkers_accept_the_course_library():
    from netlesson import framing

    exercises.check_recvall(framing.recvall)
    exercises.check_length_prefix(framing.send_msg, framing.recv_msg)


def test_recvall_checker_explains_a_single_recv():
    message = failure(exercises.check_recvall, lambda sock, n: sock.recv(n))
    assert "recvall(sock, 3000) returned 1000 bytes" in message
    assert "Call recv() again until you have all n bytes" in message


def test_recvall_checker_explains_reading_past_the_message():
    def greedy(sock, n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(4096)
            if not chunk:
                raise EOFError
            data += chunk
        return data

    message = failure(exercises.check_recvall, greedy)
    assert "read past the end of the message" in message and "n - len(data)" in message


@pytest.mark.timeout(30)
def test_recvall_checker_explains_a_loop_that_ignores_the_end_of_the_stream():
    def spins(sock, n):
        data = b""
        while len(data) < n:
            data += sock.recv(n - len(data))  # b'' forever once the peer closed
        return data

    message = failure(exercises.check_recvall, spins)
    assert "never returned" in message and "Raise EOFError" in message
    # the checker closed the socket: the spinning thread ends
    assert no_check_threads_left("netlesson-check-call-spins")


def test_recvall_checker_explains_returning_a_short_message():
    def short(sock, n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                break
            data += chunk
        return data

    message = failure(exercises.check_recvall, short)
    assert "returned b'12345'" in message and "Raise EOFError" in message


def test_recvall_checker_wants_eof_error(ex04):
    def other_error(sock, n):
        try:
            return ex04["recvall"](sock, n)
        except EOFError:
            raise ConnectionError("closed") from None

    message = failure(exercises.check_recvall, other_error)
    assert "should raise EOFError, it raised ConnectionError" in message


def test_length_prefix_checker_explains_a_little_endian_prefix(ex04):
    def little(sock, payload):
        sock.sendall(struct.pack("<I", len(payload)) + payload)

    message = failure(exercises.check_length_prefix, little, ex04["recv_msg"])
    assert "little-endian" in message and "struct.pack('!I', n)" in message


def test_length_prefix_checker_explains_a_text_prefix(ex04):
    message = failure(exercises.check_length_prefix,
                      lambda sock, payload: sock.sendall(str(len(payload)).encode() + payload),
                      ex04["recv_msg"])
    assert "the length was sent as text" in message


def test_length_prefix_checker_explains_a_missing_prefix(ex04):
    message = failure(exercises.check_length_prefix,
                      lambda sock, payload: sock.sendall(payload), ex04["recv_msg"])
    assert "there is no length prefix" in message


def test_length_prefix_checker_explains_reading_the_prefix_with_one_recv(ex04):
    def naive(sock):
        head = sock.recv(4)
        if not head:
            return None
        return sock.recv(struct.unpack("!I", head)[0])

    message = failure(exercises.check_length_prefix, ex04["send_msg"], naive)
    assert "arrived in 5 pieces (the prefix itself split in two)" in message
    assert "Use recvall for the prefix and for the payload" in message


def test_length_prefix_checker_wants_none_at_a_clean_end(ex04):
    recvall = ex04["recvall"]

    def no_none(sock):
        return recvall(sock, struct.unpack("!I", recvall(sock, 4))[0])

    message = failure(exercises.check_length_prefix, ex04["send_msg"], no_none)
    assert "should return None (a normal end between messages)" in message
    assert "raised EOFError" in message


def test_length_prefix_checker_wants_empty_messages_kept(ex04):
    def empty_is_none(sock):
        message = ex04["recv_msg"](sock)
        return message or None

    message = failure(exercises.check_length_prefix, ex04["send_msg"], empty_is_none)
    assert "an empty message (prefix 0, no payload) should come back as b''" in message


def test_length_prefix_checker_reports_send_msgs_own_exception(ex04):
    def refuses_big(sock, payload):
        if len(payload) > 65535:
            raise ValueError("payload too big for this protocol")
        ex04["send_msg"](sock, payload)

    message = failure(exercises.check_length_prefix, refuses_big, ex04["recv_msg"])
    assert "send_msg(sock, <a 200000-byte message>) raised ValueError: payload too big " \
           "for this protocol (test_exercises_ex04.py, line" in message
    assert "did not come back whole" not in message


def test_length_prefix_checker_says_what_recv_msg_did_with_a_big_message(ex04):
    recvall = ex04["recvall"]

    def capped(sock):  # right for small messages; stops after 64 KiB
        first = sock.recv(1)
        if not first:
            return None
        size = struct.unpack("!I", first + recvall(sock, 3))[0]
        return recvall(sock, min(size, 65536))

    message = failure(exercises.check_length_prefix, ex04["send_msg"], capped)
    assert "did not come back whole from your recv_msg: it returned b'0123456789" in message
    assert "(65536 bytes)" in message
