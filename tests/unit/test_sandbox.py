"""The grader's sandbox (netlesson.grading._sandbox), tested for real: bwrap runs.

The bwrap tests are skipped, with the reason, when this machine cannot start a
sandbox -- unless NETLESSON_REQUIRE_SANDBOX=1 (CI sets it), then they fail.
Every program here is short-lived or killed by the limits under test; the tests
that leave processes behind on purpose mark them and check from the host that
none survived.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

import netlesson
from netlesson.grading import _sandbox
from netlesson.grading._sandbox import Limits, SandboxUnavailable, run, sandbox_problem

pytestmark = pytest.mark.timeout(60)

FAST = Limits(wall_seconds=20, cpu_seconds=10)
PROJECT = Path(netlesson.__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sandbox():
    problem = sandbox_problem()
    if problem is not None:
        if os.environ.get("NETLESSON_REQUIRE_SANDBOX") == "1":
            pytest.fail(f"NETLESSON_REQUIRE_SANDBOX=1 but: {problem}")
        pytest.skip(f"no bwrap sandbox on this machine: {problem}")


def py(code: str, *args: str, inputs=None, limits=FAST, sandboxed=True, stdin=b""):
    return run(["python", "-c", code, *args], inputs=inputs or {}, limits=limits,
               stdin=stdin, sandboxed=sandboxed)


def marked() -> str:
    return f"netlesson-sandbox-test-{uuid.uuid4().hex}"


def survivors(marker: str) -> list[int]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if marker in " ".join(proc.info["cmdline"] or ()):
            found.append(proc.pid)
    return found


def kill_marked(marker: str) -> None:
    for pid in survivors(marker):
        try:
            os.kill(pid, 9)
        except OSError:
            pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- files ---------------------------------------------------------------------

def test_imports_netlesson_reads_inputs_cannot_change_them(sandbox):
    code = r"""
import json, os, netlesson
out = {"text": open("answer.txt").read(), "sub": open("data/x.bin", "rb").read().hex(),
       "cwd": os.getcwd(), "uid": os.getuid(), "file": netlesson.__file__}
for what, action in [("write", lambda: open("answer.txt", "w")),
                     ("remove", lambda: os.remove("answer.txt")),
                     ("create", lambda: open("new.txt", "w")),
                     ("chmod", lambda: os.chmod("answer.txt", 0o666))]:
    try:
        action()
        out[what] = "allowed"
    except OSError as exc:
        out[what] = type(exc).__name__
with open("/tmp/scratch", "w") as f:
    f.write("tmp is writable")
