"""The threaded TCP upper-case echo: handler, server class and client.

The seed's server is a ``BaseRequestHandler`` subclass called ``MyServer``
whose ``handle`` loops ``recv(1024)`` -> ``sendall(data.upper())`` until the
client closes, run by ``socketserver.ThreadingTCPServer``.  This module keeps
that shape and fixes what a classroom trips over:

* :class:`UpperEchoHandler` logs to ``server.log`` instead of printing from a
  handler thread, and treats a client that vanishes (reset) as an ordinary
  end of conversation;
* :class:`ClassroomTCPServer` is ``ThreadingTCPServer`` with classroom-safe
  class attributes and a fast, clean stop;
* :class:`TCPEchoClient` reads the *whole* reply.  TCP is a byte stream: one
  ``recv(1024)`` returns whatever has arrived, which for a long message is only
  part of the reply (and may end in the middle of a UTF-8 character).  The
  upper-case echo has a useful property -- ``bytes.upper()`` changes only ASCII
  letters, so the reply is exactly as long as the request -- and the client
  reads until it has that many bytes.
"""

from __future__ import annotations

import selectors
import socket
import socketserver

from . import constants
from .classroom import ClassroomServerMixIn, make_server, peer_log
from .errors import (
    ConnectionClosed,
    ReplyDecodeError,
    ReplyTimeout,
    ReplyTooLong,
    ServerUnavailable,
    format_address,
)

__all__ = [
    "UpperEchoHandler",
    "MyServer",
    "ClassroomTCPServer",
    "create_server",
    "TCPEchoClient",
    "echo",
    "interactive",
]


class UpperEchoHandler(socketserver.BaseRequestHandler):
    """Upper-case echo over TCP: the seed's ``MyServer``, classroom-safe.

    ``self.request`` is the connected socket, ``self.client_address`` the
    client's ``(host, port)``.  ``BaseRequestHandler.__init__`` calls
    ``setup()``, ``handle()`` and, in a ``finally``, ``finish()``: the whole
    conversation with one client happens inside the handler's constructor.
    Each step leaves a record in ``server.log``: ``connected``, a ``received``
    per message, ``closed`` (see :data:`netlesson.serverlog.KINDS`).
    """

    def setup(self):
        super().setup()
        self.messages = 0
        self.bytes_received = 0
        # This connection's log: self.log("received", data=data) records what happened,
        # with this client as the peer, in the server's ServerLog (a plain socketserver
        # server has none: then the record's line goes to the `logging` module).
        self.log = peer_log(self.server, self.client_address)
        track = getattr(self.server, "track_request", None)
        if track is not None:
            track(self.request)
        self.log("connected")

    def handle(self):
        while True:
            try:
                data = self.request.recv(constants.buffer_size)
            except ConnectionResetError:  # RST: the client aborted (unread data, SO_LINGER 0)
                self.log("reset")
                return
            except OSError as exc:  # e.g. the server is stopping and closed us
                self.log("receive_failed", error=exc)
                return
            if not data:  # b'' means the client closed its side: conversation over
                return
            self.messages += 1
            self.bytes_received += len(data)
            self.log("received", data=data)
            # upper() changes only ASCII letters: the reply is exactly as long as the request
            try:
                self.request.sendall(data.upper())
            except OSError as exc:
                self.log("reply_failed", error=exc)
                return

    def finish(self):
        try:
            self.log("closed", messages=self.messages, nbytes=self.bytes_received)
        finally:
            untrack = getattr(self.server, "untrack_request", None)
            if untrack is not None:
                untrack(self.request)
            super().finish()


#: The seed's name for the handler, so seed code runs unchanged.
MyServer = UpperEchoHandler


