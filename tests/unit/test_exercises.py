"""The exercise checkers accept the solutions and reject typical mistakes, in words that help.

The solutions are taken from the source notebooks themselves (the code of
their locked set-up cells and their nbgrader solution cells), so a test here
fails if a notebook's answer and its checker drift apart.  The wrong answers
are written below, each one a mistake students really make; every test asserts
that the checker says *why* it is wrong, not merely that it fails.
"""

from __future__ import annotations

import linecache
import os
import socket
import socketserver
import struct
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest

from netlesson import exercises

EXERCISES = Path(__file__).resolve().parents[2] / "notebooks" / "exercises"


def load_solution(notebook: str) -> dict:
    """Run a source notebook's locked code cells and solution cells; return the namespace."""
    nb = nbformat.read(EXERCISES / f"{notebook}.ipynb", as_version=4)
    namespace: dict = {"__name__": f"exercise_{notebook}"}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade"):
            continue
        if meta.get("solution") or meta.get("locked"):
            exec(compile(cell.source, f"<{notebook}:{meta['grade_id']}>", "exec"), namespace)
    return namespace


def failure(check, *args, **kwargs) -> str:
    """Run a checker that must fail; return its message."""
    with pytest.raises(AssertionError) as info:
        check(*args, **kwargs)
    return str(info.value)


def no_check_threads_left() -> bool:
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        if not any(t.name == "netlesson-check-serve" for t in threading.enumerate()):
            return True
        time.sleep(0.02)
    return False


# ---------------------------------------------------------------------------
# ex01
# ---------------------------------------------------------------------------
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
    assert "test_exercises.py, line" in message and "line.upper().encode()" in message


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


# ---------------------------------------------------------------------------
# ex02
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ex02():
    return load_solution("ex02_udp_retry")


def test_udp_checkers_accept_the_notebook_solution(ex02):
    exercises.check_udp_request(ex02["udp_request"])
    exercises.check_udp_request_retries(ex02["udp_request"])
    assert no_check_threads_left()


def udp_without_timeout(address, data, timeout=0.5, retries=3):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(None)  # the seed's client: wait forever
    with sock:
        sock.sendto(data, address)
        return sock.recvfrom(65535)[0]


@pytest.mark.timeout(30)
def test_udp_checker_explains_a_client_without_timeout():
    message = failure(exercises.check_udp_request, udp_without_timeout)
    assert "did not return within" in message and "sock.settimeout(timeout)" in message
    time.sleep(0.2)  # the checker woke the blocked recvfrom with a datagram
    assert not any(t.name == "netlesson-check-call-udp_without_timeout"
                   for t in threading.enumerate())


def udp_single_try(address, data, timeout=0.5, retries=3):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(data, address)
        return sock.recvfrom(65535)[0]


def test_udp_checker_counts_the_tries_against_a_silent_server():
    message = failure(exercises.check_udp_request, udp_single_try)
    assert "should send 3 datagrams" in message and "received 1" in message


def test_udp_checker_explains_giving_up_on_a_lossy_server():
    message = failure(exercises.check_udp_request_retries, udp_single_try)
    assert "ignored your first 2 datagrams" in message
    assert "send the datagram again" in message


def test_udp_checker_wants_timeout_error_not_none():
    def returns_none(address, data, timeout=0.5, retries=3):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            for _ in range(retries + 1):
                sock.sendto(data, address)
                try:
                    return sock.recvfrom(65535)[0]
                except TimeoutError:
                    continue
        return None

    message = failure(exercises.check_udp_request, returns_none)
    assert "returned None" in message and "raise TimeoutError" in message


def udp_trusting(address, data, timeout=0.5, retries=3):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        for _ in range(retries + 1):
            sock.sendto(data, address)
            try:
                return sock.recvfrom(65535)[0]  # from anyone at all
            except TimeoutError:
                continue
    raise TimeoutError("no reply")


def test_udp_checker_explains_accepting_a_strangers_datagram():
    exercises.check_udp_request(udp_trusting)  # right in every other respect
    message = failure(exercises.check_udp_request_retries, udp_trusting)
    assert "returned b'not from the server'" in message
    assert "Compare the address recvfrom() returns" in message


def test_udp_checker_explains_returning_the_address_too():
    def with_address(address, data, timeout=0.5, retries=3):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            sock.sendto(data, address)
            return sock.recvfrom(65535)

    message = failure(exercises.check_udp_request, with_address)
    assert "returned (data, address)" in message


