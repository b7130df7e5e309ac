"""Exercise 6 (a visitor counter shared by handler threads): the checkers accept the
solution and explain typical mistakes.

The wrong answers below are mistakes students really make; every test asserts
that the checker says *why* it is wrong, not merely that it fails.
"""

from __future__ import annotations

import socketserver
import threading

import pytest
from exercise_solutions import failure, load_solution, no_check_threads_left

from netlesson import exercises


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


def test_visitor_checkers_leave_the_servers_own_log_method_alone(ex06):
    said = []

    class OwnLog(ex06["VisitorServer"]):
        def log(self, text):  # the student's own, not a ServerLog
            said.append(text)

    class LogsVisits(ex06["VisitorHandler"]):
        def handle(self):
            super().handle()
            self.server.log("greeted")

    own_log = OwnLog.log
    exercises.check_visitor_greeting(OwnLog, LogsVisits)
    exercises.check_visitor_counter(OwnLog, LogsVisits, visitors=5)
    assert OwnLog.log is own_log
    assert said == ["greeted"] * (3 + 5)  # written through the student's method, every time
    assert no_check_threads_left()


def test_visitor_checker_explains_an_init_that_forgets_super(ex06):
    class NoSuper(ex06["VisitorServer"]):
        def __init__(self, server_address, RequestHandlerClass):
            self.count = 0  # forgot super().__init__(...): nothing is bound
            self.lock = threading.Lock()

    message = failure(exercises.check_visitor_greeting, NoSuper, ex06["VisitorHandler"])
    assert "could not create the server for NoSuper: it has no socket" in message
    assert "Call super().__init__(server_address, RequestHandlerClass) first" in message
    assert "AttributeError" not in message
