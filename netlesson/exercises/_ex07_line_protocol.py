"""Exercise 7 (the capstone): a key-value server on a line protocol.

The student's ``ThreadingTCPServer`` keeps ``self.data`` (a dict) behind
``self.lock`` and an allow-list in ``verify_request``; their
``StreamRequestHandler`` reads one command per line and answers each with one
line: ``OK ...`` or ``ERR ...``.  Three checks, each against the running
server:

* :func:`check_kv_protocol` -- one conversation, every reply compared byte for
  byte (an ``ERR`` reply only by its ``b'ERR '`` start): every command, a
  value with spaces and Chinese, bytes that are not UTF-8, a command split
  across sends (inside a UTF-8 character), several commands in one send,
  ``\\r\\n``, a second client that sees the first one's data, the end of the
  stream.
* :func:`check_kv_allow_list` -- served from 127.0.0.1; refused (closed,
  no reply, the handler never runs) once ``allowed_hosts`` no longer holds it,
  the way exercise 5's check does it; served again afterwards, data intact.
* :func:`check_kv_concurrency` -- 30 clients at once, ``INCR``/``SET``/``GET``
  interleaved over several rounds; every ``INCR`` number handed out once, the
  final count right, and every use of ``server.data`` by a handler thread made
  while holding ``server.lock`` (each read of a counter is followed by a short
  pause, so an unlocked read-modify-write really loses updates).  The clients
  are driven from the checking thread, so the check adds no threads of its own
  beyond the server's handler threads.
"""

from __future__ import annotations

import socket
import socketserver
import time

from ..i18n import N_, checkers
from ..serverlog import describe_bytes
from ..source import defining_class
from ._ex06_visitor_counter import _uses, _watched_server_class, _WatchedLock
from ._harness import (YOUR_HANDLER_CLASS, YOUR_SERVER_CLASS, checker, fail, fail_if_server_error,
                       make_check_server, require_class, serving)
from ._wire import (LOOPBACK, REPLY_TIMEOUT, close_quietly, connect, read_available, read_lines,
                    send_and_read_lines)

_ = checkers.gettext

__all__ = ["check_kv_protocol", "check_kv_allow_list", "check_kv_concurrency"]

#: Seconds a handler thread is held up right after it reads a counter from ``server.data``.
RACE_WIDENER = 0.003
#: An expected reply that is any one line starting with ``b'ERR '``.
ERR = object()


# ---------------------------------------------------------------------------
# the server under watch
# ---------------------------------------------------------------------------
class _WatchedDict(dict):
    """``server.data`` during a check: notes every use by a handler thread that lacks the lock."""

    _nl_server = None  #: the check server whose handler threads are watched

    def _nl_use(self, how: str, key=None):
        if self._nl_server is not None:
            self._nl_server._nl_note(how, key)

    # a read is noted after it happened: the pause then falls between the read and the store

    def __getitem__(self, key):
        value = super().__getitem__(key)
        self._nl_use("read", key)
        return value

    def get(self, key, default=None):
        value = super().get(key, default)
        self._nl_use("read", key)
        return value

    def __contains__(self, key):
        found = super().__contains__(key)
        self._nl_use("read", key)
        return found

    def __setitem__(self, key, value):
        self._nl_use("changed")
        super().__setitem__(key, value)

    def __delitem__(self, key):
        self._nl_use("changed")
        super().__delitem__(key)

    def pop(self, key, *default):
        self._nl_use("changed")
        return super().pop(key, *default)

    def setdefault(self, key, default=None):
        self._nl_use("changed")
        return super().setdefault(key, default)

    def update(self, *args, **kwargs):
        self._nl_use("changed")
        super().update(*args, **kwargs)


#: keys the concurrency check counts with INCR: a read of one is followed by RACE_WIDENER
_COUNTERS = frozenset({"hits"})


class _DataWatcher:
    """Wraps ``server.data`` (in a :class:`_WatchedDict`) and ``server.lock`` as they are set."""

    def __setattr__(self, name, value):
        if name == "data" and type(value) is dict:
            value = _WatchedDict(value)
            value._nl_server = self
            if self.__dict__.get("_nl_violations") is not None:
                self._nl_note("changed")  # replaced server.data from a handler
        elif name == "lock" and value is not None and hasattr(value, "acquire") \
                and not isinstance(value, _WatchedLock):
            value = _WatchedLock(value)
        super().__setattr__(name, value)

    def _nl_note(self, how: str, key=None):
        if not self._nl_is_handler_thread():
            return
        lock = self.__dict__.get("lock")
        if not (isinstance(lock, _WatchedLock) and lock.held_by_me()):
            with self._nl_cond:
                self._nl_violations.append(how)
        if how == "read" and key in _COUNTERS:
            time.sleep(RACE_WIDENER)


