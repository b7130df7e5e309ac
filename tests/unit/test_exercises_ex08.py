"""Exercise 8 (a single-threaded echo server on ``selectors``): the checkers accept the
solution and explain typical mistakes.

The wrong answers below are mistakes students really make; every test asserts
that the checker says *why* it is wrong, not merely that it fails.
"""

from __future__ import annotations

import re
import selectors
import socket
import struct
import threading
import time

import nbformat
import pytest
from exercise_solutions import EXERCISES, failure, load_solution, no_check_threads_left

from netlesson import exercises


@pytest.fixture(scope="module")
def ex08():
    return load_solution("ex08_selectors_echo")


def test_selectors_checkers_accept_the_notebook_solution(ex08):
    before = threading.active_count()
    exercises.check_selectors_echo(ex08["serve"])
    exercises.check_selectors_echo_robust(ex08["serve"])
    assert no_check_threads_left("netlesson-check-call-serve")
    assert threading.active_count() <= before


def _loop(listener, stop, on_readable):
    """A selector loop over *listener* whose connections are handled by *on_readable(sel, conn)*."""
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    try:
        while not stop.is_set():
            for key, _ in sel.select(timeout=0.05):
                if key.fileobj is listener:
                    conn, _ = listener.accept()
                    conn.setblocking(False)
                    sel.register(conn, selectors.EVENT_READ, "conn")
                else:
                    on_readable(sel, key.fileobj)
    finally:
        for key in list(sel.get_map().values()):
            if key.data is not None:
                key.fileobj.close()
        sel.close()


def one_at_a_time(listener, stop):
    """Accepts a client and stays with it until it leaves: 07's single-threaded server."""
    listener.setblocking(True)
    listener.settimeout(0.1)
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        with conn:
            conn.settimeout(0.1)
            while not stop.is_set():
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    continue
                if not data:
                    break
                conn.sendall(data.upper())


def test_a_loop_that_serves_one_client_at_a_time_is_explained(ex08):
    message = failure(exercises.check_selectors_echo, one_at_a_time)
    assert "Client 0 was answered, client 1 got nothing" in message
    assert "serves one client at a time" in message


def test_a_thread_per_connection_is_not_a_single_threaded_server(ex08):
    def threaded(listener, stop):
        def echo(conn):
            with conn:
                conn.setblocking(True)
                conn.settimeout(0.5)
                try:
                    while data := conn.recv(4096):
                        conn.sendall(data.upper())
                except OSError:
                    pass

        def on_readable(sel, conn):
            sel.unregister(conn)
            threading.Thread(target=echo, args=(conn,), daemon=True).start()
        _loop(listener, stop, on_readable)

    message = failure(exercises.check_selectors_echo, threaded)
    assert re.search(r"your server started \d+ threads? \(", message), message
    assert "Do not start threads" in message


def _echo_with(send):
    def on_readable(sel, conn):
        try:
            data = conn.recv(4096)
        except ConnectionError:
            data = b""
        if not data:
            sel.unregister(conn)
            conn.close()
            return
        send(conn, data.upper())

    def serve(listener, stop):
        _loop(listener, stop, on_readable)
    return serve


def test_sendall_on_a_nonblocking_socket_is_explained(ex08):
    exercises.check_selectors_echo(_echo_with(lambda conn, data: conn.sendall(data)))
    message = failure(exercises.check_selectors_echo_robust,
                      _echo_with(lambda conn, data: conn.sendall(data)))
    # sendall() on a non-blocking socket raises BlockingIOError once the buffer is full
    assert "raised BlockingIOError" in message, message
    assert "while a client sent 1 MiB" in message, message
    assert "send() may take only part" in message, message


def _send_and_forget(conn, data):
    try:
        conn.send(data)  # what did not fit is dropped
    except (BlockingIOError, ConnectionResetError):
        # the mistake under test is the dropped rest; a client that gave up waiting for
        # it and reset must not turn it into a different failure (seen on 3.13 in CI)
        pass


def test_send_that_raises_when_the_buffer_is_full_is_explained(ex08):
    message = failure(exercises.check_selectors_echo_robust,
                      _echo_with(lambda conn, data: conn.send(data)))
    assert "raised BlockingIOError" in message, message
    assert "while a client sent 1 MiB" in message, message
    assert "send() may take only part" in message, message


