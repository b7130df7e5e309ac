"""Exercise 5 (verify_request as an allow-list): the checkers accept the solution and
explain typical mistakes.

The wrong answers below are mistakes students really make; every test asserts
that the checker says *why* it is wrong, not merely that it fails.
"""

from __future__ import annotations

import socketserver
import threading
import time

import pytest
from exercise_solutions import failure, load_solution, no_check_threads_left

from netlesson import exercises


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
    assert "(test_exercises_ex05.py, line" in message and "raise NotImplementedError()" in message
    assert no_check_threads_left()


def test_allow_list_server_checker_sees_a_refused_client_served(ex05):
    def accepts_then_records(self, request, client_address):
        if client_address[0] not in self.allowed_hosts:
            self.rejected.append(client_address)
        return True

    message = failure(exercises.check_allow_list_server, allow_list_variant(ex05, accepts_then_records))
    assert "was still served" in message and "must return False" in message


@pytest.mark.timeout(30)
def test_a_verify_request_that_never_returns_is_reported_not_waited_for(ex05):
    release = threading.Event()

    def loops(self, request, client_address):
        while not release.wait(0.01):  # a loop that never ends (until the test is over)
            pass
        return True

    t0 = time.monotonic()
    try:
        message = failure(exercises.check_verify_request, allow_list_variant(ex05, loops))
        took = time.monotonic() - t0
    finally:
        release.set()
    assert took < 3.0 + 2.0  # the checker's own deadline, not the test's timeout
    assert "verify_request(request, ('127.0.0.1', 50000)) did not return within 3 s" in message
    assert "while not release.wait(0.01)" in message  # the student's line
    assert no_check_threads_left("netlesson-check-call-verify_request")


def test_allow_list_checkers_leave_the_servers_own_log_method_alone(ex05):
    said = []

    class LogsRefusals(ex05["AllowListServer"]):
        def log(self, text):  # the student's own, not a ServerLog
            said.append(text)

        def verify_request(self, request, client_address):
            allowed = super().verify_request(request, client_address)
            if not allowed:
                self.log(f"refused {client_address[0]}")
            return allowed

    own_log = LogsRefusals.log
    exercises.check_verify_request(LogsRefusals)
    exercises.check_allow_list_server(LogsRefusals)
    assert LogsRefusals.log is own_log
    # three refusals in the first check, one while the check's server served
    assert said == ["refused 192.0.2.7", "refused 10.0.0.8"] + ["refused 127.0.0.1"] * 2
    assert no_check_threads_left()


def test_allow_list_checker_explains_an_init_that_forgets_super(ex05):
    class NoSuper(ex05["AllowListServer"]):
        def __init__(self, server_address, RequestHandlerClass):
            self.rejected = []  # forgot super().__init__(...): nothing is bound

    message = failure(exercises.check_verify_request, NoSuper)
    assert "could not create the server for NoSuper: it has no socket" in message
    assert "Call super().__init__(server_address, RequestHandlerClass) first" in message
    assert "AttributeError" not in message