def _kv_server(server_class, handler_class):
    __tracebackhide__ = True  # noqa: F841
    require_class(server_class, socketserver.TCPServer, YOUR_SERVER_CLASS)
    require_class(handler_class, socketserver.StreamRequestHandler, YOUR_HANDLER_CLASS)
    if not isinstance(getattr(server_class, "allowed_hosts", None), (set, frozenset, list, tuple)):
        fail(_("{name} needs a class attribute allowed_hosts, a set of IP address strings: "
               "{example}").format(name=server_class.__name__,
                                   example="allowed_hosts = {'127.0.0.1'}"))
    if LOOPBACK not in server_class.allowed_hosts:
        fail(_("{attribute} should contain '127.0.0.1' (the checks connect from there); it is "
               "{value}").format(attribute=f"{server_class.__name__}.allowed_hosts",
                                 value=repr(server_class.allowed_hosts)))
    server = make_check_server(_watched_server_class(server_class, _DataWatcher), handler_class,
                               server_class.__name__)
    object.__setattr__(server, "_nl_violations", [])
    data = server.__dict__.get("data")
    if not isinstance(data, dict):
        server.server_close()
        fail(_("{name} has no dict in self.data: set {example} in __init__ (after "
               "super().__init__(...)); it is {value}").format(
                   name=server_class.__name__, example="self.data = {}", value=repr(data)))
    if data:
        server.server_close()
        fail(_("a new {name} should start with an empty self.data, it has {value}").format(
            name=server_class.__name__, value=repr(dict(data))))
    lock = server.__dict__.get("lock", getattr(server, "lock", None))
    if lock is not None and hasattr(lock, "acquire") and not isinstance(lock, _WatchedLock):
        object.__setattr__(server, "lock", lock := _WatchedLock(lock))  # a class attribute
    if not isinstance(lock, _WatchedLock):
        server.server_close()
        fail(_("{name} has no lock: set self.lock = threading.Lock() in __init__, so that every "
               "handler thread uses the same one").format(name=server_class.__name__))
    return server


# ---------------------------------------------------------------------------
# one client's conversation
# ---------------------------------------------------------------------------
def _matches(want, have: bytes) -> bool:
    if want is ERR:
        return have.startswith(b"ERR ") and have.endswith(b"\n") and b"\n" not in have[:-1]
    return have == want


def _shown(want) -> str:
    return _("one line starting with b'ERR '") if want is ERR else describe_bytes(want)


