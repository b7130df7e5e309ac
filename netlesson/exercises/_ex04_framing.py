"""Exercise 4: ``recvall`` and length-prefixed messages on a TCP byte stream.

The student's functions run against one end of a real loopback TCP connection
while the check plays the other end: messages arrive in pieces, several in one
piece, cut short by a close, or too big to send before the other side reads.
The protocol is :mod:`netlesson.framing`'s (:data:`~netlesson.framing.PREFIX`,
a 4-byte big-endian length), so the course library itself passes the check.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

from ..framing import PREFIX
from ..i18n import checkers
from ..serverlog import describe_bytes
from ._harness import (CALL_TIMEOUT, Call, call_with_deadline, checker, describe_exception, fail,
                       require_callable, start_call)
from ._wire import close_quietly, read_available, tcp_pair

_ = checkers.gettext

__all__ = ["check_recvall", "check_length_prefix"]


def _call_on_socket(func, sock, *args, deadline: float = CALL_TIMEOUT) -> Call:
    """Call a student's socket function; if it hangs, close *sock* to free the thread.

    Closing the socket makes a blocked ``recv`` (or a loop that keeps calling
    it after the peer closed) raise ``OSError``, so the worker thread ends.
    """
    call = call_with_deadline(func, sock, *args, deadline=deadline)
    if call.hung:
        close_quietly(sock)
        call.done.wait(1.0)
    return call


def _outcome(call: Call) -> str:
    """``'returned b'abc''`` / ``'raised EOFError: ...'`` / ``'did not return'`` (translated).

    A verb phrase whose subject (the function) comes before it in the sentence.
    """
    if call.hung:
        return _("did not return within {seconds} s").format(seconds=f"{CALL_TIMEOUT:g}")
    if call.error is not None:
        return _("raised {error}").format(error=describe_exception(call.error))
    if isinstance(call.plain, (bytes, bytearray)):
        return _("returned {value}").format(value=describe_bytes(bytes(call.plain)))
    return _("returned {value}").format(value=repr(call.plain))


def _sender(sock, pieces: list[bytes], gap: float) -> threading.Thread:
    """Send *pieces* from a thread, *gap* seconds apart: a message arriving in parts."""

    def run():
        try:
            for i, piece in enumerate(pieces):
                if i and gap:
                    time.sleep(gap)
                sock.sendall(piece)
        except OSError:
            pass

    thread = threading.Thread(target=run, name="netlesson-check-sender", daemon=True)
    thread.start()
    return thread


@checker
def check_recvall(recvall) -> None:
    """Exercise 4, part 1: ``recvall(sock, n)`` returns exactly *n* bytes or raises ``EOFError``."""
    __tracebackhide__ = True  # noqa: F841
    require_callable(recvall, "recvall", ["sock", "n"])

    a, b = tcp_pair()
    try:
        pieces = [b"a" * 1000, b"b" * 1000, b"c" * 1000]
        _sender(a, pieces, gap=0.1)
        call = _call_on_socket(recvall, b, 3000)
        if call.hung:
            fail(_("recvall(sock, 3000) did not return within {seconds} s although all 3000 "
                   "bytes had been sent: stop reading as soon as you have n bytes").format(
                       seconds=f"{CALL_TIMEOUT:g}"))
        if call.error is not None:
            fail(_("recvall(sock, 3000) raised {error} while 3000 bytes arrived in 3 pieces of "
                   "1000").format(error=describe_exception(call.error)))
        got = call.plain
        if not isinstance(got, (bytes, bytearray)):
            fail(_("recvall should return bytes; it returned {kind} {value}").format(
                kind=type(got).__name__, value=repr(got)))
        if len(got) < 3000:
            fail(_("recvall(sock, 3000) returned {size} bytes: the 3000 bytes arrived in 3 "
                   "pieces, and one recv() returns only what has arrived so far. Call recv() "
                   "again until you have all n bytes").format(size=len(got)))
        if got != b"".join(pieces):
            fail(_("recvall(sock, 3000) returned {size} bytes that are not the 3000 sent (in "
                   "order): append each piece to what you have").format(size=len(got)))

        a.sendall(b"A" * 10 + b"B" * 5)
        first = _call_on_socket(recvall, b, 10)
        if first.hung or first.error is not None or first.plain != b"A" * 10:
            if not first.hung and first.error is None and len(first.plain) > 10:
                fail(_("after the peer sent b'AAAAAAAAAA' + b'BBBBB' in one piece, recvall(sock, "
                       "10) should return b'AAAAAAAAAA', but it {outcome}: it read past the end "
                       "of the message. Ask recv() for at most the bytes still missing (n - "
                       "len(data)); the rest belongs to the next message").format(
                           outcome=_outcome(first)))
            fail(_("after the peer sent b'AAAAAAAAAA' + b'BBBBB' in one piece, recvall(sock, 10) "
                   "should return b'AAAAAAAAAA', but it {outcome}").format(
                       outcome=_outcome(first)))
        second = _call_on_socket(recvall, b, 5)
        if second.hung or second.plain != b"B" * 5:
            fail(_("after recvall(sock, 10), the next recvall(sock, 5) should return b'BBBBB'; "
                   "it did not: do not keep bytes beyond n for yourself"))
        zero = _call_on_socket(recvall, b, 0, deadline=1.0)
        if zero.hung or zero.error is not None or zero.plain != b"":
            fail(_("recvall(sock, 0) should return b'' at once (nothing to read)"))

        a.sendall(b"12345")
        a.shutdown(socket.SHUT_WR)
        early = _call_on_socket(recvall, b, 10)
        if early.hung:
            fail(_("the peer sent 5 bytes and closed, and recvall(sock, 10) never returned: "
                   "recv() returning b'' means the peer closed -- no more bytes will come. Raise "
                   "EOFError then (a loop that keeps calling recv() spins forever)"))
        if early.error is None:
            fail(_("the peer sent 5 bytes and closed, and recvall(sock, 10) returned {value}: a "
                   "short message must not pass as a whole one. Raise EOFError when recv() "
                   "returns b'' before you have n bytes").format(
                       value=describe_bytes(bytes(early.plain))))
        if not isinstance(early.error, EOFError):
            fail(_("the peer sent 5 bytes and closed; recvall(sock, 10) should raise EOFError, "
                   "it raised {error}").format(error=describe_exception(early.error)))
    finally:
        close_quietly(a, b)


@checker
def check_length_prefix(send_msg, recv_msg) -> None:
    """Exercise 4, part 2: 4-byte big-endian length prefix; ``None`` at a clean end."""
    __tracebackhide__ = True  # noqa: F841
    require_callable(send_msg, "send_msg", ["sock", "payload"])
    require_callable(recv_msg, "recv_msg", ["sock"])

    a, b = tcp_pair()
    try:
        for payload in (b"hello", b""):
            call = _call_on_socket(send_msg, a, payload)
            if call.hung or call.error is not None:
                fail(_("{call} {outcome}").format(call=f"send_msg(sock, {payload!r})",
                                                  outcome=_outcome(call)))
            wire, _closed = read_available(b, idle=0.2)
            want = PREFIX.pack(len(payload)) + payload
            if wire != want:
                if wire == payload:
                    hint = _("there is no length prefix: send struct.pack('!I', len(payload)) "
                             "first")
                elif wire[:4] == struct.pack("<I", len(payload)):
                    hint = _("the prefix is little-endian; the network byte order is big-endian: "
                             "struct.pack('!I', n)")
                elif wire.startswith(str(len(payload)).encode()):
                    hint = _("the length was sent as text; send it as 4 bytes: "
                             "struct.pack('!I', n)")
                elif wire.endswith(payload) and len(wire) - len(payload) != 4:
                    hint = _("the prefix is {size} bytes long; the protocol uses exactly 4 "
                             "(struct.pack('!I', n))").format(size=len(wire) - len(payload))
                else:
                    hint = _("send the 4-byte prefix, then the payload")
                fail(_("{call} should put {want} on the wire; it sent {wire}: {hint}").format(
                    call=f"send_msg(sock, {payload!r})", want=repr(want),
                    wire=describe_bytes(wire), hint=hint))

        a.sendall(PREFIX.pack(5) + b"hello" + PREFIX.pack(3) + b"abc")
        for expected in (b"hello", b"abc"):
            call = _call_on_socket(recv_msg, b)
            if call.hung or call.error is not None or call.plain != expected:
                fail(_("two messages (b'hello', b'abc') arrived in one piece; recv_msg should "
                       "return {expected} next, but it {outcome}. Read the 4-byte prefix, then "
                       "exactly that many bytes (recvall) -- not whatever recv() returns").format(
                           expected=repr(expected), outcome=_outcome(call)))

        payload = bytes(range(256)) * 8
        framed = PREFIX.pack(len(payload)) + payload
        _sender(a, [framed[:2], framed[2:4], framed[4:700], framed[700:1500], framed[1500:]],
                gap=0.05)
        call = _call_on_socket(recv_msg, b)
        if call.hung or call.error is not None or call.plain != payload:
            fail(_("a {size}-byte message arrived in 5 pieces (the prefix itself split in "
                   "two); recv_msg {outcome}. Use recvall for the prefix and for the "
                   "payload").format(size=len(payload), outcome=_outcome(call)))

        a.sendall(PREFIX.pack(0))
        call = _call_on_socket(recv_msg, b)
        if call.hung or call.plain != b"":
            fail(_("an empty message (prefix 0, no payload) should come back as b''; recv_msg "
                   "{outcome}. Only a closed connection gives None").format(
                       outcome=_outcome(call)))

        a.sendall(PREFIX.pack(10) + b"abc")
        a.shutdown(socket.SHUT_WR)
        call = _call_on_socket(recv_msg, b)
        if call.hung or not isinstance(call.error, EOFError):
            fail(_("the peer announced 10 bytes, sent 3 and closed; recv_msg should raise "
                   "EOFError (a message cut in the middle), but it {outcome}").format(
                       outcome=_outcome(call)))
    finally:
        close_quietly(a, b)

    a, b = tcp_pair()
    try:
        a.sendall(PREFIX.pack(2) + b"ok")
        a.shutdown(socket.SHUT_WR)
        first = _call_on_socket(recv_msg, b)
        last = _call_on_socket(recv_msg, b)
        if first.plain != b"ok" or last.hung or last.error is not None or last.plain is not None:
            fail(_("after the last message the peer closed the connection; the next recv_msg "
                   "should return None (a normal end between messages), but it {outcome}").format(
                       outcome=_outcome(last)))
    finally:
        close_quietly(a, b)

    a, b = tcp_pair()
    try:
        big = b"0123456789" * 20000
        sending = _("send_msg(sock, <a {size}-byte message>)").format(size=len(big))
        # send_msg blocks until recv_msg has read most of it: both run at once
        sender = start_call(send_msg, a, big)
        receiver = call_with_deadline(recv_msg, b)
        # an error send_msg raised by now is its own; after we close b below,
        # its sendall fails because of us
        sender_failed = sender.done.is_set() and sender.error is not None
        if receiver.hung:
            close_quietly(b)
            receiver.done.wait(1.0)
        sender.wait(CALL_TIMEOUT)
        if sender_failed or (sender.error is not None and not receiver.hung):
            fail(_("{call} raised {error}. The 4-byte prefix can announce up to {limit} bytes: "
                   "send any such message whole, the prefix and then the payload (sendall sends "
                   "all of it)").format(call=sending, error=describe_exception(sender.error),
                                        limit=2**32 - 1))
        if receiver.hung or receiver.error is not None or receiver.plain != big:
            if sender.done.is_set():
                fail(_("a {size}-byte message sent with your send_msg did not come back whole "
                       "from your recv_msg: it {outcome}").format(
                           size=len(big), outcome=_outcome(receiver)))
            fail(_("a {size}-byte message sent with your send_msg did not come back whole from "
                   "your recv_msg: it {outcome} (and {call} had not returned either)").format(
                       size=len(big), outcome=_outcome(receiver), call=sending))
        if sender.hung:
            fail(_("your recv_msg read the whole {size}-byte message, but {call} did not return "
                   "within {seconds} s: return once everything is sent").format(
                       size=len(big), call=sending, seconds=f"{CALL_TIMEOUT:g}"))
    finally:
        close_quietly(a, b)


