"""Exercise 5: ``verify_request`` as an allow-list of client addresses.

``verify_request`` is one overridable step of ``BaseServer``'s loop.  The
first check calls it directly with made-up client addresses; the second runs
the student's server and changes ``allowed_hosts`` while clients connect.
"""

from __future__ import annotations

import socketserver

from ..source import defining_class
from ._harness import (CALL_TIMEOUT, call_with_deadline, checked_class, checker,
                       describe_exception, fail, fail_if_server_error, make_check_server,
                       require_class, serving, student_frame)
from ._wire import LOOPBACK, REPLY_TIMEOUT, close_quietly, connect, tcp_pair

__all__ = ["check_verify_request", "check_allow_list_server"]


class _OneShotUpperHandler(socketserver.BaseRequestHandler):
    """Read one message, answer it in upper case: enough to see who was served."""

    def handle(self):
        self.request.settimeout(REPLY_TIMEOUT)
        try:
            data = self.request.recv(1024)
            if data:
                self.request.sendall(data.upper())
        except OSError:
            pass


def _allow_list_server(server_class):
    __tracebackhide__ = True  # noqa: F841
    require_class(server_class, socketserver.TCPServer, "your server class")
    if defining_class(server_class, "verify_request") in (None, socketserver.BaseServer):
        fail(f"{server_class.__name__} does not override verify_request: write "
             f"def verify_request(self, request, client_address) in the class")
    allowed = getattr(server_class, "allowed_hosts", None)
    if allowed is None:
        fail(f"{server_class.__name__} has no class attribute allowed_hosts "
             f"(e.g. allowed_hosts = {{'127.0.0.1'}})")
    if isinstance(allowed, str) or LOOPBACK not in allowed:
        fail(f"{server_class.__name__}.allowed_hosts should be a set of IP address strings that "
             f"contains '127.0.0.1'; it is {allowed!r}")
    return make_check_server(checked_class(server_class), _OneShotUpperHandler,
                             server_class.__name__)


def _serve_one(address) -> tuple[bytes | None, str]:
    """Connect, send ``b'hi'``; ``(reply, how)`` where *how* says how the exchange ended."""
    try:
        sock = connect(address)
    except OSError as exc:
        return None, f"could not connect ({exc})"
    with sock:
        try:
            sock.sendall(b"hi")
            data = sock.recv(1024)
        except TimeoutError:
            return None, "no answer"
        except OSError:
            return b"", "closed"
        return data, "closed" if not data else "served"


def _verify(server, request, address):
    """``server.verify_request(request, address)`` under the checkers' deadline: its verdict."""
    __tracebackhide__ = True  # noqa: F841
    call = call_with_deadline(server.verify_request, request, address)
    if call.hung:
        fail(f"verify_request(request, {address}) did not return within {CALL_TIMEOUT:g} s"
             f"{student_frame(call.stack())}: serve_forever() calls it for every new "
             f"connection, so a verify_request that waits or loops stops the whole server. "
             f"Decide from client_address[0] and return at once")
    if call.error is not None:
        fail(f"verify_request(request, {address}) raised {describe_exception(call.error)}. "
             f"client_address is a (host, port) tuple; the host is client_address[0]. "
             f"An exception here would stop serve_forever()")
    return call.plain


@checker
def check_verify_request(server_class) -> None:
    """Exercise 5, part 1: ``verify_request`` decides from ``client_address`` alone."""
    __tracebackhide__ = True  # noqa: F841
    server = _allow_list_server(server_class)
    pair = ()
    try:
        pair = a, b = tcp_pair()
        for address, allowed in ((("127.0.0.1", 50000), True), (("192.0.2.7", 50001), False),
                                 (("10.0.0.8", 50002), False)):
            verdict = _verify(server, b, address)
            if bool(verdict) != allowed:
                why = ("is in allowed_hosts" if allowed else
                       f"is not in allowed_hosts {sorted(server_class.allowed_hosts)}")
                extra = ""
                if not allowed and verdict:
                    extra = (". Decide from client_address[0], not from the socket: the check "
                             "calls verify_request with a socket connected from 127.0.0.1 and "
                             "a different client_address")
                fail(f"verify_request(request, {address}) returned {verdict!r}, but "
                     f"{address[0]} {why}: return {allowed}{extra}")
        rejected = getattr(server, "rejected", None)
        if not isinstance(rejected, list):
            fail("the server should record refused clients in self.rejected, a list created in "
                 f"__init__; server.rejected is {rejected!r}")
        refused = [tuple(x) if isinstance(x, (list, tuple)) else x for x in rejected]
        if refused != [("192.0.2.7", 50001), ("10.0.0.8", 50002)]:
            fail(f"after refusing ('192.0.2.7', 50001) and ('10.0.0.8', 50002) (and accepting "
                 f"('127.0.0.1', 50000)), server.rejected is {rejected!r}: append each refused "
                 f"client_address, and only those")
        server.allowed_hosts = {"192.0.2.1"}
        if _verify(server, b, ("127.0.0.1", 50003)):
            fail("after server.allowed_hosts = {'192.0.2.1'} your verify_request still accepted "
                 "127.0.0.1: read the list through self.allowed_hosts, so each server can have "
                 "its own")
    finally:
        close_quietly(*pair)
        server.server_close()


@checker
def check_allow_list_server(server_class) -> None:
    """Exercise 5, part 2: a running server serves allowed clients and refuses others."""
    __tracebackhide__ = True  # noqa: F841
    server = _allow_list_server(server_class)
    with serving(server):
        address = server.server_address
        reply, how = _serve_one(address)
        fail_if_server_error(server, " while a client from 127.0.0.1 connected")
        if reply != b"HI":
            fail(f"a client from 127.0.0.1 (which is in allowed_hosts) sent b'hi' and got "
                 f"{reply!r} ({how}): verify_request should return True for it")
        server.allowed_hosts = {"192.0.2.1"}
        server._nl_wait_idle(REPLY_TIMEOUT)  # the first handler may still be finishing
        served_before = server._nl_handled
        reply, how = _serve_one(address)
        server._nl_wait_idle(REPLY_TIMEOUT)
        fail_if_server_error(server, " while refusing a client")
        if reply:
            fail(f"with allowed_hosts = {{'192.0.2.1'}} a client from 127.0.0.1 was still "
                 f"served (it got {reply!r}): verify_request must return False for it")
        if server._nl_handled != served_before:
            fail("a refused client still reached the handler: return False from verify_request")
        server.allowed_hosts = {LOOPBACK}
        reply, how = _serve_one(address)
        fail_if_server_error(server, " after refusing a client")
        if reply != b"HI":
            fail(f"after refusing one client the server should go on serving; an allowed client "
                 f"then got {reply!r} ({how})")
        if len(getattr(server, "rejected", []) or []) != 1:
            fail(f"the server refused one client; server.rejected is "
                 f"{getattr(server, 'rejected', None)!r}")