out["tmp"] = open("/tmp/scratch").read()
out["home"] = os.environ["HOME"]
print(json.dumps(out))
"""
    o = py(code, inputs={"answer.txt": b"forty-two", "data/x.bin": b"\x00\xff"})
    assert o.returncode == 0, o.stderr
    out = json.loads(o.stdout)
    assert out["text"] == "forty-two" and out["sub"] == "00ff"
    assert out["cwd"] == "/grading" and out["uid"] != 0
    assert out["file"] == netlesson.__file__
    assert all(out[w] != "allowed" for w in ("write", "remove", "create", "chmod")), out
    assert out["tmp"] == "tmp is writable" and out["home"] == "/tmp"
    assert o.sandboxed and not o.output_cut and o.leftover_processes == []


def test_sees_only_the_package_of_the_checkout_and_nothing_of_home_root_tmp(sandbox):
    with tempfile.NamedTemporaryFile(dir="/tmp", prefix="netlesson-secret-") as secret:
        hidden = [str(PROJECT / name) for name in ("instructor", "notebooks", ".git", "README.md",
                                                   "Makefile", "tests")]
        hidden += [secret.name, "/home", "/root/.bashrc", "/root/.ssh", "/work/main/instructor"]
        if os.access("/root", os.R_OK):
            hidden += [f"/root/{n}" for n in os.listdir("/root") if n != ".pyenv"]
        code = ("import json, os, sys\n"
                "seen = [p for p in sys.argv[1:] if os.path.lexists(p)]\n"
                f"print(json.dumps({{'seen': seen, 'project': sorted(os.listdir({str(PROJECT)!r})),"
                " 'tmp': os.listdir('/tmp')}))\n")
        o = py(code, *hidden)
    assert o.returncode == 0, o.stderr
    out = json.loads(o.stdout)
    # the sandbox's /tmp is its own; only the way down to a bound directory shows there,
    # when the checkout or the interpreter itself lives under /tmp (a CI clone may)
    bound_under_tmp = {Path(p).resolve().relative_to("/tmp").parts[0]
                       for p in (PROJECT, sys.prefix, sys.base_prefix)
                       if Path(p).resolve().is_relative_to("/tmp")}
    assert out["seen"] == [] and set(out["tmp"]) <= bound_under_tmp, out
    allowed = {"netlesson"}
    for prefix in (sys.prefix, sys.base_prefix):
        if Path(prefix).resolve().is_relative_to(PROJECT):
            allowed.add(Path(prefix).resolve().relative_to(PROJECT).parts[0])
    assert set(out["project"]) <= allowed, out["project"]


def test_environment_is_cleared(sandbox, monkeypatch):
    monkeypatch.setenv("NETLESSON_TEST_SECRET", "must-not-leak")
    o = py("import json, os; print(json.dumps(dict(os.environ)))")
    env = json.loads(o.stdout)
    assert "NETLESSON_TEST_SECRET" not in env
    assert set(env) <= {"PATH", "HOME", "LANG", "NETLESSON_LANG", "PYTHONDONTWRITEBYTECODE",
                        "PYTHONUNBUFFERED", "PWD"}
    assert env["LANG"] == "C.UTF-8" and env["PYTHONUNBUFFERED"] == "1"


@pytest.mark.parametrize("value, passed", [("en_US.UTF-8", "en"), ("zh-Hans", "zh_CN"),
                                           ("", "zh_CN"), ("fr", "zh_CN")])
def test_the_graders_language_is_passed_in_canonical_form(sandbox, monkeypatch, value, passed):
    """The checkers' feedback inside a graded notebook speaks the language of the CSV."""
    monkeypatch.setenv("NETLESSON_LANG", value)
    o = py("import os; print(os.environ['NETLESSON_LANG'])")
    assert o.stdout.decode().strip() == passed


def test_stdin_and_result_channel(sandbox):
    o = py("import os, sys; data = sys.stdin.read(); print(data.upper());"
           " os.write(3, b'score=' + str(len(data)).encode())", stdin=b"hello")
    assert (o.returncode, o.stdout, o.result) == (0, b"HELLO\n", b"score=5")


# -- network -------------------------------------------------------------------

def test_cannot_reach_a_host_loopback_server(sandbox):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        o = py("import socket, sys\n"
               "try:\n    socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=3)\n"
               "    print('connected')\n"
               "except OSError as exc:\n    print(type(exc).__name__)\n", str(port))
    assert o.returncode == 0, o.stderr
    assert o.stdout.strip() == b"ConnectionRefusedError"


def test_loopback_inside_works_and_the_host_cannot_reach_it(sandbox):
    port = free_port()  # free on the host: nothing there may answer from outside
    code = r"""
import socket, sys, time
with socket.create_server(("127.0.0.1", int(sys.argv[1]))) as server:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3) as client:
        conn, _ = server.accept()
        client.sendall(b"ping")
        print(conn.recv(4).decode(), flush=True)
        conn.close()
    time.sleep(2.0)
"""
    refused, stop = [], threading.Event()

    def knock():
        while not stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    refused.append(False)
            except OSError:
                refused.append(True)
            time.sleep(0.05)

    knocker = threading.Thread(target=knock)
    knocker.start()
    try:
        o = py(code, str(port))
    finally:
        stop.set()
        knocker.join()
    assert o.returncode == 0, o.stderr
    assert o.stdout == b"ping\n"
    assert refused and all(refused)


