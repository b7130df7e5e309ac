"""The read-send-print loop shared by the TCP and UDP command-line clients.

It mirrors the seed's clients (read a line, send it, print the reply) and adds
what a terminal user expects: a prompt only on a terminal, a clean end at end
of input or Ctrl-C, and byte-exact behaviour when standard input is a pipe
(lines are sent as the bytes they are, so non-UTF-8 input is not lost).
"""

from __future__ import annotations

import sys

from .errors import DatagramTooLong, NetlessonError, ReplyDecodeError, TruncatedReply

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


def run_client_loop(connect, address, *, lines=None, out=None, prompt=None,
                    skip_empty: bool) -> int:
    """Run the loop; return a process exit status (0 ok, 1 error, 130 Ctrl-C)."""
    if prompt is None:
        prompt = "> "
    from_stdin = lines is None
    if from_stdin:
        lines = _stdin_lines(prompt)
    err = sys.stderr
    try:
        try:
            client = connect()
        except OSError as exc:
            print(f"error: {exc}", file=err)
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
                    print(f"warning: {exc}", file=err)
                except DatagramTooLong as exc:  # nothing was sent: go on with the next line
                    print(f"error: {exc}; this line was not sent", file=err)
                    continue
                except TruncatedReply as exc:  # a reply came, cut short: show it, go on
                    _write(out, exc.reply)
                    print(f"warning: {_for_the_terminal(exc, shown=bool(exc.reply))}", file=err)
                    continue
                except (NetlessonError, OSError) as exc:
                    partial = getattr(exc, "partial", b"") or getattr(exc, "reply", b"")
                    if partial:  # what did arrive is shown, not lost
                        _write(out, partial)
                    print(f"error: {_for_the_terminal(exc, shown=bool(partial))}", file=err)
                    return 1
                _write(out, reply)
    except KeyboardInterrupt:
        print(file=err)
        return 130
    return 0


def _for_the_terminal(exc, *, shown: bool) -> str:
    """The error's text for a terminal: no Python attributes, only what the user can see.

    *shown*: the bytes that did arrive were just printed to standard output.
    """
    text = str(exc)
    instead = "what did arrive is printed above (standard output)" if shown else "nothing arrived"
    for attribute in ("the bytes that did arrive are in .partial",
                      "the reply is in .reply, the extra bytes in .extra",
                      "the reply is in .reply"):
        text = text.replace(attribute, instead)
    return text.replace("the extra bytes are in .extra", "the extra bytes were dropped")


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
