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
that stream yourself; before the program ends call :meth:`ServerLog.close_echo`,
which also waits for the timer threads to end (the command-line servers do, on
Ctrl-C and on SIGTERM), so that none is still running while Python shuts down.

A handler writes through :meth:`ServerLog.writer`, one per connection
(``netlesson.classroom.peer_log`` makes it): ``write(kind, **fields)`` is
``record(kind, peer, **fields)`` with the peer filled in, and stores the record
a busy handler writes for every message, ``write("received", data=data)``, in
a few steps with no other Python call.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
import types

from ._records import (_DERIVED, KINDS, PREVIEW_BYTES, LogEntry, _checked, _entry, _lines,
                       describe_bytes, describe_error, render_record)

__all__ = ["ServerLog", "LogEntry", "KINDS", "PREVIEW_BYTES", "describe_bytes", "describe_error",
           "render_record"]

_now = time.time
_proxy = types.MappingProxyType
_current_thread = threading.current_thread
#: each thread's name, looked up once per thread: ``current_thread().name`` is two Python
#: calls, and on a server with many busy threads every Python call a handler makes per
#: message is one more chance to lose the GIL (a thread renamed later keeps its first name)
_this_thread = threading.local()

_ABSENT = object()  # ServerLog.writer: no data= given


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
        self._echo = echo
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
        # every timer not yet seen to have ended (flush_echo prunes it): close_echo joins them
        self._timers: collections.deque[threading.Timer] = collections.deque()

    @property
    def echo(self):
        """The stream every record's line is also written to (``None``: none); fixed when
        the log is made."""
        return self._echo

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
        It renders no text itself, unless ``echo`` is a terminal: a timer thread
        does (see benchmarks/).  Handlers write through :meth:`writer`.
        """
        data = fields.get("data")
        if kind == "received" and peer is not None and len(fields) == 1 and type(data) is bytes:
            # The one record a busy handler writes per message: stored as the message
            # itself when it is short (at most PREVIEW_BYTES: a slice of it would be the
            # same object), else as a plain pair (preview, length); made into its fields
            # only when read (_entry).  With many handler threads every allocation and
            # call here costs throughput (benchmarks/README.md).
            fields = data if len(data) <= PREVIEW_BYTES else (data[:PREVIEW_BYTES], len(data))
        else:
            fields = _checked(kind, peer, fields)
        thread = getattr(_this_thread, "name", None)  # no Python call: see _this_thread
        if thread is None:
            thread = _this_thread.name = _current_thread().name
        item = (next(self._seq), _now(), thread, kind, peer, fields)
        self._entries.append(item)
        if self._echo is None:
            return
        if self._echo_each:
            self._write_echo((item,))
            return
        self._unechoed.append(item)  # first, then the flag (flush_echo: the other way round)
        if not self._flush_scheduled:
            self._schedule_flush()
        elif len(self._unechoed) > self.echo_backlog:  # the reader is behind: wait, as
            self.flush_echo()                          # print() would

    def writer(self, peer):
        """A callable for one connection's records: ``write(kind, **fields)`` is
        ``record(kind, peer, **fields)``, with the same checks and errors.

        ``netlesson.classroom.peer_log`` gives it to a handler as ``self.log``.  The
        record a handler writes for every message, ``write("received", data=data)``,
        is stored without calling :meth:`record`: on a server with many busy handler
        threads, each Python call and allocation per message is one more chance for
        a handler to lose the GIL to the others (benchmarks/README.md).
        """
        record = self.record
        if peer is None:  # record() says what is missing
            def write(kind: str, **fields) -> None:
                return record(kind, None, **fields)
            return write
        keep = self._entries.append
        numbers = self._seq
        batches = self._echo is not None and not self._echo_each
        each = self._echo is not None and self._echo_each
        unechoed = self._unechoed
        queue = unechoed.append

        def write(kind: str, *, data=_ABSENT, **fields) -> None:
            if kind == "received" and type(data) is bytes and not fields:
                # the same record as record() stores: see record()
                try:
                    thread = _this_thread.name
                except AttributeError:
                    thread = _this_thread.name = _current_thread().name
                item = (next(numbers), _now(), thread, "received", peer,
                        data if len(data) <= PREVIEW_BYTES else (data[:PREVIEW_BYTES], len(data)))
                keep(item)
                if batches:
                    queue(item)  # then the flag, as in record()
                    if not self._flush_scheduled:
                        self._schedule_flush()
                    elif len(unechoed) > self.echo_backlog:
                        self.flush_echo()
                elif each:
                    self._write_echo((item,))
                return
            if data is not _ABSENT:
                fields["data"] = data
            record(kind, peer, **fields)

        return write

    def _schedule_flush(self) -> None:
        """Start the timer thread that writes the waiting records ``echo_delay`` s from now."""
        self._flush_scheduled = True  # two writers may both start a timer: harmless
        timer = threading.Timer(self.echo_delay, self.flush_echo)
        timer.name = "netlesson-echo-flush"
        timer.daemon = True
        self._flush_timer = timer
        self._timers.append(timer)  # deque.append: atomic, no lock on a writer's path
        timer.start()

    def flush_echo(self) -> None:
        """Write the records not yet on ``echo`` now, and flush it.

        Runs by itself at most :attr:`echo_delay` seconds after a record; call
        it before writing to the ``echo`` stream yourself, and before exit.
        """
        if self._echo is None:
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
            # forget the timers that have ended, so the deque stays short; one not yet
            # started (appended just before its start()) has no ident and is kept
            timers = self._timers
            while timers and timers[0].ident is not None and not timers[0].is_alive():
                timers.popleft()

    def close_echo(self, timeout: float = 2.0) -> bool:
        """Write what is waiting (:meth:`flush_echo`), then wait for every timer thread
        to end; return whether they all did within *timeout* seconds.

        Call it last, when no handler records any more: before a program exits, so no
        daemon thread of this log is still running while Python shuts down.  A record
        made after it is still kept, and echoed by a timer of its own.
        """
        deadline = time.monotonic() + timeout
        self.flush_echo()
        me = threading.current_thread()
        for timer in list(self._timers):
            if timer is me:
                continue
            timer.cancel()  # a timer still waiting writes nothing: flush_echo above did
            try:
                timer.join(max(0.0, deadline - time.monotonic()))
            except RuntimeError:  # not started: a writer's, after this was called
                pass
        alive = [t for t in list(self._timers) if t is not me and t.is_alive()]
        return not alive

    def _write_echo(self, items) -> None:
        with self._echo_lock:
            self._write_echo_locked(items)

    def _write_echo_locked(self, items) -> None:
        """Each record's text as one line, all in one write, then a flush."""
        try:
            if items:
                self._echo.write(_lines(items))
            self._echo.flush()
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
