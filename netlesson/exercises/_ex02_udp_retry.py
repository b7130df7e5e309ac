"""Exercise 2: a UDP client with a timeout and retries.

The student's ``udp_request(address, data, timeout, retries)`` is pointed at
scripted UDP servers: one that answers at once, one that never answers, one
that drops the first datagrams (a lossy network), and one beside which a
stranger sends the client a datagram just before the real reply.
"""

from __future__ import annotations

import socket
import socketserver
import time

from ..i18n import checkers
from ._harness import (Call, CheckMixIn, call_with_deadline, checker, describe_exception, fail,
                       require_callable, serving)
from ._wire import LOOPBACK

_ = checkers.gettext
ngettext = checkers.ngettext

__all__ = ["check_udp_request", "check_udp_request_retries"]


class _ScriptedUDPServer(CheckMixIn, socketserver.UDPServer):
    """A single-threaded UDP server whose behaviour the check scripts.

    ``drop_first`` datagrams are ignored (a lossy network), ``silent`` never
    answers, ``stranger`` makes another socket send a datagram to the client
    just before the real reply.  Every datagram received is recorded.
    """

    def __init__(self, *, drop_first: int = 0, silent: bool = False, stranger: bool = False):
        self.drop_first = drop_first
        self.silent = silent
        self.stranger = stranger
        self.received: list[tuple[bytes, tuple]] = []
        self.stranger_address = None
        super().__init__((LOOPBACK, 0), _ScriptedDatagramHandler)

    def clients(self) -> set:
        return {addr for _, addr in self.received}

    def wake_clients(self) -> None:
        """Send every client an empty datagram, so a ``recvfrom`` without timeout returns."""
        for addr in self.clients():
            try:
                self.socket.sendto(b"", addr)
            except OSError:
                pass


class _ScriptedDatagramHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        server = self.server
        server.received.append((data, self.client_address))
        if server.silent or len(server.received) <= server.drop_first:
            return
        if server.stranger:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
                other.bind((LOOPBACK, 0))
                server.stranger_address = other.getsockname()
                other.sendto(b"not from the server", self.client_address)
            time.sleep(0.05)
        sock.sendto(data.upper(), self.client_address)


def _run_udp_client(func, server, data: bytes, timeout: float, retries: int) -> Call:
    """Call ``func(address, data, timeout=, retries=)``; a hung client is reported and woken."""
    __tracebackhide__ = True  # noqa: F841
    limit = (retries + 1) * timeout + 2.0
    call = call_with_deadline(func, server.server_address, data, timeout=timeout,
                              retries=retries, deadline=limit)
    if call.hung:
        server.wake_clients()
        call.done.wait(1.0)
        fail(_("{call} did not return within {seconds} s. A UDP reply may never come: give the "
               "socket a timeout (sock.settimeout(timeout)) so recvfrom() raises TimeoutError "
               "instead of waiting forever").format(
                   call=f"udp_request(address, {data!r}, timeout={timeout}, retries={retries})",
                   seconds=f"{limit:g}"))
    return call


def _udp_reply_problem(value, expected: bytes) -> str | None:
    if value == expected and isinstance(value, (bytes, bytearray)):
        return None
    if isinstance(value, str):
        return _("it returned the str {value}: return the reply as bytes, exactly as recvfrom() "
                 "gave it").format(value=repr(value))
    if isinstance(value, tuple) and value and value[0] == expected:
        return _("it returned (data, address): return only the data; the address is for "
                 "checking who sent it")
    return _("it returned {value}, expected {expected}").format(value=repr(value),
                                                                expected=repr(expected))


