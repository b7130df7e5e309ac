"""Exercise 1 (a line-based StreamRequestHandler): the checkers accept the solution and
explain typical mistakes.

The wrong answers below are mistakes students really make; every test asserts
that the checker says *why* it is wrong, not merely that it fails.
"""

from __future__ import annotations

import socketserver

import pytest
from exercise_solutions import failure, load_solution, no_check_threads_left

from netlesson import exercises


@pytest.fixture(scope="module")
def ex01():
    return load_solution("ex01_line_echo")


def test_line_checkers_accept_the_notebook_solution(ex01):
    exercises.check_line_handler(ex01["LineUpperHandler"])
    exercises.check_line_handler_stream(ex01["LineUpperHandler"])
    assert no_check_threads_left()


class RecvHandler(socketserver.StreamRequestHandler):
    """Numbers each recv() instead of each line -- the seed's recv(1024) habit."""

    def handle(self):
        number = 0
        while True:
            data = self.request.recv(1024)
            if not data:
                break
            number += 1
            self.request.sendall(b"%d: %s\n" % (number, data.rstrip(b"\r\n").upper()))


def test_line_checker_explains_lines_joined_in_one_recv():
    message = failure(exercises.check_line_handler, RecvHandler)
    assert "three lines sent in one piece" in message
    assert "answered them as one" in message and "readline()" in message


def test_line_checker_names_how_much_of_a_long_line_was_answered():
    message = failure(exercises.check_line_handler_stream, RecvHandler)
    assert "replied to the first 1024 bytes of a 3000-byte line" in message
    assert "self.rfile.readline()" in message


class NotUpperHandler(socketserver.StreamRequestHandler):
    """Numbers whole lines but forgets to upper-case them."""

    def handle(self):
        for number, line in enumerate(self.rfile, 1):
            self.wfile.write(b"%d: %s\n" % (number, line.rstrip(b"\r\n")))


def test_long_line_checker_does_not_call_a_missing_upper_a_short_read():
    message = failure(exercises.check_line_handler_stream, NotUpperHandler)
    assert "replied to the first" not in message
    assert "upper-case the line" in message


class KeepsNewlineHandler(socketserver.StreamRequestHandler):
    """Upper-cases whole lines but keeps readline()'s b'\\n' and adds its own."""

    def handle(self):
        for number, line in enumerate(self.rfile, 1):
            self.wfile.write(b"%d: %s\n" % (number, line.upper()))


def test_long_line_checker_explains_a_kept_line_ending():
    message = failure(exercises.check_line_handler_stream, KeepsNewlineHandler)
    assert "keeps the line's own line ending" in message
    assert not message.rstrip().endswith(":")


class BigRecvHandler(RecvHandler):
    """recv(65536) answers a whole 3000-byte line, but not a line split in pieces."""

    def handle(self):
        number = 0
        while data := self.request.recv(65536):
            number += 1
            self.request.sendall(b"%d: %s\n" % (number, data.rstrip(b"\r\n").upper()))


def test_line_checker_explains_a_line_answered_piece_by_piece():
    message = failure(exercises.check_line_handler_stream, BigRecvHandler)
    assert "one line sent in 3 pieces" in message
    assert "answered each piece as it arrived" in message


def test_line_checker_rejects_a_handler_that_is_not_a_stream_handler():
    class Plain(socketserver.BaseRequestHandler):
        def handle(self):
            pass

    message = failure(exercises.check_line_handler, Plain)
    assert "subclass of socketserver.StreamRequestHandler" in message


def test_line_checker_explains_missing_line_numbers():
    class NoNumbers(socketserver.StreamRequestHandler):
        def handle(self):
            for line in self.rfile:
                self.wfile.write(line.rstrip(b"\r\n").upper() + b"\n")

    message = failure(exercises.check_line_handler, NoNumbers)
    assert "b'HELLO\\n'" in message and "start each reply with the line's number" in message