# -- limits ----------------------------------------------------------------------

@pytest.mark.parametrize("code", ["while True: pass", "import time; time.sleep(1000)"])
def test_wall_timeout_kills_promptly(sandbox, code):
    marker = marked()
    o = py(code, marker, limits=Limits(wall_seconds=2))
    assert o.returncode is None and o.wall_timeout
    assert o.seconds < 4.5
    assert survivors(marker) == []


def test_cpu_limit(sandbox):
    o = py("while True: pass", limits=Limits(wall_seconds=20, cpu_seconds=1))
    assert o.cpu_exceeded and not o.wall_timeout
    assert o.returncode in (-24, -9)


MEMORY_HOG = r'''
import mmap
out = []
for make in (lambda: bytearray(600 << 20), lambda: [bytes(1 << 20) for _ in range(600)],
             lambda: mmap.mmap(-1, 2000 << 20)):
    try:
        block = make()
        out.append("allocated")
    except (MemoryError, OSError) as exc:
        out.append(type(exc).__name__)
    block = None
print(" ".join(out))
'''


@pytest.mark.parametrize("sandboxed", [True, False])
def test_memory_limit_gives_memory_error(request, sandboxed):
    if sandboxed:
        request.getfixturevalue("sandbox")
    o = py(MEMORY_HOG, limits=Limits(wall_seconds=20, memory_bytes=256 << 20), sandboxed=sandboxed)
    # a plain allocation, many small ones, and a shared mapping (only RLIMIT_AS sees those)
    assert o.stdout == b"MemoryError MemoryError OSError\n", o.stderr


def test_thirty_threads_run_under_the_default_memory_limit(sandbox):
    code = r"""
import threading, netlesson
results, all_alive = [], threading.Barrier(30)
def work(i):
    data = [bytes(1000) for _ in range(2000)]
    all_alive.wait(timeout=10)  # 30 threads alive at once, each with its malloc arena
    results.append(len(data))
threads = [threading.Thread(target=work, args=(i,)) for i in range(30)]
for t in threads: t.start()
for t in threads: t.join()
print(len(results))
"""
    o = py(code, limits=Limits(wall_seconds=20))
    assert o.returncode == 0 and o.stdout == b"30\n", o.stderr


def test_fork_bomb_is_contained_and_ends_with_the_wall_time(sandbox):
    marker = marked()
    code = r"""
import os
first, made, reported = os.getpid(), 0, False
while True:  # every process forks; only the first one counts and reports
    try:
        if os.fork() > 0:
            made += 1
    except OSError:
        if not reported and os.getpid() == first:
            os.write(3, str(made).encode())
            reported = True
"""
    try:
        o = py(code, marker, limits=Limits(wall_seconds=3, processes=16))
        assert o.seconds < 6
        assert o.result and int(o.result) <= 16, o.result
        assert survivors(marker) == []
    finally:
        kill_marked(marker)


def test_output_is_cut_without_filling_memory(sandbox):
    code = ("import sys\nblock = b'x' * (1 << 20)\n"
            "for _ in range(200):\n    sys.stdout.buffer.write(block)\n")
    o = py(code, limits=Limits(wall_seconds=30, output_bytes=1 << 20))
    assert o.returncode == 0 and o.output_cut
    assert len(o.stdout) == 1 << 20


def test_leftover_processes_are_reported_and_killed(sandbox):
    marker = marked()
    try:
        o = py(LEFTOVER, marker)
        assert o.returncode == 0, o.stderr
        assert any(marker in line and "1000" in line for line in o.leftover_processes), o
        assert survivors(marker) == []
    finally:
        kill_marked(marker)


LEFTOVER = r"""
import os, sys, time
ready_r, ready_w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.write(ready_w, b"x")
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(1000)", sys.argv[1]])
    os._exit(0)
os.read(ready_r, 1)
time.sleep(0.3)  # let the exec happen
print("leaving")
"""