class ClassroomTCPServer(ClassroomServerMixIn, socketserver.ThreadingTCPServer):
    """``ThreadingTCPServer`` with classroom-safe settings.

    * ``allow_reuse_address = True`` -- restart on a port still in TIME_WAIT.
      ``server_bind`` reads this *class* attribute, so it must be set on the
      class (setting it on an instance after construction is too late);
    * ``daemon_threads = True`` and ``request_queue_size =
      classroom.CLASS_BACKLOG`` (``socket.SOMAXCONN``), so a whole class can
      connect at the same moment; the seed's ``back_log`` of 5 would make the
      kernel drop handshakes beyond the 6th waiting one (from
      :class:`~netlesson.classroom.ClassroomServerMixIn`);
    * ``server.log``, ``close_open_requests()`` and a ``shutdown()`` that
      returns at once instead of after the 0.5 s poll interval.
    """

    allow_reuse_address = True


def create_server(address=("127.0.0.1", 0), handler=UpperEchoHandler,
                  server_class=ClassroomTCPServer, *, backlog: int | None = None, **kwargs):
    """Build a TCP server; a busy port raises :class:`~netlesson.errors.PortInUseError`.

    Args:
        address: ``(host, port)``; an IPv6 host (``"::1"``, ``"::"``) gives an
            ``AF_INET6`` server (:func:`netlesson.classroom.make_server`).
        handler: the request handler class (default: the upper-case echo).
        server_class: the server class (default: :class:`ClassroomTCPServer`).
        backlog: the listen backlog (``request_queue_size``) for this server;
            ``None`` keeps the class's (:data:`netlesson.classroom.CLASS_BACKLOG`
            for classroom servers).  ``constants.back_log`` gives the seed's 5.
        **kwargs: passed to the server class (``log=`` for classroom servers).
    """
    return make_server(server_class, address, handler, backlog=backlog, **kwargs)


#: at most this many bytes per send(), so reading the reply is never put off for long
_SEND_CHUNK = 64 * 1024
#: select() cannot wait longer than about 2**31 ms; no reply is worth waiting longer anyway
_LONGEST_WAIT = 1_000_000.0


