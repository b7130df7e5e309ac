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
            print(f"error: {_describe(exc, shown=False)}", file=err)
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
                    print(f"warning: the reply is not valid {exc.encoding}: byte(s) {exc.bad!r} "
                          f"at offset {exc.start} ({exc.reason}); it is printed with "
                          f"backslash escapes", file=err)
                except DatagramTooLong as exc:  # nothing was sent: go on with the next line
                    print(f"error: {_describe(exc, shown=False)}", file=err)
                    continue
                except TruncatedReply as exc:  # a reply came, cut short: show it, go on
                    _write(out, exc.reply)
                    print(f"warning: {_describe(exc, shown=bool(exc.reply))}", file=err)
                    continue
                except (NetlessonError, OSError) as exc:
                    partial = getattr(exc, "partial", b"") or getattr(exc, "reply", b"")
                    if partial:  # what did arrive is shown, not lost
                        _write(out, partial)
                    print(f"error: {_describe(exc, shown=bool(partial))}", file=err)
                    return 1
                _write(out, reply)
                if not warned and not _is_upper_echo(line, reply, client):
                    warned = True  # once: it is the server, not this line
                    print(f"warning: the server at {format_address(client.address)} does not "
                          f"look like an upper-case echo server: it answered {_preview(reply)} "
                          f"to {_preview(line)}; carrying on", file=err, flush=True)
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
    unit = "bytes" if isinstance(message, bytes) else "characters"
    return f"{message[:limit]!r}... ({len(message)} {unit})"


def _describe(exc, *, shown: bool) -> str:
    """What went wrong, for a terminal, from the error's attributes.

    The error's own text tells a notebook user where the bytes that arrived
    are kept (``.partial``, ``.reply``); here they were printed or there were
    none.  *shown*: the bytes that did arrive were just printed to standard output.
    """
    arrived = "what did arrive is printed above (standard output)" if shown else "nothing arrived"
    if isinstance(exc, ReplyTimeout):
        return (f"{format_address(exc.address)} sent {len(exc.partial)} of the {exc.expected} "
                f"reply bytes expected, then nothing for {exc.timeout:g} s — the server may be "
                f"slow, stuck, or not an echo server; {arrived}")
    if isinstance(exc, ConnectionClosed):
        return (f"{format_address(exc.address)} {'reset' if exc.reset else 'closed'} the "
                f"connection after {len(exc.partial)} of {exc.expected} reply bytes; {arrived}")
    if isinstance(exc, ReplyTooLong):
        if exc.unsent:
            what = (f"sent a complete {exc.expected}-byte reply while {exc.unsent} bytes of the "
                    f"line were still unsent")
        elif exc.expected is None:
            what = f"sent {len(exc.extra)} byte(s) before it was sent anything"
        else:
            what = f"sent {len(exc.extra)} byte(s) more than the {exc.expected}-byte reply"
        fate = [arrived] if exc.reply else []
        if exc.extra:
            fate.append("the extra bytes were dropped")
        return (f"{format_address(exc.address)} {what}: an upper-case echo answers with exactly "
                f"as many bytes as it received -- is this an echo server? The connection was "
                f"closed; {', '.join(fate)}")
    if isinstance(exc, DatagramTooLong):
        if exc.protocol_limit:
            why = (f"one UDP datagram over IPv4 carries at most {exc.limit} bytes, so the "
                   f"operating system would refuse it — split it into shorter lines, or use "
                   f"tcp-client")
        else:
            why = (f"the server reads at most {exc.limit} bytes per datagram "
                   f"(socketserver.UDPServer.max_packet_size) and would silently drop the "
                   f"rest — split it into lines of at most {exc.limit} bytes")
        return f"this line is a {exc.size}-byte datagram and was not sent: {why}"
    if isinstance(exc, TruncatedReply):
        return (f"sent a {exc.sent}-byte datagram but the reply has only {len(exc.reply)} bytes: "
                f"the server kept the first {len(exc.reply)} (socketserver.UDPServer."
                f"max_packet_size) and dropped the rest; {arrived}")
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
