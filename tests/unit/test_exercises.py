"""The checkers' shared machinery, and the exercise notebooks' test cells.

Each exercise's checkers have their own file (``test_exercises_ex01.py`` ...);
here is what they all rely on: a student's ``__init__`` that raises, hangs or
serves is reported and cleaned up; a deadline leaves the student's keywords
alone; an exception is placed in the student's code, never in a path of this
machine; and every graded cell of a notebook calls a public checker.
"""

from __future__ import annotations

import linecache
import os
import socket
import socketserver
import tempfile
import threading

import nbformat
import pytest
from exercise_solutions import EXERCISES, failure, load_solution, no_check_threads_left

from netlesson import background, exercises
from netlesson.exercises import _harness


@pytest.fixture(scope="module")
def ex05():
    return load_solution("ex05_allow_list")


@pytest.fixture(scope="module")
def ex06():
    return load_solution("ex06_visitor_counter")


# ---------------------------------------------------------------------------
# building the student's server
# ---------------------------------------------------------------------------
def test_a_server_whose_init_raises_has_its_socket_closed(ex06):
    made = []

    class StubServer(socketserver.ThreadingTCPServer):
        def __init__(self, server_address, handler):
            super().__init__(server_address, handler)
            made.append(self)
            raise NotImplementedError()

    failure(exercises.check_visitor_greeting, StubServer, ex06["VisitorHandler"])
    assert len(made) == 1
    assert made[0].socket.fileno() == -1, "the half-built server's listening socket was left open"


class ServesInInit(socketserver.ThreadingTCPServer):
    """Starts serving inside its constructor: the cell that creates it never finishes."""

    def __init__(self, server_address, handler):
        super().__init__(server_address, handler)
        self.count = 0
        self.lock = threading.Lock()
        self.serve_forever()


@pytest.mark.timeout(30)
def test_a_server_that_serves_forever_in_its_init_is_reported_not_waited_for(ex06):
    message = failure(exercises.check_visitor_greeting, ServesInInit, ex06["VisitorHandler"])
    assert "could not create the server for ServesInInit: your __init__ did not return " \
           "within 3 s (test_exercises.py, line" in message
    assert "self.serve_forever()" in message and "start it from outside" in message
    # the checker shut the server down: __init__ returns, its worker thread ends
    assert no_check_threads_left("netlesson-check-call")


@pytest.mark.timeout(30)
def test_a_server_whose_init_waits_is_reported_with_the_waiting_line(ex05):
    release = threading.Event()

    class WaitsInInit(ex05["AllowListServer"]):
        def __init__(self, server_address, handler):
            super().__init__(server_address, handler)
            release.wait()  # waits for something that never happens

    try:
        message = failure(exercises.check_verify_request, WaitsInInit)
    finally:
        release.set()
    assert "could not create the server for WaitsInInit: your __init__ did not return " \
           "within 3 s" in message
    assert "release.wait()" in message and "serve_forever() blocks" not in message


def test_a_check_serves_with_the_launcher_and_leaves_the_students_servers_alone(tcp_server):
    ex01 = load_solution("ex01_line_echo")
    seen = []

    class Watching(ex01["LineUpperHandler"]):
        def handle(self):
            serving = [t.name for t in threading.enumerate()
                       if t.name.startswith("netlesson-check-serve-")]
            seen.append((serving, background.running()))
            super().handle()

    exercises.check_line_handler(Watching)
    assert seen
    for serving, registered in seen:
        assert serving  # the launcher's serving thread runs the check's server...
        assert registered == [tcp_server]  # ...which stays out of the student's registry
    assert background.running() == [tcp_server]
    assert no_check_threads_left()  # the check's server is stopped


# ---------------------------------------------------------------------------
# running the student's code, and naming its line
# ---------------------------------------------------------------------------
def test_the_deadline_helper_passes_timeout_on_to_the_students_function():
    def wants_timeout(address, *, timeout):
        return (address, timeout)

    call = _harness.call_with_deadline(wants_timeout, "here", timeout=7, deadline=2.0)
    assert call.error is None and call.value == ("here", 7) and not call.hung


def raise_in_file(filename: str) -> str:
    """Raise an error from code that *filename* claims to hold; what the checkers say of it."""
    source = "def f():\n    raise ValueError('bad')\n"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict = {}
    exec(compile(source, filename, "exec"), namespace)
    try:
        namespace["f"]()
    except ValueError as exc:
        return _harness.describe_exception(exc)
    finally:
        linecache.cache.pop(filename, None)
    raise AssertionError("f() did not raise")


def test_an_error_in_a_notebook_cell_is_placed_in_the_cell():
    # ipykernel compiles each cell to a file in a directory named ipykernel_<pid>
    shown = raise_in_file(os.path.join(tempfile.gettempdir(), "ipykernel_4242", "2718281828.py"))
    assert shown == "ValueError: bad (line 2 of your cell: raise ValueError('bad'))"


def test_an_error_inside_ipykernel_itself_is_not_called_your_cell():
    import ipykernel

    shown = raise_in_file(os.path.join(os.path.dirname(ipykernel.__file__), "kernel_helper.py"))
    assert shown == "ValueError: bad (ipykernel/kernel_helper.py, line 2: raise ValueError('bad'))"


def test_an_error_in_a_library_module_names_its_package():
    from netlesson import framing

    a, b = socket.socketpair()
    with a, b:
        a.settimeout(2.0)
        b.settimeout(2.0)
        a.close()
        with pytest.raises(EOFError) as info:
            framing.recvall(b, 4)
    assert "(netlesson/framing.py, line " in _harness.describe_exception(info.value)


# ---------------------------------------------------------------------------
# the notebooks themselves
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", sorted(EXERCISES.glob("*.ipynb")), ids=lambda p: p.stem)
def test_every_test_cell_calls_a_checker_and_every_answer_has_a_solution(path):
    nb = nbformat.read(path, as_version=4)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    answers = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert tests and answers
    for cell in tests:
        meta = cell.metadata["nbgrader"]
        assert meta["locked"] and not meta["solution"] and meta["points"] > 0
        called = cell.source.strip().split("(")[0]
        assert called.startswith("exercises.check_") and hasattr(exercises, called.split(".")[1])
    for cell in answers:
        assert not cell.metadata["nbgrader"]["locked"]
        assert cell.source.count("### BEGIN SOLUTION") == cell.source.count("### END SOLUTION") >= 1


def test_what_handler_threads_print_during_a_check_is_kept_bounded():
    """A handler printing in a tight loop must not grow memory: the first lines, then a count."""
    def chatty():
        for i in range(100_000):
            print(f"line {i}")

    with _harness.route_thread_output() as captured:
        thread = threading.Thread(target=chatty)
        thread.start()
        thread.join(30)
    assert captured.lines == [f"line {i}" for i in range(6)]
    assert captured.more == 100_000 - 6
    assert captured.note().startswith(
        "\n\nYour code printed from another thread (the first 6 of 100000 lines):\n    line 0\n")
