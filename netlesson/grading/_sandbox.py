"""Run one student program in a bubblewrap (``bwrap``) sandbox, with limits.

``run(argv, inputs=..., stdin=..., limits=...)`` starts *argv* (``"python"`` is this
interpreter) and returns an :class:`Outcome`: exit status, stdout, stderr, what the
program wrote to file descriptor 3 (the *result channel*) and which limit ended it.
The program runs under a small supervisor (Python, ``-I -S``, stdlib only) that sets
the resource limits, waits for it, then lists, reports (on a pipe the program never
inherits) and kills whatever it left running.

Isolated (``sandboxed=True``)
  * Files: a new empty root (tmpfs, remounted read-only once built) with read-only
    binds of ``/usr`` (``/bin``, ``/lib*`` as on the host), of ``/etc``'s ``ld.so.*``,
    ``localtime``, ``services``, ``protocols``, ``alternatives``, generated ``passwd``,
    ``group``, ``hosts``, ``nsswitch.conf``; of the interpreter's prefixes (the venv and
    its base Python) and the other directories on a clean ``sys.path``; and, of
    netlesson's checkout, only the package directory, at its own path (a venv inside
    the checkout is bound on its own; the checkout's other files, ``.git``,
    ``/home``, ``/root``, the host's ``/tmp`` do not exist inside).  The inputs are
    read-only files in the read-only working directory ``/grading``.  ``/tmp`` (also
    ``HOME``) is a private tmpfs of ``tmp_bytes``, ``/dev/shm`` one of ``tmp_bytes // 4``.
  * Namespaces: user (uid/gid 1000, no capabilities, no nested user namespaces), pid,
    network (loopback only: no way to host servers, nor from the host to its servers),
    IPC, UTS, cgroup; ``--new-session``, ``--die-with-parent``.
  * Environment: only ``PATH``, ``HOME``, ``LANG=C.UTF-8``, ``PYTHONDONTWRITEBYTECODE=1``,
    ``PYTHONUNBUFFERED=1`` (and the ``PWD`` bwrap sets).

Limits
  * Wall time: the caller's read loop holds the deadline; at it everything is
    SIGKILLed (bwrap's pid 1 first, which ends the pid namespace); ``returncode`` None.
  * CPU: ``RLIMIT_CPU`` (SIGXCPU at the limit, SIGKILL a second later) -- per process,
    so forked children get their own, bounded by the process and wall limits.
  * Memory: ``RLIMIT_DATA`` (private writable memory: heap, anonymous mappings, thread
    stacks): an allocation beyond it fails (``MemoryError``).  ``RLIMIT_AS`` alone at the
    limit would stop threads, not allocations: glibc reserves 64 MiB of address space per
    malloc arena, one per thread, so 1 GiB allowed only 14 live threads (measured).
    ``RLIMIT_AS`` = 4 x the limit stays as the backstop for shared mappings, which
    ``RLIMIT_DATA`` does not count.  30 live threads run under the default.
  * Processes: ``RLIMIT_NPROC`` is counted per user *and* user namespace, so in the
    sandbox it counts the sandbox's own tasks -- but the kernel never enforces it for
    real uid 0, which is what uid 1000 inside maps to when root starts bwrap (checked:
    as root, a limit of 10 allowed 40 forks inside ``bwrap --unshare-user --uid 1000
    --cap-drop ALL``).  Starting bwrap as an unprivileged uid instead fails whenever
    the interpreter lives under ``/root`` (bwrap resolves bind sources by path, even
    for ``--ro-bind-fd``).  So as root each run gets its own ``pids`` cgroup (v1
    hierarchy, or v2 with ``pids`` enabled at the root): made before the run,
    ``pids.max`` = the limit plus bwrap's own processes, joined by a ``/bin/sh``
    wrapper that writes ``$$`` to ``cgroup.procs`` and ``exec``-s bwrap, removed after.
    If root cannot make one, the supervisor polls the pid namespace and kills all
    when it holds more processes than the limit (weaker; says so on stderr).
  * Output: stdout, stderr and fd 3 are pipes drained by a selector loop that keeps
    the first ``output_bytes`` of each and drops the rest (``output_cut``).
  * Leftovers: when the program ends, the supervisor lists every other process in the
    pid namespace (``leftover_processes``), SIGKILLs them and exits; after a wall
    timeout the caller lists them with psutil.

``sandboxed=False`` (the grader's explicit ``--allow-unsandboxed``)
  Same interface, limits, cleared environment (``HOME`` a private temporary
  directory) and read-only inputs in a temporary working directory -- but NO
  isolation: the program can read and write whatever the instructor can, and use
  the network.  Leftovers: the supervisor is a child subreaper (orphans come back to
  it, even after ``setsid``) and the program has a new session; both are swept.  As
  root the pids cgroup limits processes; otherwise ``RLIMIT_NPROC`` counts all the
  user's tasks, so it is set to their current number plus the limit.

Not done: no limit on disk I/O or CPU share (the cores can be kept busy until the
wall time), no system-call filter (seccomp); only as strong as kernel namespaces.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

import netlesson
from netlesson import i18n
from netlesson.i18n import core as _messages

from . import _advice

WORKDIR = "/grading"
SANDBOX_UID = 1000
_GRACE = 2.0  # seconds to drain the pipes after the end or the kill


class SandboxUnavailable(RuntimeError):
    """bwrap cannot run a sandbox here; the message says why and what to do."""


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 120.0
    cpu_seconds: int = 60
    memory_bytes: int = 1 << 30
    processes: int = 64
    output_bytes: int = 4 << 20     # per stream (stdout, stderr, result)
    tmp_bytes: int = 64 << 20       # size of the private /tmp (tmpfs)


@dataclass
class Outcome:
    returncode: int | None          # None: killed for wall time; negative: killed by that signal
    stdout: bytes
    stderr: bytes
    result: bytes                   # what the program wrote to file descriptor 3
    output_cut: bool
    wall_timeout: bool
    cpu_exceeded: bool
    leftover_processes: list[str]   # still running when the program ended (all were killed)
    seconds: float
    sandboxed: bool


# The supervisor, the sandbox's command (or the unsandboxed child): cfg in argv[1].
_SUPERVISOR = r'''
import json, os, resource, signal, sys, time
cfg = json.loads(sys.argv[1])
NS = cfg["ns"]

def others():  # live processes: in the namespace (not 1, not us), or our descendants
    me, live = os.getpid(), {}
    for name in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if name.isdigit() and int(name) not in (1, me) and fields[0] not in (b"Z", b"X"):
            live[int(name)] = int(fields[1])
    found, todo = [], [me]
    while todo and not NS:
        top = todo.pop()
        kids = [p for p, parent in live.items() if parent == top]
        found, todo = found + kids, todo + kids
    return sorted(live) if NS else found

def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read(4000).replace(b"\0", b" ").decode("utf-8", "replace").strip() or "[%d]" % pid
    except OSError:
        return None

def kill_all():
    for _ in range(1 if NS else 200):
        pids = [-1] if NS else others()  # kill(-1) in our own pid namespace: all but pid 1
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        try:
            while pids and os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
        if not pids:
            break
        time.sleep(0.01)

if not NS:
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass
pid = os.fork()
if pid == 0:
    try:
        if cfg["result"] != 3:
            os.dup2(cfg["result"], 3)
        os.closerange(4, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        for name, soft, hard in cfg["rlimits"]:
            resource.setrlimit(getattr(resource, name), (soft, hard))
        os.execvp(cfg["argv"][0], cfg["argv"])
    except BaseException as exc:
        os.write(2, ("sandbox: cannot run %r: %s\n" % (cfg["argv"][0], exc)).encode())
    os._exit(127)
os.write(cfg["report"], json.dumps({"started": pid}).encode() + b"\n")
while True:
    got, status, usage = os.wait4(-1, os.WNOHANG if cfg["watch"] else 0)
    if got == pid:
        break
    if got == 0:  # polling: root without a pids cgroup
        if len(others()) > cfg["watch"]:
            kill_all()
            os.write(2, b"sandbox: process limit exceeded, all processes killed\n")
            cfg["watch"] = 0
        time.sleep(0.05)
left = [c for c in map(cmdline, others()) if c][:200]
kill_all()
os.write(cfg["report"], json.dumps({"returncode": os.waitstatus_to_exitcode(status), "left": left,
                                    "cpu": usage.ru_utime + usage.ru_stime}).encode() + b"\n")
'''


def sandbox_problem() -> str | None:
    """None when a bwrap sandbox works on this machine (probed once by really starting one, cached), else the reason."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return _advice.no_bwrap()
    failure = _probe(bwrap)
    return None if failure is None else _advice.bwrap_fails(bwrap, *failure)


