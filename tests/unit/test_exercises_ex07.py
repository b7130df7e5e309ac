"""Exercise 7 (the capstone: a key-value server on a line protocol): the checkers accept
the solution and explain typical mistakes.

The wrong answers below are mistakes students really make; every test asserts
that the checker says *why* it is wrong, not merely that it fails.  Most are the
notebook's own solution with one piece changed, so each shows one mistake.
"""

from __future__ import annotations

import socketserver
import threading
import time

import nbformat
import pytest
from exercise_solutions import EXERCISES, failure, load_solution, no_check_threads_left

from netlesson import exercises


@pytest.fixture(scope="module")
def ex07():
    return load_solution("ex07_line_protocol")


def variant(old: str, new: str) -> dict:
    """The notebook's KVServer and KVHandler with one piece of the solution changed."""
    nb = nbformat.read(EXERCISES / "ex07_line_protocol.ipynb", as_version=4)
    source = next(c.source for c in nb.cells
                  if c.metadata.get("nbgrader", {}).get("grade_id") == "ex07-solution")
    assert old in source, old
    namespace = {"socketserver": socketserver, "threading": threading}
    exec(compile(source.replace(old, new), "<variant>", "exec"), namespace)
    return namespace


def test_kv_checkers_accept_the_notebook_solution(ex07):
    exercises.check_kv_protocol(ex07["KVServer"], ex07["KVHandler"])
    exercises.check_kv_allow_list(ex07["KVServer"], ex07["KVHandler"])
    exercises.check_kv_concurrency(ex07["KVServer"], ex07["KVHandler"])
    assert no_check_threads_left()


def test_kv_checker_accepts_a_reentrant_lock(ex07):
    class RLockServer(ex07["KVServer"]):
        def __init__(self, server_address, handler):
            super().__init__(server_address, handler)
            self.lock = threading.RLock()

    exercises.check_kv_concurrency(RLockServer, ex07["KVHandler"], clients=10, rounds=3)


UNLOCKED_INCR = ('''            with lock:
                try:
                    number = int(data.get(rest, "0")) + 1
                except ValueError:
                    return "ERR not an integer"
                data[rest] = str(number)''', '''            try:
                number = int(data.get(rest, "0")) + 1
            except ValueError:
                return "ERR not an integer"
            with lock:
                data[rest] = str(number)''')


def test_an_unlocked_increment_passes_the_protocol_check(ex07):
    """One client at a time cannot see the race: that is the lesson."""
    ns = variant(*UNLOCKED_INCR)
    exercises.check_kv_protocol(ns["KVServer"], ns["KVHandler"])


def test_an_unlocked_increment_loses_updates_under_load(ex07):
    ns = variant(*UNLOCKED_INCR)
    message = failure(exercises.check_kv_concurrency, ns["KVServer"], ns["KVHandler"])
    assert "30 clients sent 150 INCR hits commands at the same time" in message
    assert "(repeated: " in message and "an increment is lost" in message
    assert "inside one `with self.server.lock:` block" in message


def test_a_get_without_the_lock_is_named(ex07):
    ns = variant('''            with lock:
                if rest not in data:
                    return "ERR no such key"
                return f"OK {data[rest]}"''', '''            if rest not in data:
                return "ERR no such key"
            return f"OK {data[rest]}"''')
    message = failure(exercises.check_kv_concurrency, ns["KVServer"], ns["KVHandler"])
    assert "the results came out right this time" in message
    assert "read server.data" in message and "without holding server.lock" in message


def test_a_handler_that_reads_with_recv_is_told_about_lines(ex07):
    class RecvHandler(socketserver.BaseRequestHandler):
        def handle(self):
            while data := self.request.recv(1024):
                reply = ex07["KVHandler"].execute(self, data.rstrip(b"\r\n").decode("utf-8", "replace"))
                self.request.sendall(reply.encode("utf-8") + b"\n")

    class RecvStream(socketserver.StreamRequestHandler):
        handle = RecvHandler.handle
        execute = ex07["KVHandler"].execute

    message = failure(exercises.check_kv_protocol, ex07["KVServer"], RecvStream)
    assert "client A: for a command sent in 3 pieces" in message
    assert "it answered each piece" in message and "self.rfile.readline()" in message


def test_a_line_ending_left_on_the_command_is_explained(ex07):
    ns = variant('command = line.rstrip(b"\\r\\n").decode("utf-8")',
                 'command = line.decode("utf-8")')
    message = failure(exercises.check_kv_protocol, ns["KVServer"], ns["KVHandler"])
    assert "for GET of a key that was SET b'GET name\\n'" in message
    assert "Strip the line ending first" in message


def test_a_crlf_line_is_explained(ex07):
    ns = variant('command = line.rstrip(b"\\r\\n").decode("utf-8")',
                 'command = line.rstrip(b"\\n").decode("utf-8")')
    message = failure(exercises.check_kv_protocol, ns["KVServer"], ns["KVHandler"])
    assert "a command ending in b'\\r\\n'" in message
    assert "took the b'\\r' as part of it" in message


