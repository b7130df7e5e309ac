"""A bounded, thread-safe log that server handler threads write to.

Why not ``print()``?  In a Jupyter kernel, ``print`` from a background thread
lands in whichever cell happens to be running when the thread prints -- often
an unrelated one, or none at all.  netlesson's handlers therefore never print:
they append a line to their server's :class:`ServerLog`.  A notebook cell shows
the log from the main thread (``handle.log`` displays itself), so the output
lands in the cell that asked for it, on any ipykernel version.

The log keeps only the most recent ``maxlen`` entries (a ``deque``), so a busy
or long-running server does not grow memory.  Command-line servers pass an
``echo`` stream so every line is also written to the terminal, like the seed's
``print`` calls.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time

__all__ = ["ServerLog", "LogEntry", "describe_bytes"]

_now = time.time
_current_thread = threading.current_thread

#: How many bytes of a message a log line shows before it abbreviates.
PREVIEW_BYTES = 60


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


class LogEntry(collections.namedtuple("LogEntry", "seq time thread text")):
    """One log line: a sequence number, a ``time.time()`` stamp, the name of the
    thread that wrote it, and the text."""

    __slots__ = ()

    def __str__(self) -> str:
        return self.text


class ServerLog:
    """Bounded, thread-safe list of log lines.

    ``append`` may be called from any thread.  Reading methods return copies,
    so a cell can show the log while handler threads keep writing.
    """

    def __init__(self, maxlen: int = 500, *, echo=None, prefix: str = ""):
        if maxlen < 1:
            raise ValueError(f"maxlen must be at least 1, got {maxlen}")
        self.maxlen = maxlen
        self.echo = echo
        self.prefix = prefix
        # (seq, time, thread name, text) tuples; the oldest fall off the left end
        self._entries: collections.deque[tuple] = collections.deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._outputs = []  # ipywidgets.Output objects mirroring the log
        self._cleared_up_to = 0  # last sequence number removed by clear()

    # -- writing -----------------------------------------------------------
    def append(self, text: str) -> None:
        """Add one line (thread-safe).  Never raises because of a bad sink.

        Busy handlers call this once per message, so it stores a plain tuple
        (a :class:`LogEntry` is built only when the log is read) and does
        nothing but number and append under the lock (see benchmarks/).
        """
        if self.prefix:
            text = self.prefix + text
        with self._lock:
            self._entries.append((next(self._seq), _now(), _current_thread().name, text))
        if self.echo is not None:
            try:
                print(text, file=self.echo, flush=True)
            except (OSError, ValueError):  # closed terminal: keep serving
                pass
        if self._outputs:
            for out in tuple(self._outputs):
                try:
                    out.append_stdout(text + "\n")
                except Exception:  # a closed widget must not break a handler
                    pass

    __call__ = append

    def mirror_to(self, output) -> None:
        """Also send every new line to an ipywidgets ``Output`` via ``append_stdout``.

        ``Output.append_stdout`` is safe to call from a background thread: it
        changes the widget's state instead of capturing ``print``.
        """
        with self._lock:
            self._outputs.append(output)

    def unmirror(self, output) -> None:
        with self._lock:
            if output in self._outputs:
                self._outputs.remove(output)

    def clear(self) -> None:
        with self._lock:
            if self._entries:
                self._cleared_up_to = self._entries[-1][0]
            self._entries.clear()

    # -- reading -----------------------------------------------------------
    def entries(self) -> list[LogEntry]:
        with self._lock:
            raw = list(self._entries)
        return [LogEntry._make(item) for item in raw]

    def lines(self) -> list[str]:
        """The retained lines, oldest first."""
        with self._lock:
            return [item[3] for item in self._entries]

    @property
    def dropped(self) -> int:
        """How many lines have been pushed out of the bounded log so far."""
        with self._lock:
            if not self._entries:
                return 0
            return self._entries[-1][0] - self._cleared_up_to - len(self._entries)

    def since(self, seq: int) -> list[LogEntry]:
        """Entries with a sequence number greater than *seq*."""
        return [e for e in self.entries() if e.seq > seq]

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._entries[-1][0] if self._entries else 0

    def wait_for(self, predicate, timeout: float = 2.0, *, after: int = 0) -> bool:
        """Poll until some line satisfies *predicate* (a substring or a callable).

        Handler threads log asynchronously; a cell or a test that wants to show
        "the line the server just wrote" waits here instead of sleeping.  With
        *after* (a :attr:`last_seq` taken earlier) only newer lines count.
        """
        if isinstance(predicate, str):
            needle = predicate
            predicate = lambda line: needle in line  # noqa: E731
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                lines = [item[3] for item in self._entries if item[0] > after]
            if any(predicate(line) for line in lines):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __iter__(self):
        return iter(self.lines())

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __repr__(self) -> str:
        return f"<ServerLog {len(self)} lines (max {self.maxlen})>"

    def _repr_pretty_(self, p, cycle):  # IPython display
        lines = self.lines()
        p.text("\n".join(lines) if lines else "(log is empty)")
