"""The read-send-print loop shared by the TCP and UDP command-line clients.

It mirrors the seed's clients (read a line, send it, print the reply) and adds
what a terminal user expects: a prompt only on a terminal, a clean end at end
of input or Ctrl-C, and byte-exact behaviour when standard input is a pipe
(lines are sent as the bytes they are, so non-UTF-8 input is not lost).
"""

from __future__ import annotations

import sys

from .errors import (
    ConnectionClosed,
    DatagramTooLong,
    NetlessonError,
    ReplyDecodeError,
    ReplyTimeout,
    ReplyTooLong,
    TruncatedReply,
    format_address,
)
from .i18n import core as _messages

_ = _messages.gettext

__all__ = ["run_client_loop"]


def _stdin_lines(prompt: str):
    """Yield raw lines (bytes, newline removed) from standard input."""
    stream = sys.stdin.buffer
    tty = sys.stdin.isatty()
    while True:
        if tty and prompt:
            sys.stderr.write(prompt)
            sys.stderr.flush()
        line = stream.readline()
        if not line:
            return
        yield line[:-1] if line.endswith(b"\n") else line


def run_client_loop(connect, *, lines=None, out=None, prompt=None, skip_empty: bool) -> int:
    """Run the loop; return a process exit status (0 ok, 1 error, 130 Ctrl-C).

    *connect* returns a connected client (``TCPEchoClient``/``UDPEchoClient``).
    Errors are reported on standard error, worded from the exception's
    attributes for a terminal; whatever part of a reply did arrive is printed
    to *out* first, so it is never lost.
    """
    if prompt is None:
        prompt = "> "
    from_stdin = lines is None
    if from_stdin:
        lines = _stdin_lines(prompt)
    err = sys.stderr
    warned = False  # about a reply that is not the upper-case of its line
    try:
        try:
            client = connect()
        except OSError as exc:
            print(_("error: {message}").format(message=_describe(exc, shown=False)), file=err)
            return 1
        with client:
            for line in lines:
                if isinstance(line, str):
                    line = line.rstrip("\r\n")
                else:
                    line = line.rstrip(b"\r")
                if not line and skip_empty:
                    continue  # an empty TCP message sends nothing and gets no reply
                try:
                    reply = client.send(line)
                except ReplyDecodeError as exc:
                    reply = exc.raw.decode(exc.encoding, "backslashreplace")
                    print(_("warning: the reply is not valid {encoding}: byte(s) {bad} at offset "
                            "{offset} ({reason}); it is printed with backslash escapes").format(
                              encoding=exc.encoding, bad=repr(exc.bad), offset=exc.start,
                              reason=exc.reason), file=err)
                except DatagramTooLong as exc:  # nothing was sent: go on with the next line
                    print(_("error: {message}").format(message=_describe(exc, shown=False)),
                          file=err)
                    continue
                except TruncatedReply as exc:  # a reply came, cut short: show it, go on
                    _write(out, exc.reply)
                    print(_("warning: {message}").format(
                        message=_describe(exc, shown=bool(exc.reply))), file=err)
                    continue
                except (NetlessonError, OSError) as exc:
                    partial = getattr(exc, "partial", b"") or getattr(exc, "reply", b"")
                    if partial:  # what did arrive is shown, not lost
                        _write(out, partial)
                    print(_("error: {message}").format(
                        message=_describe(exc, shown=bool(partial))), file=err)
                    return 1
                _write(out, reply)
                if not warned and not _is_upper_echo(line, reply, client):
                    warned = True  # once: it is the server, not this line
                    print(_("warning: the server at {address} does not look like an upper-case "
                            "echo server: it answered {reply} to {line}; carrying on").format(
                              address=format_address(client.address), reply=_preview(reply),
                              line=_preview(line)), file=err, flush=True)
    except KeyboardInterrupt:
        print(file=err)
        return 130
    return 0


def _is_upper_echo(line, reply, client) -> bool:
    """Is *reply* what an upper-case echo answers to *line*?  (``bytes.upper()``, as
    the server does it: only ASCII letters change.)"""
    if isinstance(line, bytes):
        return reply == line.upper()
    encoding = getattr(client, "encoding", "utf-8")
    return reply == line.encode(encoding).upper().decode(encoding, "backslashreplace")