@functools.cache
def _probe(bwrap: str) -> tuple[int | None, str] | None:
    """``None`` when a test sandbox runs; else ``(exit status or None, what it said)``."""
    try:
        out = _execute(["python", "-c", "import netlesson; print('ok')"], {}, b"",
                       Limits(wall_seconds=60), bwrap)
        if out.returncode == 0 and out.stdout == b"ok\n":
            return None
        return out.returncode, (out.stderr or out.stdout).decode("utf-8", "replace")[-600:]
    except (SandboxUnavailable, OSError) as exc:
        return None, str(exc)


def run(argv: list[str], *, inputs: dict[str, bytes], stdin: bytes = b"",
        limits: Limits = Limits(), sandboxed: bool = True) -> Outcome:
    """Run *argv* with *inputs* as read-only files in its working directory (module doc)."""
    bwrap = None
    if sandboxed:
        problem = sandbox_problem()
        if problem is not None:
            raise SandboxUnavailable(problem)
        bwrap = shutil.which("bwrap")
    return _execute(list(argv), dict(inputs), stdin, limits, bwrap)


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _env(home: str) -> dict[str, str]:
    path = ":".join(dict.fromkeys([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]))
    # NETLESSON_LANG: the checkers' feedback in the graded notebooks speaks the CSV's language
    return {"PATH": path, "HOME": home, "LANG": "C.UTF-8",
            i18n.LANGUAGE_VARIABLE: i18n.language(),
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}


