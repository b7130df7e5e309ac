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
exception's type and message).  Its ``text`` -- what a
cell shows -- is rendered from those through the kind's template, so code that
waits for or picks out a record selects it by kind, peer and fields
(:meth:`ServerLog.select`, :meth:`ServerLog.wait_for`) and never parses
wording.  A record that lacks a field its template shows is refused when it is
written (``ValueError`` naming the kind and the missing fields), so every
record in a log can be shown.  A handler of a student's own can still write a
free sentence: ``server.log("text")`` stores a ``"note"`` record.

Memory is bounded: the log keeps only the most recent ``maxlen`` records (a
``deque``), and a record keeps at most :data:`PREVIEW_BYTES` (60) bytes of the
data it is about, together with that data's full length (``nbytes``) -- what a
log line shows anyway.  So a ``"received"`` record is small however much one
read returned (a UDP server may raise ``max_packet_size`` to 65507 bytes).
Error records keep the exception's type, message and traceback text.

Command-line servers pass an ``echo`` stream so every record's text is also
written there, like the seed's ``print`` calls, each record as one whole line
(lines from many handler threads never merge).  A terminal gets each line at
once, and so does a stream asked not to buffer (``python -u``).  A pipe or a
file gets them in batches, at most :attr:`ServerLog.echo_delay` seconds late,
written by a timer thread: a handler thread then only appends its record, and
never waits for a system call or for another handler (on a busy server that
would cost more than the rest of its work on a message; see
benchmarks/README.md).  Call :meth:`ServerLog.flush_echo` before writing to
that stream yourself.
"""

from __future__ import annotations

import collections
import functools
import itertools
import string
import threading
import time
import types
from collections.abc import Mapping
from typing import NamedTuple

from .errors import format_address

__all__ = ["ServerLog", "LogEntry", "KINDS", "PREVIEW_BYTES", "describe_bytes", "describe_error",
           "render_record"]

_now = time.time
_proxy = types.MappingProxyType
_current_thread = threading.current_thread
#: each thread's name, looked up once per thread: ``current_thread().name`` is two Python
#: calls, and on a server with many busy threads every Python call a handler makes per
#: message is one more chance to lose the GIL (a thread renamed later keeps its first name)
_this_thread = threading.local()

#: How many bytes of a message a record keeps, and a log line shows before it abbreviates.
PREVIEW_BYTES = 60

#: Every kind of record, and how its text is rendered: ``{peer}`` is the peer's
#: address (``127.0.0.1:5000``), ``{error}`` the exception in one line (from the
#: fields ``error_type`` and ``message``), the other
#: names are the record's fields; a field holding bytes is shown by
#: :func:`describe_bytes`.  A writer passes the exception itself as ``error=exc``;
#: the record keeps ``error_type`` and ``message`` (select by those).
KINDS = {
    # a TCP connection (netlesson.tcp.UpperEchoHandler)
    "connected": "connected: {peer}",
    # TCP and UDP: data = the bytes read (the log keeps their start, and nbytes = their length)
    "received": "received {data} from {peer}",
    "reset": "reset by client: {peer} (it aborted: closed with unread data or SO_LINGER 0)",
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
    # a free sentence written with server.log(text), e.g. by a student's handler
    "note": "{text}",
}

#: Placeholders of a template that are not fields of that name: what they are made from.
_DERIVED = {"peer": (), "error": ("error_type", "message")}


def _fields_shown(template: str) -> frozenset:
    names = set()
    for _, name, _, _ in string.Formatter().parse(template):
        if name:
            names.update(_DERIVED.get(name, (name,)))
    return frozenset(names)


#: kind -> the fields a record of that kind must have (its template shows them)
_REQUIRED = {kind: _fields_shown(template) for kind, template in KINDS.items()}
#: kind -> the placeholders its template shows, in order of appearance
_PLACEHOLDERS = {kind: tuple(dict.fromkeys(name for _, name, _, _
                                           in string.Formatter().parse(template) if name))
                 for kind, template in KINDS.items()}
#: the kinds whose text names the peer: their records must have one
_ABOUT_A_PEER = frozenset(kind for kind, template in KINDS.items() if "{peer}" in template)


def describe_bytes(data: bytes, limit: int = PREVIEW_BYTES, *, size: int | None = None) -> str:
    """``repr`` of *data*, abbreviated after *limit* bytes with the full length named.

    *size* is the length of the whole message when *data* is only its start
    (as a record keeps it).

    >>> describe_bytes(b'hello')
    "b'hello'"
    >>> describe_bytes(b'x' * 100, limit=4)
    "b'xxxx'... (100 bytes)"
    """
    size = len(data) if size is None else size
    if size <= limit:
        return repr(bytes(data))
    return f"{bytes(data[:limit])!r}... ({size} bytes)"


def describe_error(error_type: str, message: str) -> str:
    """How a record shows an error: ``ValueError: the message's first line ...``.

    >>> describe_error("ValueError", "bad\\nvery bad")
    'ValueError: bad ...'
    >>> describe_error("NotImplementedError", "")
    'NotImplementedError'
    """
    lines = str(message).strip().splitlines()
    if not lines:
        return error_type
    return f"{error_type}: {lines[0]}" + (" ..." if len(lines) > 1 else "")


def _checked(kind: str, peer, fields: dict) -> Mapping:
    """*fields* as a record keeps them (read-only), or ``ValueError``.

    An exception given as ``error`` is kept as its ``error_type`` and
    ``message``; ``data`` is cut to :data:`PREVIEW_BYTES` bytes, with its
    length in ``nbytes``.  *fields* must be a dict nobody else holds (a
    ``**fields`` argument is).
    """
    required = _REQUIRED.get(kind)
    if required is None:
        raise ValueError(f"unknown log record kind {kind!r}; one of: {', '.join(KINDS)}")
    if "error" in fields:
        error = fields.pop("error")
        if not isinstance(error, BaseException):
            raise ValueError(f"error= takes the exception itself (error=exc), not {error!r}: "
                             f"the record keeps its type and message")
        fields["error_type"] = type(error).__name__
        fields["message"] = str(error)
    if not fields.keys() >= required:
        missing = ", ".join(sorted(required.difference(fields)))
        raise ValueError(f"a {kind!r} record needs the field(s) {missing} (its text "
                         f"{KINDS[kind]!r} shows them); got: {', '.join(fields) or 'none'}")
    if peer is None and kind in _ABOUT_A_PEER:
        raise ValueError(f"a {kind!r} record is about a client: pass its address as peer")
    data = fields.get("data")
    if isinstance(data, (bytes, bytearray, memoryview)):  # keep only what a line shows
        fields["nbytes"] = len(data)
        fields["data"] = bytes(data[:PREVIEW_BYTES])
    return types.MappingProxyType(fields)


def _render(kind: str, peer, fields: Mapping) -> str:
    # A busy server echoes a line per message: only the placeholders the template shows
    # are looked at (_PLACEHOLDERS), and a peer's text is made once per peer.
    values = {}
    for name in _PLACEHOLDERS[kind]:
        if name == "peer":
            values[name] = _peer_text(peer)
        elif name == "error":
            values[name] = describe_error(fields["error_type"], fields.get("message", ""))
        else:
            value = fields[name]
            if isinstance(value, (bytes, bytearray)):
                value = describe_bytes(value, size=fields.get("nbytes") if name == "data"
                                       else None)
            values[name] = value
    return KINDS[kind].format_map(values)


@functools.lru_cache(maxsize=1024)
def _cached_address(peer) -> str:
    return format_address(peer)


def _peer_text(peer) -> str:
    try:
        return _cached_address(peer)
    except TypeError:  # an unhashable address (a list): not worth caching
        return format_address(peer)


def render_record(kind: str, peer=None, **fields) -> str:
    """The text a record of *kind* about *peer* with *fields* shows, without storing it.

    For a server that has no :class:`ServerLog` (its records go to ``logging``).
    Raises ``ValueError`` as :meth:`ServerLog.record` does.
    """
    return _render(kind, peer, _checked(kind, peer, fields))


class LogEntry(NamedTuple):
    """One record: its sequence number, a ``time.time()`` stamp, the name of the
    thread that wrote it, its ``kind`` (a key of :data:`KINDS`), the ``peer``
    address it is about (``None`` for the server's own records and notes) and
    its ``fields`` (a read-only mapping).  ``str(entry)`` and ``entry.text``
    are the line a cell shows."""

    seq: int
    time: float
    thread: str
    kind: str
    peer: tuple | None
    fields: Mapping[str, object]

    @property
    def text(self) -> str:
        return _render(self.kind, self.peer, self.fields)

    def __str__(self) -> str:
        return self.text


def _fields_of(fields) -> Mapping:
    """A stored record's fields as a mapping (a ``received`` record keeps a plain pair)."""
    if type(fields) is tuple:
        return _proxy({"data": fields[0], "nbytes": fields[1]})
    return fields


def _entry(item: tuple) -> LogEntry:
    seq, when, thread, kind, peer, fields = item
    return LogEntry(seq, when, thread, kind, peer, _fields_of(fields))


def _line_by_line(stream) -> bool:
    """Should each echoed line reach *stream* at once?  Yes for a terminal, for a stream
    asked not to buffer (``python -u``, ``PYTHONUNBUFFERED``, ``line_buffering``) and for
    one in memory (no file descriptor); a pipe or a file otherwise gets batches."""
    if stream is None:
        return False
    if getattr(stream, "write_through", False) or getattr(stream, "line_buffering", False):
        return True
    try:
        if stream.isatty():
            return True
        stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return True
    return False


def _same_address(a, b) -> bool:
    return a is not None and b is not None and tuple(a[:2]) == tuple(b[:2])


def _matcher(predicate, kind, peer, fields):
    """One test for an entry from :meth:`ServerLog.select`'s and ``wait_for``'s arguments.

    Raises ``ValueError`` for what could never match: an unknown kind, a
    selection by ``error`` (a rendered name: select by ``error_type``), or a
    text to find in a record that is not a note.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown log record kind {kind!r}; one of: {', '.join(KINDS)}")
    rendered = sorted(fields.keys() & _DERIVED.keys())
    if rendered:
        name = rendered[0]
        raise ValueError(f"records have no field {name!r}: it is rendered from "
                         f"{' and '.join(_DERIVED[name])}; select by those")
    if isinstance(predicate, str):
        if kind not in (None, "note"):
            raise ValueError(f"a text to find selects notes (server.log('...')); a {kind!r} "
                             f"record is selected by its fields, e.g. kind={kind!r}, peer=...")
        needle = predicate
        kind = "note"
        predicate = lambda entry: needle in entry.fields["text"]  # noqa: E731

    def matches(entry: LogEntry) -> bool:
        return ((kind is None or entry.kind == kind)
                and (peer is None or _same_address(entry.peer, peer))
                and all(entry.fields.get(name) == value for name, value in fields.items())
                and (predicate is None or bool(predicate(entry))))

    return matches


class ServerLog:
    """Bounded, thread-safe list of records.

    :meth:`record` (and calling the log, ``log("...")``, for a free sentence)
    may be called from any thread.  Reading methods return copies, so a cell can show the
    log while handler threads keep writing.
    """

    #: at most this many seconds between a record and its line on an ``echo`` stream
    #: that is a pipe or a file (a terminal shows each line at once)
    echo_delay = 0.1
    #: lines waiting for that stream at most: beyond this, writers wait for it as
    #: ``print`` would (a reader that stopped reading slows the server, memory stays bounded)
    echo_backlog = 10_000

    def __init__(self, maxlen: int = 500, *, echo=None):
        if maxlen < 1:
            raise ValueError(f"maxlen must be at least 1, got {maxlen}")
        self.maxlen = maxlen
        self.echo = echo
        # LogEntry-shaped plain tuples; the oldest fall off the left end.  Writers take no
        # lock: next() on a count and deque.append() are each atomic, and a lock that every
        # handler thread takes for every message makes a busy server with many clients
        # queue up behind it (see benchmarks/README.md).  Two writers may append in the
        # other order than their numbers, so readers sort a snapshot (deque.copy(), atomic).
        self._entries: collections.deque[tuple] = collections.deque(maxlen=maxlen)
        self._seq = itertools.count(1)
        self._lock = threading.Lock()  # readers and clear() against each other
        self._cleared_up_to = 0  # last sequence number removed by clear()
        # Echo: a terminal (or an unbuffered or in-memory stream) gets each line as it is
        # recorded.  A pipe or a file gets batches: records wait in _unechoed until a
        # short-lived timer thread, started by the first of them, renders and writes them
        # echo_delay seconds later; so a handler thread never waits for a system call.
        self._echo_each = _line_by_line(echo)
        self._echo_lock = threading.Lock()  # held while writing: whole lines, in order
        self._unechoed: collections.deque[tuple] = collections.deque()
        self._flush_scheduled = False  # a timer will write them
        self._flush_timer: threading.Timer | None = None  # the latest such timer

    # -- writing -----------------------------------------------------------
    def record(self, kind: str, peer=None, **fields) -> None:
        """Add one record (thread-safe).

        *kind* is a key of :data:`KINDS`; *peer* the client address the record
        is about; *fields* what that kind's text shows (and anything else worth
        keeping).  An exception passed as ``error=exc`` is kept as the fields
        ``error_type`` and ``message``; a ``data`` field keeps its first
        :data:`PREVIEW_BYTES` bytes and adds ``nbytes``, its length.

        Raises ``ValueError`` -- in the writer, before anything is stored --
        for an unknown kind, a missing field or a missing peer.  Never raises
        because of a bad sink: an ``echo`` stream that is closed is skipped.
        Busy handlers call this once per message, so it stores a plain tuple
        and renders no text itself, unless ``echo`` is a terminal (see benchmarks/).
        """
        data = fields.get("data")
        if kind == "received" and peer is not None and len(fields) == 1 and type(data) is bytes:
            # The one record a busy handler writes per message: stored as a plain pair
            # (preview, length), made into its fields only when read (_entry).  With many
            # handler threads every allocation here costs throughput (benchmarks/README.md).
            fields = (data[:PREVIEW_BYTES], len(data))
        else:
            fields = _checked(kind, peer, fields)
        thread = getattr(_this_thread, "name", None)  # no Python call: see _this_thread
        if thread is None:
            thread = _this_thread.name = _current_thread().name
        item = (next(self._seq), _now(), thread, kind, peer, fields)
        self._entries.append(item)
        if self.echo is None:
            return
        if self._echo_each:
            self._write_echo((item,))
            return
        self._unechoed.append(item)  # first, then the flag (flush_echo: the other way round)
        if not self._flush_scheduled:
            self._flush_scheduled = True  # two writers may both start a timer: harmless
            timer = threading.Timer(self.echo_delay, self.flush_echo)
            timer.name = "netlesson-echo-flush"
            timer.daemon = True
            self._flush_timer = timer
            timer.start()
        elif len(self._unechoed) > self.echo_backlog:  # the reader is behind: wait, as
            self.flush_echo()                          # print() would

    def flush_echo(self) -> None:
        """Write the records not yet on ``echo`` now, and flush it.

        Runs by itself at most :attr:`echo_delay` seconds after a record; call
        it before writing to the ``echo`` stream yourself, and before exit.
        """
        if self.echo is None:
            return
        with self._echo_lock:
            timer, self._flush_timer = self._flush_timer, None
            if timer is not None and timer is not threading.current_thread():
                timer.cancel()  # its records are written here
            # then the flag: a record appended from now on starts a timer of its own,
            # or is taken here; none is left behind
            self._flush_scheduled = False
            pending = self._unechoed
            items = [pending.popleft() for _ in range(len(pending))]
            self._write_echo_locked(items)

    def _write_echo(self, items) -> None:
        with self._echo_lock:
            self._write_echo_locked(items)

    def _write_echo_locked(self, items) -> None:
        """Each record's text as one line, all in one write, then a flush."""
        try:
            if items:
                self.echo.write("".join([_render(kind, peer, _fields_of(fields)) + "\n"
                                         for _, _, _, kind, peer, fields in items]))
            self.echo.flush()
        except (OSError, ValueError):  # closed terminal: keep serving
            pass

    def __call__(self, text: str) -> None:
        """Add a free sentence, as a ``"note"`` record: ``server.log("...")`` in a handler."""
        self.record("note", text=str(text))

    def clear(self) -> None:
        """Forget the retained records (a record written meanwhile may go too)."""
        with self._lock:
            self._cleared_up_to = max(self._cleared_up_to, self._newest(self._snapshot()))
            self._entries.clear()

    def _snapshot(self) -> list[tuple]:
        """The retained records in order of their numbers (a copy)."""
        return sorted(self._entries.copy())  # numbers are unique: tuples never compare further

    @staticmethod
    def _newest(raw) -> int:
        return raw[-1][0] if raw else 0

    # -- reading -----------------------------------------------------------
    def select(self, kind: str | None = None, *, peer=None, after: int = 0,
               **fields) -> list[LogEntry]:
        """The retained records that match, oldest first.

        *kind*: only records of this kind (``ValueError`` if it is not one of
        :data:`KINDS`); *peer*: only records about this address (host and port
        compared); *after*: only records newer than this sequence number (a
        :attr:`last_seq` taken earlier); any other keyword: only records whose
        field of that name has that value (``error_type="ValueError"``).
        Without arguments: every retained record.
        """
        matches = _matcher(None, kind, peer, fields)
        with self._lock:
            raw = [item for item in self._snapshot() if item[0] > after]
        return [entry for entry in map(_entry, raw) if matches(entry)]

    def lines(self) -> list[str]:
        """The retained records' text, oldest first."""
        return [entry.text for entry in self.select()]

    @property
    def dropped(self) -> int:
        """How many records have been pushed out of the bounded log so far."""
        with self._lock:
            raw = self._snapshot()
        return max(0, self._newest(raw) - self._cleared_up_to - len(raw)) if raw else 0

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._newest(self._snapshot())

    def wait_for(self, predicate=None, timeout: float = 2.0, *, kind: str | None = None,
                 peer=None, after: int = 0, **fields) -> LogEntry | None:
        """Poll until a record matches; return it (``None`` after *timeout* seconds).

        Handler threads log asynchronously; a cell or a test that wants to show
        "the record the server just wrote" waits here instead of sleeping.
        *kind*, *peer*, *after* and field keywords select as in :meth:`select`
        (and raise ``ValueError`` where it does).  *predicate*, if given, is a
        callable taking a :class:`LogEntry`, or a text: then only notes (what a
        handler writes with ``server.log("...")``) whose sentence contains it
        match -- records of the other kinds are selected by kind and fields.
        """
        matches = _matcher(predicate, kind, peer, fields)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                raw = [item for item in self._snapshot() if item[0] > after]
            for entry in map(_entry, raw):
                if matches(entry):
                    return entry
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.005)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self):
        """The retained records, oldest first, as :class:`LogEntry` objects (a copy:
        ``for entry in log: print(entry.kind, entry.text)``)."""
        return iter(self.select())

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __repr__(self) -> str:
        return f"<ServerLog {len(self)} records (max {self.maxlen})>"

    def _repr_pretty_(self, p, cycle):  # IPython display
        lines = self.lines()
        p.text("\n".join(lines) if lines else "(log is empty)")