def _preview(message, limit: int = 40) -> str:
    """``repr`` of a line or reply, cut after *limit* characters or bytes."""
    if len(message) <= limit:
        return repr(message)
    if isinstance(message, bytes):
        size = _messages.ngettext("{count} byte", "{count} bytes", len(message))
    else:
        size = _messages.ngettext("{count} character", "{count} characters", len(message))
    return f"{message[:limit]!r}... ({size.format(count=len(message))})"


def _describe(exc, *, shown: bool) -> str:
    """What went wrong, for a terminal, from the error's attributes.

    The error's own text tells a notebook user where the bytes that arrived
    are kept (``.partial``, ``.reply``); here they were printed or there were
    none.  *shown*: the bytes that did arrive were just printed to standard output.
    """
    arrived = (_("what did arrive is printed above (standard output)") if shown
               else _("nothing arrived"))
    if isinstance(exc, ReplyTimeout):
        return _("{address} sent {received} of the {expected} reply bytes expected, then "
                 "nothing for {timeout} s — the server may be slow, stuck, or not an echo "
                 "server; {arrived}").format(
            address=format_address(exc.address), received=len(exc.partial),
            expected=exc.expected, timeout=f"{exc.timeout:g}", arrived=arrived)
    if isinstance(exc, ConnectionClosed):
        if exc.reset:
            text = _("{address} reset the connection after {received} of {expected} reply "
                     "bytes; {arrived}")
        else:
            text = _("{address} closed the connection after {received} of {expected} reply "
                     "bytes; {arrived}")
        return text.format(address=format_address(exc.address), received=len(exc.partial),
                           expected=exc.expected, arrived=arrived)
    if isinstance(exc, ReplyTooLong):
        if exc.unsent:
            what = _("{address} sent a complete {expected}-byte reply while {unsent} bytes of "
                     "the line were still unsent")
        elif exc.expected is None:
            what = _("{address} sent {extra} byte(s) before it was sent anything")
        else:
            what = _("{address} sent {extra} byte(s) more than the {expected}-byte reply")
        if exc.reply and exc.extra:
            fate = _("{arrived}, the extra bytes were dropped").format(arrived=arrived)
        elif exc.extra:
            fate = _("the extra bytes were dropped")
        else:
            fate = arrived if exc.reply else ""
        return _("{what}: an upper-case echo answers with exactly as many bytes as it received "
                 "-- is this an echo server? The connection was closed; {fate}").format(
            what=what.format(address=format_address(exc.address), expected=exc.expected,
                             unsent=exc.unsent, extra=len(exc.extra)),
            fate=fate)
    if isinstance(exc, DatagramTooLong):
        if exc.protocol_limit:
            text = _("this line is a {size}-byte datagram and was not sent: one UDP datagram "
                     "over IPv4 carries at most {limit} bytes, so the operating system would "
                     "refuse it — split it into shorter lines, or use tcp-client")
        else:
            text = _("this line is a {size}-byte datagram and was not sent: the server reads "
                     "at most {limit} bytes per datagram (socketserver.UDPServer.max_packet_size) "
                     "and would silently drop the rest — split it into lines of at most {limit} "
                     "bytes")
        return text.format(size=exc.size, limit=exc.limit)
    if isinstance(exc, TruncatedReply):
        return _("sent a {sent}-byte datagram but the reply has only {received} bytes: the "
                 "server kept the first {received} (socketserver.UDPServer.max_packet_size) and "
                 "dropped the rest; {arrived}").format(sent=exc.sent, received=len(exc.reply),
                                                       arrived=arrived)
    return str(exc)  # says nothing about attributes: the same text fits a terminal


def _write(out, reply) -> None:
    if out is None:
        out = sys.stdout
    if isinstance(reply, bytes):
        buffer = getattr(out, "buffer", None)
        if buffer is not None:
            out.flush()
            buffer.write(reply + b"\n")
            buffer.flush()
            return
        reply = reply.decode("utf-8", "backslashreplace")
    print(reply, file=out, flush=True)