def test_send_that_ignores_what_was_sent_loses_the_rest(ex08):
    message = failure(exercises.check_selectors_echo_robust, _echo_with(_send_and_forget))
    assert "while reading the echo, and got" in message, message
    assert "Keep the unsent rest in a per-connection buffer" in message, message


def _slowly(send, seconds=0.002):
    """*send*, after a pause: a server that a loaded machine runs slower than its client."""
    def slow_send(conn, data):
        time.sleep(seconds)
        send(conn, data)
    return slow_send


@pytest.mark.parametrize("send, symptom", [
    (lambda conn, data: conn.send(data), "raised BlockingIOError"),
    (_send_and_forget, "while reading the echo, and got"),
], ids=["send-raises", "send-forgets"])
def test_lost_echo_is_found_by_the_1_mib_client_however_slow_the_server(ex08, send, symptom):
    # A client that read the echo as fast as it came never let the server's send buffer
    # fill: a server slower than its client passed the 1 MiB exchange, and the mistake
    # surfaced later, as another symptom (BlockingIOError with the slow reader, a reset...).
    message = failure(exercises.check_selectors_echo_robust, _echo_with(_slowly(send)))
    assert symptom in message, message
    assert "while a client sent 1 MiB" in message or "of 1 MiB) while reading" in message, message


def test_a_serve_that_ends_slowly_is_reported_by_its_exception_not_by_the_close(ex08):
    # serve's finally closes its connections before its thread has recorded the
    # exception; on a loaded machine the client sees the close first.
    def ends_slowly(listener, stop):
        try:
            _echo_with(lambda conn, data: conn.sendall(data))(listener, stop)
        finally:
            time.sleep(0.3)  # its connections are closed; the exception is on its way

    message = failure(exercises.check_selectors_echo_robust, ends_slowly)
    assert "raised BlockingIOError" in message, message
    assert "while a client sent 1 MiB" in message, message


def test_a_blocking_sendall_that_stalls_everyone_is_explained(ex08):
    def blocking_sendall(conn, data):
        conn.setblocking(True)
        conn.settimeout(5.0)
        try:
            conn.sendall(data)
        except OSError:
            pass
        conn.setblocking(False)

    t0 = time.monotonic()
    message = failure(exercises.check_selectors_echo_robust, _echo_with(blocking_sendall))
    assert time.monotonic() - t0 < 10
    assert "another client sent b'ping\\n' and got nothing" in message
    assert "Never block in the loop" in message
    assert no_check_threads_left("netlesson-check-call-serve", timeout=6.0)


def test_a_connection_left_open_at_its_end_is_explained(ex08):
    def on_readable(sel, conn):
        data = conn.recv(4096)
        if not data:
            sel.unregister(conn)  # forgot conn.close(): the client never sees the end
            forgotten.append(conn)
            return
        conn.send(data.upper())

    forgotten = []
    try:
        message = failure(exercises.check_selectors_echo,
                          lambda listener, stop: _loop(listener, stop, on_readable))
    finally:
        for conn in forgotten:
            conn.close()
    assert "after a client finished sending, client 0's connection was not closed" in message
    assert "sel.unregister(conn) and conn.close()" in message


def solution_variant(old: str, new: str):
    """The notebook's own serve(), with one piece of its source changed."""
    nb = nbformat.read(EXERCISES / "ex08_selectors_echo.ipynb", as_version=4)
    source = next(c.source for c in nb.cells
                  if c.metadata.get("nbgrader", {}).get("grade_id") == "ex08-solution")
    assert old in source
    namespace = {"selectors": selectors}
    exec(compile(source.replace(old, new), "<variant>", "exec"), namespace)
    return namespace["serve"]


def test_a_reset_that_is_not_caught_is_reported_with_its_line(ex08):
    serve = solution_variant("except ConnectionError:\n                        data = b\"\"",
                             "except BlockingIOError:\n                        data = b\"\"")
    message = failure(exercises.check_selectors_echo_robust, serve)
    assert "raised ConnectionResetError" in message
    assert "(<variant>, line " in message  # where the student's code raised it
    assert "catch ConnectionError" in message


