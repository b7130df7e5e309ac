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
import time

from ..serverlog import describe_bytes
from ._harness import (CheckTCPServer, checker, fail, fail_if_server_error, make_check_server,
                       require_class, serving)
from ._wire import REPLY_TIMEOUT, connect, read_available, read_lines

__all__ = ["check_line_handler", "check_line_handler_stream"]

_NUMBERED = re.compile(rb"^(\d+): (.*)\n\Z", re.S)


def _line_hint(sent_lines: list[bytes], expected: list[bytes], got: list[bytes],
               pending: bytes, pieces: int = 1) -> str:
    """Why the numbered upper-case replies differ from what was expected."""
    everything = b"".join(got) + pending
    if not everything:
        return ("no reply came. Does handle() answer each line with self.wfile.write(...)? "
                "The client reads a reply up to its b'\\n', so every reply must end with b'\\n'")
    numbered = len(re.findall(rb"(?:^|\n)\d+: ", everything))
    if pieces > 1 and numbered > len(expected):
        return (f"the line arrived in {pieces} pieces and your handler sent {numbered} numbered "
                f"replies: it answered each piece as it arrived. Read whole lines with "
                f"self.rfile.readline(): it returns only once the b'\\n' has arrived")
    if len(sent_lines) > 1 and 1 <= numbered < len(sent_lines):
        return ("several lines arrived in one piece (TCP does not keep message boundaries, "
                "the 粘包 effect) and your handler answered them as one. Reply to each line "
                "separately: readline() returns one line at a time")
    if not got:
        if numbered > 1:
            return ("your handler sent several numbered replies for one line: it answered "
                    "pieces of the line as they arrived. Read whole lines with "
                    "self.rfile.readline(): it returns only once the b'\\n' has arrived")
        return (f"the reply {describe_bytes(everything)} does not end with b'\\n'. The client "
                f"reads one line per reply: finish each reply with b'\\n'")
    for i, (want, have) in enumerate(zip(expected, got)):
        if want == have:
            continue
        m = _NUMBERED.match(have)
        n_want, text_want = _NUMBERED.match(want).groups()
        if m is None:
            if have == text_want + b"\n":
                return "start each reply with the line's number and ': ', e.g. b'1: HELLO\\n'"
            if have.upper().endswith(text_want + b"\n") and b":" not in have:
                return "start each reply with the line's number and ': ', e.g. b'1: HELLO\\n'"
            return "each reply should look like b'<number>: <LINE IN UPPER CASE>\\n'"
        n_have, text_have = m.groups()
        if text_have == text_want + b"\n" or text_have.endswith(b"\r"):
            return ("the reply keeps the line's own line ending: readline() returns the line "
                    "*with* its b'\\n' (or b'\\r\\n'). Strip it (line.rstrip(b'\\r\\n')) "
                    "before you add yours")
        if n_have != n_want:
            if int(n_want) > 1 and int(n_have) == 1:
                return ("the number did not grow: count the lines of this connection in a "
                        "variable that lives outside the loop (one handler object per "
                        "connection), and add 1 for every line")
            if int(n_want) == 1 and int(n_have) == 0:
                return "count from 1: the first line of a connection is line 1"
            if int(n_have) > int(n_want):
                return ("the numbers started above 1: the counter is shared with earlier "
                        "connections (a class attribute or a global?). Keep it inside handle(), "
                        "so each connection counts from 1")
            return f"reply {i + 1} carries number {int(n_have)}, expected {int(n_want)}"
        if text_have == text_want.lower() or text_have != text_have.upper():
            return "upper-case the line (bytes.upper()) before you send it back"
        return f"reply {i + 1} should be {want!r}"
    if len(got) < len(expected):
        return f"only {len(got)} of the {len(expected)} replies arrived"
    if pending:
        extra = describe_bytes(bytes(pending))
        if bytes(pending).strip(b"\r\n") == b"":
            return (f"after the right reply came {extra} as well: the reply keeps the line's own "
                    f"line ending. readline() returns the line *with* its b'\\n'; strip it "
                    f"(line.rstrip(b'\\r\\n')) before you add yours")
        return f"after the right reply came {extra} as well: send exactly one reply per line"
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
        __tracebackhide__ = True  # noqa: F841
        for i, piece in enumerate(pieces):
            if i and gap:
                time.sleep(gap)
            try:
                self.sock.sendall(piece)
            except OSError as exc:
                fail_if_server_error(self.server, f" while serving {context}")
                fail(f"sending {context} failed ({exc}): your handler closed the connection; "
                     f"handle() must keep reading lines until the client closes")
        sent = b"".join(pieces)
        got, closed = read_lines(self.sock, len(expected), self.pending)
        if got == expected:
            more, _ = read_available(self.sock, idle=0.05)
            extra = bytes(self.pending) + more
            if not extra:
                return
            self.pending += more
            fail_if_server_error(self.server, f" after answering {context}")
            hint = ("readline() keeps the line's b'\\n': strip it before adding your own"
                    if extra.startswith((b"\n", b"\r")) else "send exactly one reply line per line")
            fail(f"for {context} {describe_bytes(sent)} your handler sent the right reply "
                 f"{describe_bytes(b''.join(expected))} and then also {describe_bytes(extra)}: "
                 f"{hint}")
        fail_if_server_error(self.server, f" while serving {context} {describe_bytes(sent)}")
        if not closed:  # collect whatever else the handler sends, to explain it
            extra, closed = read_available(self.sock, idle=0.3)
            self.pending += extra
        sent_lines = sent.splitlines(keepends=True)
        if closed and not got and not self.pending:
            fail(f"for {context} {describe_bytes(sent)} the connection was closed without a "
                 f"reply: handle() returned too early. Loop over the lines until readline() "
                 f"returns b'' (the client closed)")
        hint = _line_hint(sent_lines, expected, got, bytes(self.pending), pieces=len(pieces))
        received = b"".join(got) + bytes(self.pending)
        if closed and len(got) < len(expected):
            hint += ("; then your handler closed the connection -- handle() must loop until "
                     "the client closes")
        waited = "" if got else f" (waited {REPLY_TIMEOUT:g} s for a complete line)"
        fail(f"for {context} {describe_bytes(sent)} the expected reply is "
             f"{describe_bytes(b''.join(expected))}, but your handler sent "
             f"{describe_bytes(received) if received else 'nothing'}{waited}: {hint}")

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
            fail(f"after the client finished sending ({context}), your handler sent "
                 f"{describe_bytes(extra)}: at the end of the stream readline() returns b''; "
                 f"leave the loop then instead of answering it")
        if not closed:
            fail(f"after the client finished sending ({context}), your handler did not end "
                 f"the connection within {REPLY_TIMEOUT:g} s: when readline() returns b'', "
                 f"return from handle()")