def _reply_hint(sent: bytes, expected: list, got: list[bytes], extra: bytes, pieces: int) -> str:
    """Why the replies to *sent* differ from *expected*."""
    everything = b"".join(got) + extra
    commands = sent.count(b"\n")
    if not everything:
        return _("no reply came. handle() should answer every command with one line: "
                 "self.wfile.write(reply.encode('utf-8') + b'\\n')")
    answered = len(got) + extra.count(b"\n")
    if pieces > 1 and answered > len(expected):
        return _("the command arrived in {pieces} pieces and your handler answered {answered} "
                 "times: it answered each piece. Read whole lines with self.rfile.readline(), "
                 "which returns only once the b'\\n' has arrived").format(pieces=pieces,
                                                                           answered=answered)
    if commands > 1 and 0 < len(got) < commands:
        return checkers.ngettext(
            "{commands} commands arrived in one piece (TCP keeps no message boundaries) and "
            "your handler sent {replies} reply line. Answer each line on its own: readline() "
            "returns one line at a time",
            "{commands} commands arrived in one piece (TCP keeps no message boundaries) and "
            "your handler sent {replies} reply lines. Answer each line on its own: readline() "
            "returns one line at a time", len(got)).format(commands=commands, replies=len(got))
    if not got:
        return _("the reply {reply} does not end with b'\\n': every reply is one line, "
                 "finished with b'\\n'").format(reply=describe_bytes(everything))
    for want, have in zip(expected, got):
        if _matches(want, have):
            continue
        if want is ERR:
            if have.startswith(b"OK"):
                return _("this command cannot succeed, so the reply must be an error: a line "
                         "that starts with b'ERR ' and says why (e.g. b'ERR no such key\\n')")
            return _("an error reply starts with b'ERR ', then a space and the reason")
        if have == b"\n" or have == b"\r\n":
            return _("an empty line came back: the value or the command still ends with its "
                     "line ending. readline() keeps the b'\\n' (or b'\\r\\n'): strip it "
                     "with line.rstrip(b'\\r\\n') before you split the command")
        if have.rstrip(b"\r\n") == want.rstrip(b"\n") and have.endswith(b"\r\n"):
            return _("the reply ends with b'\\r\\n': strip the line ending from the command "
                     "(line.rstrip(b'\\r\\n')) and end every reply with b'\\n' only")
        if have.startswith(b"ERR") and want.startswith(b"OK"):
            if b"\r" in sent:
                return _("the command ended with b'\\r\\n' and your handler took the b'\\r' "
                         "as part of it: strip both (line.rstrip(b'\\r\\n'))")
            return _("your handler answered a correct command with an error. Strip the line "
                     "ending first: readline() keeps it, so unstripped the key of "
                     "b'GET name\\n' is 'name\\n' (line.rstrip(b'\\r\\n')). Then split the "
                     "line once at the first space for the command name and, for SET, once more "
                     "for the key: the value is the rest of the line, spaces and all "
                     "(command.split(' ', 2))")
        return _("the reply should be {expected} exactly").format(expected=describe_bytes(want))
    if len(got) < len(expected):
        return _("only {got} of the {expected} replies arrived").format(got=len(got),
                                                                        expected=len(expected))
    return _("send exactly one reply line per command")


class _Client:
    """One connection to the server under test, holding a conversation."""

    def __init__(self, server, name: str):
        self.server = server
        self.name = name  #: an ``N_`` text, translated where shown
        self.sock = connect(server.server_address)
        self.pending = bytearray()

    def close(self):
        close_quietly(self.sock)

    def expect(self, pieces: list[bytes], expected: list, context: str, gap: float = 0.0):
        """Send *pieces*, expect the replies *expected*; *context* (an ``N_`` text) names the step."""
        __tracebackhide__ = True  # noqa: F841
        context, name = _(context), _(self.name)

        def send_failed(exc):
            __tracebackhide__ = True  # noqa: F841
            fail_if_server_error(self.server, _("while serving {context}").format(context=context))
            fail(_("{client}: sending {context} failed ({error}): your handler closed the "
                   "connection; handle() must keep reading commands until the client "
                   "closes").format(client=name, context=context, error=exc))

        got, closed = send_and_read_lines(self.sock, pieces, len(expected), self.pending,
                                          send_failed, gap)
        sent = b"".join(pieces)
        ok = len(got) == len(expected) and all(_matches(w, h) for w, h in zip(expected, got))
        if ok:
            more, _closed = read_available(self.sock, idle=0.05)
            self.pending += more
            if not self.pending:
                return
        fail_if_server_error(self.server, _("while serving {context} {sent}").format(
            context=context, sent=describe_bytes(sent)))
        if not closed:  # whatever else comes, to explain it
            more, closed = read_available(self.sock, idle=0.2)
            self.pending += more
        extra = bytes(self.pending)
        if ok:
            hint = (_("the value was stored with its line ending: readline() keeps the b'\\n', "
                      "strip it (line.rstrip(b'\\r\\n')) before you split the command")
                    if extra.startswith((b"\n", b"\r"))
                    else _("send exactly one line per command"))
            fail(_("{client}: for {context} {sent} your handler sent the right reply {reply} and "
                   "then also {extra}: {hint}").format(
                       client=name, context=context, sent=describe_bytes(sent),
                       reply=describe_bytes(b"".join(got)), extra=describe_bytes(extra),
                       hint=hint))
        if closed and not got and not extra:
            fail(_("{client}: for {context} {sent} the connection was closed without a reply: "
                   "handle() returned (or raised) too early. Loop over the lines until "
                   "readline() returns b'' (the client closed)").format(
                       client=name, context=context, sent=describe_bytes(sent)))
        received = b"".join(got) + extra
        hint = _reply_hint(sent, expected, got, extra, len(pieces))
        waited = "" if got else _(" (waited {seconds} s for a complete line)").format(
            seconds=f"{REPLY_TIMEOUT:g}")
        # TRANSLATORS: joins the expected replies: "b'OK\\n' then b'OK 2\\n'"
        wanted = _(" then ").join(_shown(w) for w in expected)
        if received:
            fail(_("{client}: for {context} {sent} the expected reply is {expected}, but your "
                   "handler sent {received}{waited}: {hint}").format(
                       client=name, context=context, sent=describe_bytes(sent), expected=wanted,
                       received=describe_bytes(received), waited=waited, hint=hint))
        fail(_("{client}: for {context} {sent} the expected reply is {expected}, but your "
               "handler sent nothing{waited}: {hint}").format(
                   client=name, context=context, sent=describe_bytes(sent), expected=wanted,
                   waited=waited, hint=hint))

    def finish(self):
        """Close our sending side: the handler must see the end and close the connection."""
        __tracebackhide__ = True  # noqa: F841
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            return
        extra, closed = read_available(self.sock, idle=REPLY_TIMEOUT, limit=64)
        if extra:
            fail(_("{client}: after the client finished sending, your handler sent {extra}: at "
                   "the end of the stream readline() returns b''; leave the loop then instead of "
                   "answering it").format(client=_(self.name), extra=describe_bytes(extra)))
        if not closed:
            fail(_("{client}: after the client finished sending, your handler did not end the "
                   "connection within {seconds} s: when readline() returns b'', return from "
                   "handle()").format(client=_(self.name), seconds=f"{REPLY_TIMEOUT:g}"))