@checker
def check_udp_request(udp_request) -> None:
    """Exercise 2, part 1: one request, one reply; silence raises ``TimeoutError``."""
    __tracebackhide__ = True  # noqa: F841
    require_callable(udp_request, "udp_request", ["address", "data", "timeout", "retries"])

    echo = _ScriptedUDPServer()
    with serving(echo):
        call = _run_udp_client(udp_request, echo, b"hello udp", timeout=0.5, retries=2)
        if call.error is not None:
            fail(_("against a server that answers at once, udp_request raised {error}").format(
                error=describe_exception(call.error)))
        problem = _udp_reply_problem(call.plain, b"HELLO UDP")
        if problem:
            fail(_("{call} should return {expected}; {problem}").format(
                call="udp_request(address, b'hello udp')", expected="b'HELLO UDP'",
                problem=problem))
        time.sleep(0.1)  # let the server take in any further datagrams already on their way
        sent = len(echo.received)
        if sent != 1:
            fail(_("for one request the server received {count} datagrams although its reply "
                   "came at once: send again only after a try timed out").format(count=sent))

    silent = _ScriptedUDPServer(silent=True)
    timeout, retries = 0.2, 2
    with serving(silent):
        call = _run_udp_client(udp_request, silent, b"anyone there?", timeout=timeout,
                               retries=retries)
        tries = len(silent.received)
        if call.error is None:
            fail(_("the server never answered, yet udp_request returned {value}: after the last "
                   "try raise TimeoutError, so the caller knows no reply came").format(
                       value=repr(call.plain)))
        if not isinstance(call.error, TimeoutError):
            fail(_("when no reply comes udp_request should raise TimeoutError after its last "
                   "try; it raised {error}").format(error=describe_exception(call.error)))
        if tries != retries + 1:
            fail(_("with retries={retries} udp_request should send {datagrams} datagrams (the "
                   "first try plus {retries} retries) before it gives up; the silent server "
                   "received {count}").format(retries=retries, datagrams=retries + 1,
                                              count=tries))
        slowest = (retries + 1) * timeout + 1.0
        if call.seconds > slowest:
            fail(_("udp_request took {seconds} s to give up with timeout={timeout}, "
                   "retries={retries}: wait at most `timeout` seconds for each try").format(
                       seconds=f"{call.seconds:.1f}", timeout=timeout, retries=retries))


@checker
def check_udp_request_retries(udp_request) -> None:
    """Exercise 2, part 2: lost datagrams are sent again; strangers are ignored."""
    __tracebackhide__ = True  # noqa: F841
    require_callable(udp_request, "udp_request", ["address", "data", "timeout", "retries"])

    lossy = _ScriptedUDPServer(drop_first=2)
    with serving(lossy):
        call = _run_udp_client(udp_request, lossy, b"third time lucky", timeout=0.2, retries=3)
        tries = len(lossy.received)
        if call.error is not None and not isinstance(call.error, TimeoutError):
            fail(_("against a server that drops the first 2 datagrams, udp_request raised "
                   "{error}").format(error=describe_exception(call.error)))
        if call.error is not None:
            fail(ngettext("the server ignored your first 2 datagrams (as a lossy network may) and "
                          "would have answered the 3rd, but after {count} datagram udp_request "
                          "raised {error}: after each timeout send the datagram again, up to "
                          "`retries` more times",
                          "the server ignored your first 2 datagrams (as a lossy network may) and "
                          "would have answered the 3rd, but after {count} datagrams udp_request "
                          "raised {error}: after each timeout send the datagram again, up to "
                          "`retries` more times", tries).format(
                              count=tries, error=describe_exception(call.error)))
        problem = _udp_reply_problem(call.plain, b"THIRD TIME LUCKY")
        if problem:
            fail(_("with the first 2 datagrams lost, udp_request should still return {expected}; "
                   "{problem}").format(expected="b'THIRD TIME LUCKY'", problem=problem))

    tricky = _ScriptedUDPServer(stranger=True)
    with serving(tricky):
        call = _run_udp_client(udp_request, tricky, b"who is there", timeout=0.5, retries=1)
        if call.error is not None:
            fail(_("another program sent your socket a datagram just before the server's reply, "
                   "and udp_request raised {error}: ignore datagrams from other addresses and "
                   "keep waiting for the server").format(error=describe_exception(call.error)))
        if call.plain == b"not from the server":
            fail(_("udp_request returned b'not from the server', a datagram from {stranger}, not "
                   "from the server at {server}: anyone can send to a UDP socket. Compare the "
                   "address recvfrom() returns with the server's and ignore the others").format(
                       stranger=tricky.stranger_address, server=tricky.server_address))
        problem = _udp_reply_problem(call.plain, b"WHO IS THERE")
        if problem:
            fail(_("{call} should return {expected}; {problem}").format(
                call="udp_request(address, b'who is there')", expected="b'WHO IS THERE'",
                problem=problem))


