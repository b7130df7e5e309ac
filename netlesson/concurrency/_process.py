"""The parent side of the concurrency lab: start a server child process, stop it.

:func:`start_server` runs ``python -m netlesson concurrency-server KIND ...``
(see :mod:`netlesson.concurrency._server`) and returns an
:class:`EchoServerProcess` once the child has announced its port.  Stopping
closes the child's standard input; the child leaves ``serve_forever`` and
exits on its own, and only a child that does not is terminated, then killed.
Every child this interpreter started is stopped at exit (:func:`stop_all`).

The child must import the very ``netlesson`` this process imported, installed
or a plain source checkout: :func:`_child_env` sets ``PYTHONPATH`` only when
the child's interpreter would not find it on its own.
"""

from __future__ import annotations

import atexit
import os
import select
import subprocess
import sys
import tempfile
import weakref

from ._kinds import check_options

__all__ = ["EchoServerProcess", "start_server", "stop_all"]

_running: "weakref.WeakSet[EchoServerProcess]" = weakref.WeakSet()

#: The directory of the ``netlesson`` package this interpreter imported (two
#: levels up from this file): the child must run this one.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Run by the child's interpreter, in the child's environment: where would it
# import netlesson from, and what is its sys.path?  (find_spec imports nothing.)
_PROBE = ("import importlib.util, sys\n"
          "spec = importlib.util.find_spec('netlesson')\n"
          "places = list(spec.submodule_search_locations or []) if spec else []\n"
          "print(places[0] if places else '')\n"
          "print('\\n'.join(sys.path))\n")
_probed: dict = {}