def test_udp_checker_explains_returning_text():
    def as_text(address, data, timeout=0.5, retries=3):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            sock.sendto(data, address)
            return sock.recvfrom(65535)[0].decode()

    message = failure(exercises.check_udp_request, as_text)
    assert "returned the str 'HELLO UDP'" in message


def test_udp_checker_explains_sending_before_the_timeout():
    def impatient(address, data, timeout=0.5, retries=3):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            for _ in range(retries + 1):
                sock.sendto(data, address)  # all tries at once, then wait
            return sock.recvfrom(65535)[0]

    message = failure(exercises.check_udp_request, impatient)
    assert "the server received 3 datagrams" in message
    assert "send again only after a try timed out" in message


def test_udp_checker_rejects_a_wrong_signature():
    message = failure(exercises.check_udp_request, lambda address, data: b"")
    assert "should accept (address, data, timeout, retries)" in message


# ---------------------------------------------------------------------------
# ex03
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ex03():
    return load_solution("ex03_mro_supplier")


def test_mro_checker_accepts_the_notebook_solution(ex03):
    exercises.check_mro_answers(ex03["answers"])
    exercises.check_mro_answers(ex03["answers"], only="ThreadingTCPServer")
    exercises.check_mro_answers(ex03["answers"], only="ThreadingUDPServer")


def test_mro_checker_accepts_classes_and_qualified_names(ex03):
    answers = {q: getattr(socketserver, v) for q, v in ex03["answers"].items()}
    answers["ThreadingTCPServer.__init__"] = "socketserver.TCPServer"
    exercises.check_mro_answers(answers)


def test_the_mro_truth_comes_from_the_running_python():
    assert exercises.mro_supplier(socketserver.ThreadingUDPServer, "__init__") is socketserver.TCPServer
    assert exercises.mro_supplier(socketserver.ThreadingTCPServer, "process_request") \
        is socketserver.ThreadingMixIn


def test_mro_checker_explains_a_class_that_does_not_define_the_attribute(ex03):
    answers = dict(ex03["answers"], **{"ThreadingUDPServer.__init__": "UDPServer"})
    message = failure(exercises.check_mro_answers, answers)
    assert "9 of 10 answers are right" in message
    assert "UDPServer does not define __init__ itself" in message
    assert "TCPServer" not in message.split("UDPServer does not define")[1].split("lookup goes")[0]


def test_mro_checker_explains_an_overridden_definition(ex03):
    answers = dict(ex03["answers"], **{"ThreadingTCPServer.server_close": "BaseServer"})
    message = failure(exercises.check_mro_answers, answers, only="ThreadingTCPServer")
    assert "BaseServer does define server_close, but a class earlier" in message


def test_mro_checker_lists_every_problem(ex03):
    answers = dict(ex03["answers"])
    del answers["ThreadingUDPServer.get_request"]
    answers["ThreadingUDPServer.server_activate"] = "StreamRequestHandler"
    answers["ThreadingUDPServer.max_packet_size"] = 8192
    message = failure(exercises.check_mro_answers, answers, only="ThreadingUDPServer")
    assert "2 of 5 answers are right" in message
    assert "no answer (add the key 'ThreadingUDPServer.get_request'" in message
    assert "'StreamRequestHandler' is not in ThreadingUDPServer.__mro__" in message
    assert "answer with a class name (a str), not 8192" in message


def test_mro_checker_knows_object_and_hints_at_case(ex03):
    answers = dict(ex03["answers"], **{"ThreadingTCPServer.get_request": "object",
                                        "ThreadingTCPServer.serve_forever": "baseserver"})
    message = failure(exercises.check_mro_answers, answers, only="ThreadingTCPServer")
    assert "'object' is not in" not in message  # object is the last class of every MRO
    assert "object does not define get_request itself ('get_request' in vars(object) is False)" \
        in message
    assert "'baseserver' is not in ThreadingTCPServer.__mro__" in message
    assert "case-sensitive: did you mean 'BaseServer'?" in message


def test_mro_checker_checks_only_the_asked_class(ex03):
    answers = dict(ex03["answers"], **{"ThreadingUDPServer.__init__": "UDPServer"})
    exercises.check_mro_answers(answers, only="ThreadingTCPServer")


def test_mro_checker_rejects_the_untouched_template():
    template = {q: "?" for q in exercises.MRO_QUESTIONS}
    message = failure(exercises.check_mro_answers, template)
    assert "0 of 10 answers are right" in message
    assert "- ThreadingTCPServer.__init__: not answered yet ('?')" in message