# -- without the sandbox (the grader's --allow-unsandboxed) ----------------------

def test_unsandboxed_runs_with_inputs_and_a_cleared_environment(monkeypatch):
    monkeypatch.setenv("NETLESSON_TEST_SECRET", "must-not-leak")
    code = ("import json, os\nout = {'text': open('in.txt').read(), 'env': sorted(os.environ)}\n"
            "try:\n    open('in.txt', 'w')\n    out['write'] = 'allowed'\n"
            "except OSError as exc:\n    out['write'] = type(exc).__name__\n"
            "print(json.dumps(out)); os.write(3, b'ok')\n")
    o = py(code, inputs={"in.txt": b"abc"}, sandboxed=False)
    out = json.loads(o.stdout)
    assert o.returncode == 0 and o.result == b"ok" and not o.sandboxed
    assert out["text"] == "abc" and "NETLESSON_TEST_SECRET" not in out["env"]
    if os.geteuid() != 0:  # root may write anything
        assert out["write"] != "allowed"


def test_unsandboxed_wall_timeout():
    marker = marked()
    o = py("import time; time.sleep(1000)", marker, limits=Limits(wall_seconds=1.5), sandboxed=False)
    assert o.returncode is None and o.wall_timeout and o.seconds < 4
    assert survivors(marker) == []


def test_unsandboxed_output_cut():
    o = py("import sys\nfor _ in range(50): sys.stdout.buffer.write(b'y' * (1 << 20))",
           limits=Limits(wall_seconds=20, output_bytes=1000), sandboxed=False)
    assert o.output_cut and len(o.stdout) == 1000 and o.returncode == 0


def test_unsandboxed_leftovers_reported_and_killed():
    marker = marked()
    try:
        o = py(LEFTOVER, marker, sandboxed=False)
        assert o.returncode == 0, o.stderr
        assert any(marker in line for line in o.leftover_processes), o
        assert survivors(marker) == []
    finally:
        kill_marked(marker)


def test_unsandboxed_cpu_limit():
    o = py("while True: pass", limits=Limits(wall_seconds=20, cpu_seconds=1), sandboxed=False)
    assert o.cpu_exceeded and o.returncode in (-24, -9)


# -- when there is no bwrap ----------------------------------------------------

def test_missing_bwrap_is_explained_and_run_refuses(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no bwrap on PATH
    assert shutil.which("bwrap") is None
    problem = sandbox_problem()
    assert problem is not None
    assert "bubblewrap" in problem and "--allow-unsandboxed" in problem
    with pytest.raises(SandboxUnavailable) as caught:
        py("print('never')")
    assert str(caught.value) == problem


def test_a_failing_bwrap_is_explained(monkeypatch, tmp_path):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    problem = sandbox_problem()
    assert problem is not None and "uid map" in problem and "namespaces" in problem
    _sandbox._probe.cache_clear()


def test_input_names_must_stay_inside():
    for bad in ("/etc/passwd", "../up", "a/../../b", ""):
        with pytest.raises(ValueError):
            py("pass", inputs={bad: b""}, sandboxed=False)


def test_an_installed_netlesson_has_its_environment_bound(monkeypatch):
    """A non-editable install (a hub's or an image's environment) keeps netlesson in
    site-packages: the environment holding it must be bound, or bwrap cannot even start
    its Python (seen on the hub: execvp .../bin/python: No such file).  Only a checkout's
    parent (pyproject.toml there) is hidden."""
    import sysconfig

    purelib = sysconfig.get_paths()["purelib"]
    monkeypatch.setattr(netlesson, "__file__", os.path.join(purelib, "netlesson", "__init__.py"))
    dests = [dest for _, dest in _sandbox._python_binds.__wrapped__()]
    assert any(_sandbox._inside(os.path.realpath(sys.prefix), dest) for dest in dests), dests
    assert any(_sandbox._inside(purelib, dest) for dest in dests), dests