class _PidsCgroup:
    """A pids cgroup for one run (root only): made, joined by a shell wrapper, removed."""

    _names = itertools.count()

    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def create(cls, max_tasks: int) -> _PidsCgroup | None:
        if os.geteuid() != 0:
            return None
        root, bases = Path("/sys/fs/cgroup"), []
        try:
            if (root / "cgroup.controllers").exists():  # v2: at the root (no internal processes)
                if "pids" in (root / "cgroup.subtree_control").read_text().split():
                    bases.append(root)
            elif (root / "pids" / "cgroup.procs").exists():  # v1: below our own cgroup
                for line in Path("/proc/self/cgroup").read_text().splitlines():
                    _, controllers, where = line.split(":", 2)
                    if "pids" in controllers.split(","):
                        bases.append(root / "pids" / where.lstrip("/"))
        except (OSError, ValueError):
            pass
        for base in bases:
            path = base / f"netlesson-sandbox-{os.getpid()}-{next(cls._names)}"
            try:
                path.mkdir()
                (path / "pids.max").write_text(f"{max_tasks}\n")
                return cls(path)
            except OSError:
                cls(path).remove(tries=1)
        return None

    def wrap(self, argv: list[str]) -> list[str]:
        return ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(self.path), *argv]

    def remove(self, tries: int = 100) -> None:
        for _ in range(tries):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                try:
                    for pid in (self.path / "cgroup.procs").read_text().split():
                        os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
                time.sleep(0.02)