class TCPEchoClient:
    """A client for the upper-case echo that always reads the whole reply.

    >>> with TCPEchoClient(address) as client:      # doctest: +SKIP
    ...     client.send("hello")
    'HELLO'

    ``send`` takes ``str`` (returns ``str``) or ``bytes`` (returns ``bytes``).
    Every socket operation has ``timeout`` seconds.
    """

    def __init__(self, address=constants.ip_port, *, timeout: float = 5.0,
                 buffer_size: int = constants.buffer_size, encoding: str = constants.encoding):
        self.address = tuple(address)[:2]  # a 4-tuple from an IPv6 getsockname() too
        self.timeout = timeout
        self.buffer_size = buffer_size
        self.encoding = encoding
        self.sock: socket.socket | None = None
        self._last_reply_size: int | None = None  # None: nothing received on this connection

    # -- connection ---------------------------------------------------------
    def connect(self) -> "TCPEchoClient":
        if self.sock is None:
            try:
                self.sock = socket.create_connection(self.address, timeout=self.timeout)
            except ConnectionRefusedError:
                raise ServerUnavailable(self.address) from None
            except TimeoutError:
                raise ServerUnavailable(self.address, f"no answer within {self.timeout:g} s") from None
        return self

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self._last_reply_size = None

    def __enter__(self):
        return self.connect()

    def __exit__(self, *exc):
        self.close()

    # -- conversation -------------------------------------------------------
    def send_bytes(self, data: bytes) -> bytes:
        """Send *data*, return the complete reply (``len(data)`` bytes).

        Sending and reading happen together: the server starts replying while
        a long message is still being sent, and a client that only reads once
        it has sent everything would, for a message of many megabytes, fill
        both sides' socket buffers -- then both wait for each other forever.

        On any error the connection is closed (the next ``send`` reconnects),
        so a partial reply, or extra bytes already waiting after a reply, are
        not read as the next reply.  Every wait lasts at most ``timeout`` seconds.
        """
        data = bytes(data)
        if not data:
            # sendall(b"") sends nothing, so no reply would ever come: a
            # client that then waits in recv() hangs (the seed's client does).
            return b""
        self.connect()
        sock = self.sock
        pending = memoryview(data)  # what is still to be sent
        reply = bytearray()
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ)
            # bytes that came after the previous reply was complete?
            self._check_nothing_waiting(selector, self._last_reply_size, b"")
            selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
            while len(reply) < len(data) or pending:
                if len(reply) == len(data):  # the whole reply came, yet we are still sending
                    self.close()
                    raise ReplyTooLong(self.address, len(data), reply, b"",
                                       unsent=len(pending))
                events = selector.select(_LONGEST_WAIT if self.timeout is None
                                         else min(self.timeout, _LONGEST_WAIT))
                if not events:
                    # The rest of this reply may still arrive; on this connection it
                    # would be read as the start of the next reply.  Start afresh.
                    self.close()
                    raise ReplyTimeout(self.address, len(data), reply, self.timeout)
                ready = events[0][1]
                try:
                    if ready & selectors.EVENT_WRITE and pending:
                        pending = pending[sock.send(pending[:_SEND_CHUNK]):]
                        if not pending:  # all sent: from now on only wait to read
                            selector.modify(sock, selectors.EVENT_READ)
                    if ready & selectors.EVENT_READ:
                        chunk = sock.recv(min(self.buffer_size, len(data) - len(reply)))
                        if not chunk:
                            self.close()
                            raise ConnectionClosed(self.address, len(data), reply)
                        reply += chunk
                except (BrokenPipeError, ConnectionResetError):
                    self.close()
                    raise ConnectionClosed(self.address, len(data), reply, reset=True) from None
                except OSError:  # anything else: this connection is no longer usable
                    self.close()
                    raise
            self._check_nothing_waiting(selector, len(data), reply)
        self._last_reply_size = len(reply)
        return bytes(reply)

    def _check_nothing_waiting(self, selector, expected: int, reply: bytes) -> None:
        """Raise :class:`ReplyTooLong` if bytes beyond a complete reply are waiting.

        An upper-case echo never sends them; any other server might, and they
        would otherwise be read as the start of the next reply.  End of stream
        (the server closed after replying) is not an error here: the next
        ``send`` reports it.
        """
        if not selector.select(0):  # registered for reading only
            return  # nothing waiting: the usual case
        try:
            extra = self.sock.recv(self.buffer_size, socket.MSG_PEEK)
        except OSError:
            return  # a reset: the next send reports it
        if extra:
            self.close()
            raise ReplyTooLong(self.address, expected, reply, extra)

    def send_text(self, text: str) -> str:
        """Send *text* encoded with ``encoding``; return the decoded reply.

        The reply is decoded only once complete, so a character split between
        two ``recv`` calls is decoded correctly.  A reply that is not valid text
        raises :class:`~netlesson.errors.ReplyDecodeError`, which keeps the raw bytes.
        """
        raw = self.send_bytes(text.encode(self.encoding))
        try:
            return raw.decode(self.encoding)
        except UnicodeDecodeError as exc:
            raise ReplyDecodeError(raw, self.encoding, exc) from None

    def send(self, message):
        """``str`` in, ``str`` out; ``bytes`` in, ``bytes`` out."""
        if isinstance(message, str):
            return self.send_text(message)
        return self.send_bytes(message)

    def __repr__(self):
        state = "connected" if self.sock is not None else "not connected"
        return f"<TCPEchoClient {format_address(self.address)} {state}>"


def echo(message, address=constants.ip_port, *, timeout: float = 5.0):
    """One call: connect, send *message*, return the whole reply, close."""
    with TCPEchoClient(address, timeout=timeout) as client:
        return client.send(message)


def interactive(address=constants.ip_port, *, lines=None, out=None, timeout: float = 5.0,
                prompt: str | None = None) -> int:
    """The seed's client loop: read lines, send each, print each reply.

    *lines* defaults to standard input (a prompt is shown only when it is a
    terminal).  Ends cleanly at end of input or Ctrl-C.  Empty lines are
    skipped: an empty message would never get a reply.  Returns an exit status.
    """
    from ._loop import run_client_loop

    return run_client_loop(
        lambda: TCPEchoClient(address, timeout=timeout).connect(), lines=lines, out=out,
        prompt=prompt, skip_empty=True,
    )