@pytest.mark.timeout(30)
def test_a_loop_that_ignores_stop_is_reported_not_waited_for(ex08):
    release = threading.Event()

    def ignores_stop(listener, stop):
        sel = selectors.DefaultSelector()
        sel.register(listener, selectors.EVENT_READ)
        while not release.is_set():  # never looks at stop
            for key, _ in sel.select(timeout=0.05):
                if key.fileobj is listener:
                    conn, _ = listener.accept()
                    conn.setblocking(False)
                    sel.register(conn, selectors.EVENT_READ, "conn")
                else:
                    data = key.fileobj.recv(4096)
                    if data:
                        key.fileobj.send(data.upper())
                    else:
                        sel.unregister(key.fileobj)
                        key.fileobj.close()
        sel.close()

    t0 = time.monotonic()
    try:
        message = failure(exercises.check_selectors_echo, ignores_stop, clients=3, rounds=1)
        took = time.monotonic() - t0
    finally:
        release.set()
    assert took < 5.0
    assert "did not return within 1 s after the check set stop" in message
    assert "while not release.is_set()" in message or "sel.select(timeout=0.05)" in message
    assert no_check_threads_left("netlesson-check-call-ignores_stop")


class StrayClient:
    """Another program on the host that connects to 127.0.0.1 at a port it remembers.

    A JupyterHub's proxy does this to the port of a user's notebook server that has
    stopped; when an ex08 check's listener got that port, the stray's request and its
    reset reached the student's loop (a listener opened beside a hub load test here
    received ``GET /user/.../api``).  Its thread starts before the check, so the check
    does not count it as one the student's loop started.
    """

    def __init__(self):
        self.port = None
        self.tries = 0
        self.reached = 0
        self.aimed = threading.Event()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._hammer, daemon=True)
        self.thread.start()

    def _hammer(self) -> None:
        self.aimed.wait(10)
        while not self.done.is_set() and self.port is not None:
            self.tries += 1
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=0.5)
            except OSError:
                time.sleep(0.01)
                continue
            self.reached += 1
            with s:
                s.sendall(b"GET /user/someone/api HTTP/1.1\r\n\r\n")
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def aim(self, port: int) -> None:
        self.port = port
        self.aimed.set()

    def stop(self) -> None:
        self.done.set()
        self.aimed.set()
        self.thread.join(2.0)


def test_a_stray_client_of_127_0_0_1_cannot_reach_the_students_loop(ex08):
    try:
        socket.create_server(("127.9.8.7", 0)).close()
    except OSError:
        pytest.skip("only 127.0.0.1 is loopback here")

    def on_readable(sel, conn):
        data = conn.recv(4096)  # no except: part 1 does not ask for resets yet
        if data:
            conn.send(data.upper())
        else:
            sel.unregister(conn)
            conn.close()

    stray = StrayClient()

    def serve(listener, stop):
        stray.aim(listener.getsockname()[1])
        deadline = time.monotonic() + 2.0
        while stray.tries < 3 and time.monotonic() < deadline:  # it has tried a few times
            time.sleep(0.01)
        _loop(listener, stop, on_readable)

    try:
        exercises.check_selectors_echo(serve)
    finally:
        stray.stop()
    assert stray.tries >= 3
    assert stray.reached == 0


def test_the_released_stub_is_explained(ex08):
    def serve(listener, stop):
        # YOUR CODE HERE
        raise NotImplementedError()

    message = failure(exercises.check_selectors_echo, serve)
    assert "serve(listener, stop) raised NotImplementedError" in message
    assert no_check_threads_left("netlesson-check-call-serve")


def test_a_serve_with_the_wrong_signature_is_explained():
    def serve(listener):
        pass

    assert "serve should accept (listener, stop)" in failure(exercises.check_selectors_echo, serve)


def test_prints_from_the_loop_are_held_back_and_quoted(ex08, capsys):
    def chatty(listener, stop):
        print("serving now")
        raise RuntimeError("oops")

    message = failure(exercises.check_selectors_echo, chatty)
    assert "raised RuntimeError: oops" in message
    assert "Your code printed from another thread" in message and "serving now" in message
    assert "serving now" not in capsys.readouterr().out