# ---------------------------------------------------------------------------
# the checks
# ---------------------------------------------------------------------------
#: (what is sent, the replies, what the step is called): one conversation, in order
_CONVERSATION = [
    # TRANSLATORS: each step's name fills {context} in "{client}: for {context} {sent} ..."
    ([b"SET name alice\n"], [b"OK\n"], N_("SET")),
    ([b"GET name\n"], [b"OK alice\n"], N_("GET of a key that was SET")),
    ([b"GET nobody\n"], [ERR], N_("GET of a key that does not exist")),
    (["SET greeting 你好 world\n".encode()], [b"OK\n"],
     N_("SET of a value with spaces and Chinese")),
    ([b"GET greeting\n"], ["OK 你好 world\n".encode()], N_("GET of that value")),
    ([b"INCR hits\n"], [b"OK 1\n"], N_("INCR of a new key (it counts as 0)")),
    ([b"INCR hits\n"], [b"OK 2\n"], N_("a second INCR")),
    ([b"INCR name\n"], [ERR], N_("INCR of a value that is not a number")),
    ([b"DEL name\n"], [b"OK\n"], N_("DEL of a key that exists")),
    ([b"GET name\n"], [ERR], N_("GET after DEL")),
    ([b"DEL name\n"], [ERR], N_("DEL of a key that does not exist")),
    ([b"HELLO there\n"], [ERR], N_("an unknown command")),
    ([b"SET lonely\n"], [ERR], N_("SET without a value")),
    ([b"GET \xff\xfe\n"], [ERR], N_("a line that is not UTF-8")),
    ([b"GET hits\n"], [b"OK 2\n"], N_("GET after an error (the connection must go on)")),
]


@checker
def check_kv_protocol(server_class, handler_class) -> None:
    """Exercise 7, part 1: every command, byte for byte; lines split and joined by TCP."""
    __tracebackhide__ = True  # noqa: F841
    server = _kv_server(server_class, handler_class)
    with serving(server):
        first = _Client(server, N_("client A"))
        second = None
        try:
            for pieces, replies, context in _CONVERSATION:
                first.expect(pieces, replies, context)
            city = "SET city 北京\n".encode()
            first.expect([city[:6], city[6:10], city[10:]], [b"OK\n"],
                         N_("a command sent in 3 pieces (cut inside a UTF-8 character)"), gap=0.1)
            first.expect(["GET city\n".encode()], ["OK 北京\n".encode()], N_("GET of that value"))
            first.expect([b"SET a 1\nINCR a\nGET a\n"], [b"OK\n", b"OK 2\n", b"OK 2\n"],
                         N_("three commands sent in one piece"))
            first.expect([b"GET a\r\n"], [b"OK 2\n"], N_("a command ending in b'\\r\\n'"))
            second = _Client(server, N_("client B"))
            second.expect([b"GET a\n"], [b"OK 2\n"],
                          N_("GET of a key that client A set (A is still connected)"))
            second.finish()
            first.finish()
        finally:
            first.close()
            if second is not None:
                second.close()
        if not server._nl_wait_idle(REPLY_TIMEOUT):
            fail(_("every client has closed, but a handle() call is still running after "
                   "{seconds} s: return from handle() when readline() returns b''").format(
                       seconds=f"{REPLY_TIMEOUT:g}"))
        fail_if_server_error(server)


