"""Exercise 6: a visitor counter shared by handler threads, guarded by a lock.

The check server watches ``server.count``: every read or change by a handler
thread must happen while that thread holds ``server.lock``, and each read is
followed by a short pause (:data:`RACE_WIDENER`) so that an unlocked
``count += 1`` really loses visitors while the check runs.
"""

from __future__ import annotations

import re
import socketserver
import threading
import time

from ._harness import (checked_class, checker, fail, fail_if_server_error, make_check_server,
                       require_class, serving)
from ._wire import REPLY_TIMEOUT, connect, read_lines

__all__ = ["check_visitor_greeting", "check_visitor_counter"]


class _WatchedLock:
    """Wraps the student's lock and remembers which threads hold it."""

    def __init__(self, inner):
        self._inner = inner
        self._meta = threading.Lock()
        self._holders: dict[int, int] = {}

    def acquire(self, *args, **kwargs):
        ok = self._inner.acquire(*args, **kwargs)
        if ok:
            with self._meta:
                ident = threading.get_ident()
                self._holders[ident] = self._holders.get(ident, 0) + 1
        return ok

    def release(self):
        with self._meta:
            ident = threading.get_ident()
            if self._holders.get(ident, 0) > 1:
                self._holders[ident] -= 1
            else:
                self._holders.pop(ident, None)
        self._inner.release()

    __enter__ = acquire

    def __exit__(self, *exc):
        self.release()

    def locked(self):
        return self._inner.locked() if hasattr(self._inner, "locked") else bool(self._holders)

    def held_by_me(self) -> bool:
        with self._meta:
            return threading.get_ident() in self._holders


#: Seconds a handler thread is held up right after it reads ``server.count``.
#: It makes the gap between "read the old value" and "write the new one" wide
#: enough that an unlocked ``count += 1`` really loses updates during the check.
RACE_WIDENER = 0.003


def _watched_server_class(server_class):
    checked = checked_class(server_class)

    class Watched(checked):
        def __getattribute__(self, name):
            value = super().__getattribute__(name)
            if name == "count":
                object.__getattribute__(self, "_nl_watch")("read")
            return value

        def __setattr__(self, name, value):
            if name == "count":
                self._nl_watch("changed")
            super().__setattr__(name, value)

        def _nl_watch(self, how: str):
            if not self._nl_is_handler_thread():
                return
            lock = self.__dict__.get("lock")
            if isinstance(lock, _WatchedLock) and not lock.held_by_me():
                with self._nl_cond:
                    self._nl_violations.append(how)
            if how == "read":
                time.sleep(RACE_WIDENER)

    Watched.__name__ = Watched.__qualname__ = server_class.__name__
    return Watched


def _visitor_server(server_class, handler_class):
    __tracebackhide__ = True  # noqa: F841
    require_class(server_class, socketserver.TCPServer, "your server class")
    require_class(handler_class, socketserver.BaseRequestHandler, "your handler class")
    server = make_check_server(_watched_server_class(server_class), handler_class,
                               server_class.__name__)
    object.__setattr__(server, "_nl_violations", [])
    if not hasattr(server, "count"):
        server.server_close()
        fail(f"{server_class.__name__} has no count attribute: set self.count = 0 in __init__ "
             f"(after calling super().__init__(...))")
    if server.count != 0:
        server.server_close()
        fail(f"a new {server_class.__name__} should start with count == 0, it has {server.count!r}")
    lock = server.__dict__.get("lock", getattr(server, "lock", None))
    if lock is None or not (hasattr(lock, "acquire") and hasattr(lock, "__enter__")):
        server.server_close()
        fail(f"{server_class.__name__} has no lock: set self.lock = threading.Lock() in __init__, "
             f"so every handler thread uses the same one")
    object.__setattr__(server, "lock", _WatchedLock(lock))
    return server


def _visit(address, name: str) -> tuple[str | None, str]:
    try:
        with connect(address, timeout=3.0) as sock:
            sock.sendall(name.encode("utf-8") + b"\n")
            pending = bytearray()
            lines, closed = read_lines(sock, 1, pending, timeout=3.0)
    except OSError as exc:
        return None, f"connection failed: {exc}"
    if lines:
        try:
            return lines[0].decode("utf-8"), "ok"
        except UnicodeDecodeError:
            return None, f"reply {lines[0]!r} is not UTF-8"
    if pending:
        return None, f"the reply {bytes(pending)!r} does not end with '\\n'"
    return None, "the connection was closed without a reply" if closed else "no reply"


_GREETING = re.compile(r"^hello (.*), you are visitor #(\d+)\n\Z", re.S)


