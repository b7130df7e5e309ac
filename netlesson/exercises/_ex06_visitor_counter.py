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

from ..i18n import N_, checkers
from ._harness import (YOUR_HANDLER_CLASS, YOUR_SERVER_CLASS, checked_class, checker, fail,
                       fail_if_server_error, make_check_server, require_class, serving)
from ._wire import REPLY_TIMEOUT, connect, read_lines

_ = checkers.gettext
ngettext = checkers.ngettext

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


def _watched_server_class(server_class, watcher):
    """*server_class* under watch: *watcher* (a mixin) in front of :func:`checked_class` of it.

    The class keeps the student's class name; its module is the watcher's.
    """
    class Watched(watcher, checked_class(server_class)):
        pass

    Watched.__name__ = Watched.__qualname__ = server_class.__name__
    Watched.__module__ = watcher.__module__
    return Watched


class _CountWatcher:
    """Notes each use of ``server.count`` by a handler thread not holding ``server.lock``."""

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


def _visitor_server(server_class, handler_class):
    __tracebackhide__ = True  # noqa: F841
    require_class(server_class, socketserver.TCPServer, YOUR_SERVER_CLASS)
    require_class(handler_class, socketserver.BaseRequestHandler, YOUR_HANDLER_CLASS)
    server = make_check_server(_watched_server_class(server_class, _CountWatcher), handler_class,
                               server_class.__name__)
    object.__setattr__(server, "_nl_violations", [])
    if not hasattr(server, "count"):
        server.server_close()
        fail(_("{name} has no count attribute: set self.count = 0 in __init__ (after calling "
               "super().__init__(...))").format(name=server_class.__name__))
    if server.count != 0:
        server.server_close()
        fail(_("a new {name} should start with count == 0, it has {value}").format(
            name=server_class.__name__, value=repr(server.count)))
    lock = server.__dict__.get("lock", getattr(server, "lock", None))
    if lock is None or not (hasattr(lock, "acquire") and hasattr(lock, "__enter__")):
        server.server_close()
        fail(_("{name} has no lock: set self.lock = threading.Lock() in __init__, so every "
               "handler thread uses the same one").format(name=server_class.__name__))
    object.__setattr__(server, "lock", _WatchedLock(lock))
    return server


#: what :func:`_visit` says when no reply came (translated where compared and shown)
NO_REPLY = N_("no reply")


def _visit(address, name: str) -> tuple[str | None, str]:
    """Send *name*; ``(the greeting line or None, how the visit went -- translated)``."""
    try:
        with connect(address, timeout=3.0) as sock:
            sock.sendall(name.encode("utf-8") + b"\n")
            pending = bytearray()
            lines, closed = read_lines(sock, 1, pending, timeout=3.0)
    except OSError as exc:
        return None, _("connection failed: {error}").format(error=exc)
    if lines:
        try:
            return lines[0].decode("utf-8"), "ok"
        except UnicodeDecodeError:
            return None, _("reply {reply} is not UTF-8").format(reply=repr(lines[0]))
    if pending:
        return None, _("the reply {reply} does not end with '\\n'").format(
            reply=repr(bytes(pending)))
    return None, _("the connection was closed without a reply") if closed else _(NO_REPLY)


_GREETING = re.compile(r"^hello (.*), you are visitor #(\d+)\n\Z", re.S)