def test_a_value_split_at_every_space_is_explained(ex07):
    ns = variant('key, space, value = rest.partition(" ")',
                 'key, space, value = rest.partition(" ")\n'
                 '            value = value.split(" ")[0]')
    message = failure(exercises.check_kv_protocol, ns["KVServer"], ns["KVHandler"])
    assert "GET of that value" in message
    assert "'OK \\xe4\\xbd\\xa0\\xe5\\xa5\\xbd world\\n'" not in message or "exactly" in message


def test_data_kept_per_handler_is_not_shared(ex07):
    class PerConnection(ex07["KVHandler"]):
        def setup(self):
            super().setup()
            self.mine = {}

        def execute(self, command):
            real = self.server.data
            self.server.__dict__["data"] = self.mine  # each connection its own dict
            try:
                return super().execute(command)
            finally:
                self.server.__dict__["data"] = real

    message = failure(exercises.check_kv_protocol, ex07["KVServer"], PerConnection)
    assert "client B: for GET of a key that client A set" in message


def test_an_error_that_is_not_err_is_explained(ex07):
    ns = variant('return "ERR no such key"\n                return f"OK {data[rest]}"',
                 'return "OK"\n                return f"OK {data[rest]}"')
    message = failure(exercises.check_kv_protocol, ns["KVServer"], ns["KVHandler"])
    assert "GET of a key that does not exist" in message
    assert "the reply must be an error: a line that starts with b'ERR '" in message


def test_bytes_that_are_not_utf8_are_reported_with_the_line(ex07):
    ns = variant('''            try:
                command = line.rstrip(b"\\r\\n").decode("utf-8")
            except UnicodeDecodeError:
                reply = "ERR not UTF-8"
            else:
                reply = self.execute(command)''', '''            reply = self.execute(line.rstrip(b"\\r\\n").decode("utf-8"))''')
    message = failure(exercises.check_kv_protocol, ns["KVServer"], ns["KVHandler"])
    assert "your handler raised UnicodeDecodeError" in message
    assert "a line that is not UTF-8" in message


def test_an_allow_list_that_lets_everyone_in_is_explained(ex07):
    ns = variant("return client_address[0] in self.allowed_hosts", "return True")
    message = failure(exercises.check_kv_allow_list, ns["KVServer"], ns["KVHandler"])
    assert "its connection reached your handler" in message
    assert "verify_request must return False" in message


def test_an_allow_list_read_from_the_class_is_explained(ex07):
    ns = variant("return client_address[0] in self.allowed_hosts",
                 "return client_address[0] in KVServer.allowed_hosts")
    message = failure(exercises.check_kv_allow_list, ns["KVServer"], ns["KVHandler"])
    assert "read the list through self" in message


def test_the_released_stub_is_explained(ex07):
    class StubServer(socketserver.ThreadingTCPServer):
        allowed_hosts = {"127.0.0.1"}

        def __init__(self, server_address, handler):
            super().__init__(server_address, handler)
            # YOUR CODE HERE
            raise NotImplementedError()

        def verify_request(self, request, client_address):
            # YOUR CODE HERE
            raise NotImplementedError()

    for check in (exercises.check_kv_protocol, exercises.check_kv_allow_list,
                  exercises.check_kv_concurrency):
        message = failure(check, StubServer, ex07["KVHandler"])
        assert "could not create the server for StubServer: NotImplementedError" in message
    assert "does not override verify_request" in failure(
        exercises.check_kv_allow_list, socketserver.ThreadingTCPServer, ex07["KVHandler"])


def test_a_server_without_data_or_lock_is_told_what_to_add(ex07):
    class NoLock(socketserver.ThreadingTCPServer):
        allowed_hosts = {"127.0.0.1"}

        def __init__(self, server_address, handler):
            super().__init__(server_address, handler)
            self.data = {}

    class NoData(NoLock):
        def __init__(self, server_address, handler):
            socketserver.ThreadingTCPServer.__init__(self, server_address, handler)

    assert "has no lock" in failure(exercises.check_kv_protocol, NoLock, ex07["KVHandler"])
    assert "has no dict in self.data" in failure(exercises.check_kv_protocol, NoData,
                                                 ex07["KVHandler"])


@pytest.mark.timeout(30)
def test_a_handler_that_never_answers_is_reported_not_waited_for(ex07):
    release = threading.Event()

    class Stuck(ex07["KVHandler"]):
        def handle(self):
            self.rfile.readline()
            while not release.wait(0.01):  # never answers (until the test is over)
                pass

    t0 = time.monotonic()
    try:
        message = failure(exercises.check_kv_protocol, ex07["KVServer"], Stuck)
        took = time.monotonic() - t0
    finally:
        release.set()
    assert took < 6.0
    assert "client A: for SET b'SET name alice\\n' the expected reply is b'OK\\n'" in message
    assert "but your handler sent nothing (waited 1.5 s for a complete line)" in message
    assert no_check_threads_left()


def test_prints_from_handler_threads_are_held_back_and_quoted(ex07, capsys):
    class Chatty(ex07["KVHandler"]):
        def execute(self, command):
            print("got", command)
            return super().execute(command)

    exercises.check_kv_allow_list(ex07["KVServer"], Chatty)
    assert "got" not in capsys.readouterr().out
