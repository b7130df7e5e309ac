"""A bounded, thread-safe log of structured records that server handler threads write.

Why not ``print()``?  In a Jupyter kernel, ``print`` from a background thread
lands in whichever cell happens to be running when the thread prints -- often
an unrelated one, or none at all.  netlesson's handlers therefore never print:
they add a record to their server's :class:`ServerLog`.  A notebook cell shows
the log from the main thread (``handle.log`` displays itself), so the output
lands in the cell that asked for it, on any ipykernel version.

A record is data, not a sentence: a :class:`LogEntry` has a ``kind`` (one of
:data:`KINDS`, such as ``"received"`` or ``"closed"``), the ``peer`` it is
about (the client's address) and ``fields`` (the bytes received, counts, an
error's one-line summary).  Its ``text`` -- what a cell shows -- is rendered
from those, so code that waits for or picks out a record selects it by kind,
peer and fields (:meth:`ServerLog.select`, :meth:`ServerLog.wait_for`) and
never parses wording.  A handler of a student's own can still write a free
sentence: ``server.log("text")`` stores a ``"note"`` record.

The log keeps only the most recent ``maxlen`` records (a ``deque``), so a busy
or long-running server does not grow memory: a ``"received"`` record keeps the
bytes one read returned (at most ``buffer_size``, 1024, for TCP and
``max_packet_size``, 8192, for UDP).  Command-line servers pass an
``echo`` stream so every record's text is also written to the terminal, like
the seed's ``print`` calls.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
from typing import NamedTuple

from .errors import format_address

__all__ = ["ServerLog", "LogEntry", "KINDS", "describe_bytes"]

_now = time.time
_current_thread = threading.current_thread

#: How many bytes of a message a log line shows before it abbreviates.
PREVIEW_BYTES = 60

#: Every kind of record, and how its text is rendered: ``{peer}`` is the peer's
#: address (``127.0.0.1:5000``), the other names are the record's fields, and
#: a field holding bytes is shown by :func:`describe_bytes`.
KINDS = {
    # a TCP connection (netlesson.tcp.UpperEchoHandler)
    "connected": "connected: {peer}",
    "received": "received {data} from {peer}",  # TCP and UDP: data = the bytes read
    "reset": "reset by client: {peer} (it vanished without closing)",
    "receive_failed": "receive failed from {peer}: {error}",
    "reply_failed": "reply to {peer} failed: {error}",  # TCP and UDP
    "closed": "closed: {peer} ({messages} recv, {nbytes} bytes)",
    # a datagram longer than max_packet_size (netlesson.udp); nbytes = what was kept
    "truncated": ("datagram from {peer} was longer than {nbytes} bytes: max_packet_size "
                  "cut it; echoing the first {nbytes} bytes"),
    # the server (netlesson.classroom, netlesson.background)
    "handler_error": ("exception while handling a request from {peer} (the server keeps "
                      "serving): {error}\n{traceback}"),
    "serve_error": "serve_forever stopped with an error: {error}",
    "close_error": "server_close() failed: {error}",
    "stop_deferred": ("stop() was called from the serving thread: the server closes as soon "
                      "as this request is finished"),
    "close_deferred": ("stop() was called from a handler: the port is closed, and "
                       "server_close() finishes when that handler returns"),
    "close_waiting": ("server_close() is still waiting for handler threads (a client is "
                      "still connected); the port is closed, the threads end when their "
                      "clients leave"),
    # a free sentence written with ServerLog.append(text), e.g. by a student's handler
    "note": "{text}",
}


def describe_bytes(data: bytes, limit: int = PREVIEW_BYTES) -> str:
    """``repr`` of *data*, abbreviated for a log line when it is long.

    >>> describe_bytes(b'hello')
    "b'hello'"
    >>> describe_bytes(b'x' * 100, limit=4)
    "b'xxxx'... (100 bytes)"
    """
    if len(data) <= limit:
        return repr(bytes(data))
    return f"{bytes(data[:limit])!r}... ({len(data)} bytes)"


def _render(kind: str, peer, fields: dict) -> str:
    values = {name: describe_bytes(value) if isinstance(value, bytes | bytearray) else value
              for name, value in fields.items()}
    values["peer"] = format_address(peer)
    return KINDS[kind].format_map(values)


class LogEntry(NamedTuple):
    """One record: its sequence number, a ``time.time()`` stamp, the name of the
    thread that wrote it, its ``kind`` (a key of :data:`KINDS`), the ``peer``
    address it is about (``None`` for the server's own records and notes) and
    its ``fields`` (a dict).  ``str(entry)`` and ``entry.text`` are the line a
    cell shows."""

    seq: int
    time: float
    thread: str
    kind: str
    peer: tuple | None
    fields: dict

    @property
    def text(self) -> str:
        return _render(self.kind, self.peer, self.fields)

    def __str__(self) -> str:
        return self.text


def _same_address(a, b) -> bool:
    return a is not None and b is not None and tuple(a[:2]) == tuple(b[:2])


def _matcher(predicate, kind, peer, fields):
    """One test for an entry from :meth:`ServerLog.select`'s and ``wait_for``'s arguments."""
    if isinstance(predicate, str):
        needle = predicate
        predicate = lambda entry: needle in entry.text  # noqa: E731

    def matches(entry: LogEntry) -> bool:
        return ((kind is None or entry.kind == kind)
                and (peer is None or _same_address(entry.peer, peer))
                and all(entry.fields.get(name) == value for name, value in fields.items())
                and (predicate is None or bool(predicate(entry))))

    return matches


class ServerLog:
    """Bounded, thread-safe list of records.

    :meth:`record` (and :meth:`append` for a free sentence) may be called
    from any thread.  Reading methods return copies, so a cell can show the
    log while handler threads keep writing.
    """

    def __init__(self, maxlen: int = 500, *, echo=None):
        if maxlen < 1:
            raise ValueError(f"maxlen must be at least 1, got {maxlen}")
        self.maxlen = maxlen
        self.echo = echo
        # LogEntry-shaped plain tuples; the oldest fall off the left end
        self._entries: collections.deque[tuple] = collections.deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._outputs = []  # ipywidgets.Output objects mirroring the log
        self._cleared_up_to = 0  # last sequence number removed by clear()

    # -- writing -----------------------------------------------------------
    def record(self, kind: str, peer=None, **fields) -> None:
        """Add one record (thread-safe).  Never raises because of a bad sink.

        *kind* is a key of :data:`KINDS`; *peer* the client address the record
        is about; *fields* what that kind's text shows (and anything else worth
        keeping).  Busy handlers call this once per message, so it stores a
        plain tuple and renders no text unless a terminal or widget mirrors the
        log (see benchmarks/).
        """
        self._add(kind, peer, fields)

    def for_peer(self, peer):
        """A writer for one client's records: ``log = server.log.for_peer(addr)``, then
        ``log("received", data=data)`` is ``server.log.record("received", addr, data=data)``.

        A TCP handler makes one per connection: it writes a record per message.
        """
        add = self._add

        def log(kind: str, **fields) -> None:
            add(kind, peer, fields)

        return log

    def _add(self, kind: str, peer, fields: dict) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown log record kind {kind!r}; one of: {', '.join(KINDS)}")
        with self._lock:
            self._entries.append((next(self._seq), _now(), _current_thread().name,
                                  kind, peer, fields))
        if self.echo is None and not self._outputs:
            return
        text = _render(kind, peer, fields)
        if self.echo is not None:
            try:
                print(text, file=self.echo, flush=True)
            except (OSError, ValueError):  # closed terminal: keep serving
                pass
        for out in tuple(self._outputs):
            try:
                out.append_stdout(text + "\n")
            except Exception:  # a closed widget must not break a handler
                pass

    def append(self, text: str) -> None:
        """Add a free sentence, as a ``"note"`` record: ``server.log("...")`` in a handler."""
        self.record("note", text=str(text))

    __call__ = append

    def mirror_to(self, output) -> None:
        """Also send every new record's text to an ipywidgets ``Output`` via ``append_stdout``.

        ``Output.append_stdout`` is safe to call from a background thread: it
        changes the widget's state instead of capturing ``print``.
        """
        with self._lock:
            self._outputs.append(output)

    def clear(self) -> None:
        with self._lock:
            if self._entries:
                self._cleared_up_to = self._entries[-1][0]
            self._entries.clear()

    # -- reading -----------------------------------------------------------
    def select(self, kind: str | None = None, *, peer=None, after: int = 0,
               **fields) -> list[LogEntry]:
        """The retained records that match, oldest first.

        *kind*: only records of this kind; *peer*: only records about this
        address (host and port compared); *after*: only records newer than this
        sequence number (a :attr:`last_seq` taken earlier); any other keyword:
        only records whose field of that name has that value.  Without
        arguments: every retained record.
        """
        matches = _matcher(None, kind, peer, fields)
        with self._lock:
            raw = [item for item in self._entries if item[0] > after]
        return [entry for entry in map(LogEntry._make, raw) if matches(entry)]

    def lines(self) -> list[str]:
        """The retained records' text, oldest first."""
        return [entry.text for entry in self.select()]

    @property
    def dropped(self) -> int:
        """How many records have been pushed out of the bounded log so far."""
        with self._lock:
            if not self._entries:
                return 0
            return self._entries[-1][0] - self._cleared_up_to - len(self._entries)

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._entries[-1][0] if self._entries else 0

    def wait_for(self, predicate=None, timeout: float = 2.0, *, kind: str | None = None,
                 peer=None, after: int = 0, **fields) -> LogEntry | None:
        """Poll until a record matches; return it (``None`` after *timeout* seconds).

        Handler threads log asynchronously; a cell or a test that wants to show
        "the record the server just wrote" waits here instead of sleeping.
        *kind*, *peer*, *after* and field keywords select as in :meth:`select`;
        *predicate*, if given, is a callable taking a :class:`LogEntry`, or a
        substring of the record's text -- meant for the notes a handler writes
        with ``server.log("...")``, whose text is all they have.
        """
        matches = _matcher(predicate, kind, peer, fields)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                raw = [item for item in self._entries if item[0] > after]
            for entry in map(LogEntry._make, raw):
                if matches(entry):
                    return entry
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.005)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __iter__(self):
        return iter(self.select())

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __repr__(self) -> str:
        return f"<ServerLog {len(self)} records (max {self.maxlen})>"

    def _repr_pretty_(self, p, cycle):  # IPython display
        lines = self.lines()
        p.text("\n".join(lines) if lines else "(log is empty)")
