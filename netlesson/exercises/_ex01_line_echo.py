"""Exercise 1: a line-based ``StreamRequestHandler`` -- numbered upper-case line echo.

The checks connect to a server running the student's handler and hold a
conversation: single lines, lines sent in one piece (粘包), a line split in
pieces (inside a UTF-8 character), a 3000-byte line, ``\\r\\n``, two clients at
once, and the end of the stream.  Every wrong reply is explained by
:func:`_line_hint`.
"""

from __future__ import annotations

import re
import socket
import socketserver

from ..i18n import N_, checkers
from ..serverlog import describe_bytes
from ._harness import (YOUR_HANDLER, YOUR_HANDLER_CLASS, CheckTCPServer, checker, fail,
                       fail_if_server_error, make_check_server, require_class, serving)
from ._wire import REPLY_TIMEOUT, connect, read_available, read_lines, send_and_read_lines

_ = checkers.gettext

__all__ = ["check_line_handler", "check_line_handler_stream"]

_NUMBERED = re.compile(rb"^(\d+): (.*)\n\Z", re.S)


def _line_hint(sent_lines: list[bytes], expected: list[bytes], got: list[bytes],
               pending: bytes, pieces: int = 1) -> str:
    """Why the numbered upper-case replies differ from what was expected."""
    everything = b"".join(got) + pending
    if not everything:
        return _("no reply came. Does handle() answer each line with self.wfile.write(...)? "
                 "The client reads a reply up to its b'\\n', so every reply must end with b'\\n'")
    numbered = len(re.findall(rb"(?:^|\n)\d+: ", everything))
    if pieces > 1 and numbered > len(expected):
        return _("the line arrived in {pieces} pieces and your handler sent {numbered} numbered "
                 "replies: it answered each piece as it arrived. Read whole lines with "
                 "self.rfile.readline(): it returns only once the b'\\n' has arrived").format(
                     pieces=pieces, numbered=numbered)
    if len(sent_lines) > 1 and 1 <= numbered < len(sent_lines):
        return _("several lines arrived in one piece (TCP does not keep message boundaries, "
                 "the 粘包 effect) and your handler answered them as one. Reply to each line "
                 "separately: readline() returns one line at a time")
    if not got:
        if numbered > 1:
            return _("your handler sent several numbered replies for one line: it answered "
                     "pieces of the line as they arrived. Read whole lines with "
                     "self.rfile.readline(): it returns only once the b'\\n' has arrived")
        return _("the reply {reply} does not end with b'\\n'. The client reads one line per "
                 "reply: finish each reply with b'\\n'").format(reply=describe_bytes(everything))
    for i, (want, have) in enumerate(zip(expected, got)):
        if want == have:
            continue
        m = _NUMBERED.match(have)
        n_want, text_want = _NUMBERED.match(want).groups()
        if m is None:
            if have == text_want + b"\n":
                return _("start each reply with the line's number and ': ', e.g. b'1: HELLO\\n'")
            if have.upper().endswith(text_want + b"\n") and b":" not in have:
                return _("start each reply with the line's number and ': ', e.g. b'1: HELLO\\n'")
            return _("each reply should look like b'<number>: <LINE IN UPPER CASE>\\n'")
        n_have, text_have = m.groups()
        if text_have == text_want + b"\n" or text_have.endswith(b"\r"):
            return _("the reply keeps the line's own line ending: readline() returns the line "
                     "*with* its b'\\n' (or b'\\r\\n'). Strip it (line.rstrip(b'\\r\\n')) "
                     "before you add yours")
        if n_have != n_want:
            if int(n_want) > 1 and int(n_have) == 1:
                return _("the number did not grow: count the lines of this connection in a "
                         "variable that lives outside the loop (one handler object per "
                         "connection), and add 1 for every line")
            if int(n_want) == 1 and int(n_have) == 0:
                return _("count from 1: the first line of a connection is line 1")
            if int(n_have) > int(n_want):
                return _("the numbers started above 1: the counter is shared with earlier "
                         "connections (a class attribute or a global?). Keep it inside handle(), "
                         "so each connection counts from 1")
            return _("reply {index} carries number {got}, expected {expected}").format(
                index=i + 1, got=int(n_have), expected=int(n_want))
        if text_have == text_want.lower() or text_have != text_have.upper():
            return _("upper-case the line (bytes.upper()) before you send it back")
        return _("reply {index} should be {expected}").format(index=i + 1, expected=repr(want))
    if len(got) < len(expected):
        return _("only {got} of the {expected} replies arrived").format(got=len(got),
                                                                        expected=len(expected))
    if pending:
        extra = describe_bytes(bytes(pending))
        if bytes(pending).strip(b"\r\n") == b"":
            return _("after the right reply came {extra} as well: the reply keeps the line's own "
                     "line ending. readline() returns the line *with* its b'\\n'; strip it "
                     "(line.rstrip(b'\\r\\n')) before you add yours").format(extra=extra)
        return _("after the right reply came {extra} as well: send exactly one reply per "
                 "line").format(extra=extra)
    return ""