def test_mro_checker_wants_a_dict():
    assert "answers should be a dict" in failure(exercises.check_mro_answers, ["TCPServer"])


# ---------------------------------------------------------------------------
# ex04
# ---------------------------------------------------------------------------
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
    time.sleep(0.2)  # the checker closed the socket: the spinning thread has ended
    assert not any(t.name == "netlesson-check-call-spins" for t in threading.enumerate())


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
           "for this protocol (test_exercises.py, line" in message
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


# ---------------------------------------------------------------------------
# ex05
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ex05():
    return load_solution("ex05_allow_list")


def test_allow_list_checkers_accept_the_notebook_solution(ex05):
    exercises.check_verify_request(ex05["AllowListServer"])
    exercises.check_allow_list_server(ex05["AllowListServer"])
    assert no_check_threads_left()


def allow_list_variant(ex05, verify):
    """The notebook's AllowListServer with another verify_request."""
    return type("AllowListServer", (ex05["AllowListServer"],), {"verify_request": verify})


def test_verify_checker_explains_accepting_everyone(ex05):
    def always(self, request, client_address):
        return True

    message = failure(exercises.check_verify_request, allow_list_variant(ex05, always))
    assert "returned True, but 192.0.2.7 is not in allowed_hosts" in message


def test_verify_checker_explains_deciding_from_the_socket(ex05):
    def by_peer(self, request, client_address):
        ok = request.getpeername()[0] in self.allowed_hosts
        if not ok:
            self.rejected.append(client_address)
        return ok

    message = failure(exercises.check_verify_request, allow_list_variant(ex05, by_peer))
    assert "Decide from client_address[0], not from the socket" in message


def test_verify_checker_explains_reading_the_class_attribute(ex05):
    def from_class(self, request, client_address):
        if client_address[0] in ex05["AllowListServer"].allowed_hosts:
            return True
        self.rejected.append(client_address)
        return False

    message = failure(exercises.check_verify_request, allow_list_variant(ex05, from_class))
    assert "read the list through self.allowed_hosts" in message


def test_verify_checker_explains_forgetting_the_rejected_list(ex05):
    def forgetful(self, request, client_address):
        return client_address[0] in self.allowed_hosts

    message = failure(exercises.check_verify_request, allow_list_variant(ex05, forgetful))
    assert "server.rejected is []" in message


def test_verify_checker_wants_an_override():
    class NoOverride(socketserver.ThreadingTCPServer):
        allowed_hosts = {"127.0.0.1"}

    message = failure(exercises.check_verify_request, NoOverride)
    assert "does not override verify_request" in message


def test_allow_list_checkers_explain_the_released_stub(ex05):
    def stub(self, request, client_address):
        # YOUR CODE HERE
        raise NotImplementedError()

    server_class = allow_list_variant(ex05, stub)
    message = failure(exercises.check_verify_request, server_class)
    assert "raised NotImplementedError" in message and "would stop serve_forever()" in message
    message = failure(exercises.check_allow_list_server, server_class)
    assert "the server stopped serving" in message and "NotImplementedError" in message
    assert no_check_threads_left()


def test_allow_list_server_checker_sees_a_refused_client_served(ex05):
    def accepts_then_records(self, request, client_address):
        if client_address[0] not in self.allowed_hosts:
            self.rejected.append(client_address)
        return True

    message = failure(exercises.check_allow_list_server, allow_list_variant(ex05, accepts_then_records))
    assert "was still served" in message and "must return False" in message


# ---------------------------------------------------------------------------
# ex06
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ex06():
    return load_solution("ex06_visitor_counter")


def test_visitor_checkers_accept_the_notebook_solution(ex06):
    exercises.check_visitor_greeting(ex06["VisitorServer"], ex06["VisitorHandler"])
    exercises.check_visitor_counter(ex06["VisitorServer"], ex06["VisitorHandler"])
    assert no_check_threads_left()


def test_visitor_checker_accepts_a_reentrant_lock(ex06):
    class RLockServer(ex06["VisitorServer"]):
        def __init__(self, server_address, handler):
            super().__init__(server_address, handler)
            self.lock = threading.RLock()

    exercises.check_visitor_counter(RLockServer, ex06["VisitorHandler"])


class UnlockedHandler(socketserver.StreamRequestHandler):
    def handle(self):
        name = self.rfile.readline().strip().decode("utf-8")
        self.server.count += 1
        self.wfile.write(f"hello {name}, you are visitor #{self.server.count}\n".encode())