@checker
def check_visitor_greeting(server_class, handler_class) -> None:
    """Exercise 6, part 1: one visitor after another, each greeted with its number."""
    __tracebackhide__ = True  # noqa: F841
    server = _visitor_server(server_class, handler_class)
    with serving(server):
        for number, name in enumerate(["alice", "bob", "小明"], start=1):
            line, how = _visit(server.server_address, name)
            fail_if_server_error(server, f" while greeting {name!r}")
            want = f"hello {name}, you are visitor #{number}\n"
            if line != want:
                got = repr(line) if line is not None else how
                hint = ""
                m = _GREETING.match(line or "")
                if line is None and how == "no reply":
                    hint = (": read the name with self.rfile.readline(), then write the "
                            "greeting with self.wfile.write(...) -- encoded, ending in '\\n'")
                elif line is not None and line.startswith(f"hello {name}") and "#" not in line:
                    hint = (": the name still ends with its line ending, which splits the "
                            "greeting in two. Strip it (self.rfile.readline().strip()) and "
                            "decode it")
                elif m and m.group(1) != name:
                    hint = (": strip the line ending from the name and decode it "
                            "(line.strip().decode('utf-8'))")
                elif m:
                    hint = (": the first visitor is #1, and each visitor adds one "
                            "(server.count counts every visitor)")
                fail(f"visitor {number} sent {name!r} and should read {want!r}, got {got}{hint}")
        if not server._nl_wait(lambda s: s._nl_handled >= 3, REPLY_TIMEOUT):
            fail("after answering, the handler should return (one greeting per connection)")
        if server.count != 3:
            fail(f"after 3 visitors server.count is {server.count!r}, expected 3")


@checker
def check_visitor_counter(server_class, handler_class, visitors: int = 20) -> None:
    """Exercise 6, part 2: many visitors at once; every number handed out once.

    All clients connect at the same moment.  While the check runs, each read
    of ``server.count`` by a handler is followed by a short pause, so two
    threads that update the count without the lock really do collide.  Every
    read or change of ``count`` by a handler thread must happen while that
    thread holds ``server.lock``.
    """
    __tracebackhide__ = True  # noqa: F841
    server = _visitor_server(server_class, handler_class)
    with serving(server):
        barrier = threading.Barrier(visitors)
        results: dict[int, tuple[str | None, str]] = {}

        def visit(i):
            try:
                barrier.wait(5.0)
            except threading.BrokenBarrierError:
                pass
            results[i] = _visit(server.server_address, f"guest{i}")

        threads = [threading.Thread(target=visit, args=(i,), daemon=True,
                                    name=f"netlesson-check-visitor-{i}") for i in range(visitors)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10.0
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        fail_if_server_error(server, f" while {visitors} visitors came at once")
        server._nl_wait(lambda s: s._nl_handled >= visitors, REPLY_TIMEOUT)
        numbers = []
        for i in range(visitors):
            line, how = results.get(i, (None, "no reply within 10 s"))
            m = _GREETING.match(line or "")
            if m is None:
                shown = repr(line) if line else how
                fail(f"{visitors} visitors came at once; visitor 'guest{i}' got "
                     f"{shown}: each must get 'hello <name>, you are visitor "
                     f"#<n>\\n'")
            numbers.append(int(m.group(2)))
        count = server.count
        with server._nl_cond:
            violations = list(server._nl_violations)
    repeated = sorted({n for n in numbers if numbers.count(n) > 1})
    if repeated or count != visitors or sorted(numbers) != list(range(1, visitors + 1)):
        fail(f"{visitors} visitors came at the same time. They got the numbers "
             f"{sorted(numbers)}"
             f"{' (repeated: ' + ', '.join(map(str, repeated)) + ')' if repeated else ''}, "
             f"and server.count ended at {count} instead of {visitors}. Two handler threads read "
             f"the same old count, both add 1, both write it back: one visitor is lost. Do the "
             f"read, the +1 and the read of your number inside one `with self.server.lock:` "
             f"block")
    if violations:
        reads = violations.count("read")
        changes = violations.count("changed")
        parts = []
        if changes:
            parts.append(f"changed server.count {changes} time(s)")
        if reads:
            parts.append(f"read server.count {reads} time(s)")
        fail(f"the numbers came out right this time, but your handler threads "
             f"{' and '.join(parts)} without holding server.lock. Another thread can change "
             f"count between your read and your write (or between your update and the read of "
             f"your number); it happens rarely, which is why it is hard to see. Put every use of "
             f"self.server.count inside `with self.server.lock:`")