@checker
def check_visitor_greeting(server_class, handler_class) -> None:
    """Exercise 6, part 1: one visitor after another, each greeted with its number."""
    __tracebackhide__ = True  # noqa: F841
    server = _visitor_server(server_class, handler_class)
    with serving(server):
        for number, name in enumerate(["alice", "bob", "小明"], start=1):
            line, how = _visit(server.server_address, name)
            fail_if_server_error(server, _("while greeting {name}").format(name=repr(name)))
            want = f"hello {name}, you are visitor #{number}\n"
            if line != want:
                got = repr(line) if line is not None else how
                hint = None
                m = _GREETING.match(line or "")
                if line is None and how == _(NO_REPLY):
                    hint = _("read the name with self.rfile.readline(), then write the greeting "
                             "with self.wfile.write(...) -- encoded, ending in '\\n'")
                elif line is not None and line.startswith(f"hello {name}") and "#" not in line:
                    hint = _("the name still ends with its line ending, which splits the "
                             "greeting in two. Strip it (self.rfile.readline().strip()) and "
                             "decode it")
                elif m and m.group(1) != name:
                    hint = _("strip the line ending from the name and decode it "
                             "(line.strip().decode('utf-8'))")
                elif m:
                    hint = _("the first visitor is #1, and each visitor adds one (server.count "
                             "counts every visitor)")
                if hint:
                    fail(_("visitor {number} sent {name} and should read {want}, got {got}: "
                           "{hint}").format(number=number, name=repr(name), want=repr(want),
                                            got=got, hint=hint))
                fail(_("visitor {number} sent {name} and should read {want}, got {got}").format(
                    number=number, name=repr(name), want=repr(want), got=got))
        if not server._nl_wait(lambda s: s._nl_handled >= 3, REPLY_TIMEOUT):
            fail(_("after answering, the handler should return (one greeting per connection)"))
        if server.count != 3:
            fail(_("after 3 visitors server.count is {value}, expected 3").format(
                value=repr(server.count)))


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
        fail_if_server_error(server, _("while {visitors} visitors came at once").format(
            visitors=visitors))
        server._nl_wait(lambda s: s._nl_handled >= visitors, REPLY_TIMEOUT)
        numbers = []
        for i in range(visitors):
            line, how = results.get(i, (None, _("no reply within 10 s")))
            m = _GREETING.match(line or "")
            if m is None:
                shown = repr(line) if line else how
                fail(_("{visitors} visitors came at once; visitor {name} got {got}: each must "
                       "get 'hello <name>, you are visitor #<n>\\n'").format(
                           visitors=visitors, name=f"'guest{i}'", got=shown))
            numbers.append(int(m.group(2)))
        count = server.count
        with server._nl_cond:
            violations = list(server._nl_violations)
    repeated = sorted({n for n in numbers if numbers.count(n) > 1})
    if repeated or count != visitors or sorted(numbers) != list(range(1, visitors + 1)):
        why = _("Two handler threads read the same old count, both add 1, both write it back: "
                "one visitor is lost. Do the read, the +1 and the read of your number inside one "
                "`with self.server.lock:` block")
        if repeated:
            fail(_("{visitors} visitors came at the same time. They got the numbers {numbers} "
                   "(repeated: {repeated}), and server.count ended at {count} instead of "
                   "{visitors}. {why}").format(
                       visitors=visitors, numbers=sorted(numbers),
                       repeated=", ".join(map(str, repeated)), count=count, why=why))
        fail(_("{visitors} visitors came at the same time. They got the numbers {numbers}, and "
               "server.count ended at {count} instead of {visitors}. {why}").format(
                   visitors=visitors, numbers=sorted(numbers), count=count, why=why))
    if violations:
        fail(_("the numbers came out right this time, but your handler threads {uses} without "
               "holding server.lock. Another thread can change count between your read and your "
               "write (or between your update and the read of your number); it happens rarely, "
               "which is why it is hard to see. Put every use of self.server.count inside "
               "`with self.server.lock:`").format(uses=_uses(violations, "server.count")))


def _uses(violations: list[str], what: str) -> str:
    """``'changed server.count 2 times and read server.count 5 times'`` (translated)."""
    reads, changes = violations.count("read"), violations.count("changed")
    if changes and reads:
        return _("changed {what} {changes} time(s) and read {what} {reads} time(s)").format(
            what=what, changes=changes, reads=reads)
    if changes:
        return ngettext("changed {what} {changes} time", "changed {what} {changes} times",
                        changes).format(what=what, changes=changes)
    return ngettext("read {what} {reads} time", "read {what} {reads} times", reads).format(
        what=what, reads=reads)