class HalfLockedHandler(socketserver.StreamRequestHandler):
    def handle(self):
        name = self.rfile.readline().strip().decode("utf-8")
        with self.server.lock:
            self.server.count += 1
        number = self.server.count  # read after the lock is released
        self.wfile.write(f"hello {name}, you are visitor #{number}\n".encode())


def test_visitor_greeting_cannot_see_the_race(ex06):
    """One visitor at a time: the unlocked version passes part 1 -- that is the lesson."""
    exercises.check_visitor_greeting(ex06["VisitorServer"], UnlockedHandler)


@pytest.mark.parametrize("handler", [UnlockedHandler, HalfLockedHandler])
def test_visitor_counter_explains_an_unprotected_count(ex06, handler):
    message = failure(exercises.check_visitor_counter, ex06["VisitorServer"], handler)
    assert "20 visitors came at the same time" in message or "without holding server.lock" in message
    assert "with self.server.lock:" in message


def test_visitor_counter_reports_lost_visitors_with_numbers(ex06):
    message = failure(exercises.check_visitor_counter, ex06["VisitorServer"], UnlockedHandler)
    assert "server.count ended at" in message and "instead of 20" in message
    assert "(repeated: " in message


def test_visitor_checker_wants_count_and_lock(ex06):
    class NoLock(socketserver.ThreadingTCPServer):
        def __init__(self, server_address, handler):
            super().__init__(server_address, handler)
            self.count = 0

    class NoCount(socketserver.ThreadingTCPServer):
        pass

    assert "has no lock" in failure(exercises.check_visitor_greeting, NoLock, ex06["VisitorHandler"])
    assert "has no count attribute" in failure(exercises.check_visitor_greeting, NoCount,
                                               ex06["VisitorHandler"])


def test_visitor_checker_explains_an_unstripped_name(ex06):
    class NoStrip(socketserver.StreamRequestHandler):
        def handle(self):
            name = self.rfile.readline().decode("utf-8")
            with self.server.lock:
                self.server.count += 1
                number = self.server.count
            self.wfile.write(f"hello {name}, you are visitor #{number}\n".encode())

    message = failure(exercises.check_visitor_greeting, ex06["VisitorServer"], NoStrip)
    assert "should read 'hello alice, you are visitor #1\\n'" in message
    assert "got 'hello alice\\n'" in message
    assert "the name still ends with its line ending" in message


def test_visitor_checker_explains_the_released_stub(ex06):
    class StubServer(socketserver.ThreadingTCPServer):
        def __init__(self, server_address, handler):
            super().__init__(server_address, handler)
            # YOUR CODE HERE
            raise NotImplementedError()

    message = failure(exercises.check_visitor_greeting, StubServer, ex06["VisitorHandler"])
    assert "could not create the server for StubServer: NotImplementedError" in message


def test_a_server_whose_init_raises_has_its_socket_closed(ex06):
    made = []

    class StubServer(socketserver.ThreadingTCPServer):
        def __init__(self, server_address, handler):
            super().__init__(server_address, handler)
            made.append(self)
            raise NotImplementedError()

    failure(exercises.check_visitor_greeting, StubServer, ex06["VisitorHandler"])
    assert len(made) == 1
    assert made[0].socket.fileno() == -1, "the half-built server's listening socket was left open"


class ServesInInit(socketserver.ThreadingTCPServer):
    """Starts serving inside its constructor: the cell that creates it never finishes."""

    def __init__(self, server_address, handler):
        super().__init__(server_address, handler)
        self.count = 0
        self.lock = threading.Lock()
        self.serve_forever()


@pytest.mark.timeout(30)
def test_a_server_that_serves_forever_in_its_init_is_reported_not_waited_for(ex06):
    message = failure(exercises.check_visitor_greeting, ServesInInit, ex06["VisitorHandler"])
    assert "could not create the server for ServesInInit: your __init__ did not return " \
           "within 3 s (test_exercises.py, line" in message
    assert "self.serve_forever()" in message and "start it from outside" in message
    time.sleep(0.2)  # the checker shut the server down: __init__ has returned
    assert not any(t.name.startswith("netlesson-check-call") for t in threading.enumerate())