@checker
def check_line_handler(handler_class) -> None:
    """Exercise 1, part 1: numbered upper-case line echo, one conversation.

    Sends ``hello``, then ``second line``, then three lines in one piece, on
    one connection, and expects ``b'1: HELLO\\n'``, ``b'2: SECOND LINE\\n'``,
    ``b'3: A\\n4: B\\n5: C\\n'``.
    """
    __tracebackhide__ = True  # noqa: F841
    require_class(handler_class, socketserver.StreamRequestHandler, "your handler class")
    server = make_check_server(CheckTCPServer, handler_class, "your handler")
    with serving(server):
        conv = _LineConversation(server, server.server_address)
        try:
            conv.expect([b"hello\n"], [b"1: HELLO\n"], "the first line")
            conv.expect([b"second line\n"], [b"2: SECOND LINE\n"], "the second line")
            conv.expect([b"a\nb\nc\n"], [b"3: A\n", b"4: B\n", b"5: C\n"],
                        "three lines sent in one piece")
            conv.finish("5 lines")
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
    require_class(handler_class, socketserver.StreamRequestHandler, "your handler class")
    server = make_check_server(CheckTCPServer, handler_class, "your handler")
    with serving(server):
        text = "ni hao 你好\n".encode()
        conv = _LineConversation(server, server.server_address)
        try:
            _expect_long_line(conv, b"x" * 2999 + b"\n")
            conv.expect([text[:7], text[7:9], text[9:]], [b"2: NI HAO " + "你好".encode() + b"\n"],
                        "one line sent in 3 pieces", gap=0.1)
            conv.expect([b"crlf\r\n"], [b"3: CRLF\n"], "a line ending in b'\\r\\n'")
            conv.finish("3 lines")
        finally:
            conv.close()
        first = _LineConversation(server, server.server_address)
        second = _LineConversation(server, server.server_address)
        try:
            first.expect([b"first client\n"], [b"1: FIRST CLIENT\n"], "client A's first line")
            second.expect([b"second client\n"], [b"1: SECOND CLIENT\n"],
                          "client B's first line (B connected while A was still connected)")
            first.expect([b"again\n"], [b"2: AGAIN\n"], "client A's second line")
            first.finish("client A")
            second.finish("client B")
        finally:
            first.close()
            second.close()
        if not server._nl_wait_idle(REPLY_TIMEOUT):
            fail("every client has closed, but a handle() call is still running after "
                 f"{REPLY_TIMEOUT:g} s: return from handle() when readline() returns b''")
        fail_if_server_error(server)


def _expect_long_line(conv: _LineConversation, line: bytes) -> None:
    """The first line of a connection is 3000 bytes: say how much of it the first reply covered."""
    __tracebackhide__ = True  # noqa: F841
    expected = b"1: " + line.upper()
    try:
        conv.sock.sendall(line)
    except OSError as exc:
        fail(f"sending a {len(line)}-byte line failed ({exc}): your handler closed the connection")
    got, closed = read_lines(conv.sock, 1, conv.pending)
    if got == [expected]:
        more, _ = read_available(conv.sock, idle=0.05)
        if not conv.pending and not more:
            return
        conv.pending += more
    fail_if_server_error(conv.server, f" while serving a {len(line)}-byte line")
    received = b"".join(got) + bytes(conv.pending)
    # the line is lower-case x's: count them in either case, so a handler that
    # forgot to upper-case is not mistaken for one that read too little
    m = re.match(rb"(\d+): ([xX]*)", received)
    covered = len(m.group(2)) if m else 0
    if m and covered < len(line) - 1:
        fail(f"your handler replied to the first {covered} bytes of a {len(line)}-byte line "
             f"(reply starts {describe_bytes(received, 40)}): one recv() returns whatever has "
             f"arrived, at most its buffer size -- not a line. Read until the line is complete: "
             f"self.rfile.readline() does that for you")
    fail(f"for a {len(line)}-byte line the expected reply is {describe_bytes(expected)}, but your "
         f"handler sent {describe_bytes(received) if received else 'nothing'}: "
         f"{_line_hint([line], [expected], got, bytes(conv.pending))}")