class _LineConversation:
    """One client connection to the handler under test, reading numbered replies."""

    def __init__(self, server, address):
        self.server = server
        self.sock = connect(address)
        self.pending = bytearray()

    def close(self):
        self.sock.close()

    def expect(self, pieces: list[bytes], expected: list[bytes], context: str, gap: float = 0.0):
        """Send *pieces*, expect the replies *expected*; *context* (an ``N_`` text) names the step."""
        __tracebackhide__ = True  # noqa: F841
        context = _(context)

        def send_failed(exc):
            __tracebackhide__ = True  # noqa: F841
            fail_if_server_error(self.server, _("while serving {context}").format(context=context))
            fail(_("sending {context} failed ({error}): your handler closed the connection; "
                   "handle() must keep reading lines until the client closes").format(
                       context=context, error=exc))

        got, closed = send_and_read_lines(self.sock, pieces, len(expected), self.pending,
                                          send_failed, gap)
        sent = b"".join(pieces)
        if got == expected:
            more, _closed = read_available(self.sock, idle=0.05)
            extra = bytes(self.pending) + more
            if not extra:
                return
            self.pending += more
            fail_if_server_error(self.server,
                                 _("after answering {context}").format(context=context))
            hint = (_("readline() keeps the line's b'\\n': strip it before adding your own")
                    if extra.startswith((b"\n", b"\r"))
                    else _("send exactly one reply line per line"))
            fail(_("for {context} {sent} your handler sent the right reply {expected} and then "
                   "also {extra}: {hint}").format(
                       context=context, sent=describe_bytes(sent),
                       expected=describe_bytes(b"".join(expected)), extra=describe_bytes(extra),
                       hint=hint))
        fail_if_server_error(self.server, _("while serving {context} {sent}").format(
            context=context, sent=describe_bytes(sent)))
        if not closed:  # collect whatever else the handler sends, to explain it
            extra, closed = read_available(self.sock, idle=0.3)
            self.pending += extra
        sent_lines = sent.splitlines(keepends=True)
        if closed and not got and not self.pending:
            fail(_("for {context} {sent} the connection was closed without a reply: handle() "
                   "returned too early. Loop over the lines until readline() returns b'' (the "
                   "client closed)").format(context=context, sent=describe_bytes(sent)))
        hint = _line_hint(sent_lines, expected, got, bytes(self.pending), pieces=len(pieces))
        received = b"".join(got) + bytes(self.pending)
        if closed and len(got) < len(expected):
            hint = _("{hint}; then your handler closed the connection -- handle() must loop "
                     "until the client closes").format(hint=hint)
        waited = "" if got else _(" (waited {seconds} s for a complete line)").format(
            seconds=f"{REPLY_TIMEOUT:g}")
        if received:
            fail(_("for {context} {sent} the expected reply is {expected}, but your handler "
                   "sent {received}{waited}: {hint}").format(
                       context=context, sent=describe_bytes(sent),
                       expected=describe_bytes(b"".join(expected)),
                       received=describe_bytes(received), waited=waited, hint=hint))
        fail(_("for {context} {sent} the expected reply is {expected}, but your handler sent "
               "nothing{waited}: {hint}").format(
                   context=context, sent=describe_bytes(sent),
                   expected=describe_bytes(b"".join(expected)), waited=waited, hint=hint))

    def finish(self, context: str):
        """Close our sending side; the handler must see the end and close too."""
        __tracebackhide__ = True  # noqa: F841
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            return
        # A few bytes are evidence enough; a handler answering b'' in a loop never pauses.
        extra, closed = read_available(self.sock, idle=REPLY_TIMEOUT, limit=64)
        if extra:
            fail(_("after the client finished sending ({context}), your handler sent {extra}: "
                   "at the end of the stream readline() returns b''; leave the loop then instead "
                   "of answering it").format(context=_(context), extra=describe_bytes(extra)))
        if not closed:
            fail(_("after the client finished sending ({context}), your handler did not end the "
                   "connection within {seconds} s: when readline() returns b'', return from "
                   "handle()").format(context=_(context), seconds=f"{REPLY_TIMEOUT:g}"))