@pytest.mark.timeout(30)
def test_a_server_whose_init_waits_is_reported_with_the_waiting_line(ex05):
    release = threading.Event()

    class WaitsInInit(ex05["AllowListServer"]):
        def __init__(self, server_address, handler):
            super().__init__(server_address, handler)
            release.wait()  # waits for something that never happens

    try:
        message = failure(exercises.check_verify_request, WaitsInInit)
    finally:
        release.set()
    assert "could not create the server for WaitsInInit: your __init__ did not return " \
           "within 3 s" in message
    assert "release.wait()" in message and "serve_forever() blocks" not in message


def test_udp_retry_checker_reports_an_exception_as_it_is():
    def stub(address, data, timeout=0.5, retries=3):
        raise NotImplementedError()

    message = failure(exercises.check_udp_request_retries, stub)
    assert "drops the first 2 datagrams, udp_request raised NotImplementedError" in message


# ---------------------------------------------------------------------------
# the checkers' own machinery
# ---------------------------------------------------------------------------
def test_the_deadline_helper_passes_timeout_on_to_the_students_function():
    def wants_timeout(address, *, timeout):
        return (address, timeout)

    call = exercises._call_with_deadline(wants_timeout, "here", timeout=7, deadline=2.0)
    assert call.error is None and call.value == ("here", 7) and not call.hung


def raise_in_file(filename: str) -> str:
    """Raise an error from code that *filename* claims to hold; what the checkers say of it."""
    source = "def f():\n    raise ValueError('bad')\n"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict = {}
    exec(compile(source, filename, "exec"), namespace)
    try:
        namespace["f"]()
    except ValueError as exc:
        return exercises._describe_exception(exc)
    finally:
        linecache.cache.pop(filename, None)
    raise AssertionError("f() did not raise")


def test_an_error_in_a_notebook_cell_is_placed_in_the_cell():
    # ipykernel compiles each cell to a file in a directory named ipykernel_<pid>
    shown = raise_in_file(os.path.join(tempfile.gettempdir(), "ipykernel_4242", "2718281828.py"))
    assert shown == "ValueError: bad (line 2 of your cell: raise ValueError('bad'))"


def test_an_error_inside_ipykernel_itself_is_not_called_your_cell():
    import ipykernel

    shown = raise_in_file(os.path.join(os.path.dirname(ipykernel.__file__), "kernel_helper.py"))
    assert shown == "ValueError: bad (ipykernel/kernel_helper.py, line 2: raise ValueError('bad'))"


def test_an_error_in_a_library_module_names_its_package():
    from netlesson import framing

    a, b = socket.socketpair()
    with a, b:
        a.settimeout(2.0)
        b.settimeout(2.0)
        a.close()
        with pytest.raises(EOFError) as info:
            framing.recvall(b, 4)
    assert "(netlesson/framing.py, line " in exercises._describe_exception(info.value)


# ---------------------------------------------------------------------------
# the notebooks themselves
# ---------------------------------------------------------------------------
def test_exercise_notebooks_match_their_builder():
    """tools/build_exercises.py is where the cells are edited; the notebooks must agree."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "build_exercises", EXERCISES.parents[1] / "tools" / "build_exercises.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    assert sorted(builder.NOTEBOOKS_SPEC) == sorted(p.stem for p in EXERCISES.glob("*.ipynb"))
    for name, cells in builder.NOTEBOOKS_SPEC.items():
        built = builder.build(name, cells)
        stored = nbformat.read(EXERCISES / f"{name}.ipynb", as_version=4)
        assert [(c.id, c.cell_type, c.source, c.metadata.get("nbgrader")) for c in stored.cells] \
            == [(c.id, c.cell_type, c.source, c.metadata.get("nbgrader")) for c in built.cells], \
            f"{name}.ipynb differs from tools/build_exercises.py: rebuild and re-execute it"


@pytest.mark.parametrize("path", sorted(EXERCISES.glob("*.ipynb")), ids=lambda p: p.stem)
def test_every_test_cell_calls_a_checker_and_every_answer_has_a_solution(path):
    nb = nbformat.read(path, as_version=4)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    answers = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert tests and answers
    for cell in tests:
        meta = cell.metadata["nbgrader"]
        assert meta["locked"] and not meta["solution"] and meta["points"] > 0
        called = cell.source.strip().split("(")[0]
        assert called.startswith("exercises.check_") and hasattr(exercises, called.split(".")[1])
    for cell in answers:
        assert not cell.metadata["nbgrader"]["locked"]
        assert cell.source.count("### BEGIN SOLUTION") == cell.source.count("### END SOLUTION") >= 1