def _inside(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


@functools.cache
def _python_binds() -> tuple[tuple[str, str], ...]:
    """(source, destination) read-only binds: the interpreter, its packages, netlesson's package."""
    package = os.path.realpath(os.path.dirname(netlesson.__file__))
    project = os.path.dirname(package)  # a checkout's (editable install): of it only the package
    project = project if os.path.exists(os.path.join(project, "pyproject.toml")) else None
    try:  # sys.path of a fresh interpreter in the sandbox's environment (.pth files included)
        probe = subprocess.run([sys.executable, "-I", "-c", "import sys, json; print(json.dumps(sys.path))"],
                               env=_env("/nonexistent"), capture_output=True, timeout=60, check=True)
        clean = json.loads(probe.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        clean = list(sys.path)
    wanted = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
              os.path.dirname(os.path.realpath(sys.executable)), *clean]
    dests = {package}
    for path in filter(os.path.isdir, filter(None, wanted)):
        for dest in {os.path.abspath(path), os.path.realpath(path)}:
            # never the checkout or anything above it: of it, only the package
            if dest != "/" and not (project and _inside(project, dest)) and not _inside(dest, "/usr"):
                dests.add(dest)
    ordered = sorted(dests, key=lambda p: Path(p).parts)
    kept = [d for i, d in enumerate(ordered) if not any(_inside(d, k) for k in ordered[:i])]
    return tuple((os.path.realpath(d), d) for d in kept)


_ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "services",
              "protocols", "alternatives")
_ETC_DATA = {
    "passwd": "root:x:0:0:root:/root:/usr/sbin/nologin\n"
              f"student:x:{SANDBOX_UID}:{SANDBOX_UID}:sandbox:/tmp:/usr/sbin/nologin\n"
              "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
    "group": f"root:x:0:\nstudent:x:{SANDBOX_UID}:\nnogroup:x:65534:\n",
    "hosts": "127.0.0.1\tlocalhost\n127.0.1.1\tsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\nservices: files\nprotocols: files\n",
}