@checker
def check_line_handler(handler_class) -> None:
    """Exercise 1, part 1: numbered upper-case line echo, one conversation.

    Sends ``hello``, then ``second line``, then three lines in one piece, on
    one connection, and expects ``b'1: HELLO\\n'``, ``b'2: SECOND LINE\\n'``,
    ``b'3: A\\n4: B\\n5: C\\n'``.
    """
    __tracebackhide__ = True  # noqa: F841
    require_class(handler_class, socketserver.StreamRequestHandler, YOUR_HANDLER_CLASS)
    server = make_check_server(CheckTCPServer, handler_class, YOUR_HANDLER)
    with serving(server):
        conv = _LineConversation(server, server.server_address)
        try:
            # TRANSLATORS: a step of the conversation; fills {context} in "for {context} {sent} ..."
            conv.expect([b"hello\n"], [b"1: HELLO\n"], N_("the first line"))
            conv.expect([b"second line\n"], [b"2: SECOND LINE\n"], N_("the second line"))
            conv.expect([b"a\nb\nc\n"], [b"3: A\n", b"4: B\n", b"5: C\n"],
                        N_("three lines sent in one piece"))
            # TRANSLATORS: fills {context} in "after the client finished sending ({context})"
            conv.finish(N_("5 lines"))
        finally:
            conv.close()
        fail_if_server_error(server)


@checker
def check_line_handler_stream(handler_class) -> None:
    """Exercise 1, part 2: what a byte stream does to lines.

    A line that arrives in three pieces (split inside a UTF-8 character), a
    3000-byte line, a ``\\r\\n`` line ending, two clients at once (each counts
    from 1), and the end of the stream.
    """
    __tracebackhide__ = True  # noqa: F841
    require_class(handler_class, socketserver.StreamRequestHandler, YOUR_HANDLER_CLASS)
    server = make_check_server(CheckTCPServer, handler_class, YOUR_HANDLER)
    with serving(server):
        text = "ni hao 你好\n".encode()
        conv = _LineConversation(server, server.server_address)
        try:
            _expect_long_line(conv, b"x" * 2999 + b"\n")
            conv.expect([text[:7], text[7:9], text[9:]], [b"2: NI HAO " + "你好".encode() + b"\n"],
                        N_("one line sent in 3 pieces"), gap=0.1)
            conv.expect([b"crlf\r\n"], [b"3: CRLF\n"], N_("a line ending in b'\\r\\n'"))
            conv.finish(N_("3 lines"))
        finally:
            conv.close()
        first = _LineConversation(server, server.server_address)
        second = _LineConversation(server, server.server_address)
        try:
            first.expect([b"first client\n"], [b"1: FIRST CLIENT\n"],
                         N_("client A's first line"))
            second.expect([b"second client\n"], [b"1: SECOND CLIENT\n"],
                          N_("client B's first line (B connected while A was still connected)"))
            first.expect([b"again\n"], [b"2: AGAIN\n"], N_("client A's second line"))
            first.finish(N_("client A"))
            second.finish(N_("client B"))
        finally:
            first.close()
            second.close()
        if not server._nl_wait_idle(REPLY_TIMEOUT):
            fail(_("every client has closed, but a handle() call is still running after "
                   "{seconds} s: return from handle() when readline() returns b''").format(
                       seconds=f"{REPLY_TIMEOUT:g}"))
        fail_if_server_error(server)


def _expect_long_line(conv: _LineConversation, line: bytes) -> None:
    """The first line of a connection is 3000 bytes: say how much of it the first reply covered."""
    __tracebackhide__ = True  # noqa: F841
    expected = b"1: " + line.upper()
    try:
        conv.sock.sendall(line)
    except OSError as exc:
        fail(_("sending a {size}-byte line failed ({error}): your handler closed the "
               "connection").format(size=len(line), error=exc))
    got, closed = read_lines(conv.sock, 1, conv.pending)
    if got == [expected]:
        more, _closed = read_available(conv.sock, idle=0.05)
        if not conv.pending and not more:
            return
        conv.pending += more
    fail_if_server_error(conv.server, _("while serving a {size}-byte line").format(size=len(line)))
    received = b"".join(got) + bytes(conv.pending)
    # the line is lower-case x's: count them in either case, so a handler that
    # forgot to upper-case is not mistaken for one that read too little
    m = re.match(rb"(\d+): ([xX]*)", received)
    covered = len(m.group(2)) if m else 0
    if m and covered < len(line) - 1:
        fail(_("your handler replied to the first {covered} bytes of a {size}-byte line (reply "
               "starts {start}): one recv() returns whatever has arrived, at most its buffer "
               "size -- not a line. Read until the line is complete: self.rfile.readline() does "
               "that for you").format(covered=covered, size=len(line),
                                      start=describe_bytes(received, 40)))
    hint = _line_hint([line], [expected], got, bytes(conv.pending))
    if received:
        fail(_("for a {size}-byte line the expected reply is {expected}, but your handler sent "
               "{received}: {hint}").format(size=len(line), expected=describe_bytes(expected),
                                            received=describe_bytes(received), hint=hint))
    fail(_("for a {size}-byte line the expected reply is {expected}, but your handler sent "
           "nothing: {hint}").format(size=len(line), expected=describe_bytes(expected), hint=hint))


