"""Exercise 5: ``verify_request`` as an allow-list of client addresses.

``verify_request`` is one overridable step of ``BaseServer``'s loop.  The
first check calls it directly with made-up client addresses; the second runs
the student's server and changes ``allowed_hosts`` while clients connect.
"""

from __future__ import annotations

import socketserver

from ..i18n import checkers
from ..source import defining_class
from ._harness import (CALL_TIMEOUT, YOUR_SERVER_CLASS, call_with_deadline, checked_class,
                       checker, describe_exception, fail, fail_if_server_error,
                       make_check_server, require_class, serving, student_frame)
from ._wire import LOOPBACK, REPLY_TIMEOUT, close_quietly, connect, tcp_pair

_ = checkers.gettext

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
    require_class(server_class, socketserver.TCPServer, YOUR_SERVER_CLASS)
    if defining_class(server_class, "verify_request") in (None, socketserver.BaseServer):
        fail(_("{name} does not override verify_request: write def verify_request(self, "
               "request, client_address) in the class").format(name=server_class.__name__))
    allowed = getattr(server_class, "allowed_hosts", None)
    if allowed is None:
        fail(_("{name} has no class attribute allowed_hosts (e.g. {example})").format(
            name=server_class.__name__, example="allowed_hosts = {'127.0.0.1'}"))
    if isinstance(allowed, str) or LOOPBACK not in allowed:
        fail(_("{attribute} should be a set of IP address strings that contains '127.0.0.1'; "
               "it is {value}").format(attribute=f"{server_class.__name__}.allowed_hosts",
                                       value=repr(allowed)))
    return make_check_server(checked_class(server_class), _OneShotUpperHandler,
                             server_class.__name__)


def _serve_one(address) -> tuple[bytes | None, str]:
    """Connect, send ``b'hi'``; ``(reply, how)`` where *how* says how the exchange ended (translated)."""
    try:
        sock = connect(address)
    except OSError as exc:
        return None, _("could not connect ({error})").format(error=exc)
    with sock:
        try:
            sock.sendall(b"hi")
            data = sock.recv(1024)
        except TimeoutError:
            # TRANSLATORS: how an exchange ended, shown in parentheses after the reply
            return None, _("no answer")
        except OSError:
            return b"", _("closed")
        return data, _("closed") if not data else _("served")


def _verify(server, request, address):
    """``server.verify_request(request, address)`` under the checkers' deadline: its verdict."""
    __tracebackhide__ = True  # noqa: F841
    call = call_with_deadline(server.verify_request, request, address)
    if call.hung:
        fail(_("{call} did not return within {seconds} s{where}: serve_forever() calls it for "
               "every new connection, so a verify_request that waits or loops stops the whole "
               "server. Decide from client_address[0] and return at once").format(
                   call=f"verify_request(request, {address})", seconds=f"{CALL_TIMEOUT:g}",
                   where=student_frame(call.stack())))
    if call.error is not None:
        fail(_("{call} raised {error}. client_address is a (host, port) tuple; the host is "
               "client_address[0]. An exception here would stop serve_forever()").format(
                   call=f"verify_request(request, {address})",
                   error=describe_exception(call.error)))
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
                call = f"verify_request(request, {address})"
                if allowed:
                    fail(_("{call} returned {verdict}, but {host} is in allowed_hosts: return "
                           "{allowed}").format(call=call, verdict=repr(verdict), host=address[0],
                                               allowed=allowed))
                hosts = sorted(server_class.allowed_hosts)
                if verdict:
                    fail(_("{call} returned {verdict}, but {host} is not in allowed_hosts "
                           "{hosts}: return {allowed}. Decide from client_address[0], not from "
                           "the socket: the check calls verify_request with a socket connected "
                           "from 127.0.0.1 and a different client_address").format(
                               call=call, verdict=repr(verdict), host=address[0], hosts=hosts,
                               allowed=allowed))
                fail(_("{call} returned {verdict}, but {host} is not in allowed_hosts {hosts}: "
                       "return {allowed}").format(call=call, verdict=repr(verdict),
                                                  host=address[0], hosts=hosts, allowed=allowed))
        rejected = getattr(server, "rejected", None)
        if not isinstance(rejected, list):
            fail(_("the server should record refused clients in self.rejected, a list created in "
                   "__init__; server.rejected is {value}").format(value=repr(rejected)))
        refused = [tuple(x) if isinstance(x, (list, tuple)) else x for x in rejected]
        if refused != [("192.0.2.7", 50001), ("10.0.0.8", 50002)]:
            fail(_("after refusing ('192.0.2.7', 50001) and ('10.0.0.8', 50002) (and accepting "
                   "('127.0.0.1', 50000)), server.rejected is {value}: append each refused "
                   "client_address, and only those").format(value=repr(rejected)))
        server.allowed_hosts = {"192.0.2.1"}
        if _verify(server, b, ("127.0.0.1", 50003)):
            fail(_("after server.allowed_hosts = {'192.0.2.1'} your verify_request still accepted "
                   "127.0.0.1: read the list through self.allowed_hosts, so each server can have "
                   "its own"))
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
        fail_if_server_error(server, _("while a client from 127.0.0.1 connected"))
        if reply != b"HI":
            fail(_("a client from 127.0.0.1 (which is in allowed_hosts) sent b'hi' and got "
                   "{reply} ({how}): verify_request should return True for it").format(
                       reply=repr(reply), how=how))
        server.allowed_hosts = {"192.0.2.1"}
        server._nl_wait_idle(REPLY_TIMEOUT)  # the first handler may still be finishing
        served_before = server._nl_handled
        reply, how = _serve_one(address)
        server._nl_wait_idle(REPLY_TIMEOUT)
        fail_if_server_error(server, _("while refusing a client"))
        if reply:
            fail(_("with allowed_hosts = {hosts} a client from 127.0.0.1 was still served (it "
                   "got {reply}): verify_request must return False for it").format(
                       hosts="{'192.0.2.1'}", reply=repr(reply)))
        if server._nl_handled != served_before:
            fail(_("a refused client still reached the handler: return False from "
                   "verify_request"))
        server.allowed_hosts = {LOOPBACK}
        reply, how = _serve_one(address)
        fail_if_server_error(server, _("after refusing a client"))
        if reply != b"HI":
            fail(_("after refusing one client the server should go on serving; an allowed client "
                   "then got {reply} ({how})").format(reply=repr(reply), how=how))
        if len(getattr(server, "rejected", []) or []) != 1:
            fail(_("the server refused one client; server.rejected is {value}").format(
                value=repr(getattr(server, "rejected", None))))


