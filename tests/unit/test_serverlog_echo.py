"""ServerLog's echo: what command-line servers show in their terminal, one whole line per
record, at once on a terminal, in batches (at most ``echo_delay`` late) on a pipe or file."""

import io
import os
import threading
import time

import pytest

from netlesson.serverlog import ServerLog

PEER = ("127.0.0.1", 5000)


@pytest.fixture
def pipe():
    """(a buffered text stream writing into a pipe, a function returning what arrived so
    far); a thread reads the pipe all along, as a terminal or ``tee`` would."""
    read_fd, write_fd = os.pipe()
    writer = open(write_fd, "w", encoding="utf-8")  # buffered, not a terminal
    received = []

    def read():
        while chunk := os.read(read_fd, 1 << 16):
            received.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    yield writer, lambda: b"".join(received).decode()
    writer.close()  # end of file for the reader
    reader.join(5)
    os.close(read_fd)


def _wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_an_in_memory_stream_gets_each_line_at_once():
    terminal = io.StringIO()
    log = ServerLog(echo=terminal)
    log.record("connected", PEER)
    assert terminal.getvalue() == "connected: 127.0.0.1:5000\n"


def test_a_pipe_gets_the_lines_soon_in_one_batch(pipe):
    writer, arrived = pipe
    log = ServerLog(echo=writer)
    log.record("connected", PEER)
    log.record("received", PEER, data=b"hi")
    assert _wait_for(lambda: arrived().count("\n") == 2, timeout=10 * log.echo_delay + 2)
    assert arrived() == "connected: 127.0.0.1:5000\nreceived b'hi' from 127.0.0.1:5000\n"


def test_flush_echo_writes_what_is_waiting_now(pipe):
    writer, arrived = pipe
    log = ServerLog(echo=writer)
    log.echo_delay = 30  # the timer would be far too late
    log("a note")
    log.flush_echo()
    assert _wait_for(lambda: arrived() == "a note\n", timeout=5)


def test_a_reader_that_falls_behind_makes_writers_wait_instead_of_piling_up(pipe):
    writer, arrived = pipe
    log = ServerLog(echo=writer)
    log.echo_delay, log.echo_backlog = 30, 10
    for i in range(25):
        log(f"line {i}")
    # written by the writers themselves, not by the timer 30 s from now
    assert _wait_for(lambda: arrived().count("\n") >= 11, timeout=5)
    log.flush_echo()
    assert _wait_for(lambda: arrived() == "".join(f"line {i}\n" for i in range(25)), timeout=5)


def test_many_threads_never_merge_or_lose_lines(pipe):
    writer, arrived = pipe
    log = ServerLog(50, echo=writer)
    threads, each = 16, 200

    def write(i):
        for m in range(each):
            log.record("received", (f"10.0.0.{i}", 4000 + i), data=b"m%d" % m)

    workers = [threading.Thread(target=write, args=(i,)) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(30)
    log.flush_echo()
    assert _wait_for(lambda: arrived().count("\n") == threads * each, timeout=10)
    lines = arrived().split("\n")
    assert lines.pop() == ""
    assert len(lines) == threads * each
    for i in range(threads):  # each thread's lines whole and in its own order
        mine = [line for line in lines if line.endswith(f" from 10.0.0.{i}:{4000 + i}")]
        assert mine == [f"received b'm{m}' from 10.0.0.{i}:{4000 + i}" for m in range(each)]
    # the log itself: numbered in order, the newest kept, none lost from the count
    entries = log.select()
    assert [e.seq for e in entries] == sorted(e.seq for e in entries)
    assert log.last_seq == threads * each and len(log) == 50
    assert log.dropped == threads * each - 50


def test_a_closed_echo_stream_never_stops_the_log():
    stream = io.StringIO()
    log = ServerLog(echo=stream)
    stream.close()
    log.record("connected", PEER)
    log.flush_echo()
    assert log.lines() == ["connected: 127.0.0.1:5000"]


def test_flushing_by_hand_leaves_no_timer_thread_behind(pipe):
    writer, arrived = pipe
    log = ServerLog(echo=writer)
    log.echo_delay = 30
    log("soon")
    log.flush_echo()
    assert _wait_for(lambda: not any(t.name == "netlesson-echo-flush" and t.is_alive()
                                     for t in threading.enumerate()), timeout=5)


def _flush_timers(log):
    return [t for t in log._timers if t.is_alive()]


def test_close_echo_writes_what_waits_and_returns_with_no_timer_thread_running(pipe):
    """Before exit: every record on the stream and every timer thread ended, even timers
    two writers started at once (each appends, both may see the flag unset)."""
    writer, arrived = pipe
    log = ServerLog(echo=writer)
    log.echo_delay = 30  # the timers would still be waiting for half a minute
    log("first")
    log._schedule_flush()  # a second writer's timer, as when two see the flag unset at once
    log._schedule_flush()
    assert len(_flush_timers(log)) == 3
    assert log.close_echo(timeout=5) is True
    assert _flush_timers(log) == []
    assert _wait_for(lambda: arrived() == "first\n", timeout=5)


def test_ended_timers_are_forgotten_so_a_long_running_server_keeps_few(pipe):
    writer, arrived = pipe
    log = ServerLog(echo=writer)
    log.echo_delay = 0.001
    for i in range(50):  # each batch is written by a timer of its own
        log(f"line {i}")
        assert _wait_for(lambda: arrived().count("\n") == i + 1, timeout=5)
    assert _wait_for(lambda: not _flush_timers(log), timeout=5)
    log.flush_echo()  # prunes the ones that ended
    assert len(log._timers) <= 1
    assert log.close_echo(timeout=5) is True


def test_close_echo_called_by_a_timer_thread_does_not_wait_for_itself(pipe):
    writer, arrived = pipe
    results = []

    class ClosedByItsTimer(ServerLog):
        def flush_echo(self):  # what the timer thread runs
            super().flush_echo()
            if threading.current_thread().name == "netlesson-echo-flush" and not results:
                results.append(None)
                results.append(self.close_echo(timeout=5))

    log = ClosedByItsTimer(echo=writer)
    log.echo_delay = 0.01
    log("from a timer")
    assert _wait_for(lambda: results == [None, True], timeout=5)
    assert _wait_for(lambda: arrived() == "from a timer\n", timeout=5)


def test_a_timer_appended_but_not_yet_started_is_neither_forgotten_nor_a_crash(pipe):
    """A writer appends its timer just before ``start()``: ``flush_echo`` in another
    thread must not drop it as ended, and ``close_echo`` must not fail on it."""
    writer, arrived = pipe
    log = ServerLog(echo=writer)
    unstarted = threading.Timer(30, lambda: None)
    log._timers.append(unstarted)  # as _schedule_flush leaves it for a moment
    log("x")
    log.flush_echo()
    assert unstarted in log._timers
    assert log.close_echo(timeout=5) is True
    assert _wait_for(lambda: arrived() == "x\n", timeout=5)