def _netlesson_seen_by(executable: str, env: dict, cwd: str) -> tuple[str | None, list[str]]:
    """``(package directory or None, sys.path)`` of ``executable`` started with *env* in *cwd*.

    Asked once per interpreter, ``PYTHONPATH`` and directory (the answer is
    cached): a child started there with ``-m`` sees the same.  A probe that
    fails answers ``(None, [])``.
    """
    key = (executable, env.get("PYTHONPATH"), cwd)
    if key not in _probed:
        try:
            out = subprocess.run([executable, "-c", _PROBE], env=env, cwd=cwd, timeout=20,
                                 capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        found, *path = out.splitlines() or [""]
        _probed[key] = (found or None, path)
    return _probed[key]


def _same_dir(a: str, b: str) -> bool:
    return bool(a) and bool(b) and os.path.realpath(a) == os.path.realpath(b)


def _child_pythonpath(package_dir: str, found: str | None, child_path: list[str],
                     inherited: str | None) -> str | None:
    """The ``PYTHONPATH`` a server child needs to import *package_dir*, or ``None``: leave it alone.

    *found* is where the child's interpreter would import ``netlesson`` from
    on its own (``None``: nowhere), *child_path* its ``sys.path``, *inherited*
    the ``PYTHONPATH`` it would get.  ``PYTHONPATH`` entries come before the
    standard library on ``sys.path``, so adding a directory there is not
    harmless: for an installed package that directory is ``site-packages``, and
    a backport in it (``typing``, ``enum``, ``dataclasses``) would then replace
    the standard module in the child.  So the parent directory is added only
    when the child cannot find this package otherwise -- a plain source
    checkout -- and never when it is on the child's path already.
    """
    if found is not None and _same_dir(found, package_dir):
        return None  # installed (editable or not), or found from the working directory
    parent = os.path.dirname(package_dir)
    if any(_same_dir(parent, entry) for entry in child_path):
        return None  # already there, only shadowed: moving it first would shadow the stdlib
    return os.pathsep.join(p for p in (parent, inherited) if p)


def _child_env() -> dict:
    """This process's environment, with ``PYTHONPATH`` set only if the child needs it."""
    env = dict(os.environ)
    found, child_path = _netlesson_seen_by(sys.executable, env, os.getcwd())
    path = _child_pythonpath(_PACKAGE_DIR, found, child_path, env.get("PYTHONPATH"))
    if path is not None:
        env["PYTHONPATH"] = path
    return env


class EchoServerProcess:
    """One echo server running in a child process; a context manager.

    >>> with start_server("threading", delay=0.01) as srv:   # doctest: +SKIP
    ...     print(run_clients(srv.address, clients=8, messages=5))

    The child is ``python -m netlesson concurrency-server KIND --port 0``.  It
    announces its port on standard output; :meth:`stop` closes its standard
    input, which makes it leave ``serve_forever`` and exit, and only if it has
    not exited within *timeout* is it terminated, then killed.
    """

    def __init__(self, kind: str, *, delay: float = 0.0, work: str = "sleep",
                 backlog: int | None = None, host: str = "127.0.0.1", port: int = 0):
        check_options(kind, delay, work)
        self.kind = kind
        self.delay = delay
        self.work = work
        self.backlog = backlog
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self.returncode: int | None = None
        self._stderr = None

    @property
    def address(self) -> tuple[str, int]:
        if self.port is None:
            raise RuntimeError("the server has not been started: call start() or use start_server()")
        return (self.host, self.port)

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def cpu_seconds(self) -> float | None:
        """CPU time the server has used so far, user + system, reaped children included.

        Read from ``/proc/PID/stat`` (Linux; ``None`` elsewhere or once the
        process has exited).  Under a busy machine, round trips per second
        swing with what else runs; CPU seconds per round trip barely move, so
        the benchmark reports both.
        """
        if self.process is None:
            return None
        try:
            with open(f"/proc/{self.process.pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            return None
        # the command name (field 2) is in parentheses and may hold spaces
        fields = stat[stat.rindex(b")") + 2:].split()
        utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
        return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")

    def command(self) -> list[str]:
        """The child's command line (``python -m netlesson concurrency-server ...``)."""
        cmd = [sys.executable, "-m", "netlesson", "concurrency-server", self.kind,
               "--host", self.host, "--port", str(self.requested_port)]
        if self.delay:
            cmd += ["--delay", repr(self.delay), "--work", self.work]
        if self.backlog:
            cmd += ["--backlog", str(self.backlog)]
        return cmd

    def start(self, timeout: float = 10.0) -> "EchoServerProcess":
        """Start the child and wait (at most *timeout* s) for it to announce its port."""
        if self.process is not None:
            raise RuntimeError("this server process was already started; make a new one")
        env = _child_env()  # the child must import this very package, installed or not
        self._stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            self.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, env=env,
        )
        _running.add(self)
        try:
            self.port = self._read_port(timeout)
        except BaseException:
            self.stop(timeout=1.0)
            raise
        return self

    def _read_port(self, timeout: float) -> int:
        out = self.process.stdout
        ready, _, _ = select.select([out], [], [], timeout)
        line = out.readline() if ready else b""
        out.close()
        try:
            return int(line)
        except ValueError:
            pass
        try:
            self.process.wait(0.5)
        except subprocess.TimeoutExpired:
            pass
        why = "exited" if self.process.poll() is not None else f"did not start within {timeout:g} s"
        raise RuntimeError(f"the {self.kind} echo server {why}: {self.stderr_text().strip()}")

    def stderr_text(self) -> str:
        """What the child wrote to standard error so far (its start line, or a traceback)."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def stop(self, timeout: float = 3.0) -> int | None:
        """End the child: close its stdin, wait, then terminate/kill.  Idempotent.

        Returns the exit status (0 when it stopped on its own).
        """
        proc = self.process
        if proc is None:
            return None
        if proc.stdin is not None and not proc.stdin.closed:
            try:
                proc.stdin.close()
            except OSError:
                pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(1.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5.0)
        self.returncode = proc.returncode
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        _running.discard(self)
        return self.returncode

    def __enter__(self) -> "EchoServerProcess":
        if self.process is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        if self.process is None:
            state = "not started"
        elif self.running:
            state = f"running on {self.host}:{self.port}"
        else:
            state = f"exited ({self.process.returncode})"
        return f"<EchoServerProcess {self.kind} {state}>"


def start_server(kind: str, *, delay: float = 0.0, work: str = "sleep", backlog: int | None = None,
                 host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0) -> EchoServerProcess:
    """Start an echo server of *kind* in a child process; return it once it listens."""
    return EchoServerProcess(kind, delay=delay, work=work, backlog=backlog, host=host,
                             port=port).start(timeout)


def stop_all() -> int:
    """Stop every server process this interpreter started; return how many."""
    procs = list(_running)
    for proc in procs:
        proc.stop()
    return len(procs)


atexit.register(stop_all)

