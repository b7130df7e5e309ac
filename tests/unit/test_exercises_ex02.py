"""Exercise 2 (a UDP client with a timeout and retries): the checkers accept the solution and
explain typical mistakes.

The wrong answers below are mistakes students really make; every test asserts
that the checker says *why* it is wrong, not merely that it fails.
"""

from __future__ import annotations

import socket

import pytest
from exercise_solutions import failure, load_solution, no_check_threads_left

from netlesson import exercises


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
    # the checker woke the blocked recvfrom with a datagram: the worker thread ends
    assert no_check_threads_left("netlesson-check-call-udp_without_timeout")


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


def test_udp_retry_checker_reports_an_exception_as_it_is():
    def stub(address, data, timeout=0.5, retries=3):
        raise NotImplementedError()

    message = failure(exercises.check_udp_request_retries, stub)
    assert "drops the first 2 datagrams, udp_request raised NotImplementedError" in message