def _ask(address, line: bytes) -> tuple[bytes | None, str]:
    """Connect, send one command; ``(reply line or None, how the exchange ended -- translated)``."""
    try:
        sock = connect(address)
    except OSError as exc:
        return None, _("could not connect ({error})").format(error=exc)
    with sock:
        try:
            sock.sendall(line)
        except OSError:
            return None, _("the connection was closed")
        pending = bytearray()
        got, closed = read_lines(sock, 1, pending)
        if got:
            return got[0], _("served")
        if pending:
            return bytes(pending), _("a reply without b'\\n'")
        return None, _("closed without a reply") if closed else _("no reply")


@checker
def check_kv_allow_list(server_class, handler_class) -> None:
    """Exercise 7, part 2: the allow-list: a refused client never reaches the handler.

    As in exercise 5's check, the client always comes from 127.0.0.1: the
    running server's ``allowed_hosts`` is changed so that 127.0.0.1 is no
    longer on it, then changed back.
    """
    __tracebackhide__ = True  # noqa: F841
    if isinstance(server_class, type) and defining_class(server_class, "verify_request") in (
            None, socketserver.BaseServer):
        fail(_("{name} does not override verify_request: write def verify_request(self, "
               "request, client_address) in the class, returning True only when "
               "client_address[0] is in self.allowed_hosts").format(name=server_class.__name__))
    server = _kv_server(server_class, handler_class)
    with serving(server):
        address = server.server_address
        reply, how = _ask(address, b"SET x 1\n")
        fail_if_server_error(server, _("while a client from 127.0.0.1 sent b'SET x 1\\n'"))
        if reply != b"OK\n":
            fail(_("a client from 127.0.0.1 (in allowed_hosts) sent b'SET x 1\\n' and got "
                   "{got}, expected b'OK\\n'").format(
                       got=describe_bytes(reply) if reply else how))
        server._nl_wait_idle(REPLY_TIMEOUT)
        server.allowed_hosts = {"192.0.2.1"}
        served_before = server._nl_handled
        reply, how = _ask(address, b"GET x\n")
        server._nl_wait_idle(REPLY_TIMEOUT)
        fail_if_server_error(server, _("while refusing a client"))
        if reply is not None or server._nl_handled != served_before:
            fail(_("with {setting} a client from 127.0.0.1 sent b'GET x\\n' and got {got}, but "
                   "its connection reached your handler. verify_request must return False for a "
                   "host that is not in self.allowed_hosts (read the list through self, so each "
                   "server can have its own): then the server closes the connection before any "
                   "handler is made").format(
                       setting="server.allowed_hosts = {'192.0.2.1'}",
                       got=describe_bytes(reply) if reply is not None else how))
        server.allowed_hosts = {LOOPBACK}
        reply, how = _ask(address, b"GET x\n")
        fail_if_server_error(server, _("after refusing a client"))
        if reply != b"OK 1\n":
            fail(_("after refusing one client, an allowed client sent b'GET x\\n' and got {got}, "
                   "expected b'OK 1\\n': the server should go on serving, with its data "
                   "intact").format(got=describe_bytes(reply) if reply else how))