def test_line_checker_explains_a_kept_line_ending():
    class NoStrip(socketserver.StreamRequestHandler):
        def handle(self):
            for number, line in enumerate(self.rfile, 1):
                self.wfile.write(b"%d: %s\n" % (number, line.upper()))

    message = failure(exercises.check_line_handler, NoStrip)
    assert "and then also b'\\n'" in message
    assert "readline() keeps the line's b'\\n'" in message


def test_line_checker_explains_a_counter_shared_between_connections():
    class SharedCounter(socketserver.StreamRequestHandler):
        number = 0

        def handle(self):
            for line in self.rfile:
                type(self).number += 1
                self.wfile.write(b"%d: %s\n" % (self.number, line.rstrip(b"\r\n").upper()))

    SharedCounter.number = 7  # as after an earlier run in the same kernel
    message = failure(exercises.check_line_handler, SharedCounter)
    assert "shared with earlier connections" in message


def test_line_checker_explains_a_counter_that_does_not_grow():
    class Restarting(socketserver.StreamRequestHandler):
        def handle(self):
            for line in self.rfile:
                number = 0
                number += 1
                self.wfile.write(b"%d: %s\n" % (number, line.rstrip(b"\r\n").upper()))

    message = failure(exercises.check_line_handler, Restarting)
    assert "the second line" in message and "the number did not grow" in message


def test_line_checker_explains_answering_the_end_of_the_stream():
    class NoBreak(socketserver.StreamRequestHandler):
        def handle(self):
            number = 0
            while True:
                line = self.rfile.readline()
                number += 1
                self.wfile.write(b"%d: %s\n" % (number, line.rstrip(b"\r\n").upper()))

    message = failure(exercises.check_line_handler, NoBreak)
    assert "after the client finished sending" in message
    assert "b'6: \\n" in message and "readline() returns b''" in message
    assert no_check_threads_left()


def test_line_checker_explains_a_handler_that_returns_after_one_line():
    class OneLine(socketserver.StreamRequestHandler):
        def handle(self):
            line = self.rfile.readline()
            self.wfile.write(b"1: %s\n" % line.rstrip(b"\r\n").upper())

    message = failure(exercises.check_line_handler, OneLine)
    assert "the second line" in message and "closed without a reply" in message


@pytest.mark.timeout(30)
def test_line_checker_explains_a_handler_that_waits_for_the_end_of_the_stream():
    class ReadAll(socketserver.StreamRequestHandler):
        def handle(self):
            data = self.rfile.read()  # waits until the client closes
            self.wfile.write(b"1: " + data.upper())

    message = failure(exercises.check_line_handler, ReadAll)
    assert "sent nothing" in message and "no reply came" in message
    assert no_check_threads_left()


def test_line_checker_reports_the_handlers_exception_with_its_line():
    class Raising(socketserver.StreamRequestHandler):
        def handle(self):
            for line in self.rfile:
                self.wfile.write(line.upper().encode())  # bytes have no .encode()

    message = failure(exercises.check_line_handler, Raising)
    assert "your handler raised AttributeError" in message
    assert "test_exercises_ex01.py, line" in message and "line.upper().encode()" in message


def test_the_released_stub_is_reported_as_not_implemented():
    class Stub(socketserver.StreamRequestHandler):
        def handle(self):
            # YOUR CODE HERE
            raise NotImplementedError()

    message = failure(exercises.check_line_handler, Stub)
    assert "your handler raised NotImplementedError" in message


def test_prints_from_handler_threads_neither_break_a_check_nor_reach_the_cell(ex01, capsys):
    class Chatty(ex01["LineUpperHandler"]):
        def handle(self):
            print("handler thread says hi")
            super().handle()

    exercises.check_line_handler(Chatty)
    assert "handler thread says hi" not in capsys.readouterr().out


def test_a_failed_check_quotes_what_handler_threads_printed(capsys):
    class ChattyWrong(socketserver.StreamRequestHandler):
        def handle(self):
            for line in self.rfile:
                print("got", line)
                self.wfile.write(line.upper())

    message = failure(exercises.check_line_handler, ChattyWrong)
    assert "Your code printed from another thread" in message
    assert "got b'hello\\n'" in message
    assert "got b'hello" not in capsys.readouterr().out