@functools.cache
def _bwrap_supports(bwrap: str, option: str) -> bool:
    try:
        return option.encode() in subprocess.run([bwrap, "--help"], capture_output=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False


def _bwrap_argv(bwrap: str, limits: Limits, inputs: dict[str, bytes], fds: list[int]) -> list[str]:
    """bwrap's command line up to the command; data files become memfds appended to *fds*."""
    a = [bwrap, "--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-net",
         "--unshare-uts", "--unshare-cgroup-try", "--uid", str(SANDBOX_UID), "--gid",
         str(SANDBOX_UID), "--hostname", "sandbox", "--die-with-parent", "--new-session",
         "--cap-drop", "ALL", "--clearenv"]
    if _bwrap_supports(bwrap, "--disable-userns"):
        a.append("--disable-userns")
    for key, value in _env("/tmp").items():
        a += ["--setenv", key, value]
    a += ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            a += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            a += ["--ro-bind", top, top]
    a += ["--dir", "/etc"]
    for name in _ETC_FILES:
        a += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]

    def data(dest: str, content: bytes) -> None:
        fds.append(_memfd(os.path.basename(dest), content))
        a.extend(["--perms", "0444", "--ro-bind-data", str(fds[-1]), dest])

    for name, text in _ETC_DATA.items():
        data(f"/etc/{name}", text.encode())
    a += ["--proc", "/proc", "--dev", "/dev",
          "--size", str(max(limits.tmp_bytes // 4, 1 << 20)), "--tmpfs", "/dev/shm",
          "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    for source, dest in _python_binds():
        a += ["--ro-bind", source, dest]
    a += ["--dir", WORKDIR]
    for name in sorted({os.path.dirname(n) for n in inputs} - {""}):
        a += ["--dir", f"{WORKDIR}/{name}"]
    for name, content in inputs.items():
        data(f"{WORKDIR}/{name}", content)
    return a + ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", WORKDIR, "--"]


def _checked_inputs(inputs: dict[str, bytes]) -> dict[str, bytes]:
    checked = {}
    for name, data in inputs.items():
        parts = Path(name).parts
        if not parts or os.path.isabs(name) or "\0" in name or {".", ".."} & set(parts):
            raise ValueError(f"an input name must be a relative path below the work directory: {name!r}")
        checked["/".join(parts)] = bytes(data)
    return checked


def _execute(argv: list[str], inputs: dict[str, bytes], stdin: bytes, limits: Limits,
             bwrap: str | None) -> Outcome:
    """Run under bwrap when *bwrap* is given, else unsandboxed (module doc)."""
    if not argv:
        raise ValueError("argv is empty")
    if argv[0] == "python":
        argv[0] = sys.executable
    inputs, sandboxed = _checked_inputs(inputs), bwrap is not None
    pipes = {name: os.pipe() for name in ("stdout", "stderr", "result", "report")}
    fds, tmpdir = [_memfd("stdin", stdin)], None
    cgroup = _PidsCgroup.create(limits.processes + (3 if sandboxed else 1))
    nproc, watch = None, 0
    if os.geteuid() != 0:  # bwrap's pid 1 and the supervisor count too
        nproc = limits.processes + 2 if sandboxed else _user_tasks() + limits.processes
    elif cgroup is None and sandboxed:
        watch = limits.processes
    rlimits = [["RLIMIT_CPU", limits.cpu_seconds, limits.cpu_seconds + 1], ["RLIMIT_CORE", 0, 0],
               ["RLIMIT_DATA", limits.memory_bytes, limits.memory_bytes],
               ["RLIMIT_AS", 4 * limits.memory_bytes, 4 * limits.memory_bytes]]
    rlimits += [["RLIMIT_NPROC", nproc, nproc]] if nproc is not None else []
    cfg = {"argv": argv, "ns": sandboxed, "report": pipes["report"][1],
           "result": pipes["result"][1], "watch": watch, "rlimits": rlimits}
    command = [sys.executable, "-I", "-S", "-c", _SUPERVISOR, json.dumps(cfg)]
    started = time.monotonic()
    try:
        if sandboxed:
            command = _bwrap_argv(bwrap, limits, inputs, fds) + command
            cwd, env = "/", _env("/tmp")
        else:
            tmpdir = tempfile.mkdtemp(prefix="netlesson-grading-")
            cwd, env = _unsandboxed_dirs(tmpdir, inputs)
        if cgroup is not None:
            command = cgroup.wrap(command)
        proc = subprocess.Popen(command, stdin=fds[0], stdout=pipes["stdout"][1],
                                stderr=pipes["stderr"][1], cwd=cwd, env=env, start_new_session=True,
                                pass_fds=[pipes["result"][1], pipes["report"][1], *fds[1:]])
        for name, (read_end, write_end) in list(pipes.items()):
            os.close(write_end)  # never closed twice: runs in other threads reuse fd numbers
            pipes[name] = (read_end, -1)
        try:
            return _collect(proc, {k: r for k, (r, _) in pipes.items()}, limits, started, sandboxed)
        finally:
            if proc.returncode is None:  # not reaped yet, so its pid is still its own
                _kill_tree(proc, sandboxed)
                proc.wait()
    finally:
        for fd in fds + [fd for pair in pipes.values() for fd in pair if fd >= 0]:
            try:
                os.close(fd)
            except OSError:
                pass
        if cgroup is not None:
            cgroup.remove()
        if tmpdir is not None:
            for here, _, _ in os.walk(tmpdir):
                os.chmod(here, 0o700)
            shutil.rmtree(tmpdir, ignore_errors=True)


def _user_tasks() -> int:
    """This user's processes and threads now: RLIMIT_NPROC counts them all when unsandboxed."""
    return sum(p.info["num_threads"] or 1 for p in psutil.process_iter(["uids", "num_threads"])
               if p.info["uids"] is not None and p.info["uids"].real == os.getuid())


def _unsandboxed_dirs(tmpdir: str, inputs: dict[str, bytes]) -> tuple[str, dict[str, str]]:
    work, home = os.path.join(tmpdir, "grading"), os.path.join(tmpdir, "home")
    os.mkdir(home, 0o700)
    os.mkdir(work, 0o700)
    for name, content in inputs.items():
        path = os.path.join(work, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Path(path).write_bytes(content)
        os.chmod(path, 0o444)
    for here, _, _ in os.walk(work):
        os.chmod(here, 0o555)
    return work, _env(home)


def _collect(proc: subprocess.Popen, readers: dict[str, int], limits: Limits, started: float,
             sandboxed: bool) -> Outcome:
    """Drain every pipe until the end or the deadline (then kill), keeping the first bytes."""
    deadline = started + limits.wall_seconds
    kept = {name: bytearray() for name in readers}
    cut, timed_out, leftovers, stop_at = False, False, [], None
    sel = selectors.DefaultSelector()
    for name, fd in readers.items():
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ, name)
    with sel:
        while sel.get_map():
            now, finished = time.monotonic(), b'"returncode"' in kept["report"]
            if not finished and not timed_out and now >= deadline:
                timed_out, stop_at = True, now + _GRACE
                leftovers = _tree_leftovers(proc, sandboxed)
                _kill_tree(proc, sandboxed)
            if stop_at is None and _exited(proc):
                stop_at = now + _GRACE
            if stop_at is not None and now >= stop_at:
                break
            wait = 0.5 if timed_out or finished else min(0.5, deadline - now)
            wait = min(wait, stop_at - now) if stop_at is not None else wait
            for key, _ in sel.select(max(wait, 0.01)):
                try:
                    chunk = os.read(key.fd, 1 << 16)
                except BlockingIOError:
                    continue
                if not chunk:
                    sel.unregister(key.fd)
                    continue
                cap = (1 << 20) if key.data == "report" else limits.output_bytes
                if len(kept[key.data]) + len(chunk) > cap:
                    cut = cut or key.data != "report"
                    chunk = chunk[:max(cap - len(kept[key.data]), 0)]
                kept[key.data] += chunk
    for _ in itertools.takewhile(lambda _: not _exited(proc), range(100)):
        time.sleep(0.02)
    _kill_tree(proc, sandboxed)  # unreaped still (a zombie at worst): its pid and session are its own
    proc.wait()
    report = {}
    for line in bytes(kept["report"]).splitlines():
        try:
            report.update(json.loads(line))
        except ValueError:
            pass
    if "started" not in report and not timed_out:
        raise SandboxUnavailable(_messages.gettext("the sandbox did not start: {output}").format(
            output=kept["stderr"].decode("utf-8", "replace")[-600:]))
    returncode = None if timed_out else report.get("returncode", proc.returncode)
    if not timed_out:
        leftovers = list(report.get("left", []))
    cpu_exceeded = (returncode in (-signal.SIGXCPU, -signal.SIGKILL)
                    and float(report.get("cpu", 0)) >= limits.cpu_seconds - 0.1)
    return Outcome(returncode=returncode, stdout=bytes(kept["stdout"]), stderr=bytes(kept["stderr"]),
                   result=bytes(kept["result"]), output_cut=cut, wall_timeout=timed_out,
                   cpu_exceeded=cpu_exceeded, leftover_processes=leftovers,
                   seconds=time.monotonic() - started, sandboxed=sandboxed)


def _exited(proc: subprocess.Popen) -> bool:
    """Has *proc* ended?  Without reaping it (``WNOWAIT``), unlike ``Popen.poll``."""
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _tree_leftovers(proc: subprocess.Popen, sandboxed: bool) -> list[str]:
    """At the deadline: every process but bwrap, its pid 1, the supervisor and the program."""
    try:
        top = psutil.Process(proc.pid)
        if sandboxed:  # bwrap -> its pid 1 -> the supervisor -> the program
            top = min(top.children(), key=psutil.Process.create_time)
        skip = {top.pid}
        for supervisor in (top.children() if sandboxed else [top])[:1]:
            kids = supervisor.children()
            skip |= {supervisor.pid} | ({min(kids, key=psutil.Process.create_time).pid} if kids else set())
        found = []
        for p in top.children(recursive=True):
            if p.pid not in skip and p.status() != psutil.STATUS_ZOMBIE:
                found.append(" ".join(p.cmdline()) or f"[{p.pid}]")
    except (psutil.Error, ValueError):
        return []
    return found[:200]


def _kill_tree(proc: subprocess.Popen, sandboxed: bool) -> None:
    """SIGKILL the launcher, every descendant (bwrap's pid 1 first) and, unsandboxed, its session."""
    try:
        root = psutil.Process(proc.pid)
        tree = root.children(recursive=True) + [root]
    except psutil.Error:
        tree = []
    for other in [] if sandboxed else psutil.process_iter():
        try:
            if other.pid != os.getpid() and os.getsid(other.pid) == proc.pid:
                tree.append(other)
        except (OSError, psutil.Error):
            pass
    for member in tree:
        try:
            member.kill()
        except psutil.Error:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