def _round(server, socks, pending, r: int, numbers: list[int]) -> None:
    """Round *r*: every client sends its three commands, then every client's replies are read."""
    __tracebackhide__ = True  # noqa: F841
    batch = [b"INCR hits\nSET k%d r%d\nGET k%d\n" % (i, r, i) for i in range(len(socks))]
    for i, sock in enumerate(socks):
        try:
            sock.sendall(batch[i])
        except OSError as exc:
            fail_if_server_error(server, _("while {clients} clients sent commands").format(
                clients=len(socks)))
            fail(_("round {round}: client {client} could not send ({error}): the server closed "
                   "its connection").format(round=r + 1, client=i, error=exc))
    for i, sock in enumerate(socks):
        got, _closed = read_lines(sock, 3, pending[i])
        fail_if_server_error(server, _("while {clients} clients sent commands at once").format(
            clients=len(socks)))
        want = [b"OK <number>\n", b"OK\n", b"OK r%d\n" % r]
        if (len(got) == 3 and got[1:] == want[1:] and got[0].startswith(b"OK ")
                and got[0][3:-1].isdigit()):
            numbers.append(int(got[0][3:-1]))
            continue
        received = b"".join(got) + bytes(pending[i])
        fmt = dict(clients=len(socks), round=r + 1, client=i, sent=describe_bytes(batch[i]),
                   received=describe_bytes(received), seconds=f"{REPLY_TIMEOUT:g}",
                   expected=_(" then ").join(map(describe_bytes, want)))
        if received:
            fail(_("{clients} clients sent commands at the same time. In round {round} client "
                   "{client} sent {sent} and got {received} (waited up to {seconds} s); expected "
                   "{expected}. Each client's commands must be answered in order, one line each, "
                   "whatever the other clients do: keep per-client things in local variables of "
                   "handle(), shared data in self.server.data").format(**fmt))
        fail(_("{clients} clients sent commands at the same time. In round {round} client "
               "{client} sent {sent} and got nothing (waited up to {seconds} s); expected "
               "{expected}. Each client's commands must be answered in order, one line each, "
               "whatever the other clients do: keep per-client things in local variables of "
               "handle(), shared data in self.server.data").format(**fmt))


@checker
def check_kv_concurrency(server_class, handler_class, clients: int = 30, rounds: int = 5) -> None:
    """Exercise 7, part 3: many clients at once; the data behind the lock stays right.

    *clients* connections are open at the same time; in each of *rounds*
    rounds every client sends ``INCR hits``, ``SET k<i> r<round>`` and
    ``GET k<i>`` in one piece, all clients before any reply is read.  Every
    ``INCR`` must hand out a different number, ``hits`` must end at
    ``clients * rounds``, and every handler's use of ``server.data`` must
    happen while it holds ``server.lock``.
    """
    __tracebackhide__ = True  # noqa: F841
    server = _kv_server(server_class, handler_class)
    socks: list[socket.socket] = []
    try:
        with serving(server):
            for _i in range(clients):
                try:
                    socks.append(connect(server.server_address))
                except OSError as exc:
                    fail_if_server_error(server, _("while {clients} clients connected").format(
                        clients=clients))
                    fail(_("client {client} of {clients} could not connect ({error})").format(
                        client=len(socks), clients=clients, error=exc))
            pending = [bytearray() for _sock in socks]
            numbers: list[int] = []
            for r in range(rounds):
                _round(server, socks, pending, r, numbers)
            final, how = _ask(server.server_address, b"GET hits\n")
            with server._nl_cond:
                violations = list(server._nl_violations)
    finally:
        close_quietly(*socks)
    total = clients * rounds
    repeated = sorted({n for n in numbers if numbers.count(n) > 1})
    if repeated or sorted(numbers) != list(range(1, total + 1)) or final != b"OK %d\n" % total:
        listed = ", ".join(map(str, repeated[:10])) + (" ..." if len(repeated) > 10 else "")
        fmt = dict(clients=clients, total=total, low=min(numbers), high=max(numbers),
                   repeated=listed, answer=describe_bytes(final) if final else how,
                   expected=repr(b"OK %d\n" % total),
                   why=_("Two handler threads read the same old value, both add 1, both store "
                         "it: an increment is lost. Do the read, the +1 and the store inside one "
                         "`with self.server.lock:` block"))
        if repeated:
            fail(_("{clients} clients sent {total} INCR hits commands at the same time. The "
                   "numbers they got back ran from {low} to {high} (repeated: {repeated}), and "
                   "GET hits then answered {answer} instead of {expected}. {why}").format(**fmt))
        fail(_("{clients} clients sent {total} INCR hits commands at the same time. The numbers "
               "they got back ran from {low} to {high}, and GET hits then answered {answer} "
               "instead of {expected}. {why}").format(**fmt))
    if violations:
        fail(_("the results came out right this time, but your handler threads {uses} without "
               "holding server.lock. One dict operation on its own is safe, but another thread "
               "may change the dict between two of yours (a check and a read, a read and a "
               "store), and then the reply is wrong rarely, which is what makes it hard to find. "
               "Put every use of self.server.data inside `with self.server.lock:`").format(
                   uses=_uses(violations, "server.data")))
