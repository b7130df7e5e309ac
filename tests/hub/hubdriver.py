"""A class on a real JupyterHub, driven the way its members' browsers drive it.

* :class:`HubClient` -- the hub's REST API (``/hub/api``) with a service token:
  create users, start their servers, make a token per user.
* :class:`ServerClient` -- one user's single-user server through the hub's
  proxy, with that user's token: the contents and sessions REST API, the kernel
  WebSocket (``/api/kernels/<id>/channels``, the JSON protocol JupyterLab uses),
  and nbgrader's assignment list (``/assignments/...``, what its panel calls).
* :func:`run_notebook` -- every code cell of one notebook in a fresh kernel,
  as Run All does; errors come back as data.
* :class:`MemorySampler` -- the peak resident memory of each user's processes.
* :func:`run_class` -- a whole class, accounts to clean-up: spawns, lessons, the
  nbgrader loop, an isolation probe, a course update through nbgitpuller
  (:class:`CourseRepository`: the ``students`` branch behind ``git daemon``);
  :func:`report` -- its numbers.

Every request and socket operation has a timeout.  Used by tests/hub/test_hub_classroom.py and
benchmarks/hub_bench.py.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote

import psutil
import requests
import websocket

REQUEST_TIMEOUT = 60


class ClassroomError(RuntimeError):
    """Something a user would see fail: a spawn, a request, a kernel."""


@dataclass
class HubClient:
    url: str
    token: str

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        reply = requests.request(method, f"{self.url}/hub/api{path}", timeout=REQUEST_TIMEOUT,
                                 headers={"Authorization": f"token {self.token}"}, **kwargs)
        if reply.status_code >= 400:
            raise ClassroomError(f"{method} /hub/api{path}: {reply.status_code} {reply.text[:500]}")
        return reply

    def create_user(self, name: str, admin: bool = False) -> None:
        self.call("POST", f"/users/{name}", json={"admin": admin})

    def user(self, name: str) -> dict:
        return self.call("GET", f"/users/{name}").json()

    def start_server(self, name: str) -> None:
        self.call("POST", f"/users/{name}/server")

    def wait_ready(self, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.user(name).get("servers", {}).get("")
            if server and server.get("ready"):
                return
            if server is None and self.user(name).get("pending") is None:
                raise ClassroomError(f"{name}'s server stopped while starting")
            time.sleep(0.5)
        raise ClassroomError(f"{name}'s server was not ready within {timeout:.0f} s")

    def stop_server(self, name: str, timeout: float) -> None:
        self.call("DELETE", f"/users/{name}/server")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            user = self.user(name)
            if not user.get("servers") and user.get("pending") is None:
                return
            time.sleep(0.5)
        raise ClassroomError(f"{name}'s server did not stop within {timeout:.0f} s")

    def new_token(self, name: str) -> str:
        return self.call("POST", f"/users/{name}/tokens",
                         json={"note": "netlesson classroom test", "expires_in": 7200}).json()["token"]


@dataclass
class ServerClient:
    hub_url: str
    name: str
    token: str

    @property
    def base(self) -> str:
        return f"{self.hub_url}/user/{self.name}"

    def call(self, method: str, path: str, timeout: float = REQUEST_TIMEOUT, **kwargs) -> requests.Response:
        reply = requests.request(method, f"{self.base}{path}", timeout=timeout,
                                 headers={"Authorization": f"token {self.token}"}, **kwargs)
        if reply.status_code >= 400:
            raise ClassroomError(f"{self.name}: {method} {path}: {reply.status_code} {reply.text[:800]}")
        return reply

    # contents
    def read_notebook(self, path: str) -> dict:
        return self.call("GET", f"/api/contents/{quote(path)}", params={"content": 1}).json()["content"]

    def write_notebook(self, path: str, nb: dict) -> None:
        self.call("PUT", f"/api/contents/{quote(path)}",
                  json={"type": "notebook", "format": "json", "content": nb})

    def read_text(self, path: str) -> str:
        return self.call("GET", f"/api/contents/{quote(path)}",
                         params={"content": 1, "format": "text", "type": "file"}).json()["content"]

    def write_text(self, path: str, text: str) -> None:
        self.call("PUT", f"/api/contents/{quote(path)}",
                  json={"type": "file", "format": "text", "content": text})

    def listing(self, path: str) -> list[str]:
        return [e["name"] for e in self.call("GET", f"/api/contents/{quote(path)}").json()["content"]]

    # nbgrader's assignment list (what the Assignment List panel calls)
    def assignments(self, course: str) -> list[dict]:
        value = self.call("GET", "/assignments", params={"course_id": course}).json()
        if not value.get("success"):
            raise ClassroomError(f"{self.name}: assignment list failed: {value}")
        return value["value"]

    def assignment_action(self, action: str, course: str, assignment: str, timeout: float = 120) -> dict:
        value = self.call("POST", f"/assignments/{action}", timeout=timeout,
                          data={"course_id": course, "assignment_id": assignment}).json()
        if not value.get("success"):
            raise ClassroomError(f"{self.name}: {action} failed: {value}")
        return value

    # sessions and kernels
    def start_session(self, path: str) -> tuple[str, str]:
        reply = self.call("POST", "/api/sessions", timeout=120, json={
            "path": path, "name": path.rsplit("/", 1)[-1], "type": "notebook",
            "kernel": {"name": "python3"}}).json()
        return reply["id"], reply["kernel"]["id"]

    def stop_session(self, session_id: str) -> None:
        self.call("DELETE", f"/api/sessions/{session_id}")

    def kernel_socket(self, kernel_id: str, timeout: float) -> "KernelSocket":
        url = self.base.replace("http", "ws", 1) + f"/api/kernels/{kernel_id}/channels"
        return KernelSocket(url, self.token, self.name, timeout)


class KernelSocket:
    """The kernel's channels over one WebSocket (JSON messages with a ``channel`` key)."""

    def __init__(self, url: str, token: str, username: str, timeout: float):
        self.session = uuid.uuid4().hex
        self.username = username
        self.ws = websocket.create_connection(f"{url}?session_id={self.session}", timeout=timeout,
                                              header=[f"Authorization: token {token}"])

    def close(self) -> None:
        try:
            self.ws.close(timeout=5)
        except (OSError, websocket.WebSocketException):
            pass

    def send(self, msg_type: str, content: dict, channel: str = "shell") -> str:
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": msg_type, "username": self.username,
                       "session": self.session, "version": "5.3",
                       "date": datetime.datetime.now(datetime.timezone.utc).isoformat()},
            "parent_header": {}, "metadata": {}, "content": content, "channel": channel,
            "buffers": []}))
        return msg_id

    def request(self, msg_type: str, content: dict, timeout: float) -> tuple[dict, list[dict]]:
        """Send a shell request; return its reply and the iopub messages it caused, up to idle."""
        msg_id = self.send(msg_type, content)
        reply, outputs, idle = None, [], False
        deadline = time.monotonic() + timeout
        while reply is None or not idle:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {'reply' if reply is None else 'idle status'} to "
                                   f"{msg_type} within {timeout:.0f} s")
            self.ws.settimeout(left)
            msg = json.loads(self.ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["channel"] == "shell":
                reply = msg
            elif msg["channel"] == "iopub":
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    idle = True
                elif msg["msg_type"] in ("error", "stream"):
                    outputs.append(msg)
        return reply, outputs


@dataclass
class NotebookRun:
    student: str
    notebook: str
    seconds: float = 0.0
    cells: int = 0
    errors: list[str] = field(default_factory=list)
    tracebacks: list[str] = field(default_factory=list)


def _plain(traceback: list[str]) -> str:
    """A kernel's traceback without its terminal colours."""
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(traceback))


def run_notebook(server: ServerClient, path: str, *, cell_timeout: float = 300,
                 start_barrier: threading.Barrier | None = None) -> NotebookRun:
    """Open *path* in a new kernel and run every code cell in order, as Run All does.

    *start_barrier* makes a class start their kernels at the same moment.
    The session (and its kernel) is deleted afterwards.
    """
    run = NotebookRun(server.name, path)
    nb = server.read_notebook(path)  # a ClassroomError here is the caller's to record
    if start_barrier is not None:
        start_barrier.wait(timeout=600)
    t0 = time.monotonic()
    session_id, kernel_id = server.start_session(path)
    sock = None
    try:
        sock = server.kernel_socket(kernel_id, timeout=60)
        # a kernel that died or does not answer at start-up fails here
        reply, _ = sock.request("kernel_info_request", {}, timeout=120)
        if reply["content"].get("status") != "ok":
            run.errors.append(f"kernel_info: {reply['content']}")
            return run
        for index, cell in enumerate(nb["cells"]):
            if cell["cell_type"] != "code":
                continue
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            reply, outputs = sock.request("execute_request", {
                "code": source, "silent": False, "store_history": True, "user_expressions": {},
                "allow_stdin": False, "stop_on_error": True}, timeout=cell_timeout)
            run.cells += 1
            if reply["content"]["status"] != "ok":
                run.errors.append(f"cell {index}: {reply['content'].get('ename')}: "
                                  f"{reply['content'].get('evalue')}")
                run.tracebacks.append(_plain(reply["content"].get("traceback", []))[-1500:])
                break
    except (TimeoutError, OSError, websocket.WebSocketException, ClassroomError) as exc:
        run.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        run.seconds = time.monotonic() - t0
        if sock is not None:
            sock.close()
        try:
            server.stop_session(session_id)
        except (ClassroomError, requests.RequestException) as exc:
            run.errors.append(f"stopping the session: {exc}")
    return run


def run_code(server: ServerClient, code: str, *, timeout: float = 600, cwd_path: str = "") -> str:
    """Run *code* in a new kernel of *server* (its directory *cwd_path*); return stdout.

    ``ClassroomError`` with the traceback when it raises.
    """
    path = (cwd_path + "/" if cwd_path else "") + f"classroom-{uuid.uuid4().hex[:8]}.ipynb"
    session_id, kernel_id = server.start_session(path)
    sock = None
    try:
        sock = server.kernel_socket(kernel_id, timeout=60)
        sock.request("kernel_info_request", {}, timeout=120)
        reply, outputs = sock.request("execute_request", {
            "code": code, "silent": False, "store_history": False, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True}, timeout=timeout)
        text = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
        if reply["content"]["status"] != "ok":
            raise ClassroomError(f"{server.name}: {reply['content'].get('ename')}: "
                                 f"{reply['content'].get('evalue')}\n{text[-3000:]}")
        return text
    finally:
        if sock is not None:
            sock.close()
        server.stop_session(session_id)


class MemorySampler:
    """Peak resident memory (sum over a user's processes) per uid, sampled every *interval* s."""

    def __init__(self, uids: dict[int, str], interval: float = 1.0):
        self.uids = uids
        self.interval = interval
        self.peak = {name: 0 for name in uids.values()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def sample(self) -> None:
        totals: dict[str, int] = {}
        for proc in psutil.process_iter(["uids", "memory_info"]):
            try:
                uid = proc.info["uids"].real
                if uid in self.uids and proc.info["memory_info"] is not None:
                    name = self.uids[uid]
                    totals[name] = totals.get(name, 0) + proc.info["memory_info"].rss
            except (psutil.Error, AttributeError, TypeError):
                pass
        for name, rss in totals.items():
            self.peak[name] = max(self.peak[name], rss)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)


# ---------------------------------------------------------------------------
# a whole class: accounts, hub, spawns, lessons, the nbgrader loop, isolation
# ---------------------------------------------------------------------------
COURSE_ID = "netlesson"
ASSIGNMENT = "exercises"
#: account names the test creates and deletes (a prefix no real account has)
INSTRUCTOR = "nltinst"
STUDENT_PREFIX = "nltstu"
#: what each kind of student hands in (exercise_submissions.submit's plans)
PARTIAL_PLAN = {"ex01_line_echo": "solved", "ex03_mro_supplier": "solved",
                "ex04_framing": {"ex04-solution-recvall": "solved"}}

#: run in each student's kernel after submitting: what another student's files look like from here
PROBE = r'''
import json, os, glob
from ipykernel import get_connection_info
def attempt(what, path):
    try:
        if what == "list":
            os.listdir(path)
        else:
            with open(path, "rb") as f:
                f.read(1)
        return "allowed"
    except PermissionError:
        return "denied"
    except FileNotFoundError:
        return "missing"
info = json.loads(get_connection_info())
print(json.dumps(dict(
    port=os.environ.get("NETLESSON_PORT"),
    transport=info["transport"],
    user=os.environ.get("USER"),
    other_home=attempt("list", {other_home!r}),
    other_notebook=attempt("read", {other_notebook!r}),
    other_cache=attempt("list", {other_cache!r}),
    inbound=attempt("list", {inbound!r}),
)))
'''


def student_names(count: int) -> list[str]:
    return [f"{STUDENT_PREFIX}{i:02d}" for i in range(1, count + 1)]


def kind_of(index: int) -> str:
    return ("honest", "partial", "empty")[index % 3]


def plan_of(kind: str, notebooks: list[str]) -> dict:
    if kind == "honest":
        return {n: "solved" for n in notebooks}
    if kind == "partial":
        return dict(PARTIAL_PLAN)
    return {}


def points_of(source_dir, notebook: str) -> dict[str, float]:
    import nbformat

    nb = nbformat.read(source_dir / f"{notebook}.ipynb", as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}


def expected_points(source_dir, notebooks: list[str], plan: dict) -> dict[str, float]:
    """What each notebook's answers deserve: solved test cells' points, nothing for stubs.

    A fully solved notebook earns every test cell; a partly solved one earns the
    test cells whose answer cells share their grade id's part (``ex04-solution-recvall``
    answers ``ex04-check-recvall``).
    """
    result = {}
    for nb in notebooks:
        points = points_of(source_dir, nb)
        what = plan.get(nb)
        if what == "solved":
            result[nb] = sum(points.values())
        elif isinstance(what, dict):
            parts = {gid.split("-solution-", 1)[1] for gid in what if "-solution-" in gid}
            result[nb] = sum(p for gid, p in points.items() if gid.split("-check-", 1)[-1] in parts)
        else:
            result[nb] = 0.0
    return result


def answer_notebook(nb: dict, answers: dict[str, str]) -> dict:
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") in answers:
            cell["source"] = answers[meta["grade_id"]]
    return nb


@dataclass
class StudentRecord:
    name: str
    kind: str
    spawn_seconds: float = 0.0
    lessons_seconds: float = 0.0
    runs: list = field(default_factory=list)
    peak_rss: int = 0
    probe: dict = field(default_factory=dict)
    feedback: list = field(default_factory=list)
    errors: list = field(default_factory=list)


def _threads(target, items, timeout: float) -> None:
    """Run target(item) for every item at once; wait for all (each one's errors are its own)."""
    threads = [threading.Thread(target=target, args=(item,), daemon=True) for item in items]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))


def instructor_step(server: ServerClient, step: str, timeout: float = 900) -> str:
    """``netlesson-course STEP`` in a kernel of the instructor's own server, from ~/netlesson."""
    code = f"""
import os, subprocess
r = subprocess.run(["netlesson-course", {step!r}], cwd=os.path.expanduser("~/netlesson"),
                   capture_output=True, text=True, timeout={int(timeout - 30)},
                   env=dict(os.environ, NETLESSON_LANG="en"))
print(r.stdout[-4000:])
print(r.stderr[-4000:])
assert r.returncode == 0, "netlesson-course {step} failed: exit status %d" % r.returncode
"""
    return run_code(server, code, timeout=timeout)


class CourseRepository:
    """The course's ``students`` branch in a git repository served on loopback.

    Stands in for the repository a class reads (GitHub...): the hub's servers run
    ``gitpuller URL students netlesson`` as each student.  ``git daemon`` serves
    it (git's own protocol, shallow clones included, which nbgitpuller makes);
    it runs as root, who owns the repository.  :meth:`commit` is the instructor
    pushing an update.
    """

    BRANCH = "students"

    def __init__(self, folder, course):
        import shutil
        import subprocess

        self._subprocess = subprocess
        self.work = folder / "course-work"
        self.bare = folder / "course.git"
        shutil.copytree(course, self.work)
        self.git("init", "-q", "-b", self.BRANCH)
        self.commit("the course")
        self.git("clone", "-q", "--bare", str(self.work), str(self.bare), cwd=folder)
        port = _free_port()
        self.daemon = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={folder}",
             "--listen=127.0.0.1", f"--port={port}", str(folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.url = f"git://127.0.0.1:{port}/course.git"
        deadline = time.monotonic() + 30
        while not _answers(port):
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise ClassroomError("git daemon did not start")
            time.sleep(0.1)

    def git(self, *args, cwd=None):
        self._subprocess.run(["git", "-c", "user.name=instructor", "-c", "user.email=i@example.edu",
                              *args], cwd=cwd or self.work, check=True, capture_output=True,
                             timeout=120)

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        if self.bare.exists():
            self.git("push", "-q", str(self.bare), self.BRANCH)

    def close(self) -> None:
        if self.daemon.poll() is None:
            os.killpg(self.daemon.pid, signal.SIGTERM)
            try:
                self.daemon.wait(10)
            except self._subprocess.TimeoutExpired:
                os.killpg(self.daemon.pid, signal.SIGKILL)
                self.daemon.wait(10)


def missing() -> list[str]:
    """What this machine lacks for a hub test (empty: a hub can run here)."""
    import shutil

    import hub as hubmod

    found = hubmod.problems()
    if shutil.which("bwrap") is None:
        found.append("bubblewrap's bwrap is missing (the grader's sandbox): apt-get install bubblewrap")
    if shutil.which("chromium") is None:
        found.append("no chromium for the first look in a browser: apt-get install chromium")
    try:
        import playwright  # noqa: F401
    except ImportError:
        found.append("playwright is missing: pip install -e '.[ci]'")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class ClassResult:
    students: dict = field(default_factory=dict)     # name -> StudentRecord
    instructor_peak_rss: int = 0
    phases: dict = field(default_factory=dict)       # phase -> seconds
    grades: list = field(default_factory=list)       # the CSV's rows
    expected: dict = field(default_factory=dict)     # name -> {notebook: points}
    instructor_log: dict = field(default_factory=dict)
    left_running: list = field(default_factory=list)  # after the hub stopped
    hub_ports: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)        # failures outside one student
    lessons: list = field(default_factory=list)
    updates: dict = field(default_factory=dict)       # name -> what nbgitpuller's merge left
    as_opened: dict = field(default_factory=dict)     # lesson -> what the browser showed
    lab_notification: dict | None = None              # a student's JupyterLab news settings


def run_class(*, root, students: int, lessons: list[str], workdir, log=lambda text: None,
              prefix=None, hub_log=None) -> ClassResult:
    """A whole class on a real hub, start to finish; everything it made is removed afterwards.

    *workdir* (created, then deleted) holds the hub's state and nbgrader's
    exchange; it must be reachable by every user (not under a 0700 directory).
    Failures are recorded in the result (per student where they belong), not raised,
    except when the hub itself cannot start.  *hub_log* keeps a copy of the hub's
    log (every server's too) before the working directory goes.
    """
    import csv
    import secrets
    import shutil
    from pathlib import Path

    import hub as hubmod
    from exercise_submissions import solution_cells

    root = Path(root)
    source = root / "instructor" / "exercises"
    notebooks = sorted(p.stem for p in source.glob("*.ipynb"))
    names = student_names(students)
    result = ClassResult(lessons=list(lessons))
    records = {n: StudentRecord(n, kind_of(i)) for i, n in enumerate(names)}
    result.students = records
    for n, rec in records.items():
        result.expected[n] = expected_points(source, notebooks, plan_of(rec.kind, notebooks))
    solutions = {nb: solution_cells(source / f"{nb}.ipynb") for nb in notebooks}
    workdir = Path(workdir)
    t_all = time.monotonic()
    prefix = hubmod.install(Path(prefix) if prefix else hubmod.DEFAULT_PREFIX, log=log)
    result.phases["install"] = time.monotonic() - t_all
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    exchange = hubmod.make_exchange(workdir / "exchange")
    repo = CourseRepository(workdir, prefix / "course")
    token = secrets.token_hex(32)
    hub = hubmod.Hub(prefix=prefix, state=workdir / "state", port=hubmod.free_port(),
                     api_port=hubmod.free_port(), proxy_api_port=hubmod.free_port(),
                     exchange=exchange, students=[], instructors=[], service_token=token,
                     settings={"COURSE_REPO": repo.url, "COURSE_BRANCH": repo.BRANCH})
    result.hub_ports = {"public": hub.port, "api": hub.api_port, "proxy_api": hub.proxy_api_port}
    uids = {}
    try:
        for name in [INSTRUCTOR] + names:
            uids[hubmod.create_account(name, instructor=(name == INSTRUCTOR)).pw_uid] = name
        t0 = time.monotonic()
        hub.start()
        result.phases["hub start"] = time.monotonic() - t0
        api = HubClient(hub.url, token)
        with MemorySampler(uids) as memory:
            _class_session(api, hub, result, records, names, lessons, notebooks, solutions,
                           exchange, log, root)
            t0 = time.monotonic()
            _course_update(api, hub, repo, result, names[:2])
            result.phases["course update (nbgitpuller)"] = time.monotonic() - t0
        for name, rec in records.items():
            rec.peak_rss = memory.peak[name]
        result.instructor_peak_rss = memory.peak[INSTRUCTOR]
        csv_path = Path(pwd_home(INSTRUCTOR)) / "grades.csv"
        if csv_path.is_file():
            with open(csv_path, newline="", encoding="utf-8") as f:
                result.grades = list(csv.DictReader(f))
    except Exception as exc:  # noqa: BLE001 -- recorded, then the class is cleaned up
        result.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        t0 = time.monotonic()
        hub.stop()
        repo.close()
        time.sleep(1)
        for uid, name in uids.items():
            still = [p for p in psutil.process_iter(["uids", "cmdline"])
                     if p.info["uids"] and p.info["uids"].real == uid]
            result.left_running += [f"{name}: {' '.join(p.info['cmdline'] or [])[:120]}" for p in still]
        for name in uids.values():
            hubmod.remove_account(name)
        if hub_log is not None and (workdir / "state" / "jupyterhub.log").is_file():
            Path(hub_log).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(workdir / "state" / "jupyterhub.log", hub_log)
        shutil.rmtree(workdir, ignore_errors=True)
        result.phases["stop and clean up"] = time.monotonic() - t0
        result.phases["total"] = time.monotonic() - t_all
    return result


def pwd_home(name: str) -> str:
    import pwd

    return pwd.getpwnam(name).pw_dir


def first_look(hub, server, password: str, lessons: list[str], root, *, timeout: float = 30.0,
               screenshot=None) -> dict:
    """Open every lesson in Chromium as *server*'s student first meets it, through the hub.

    The hub's login page with the student's password, then each lesson from the
    student's copy (``~/netlesson/notebooks``), untrusted and not run.  Per lesson:
    the images and source excerpts the page shows, and the problems
    :func:`labpage.as_opened_problems` finds against the course's stored notebook
    (waiting up to *timeout* s for the page to show everything).  Every cell is
    attached to the page (``windowingMode: none``, as the course's browser tests
    set it), which changes nothing about trust.  The kernels JupyterLab starts
    for the open notebooks are shut down at the end.

    Returns ``{"lessons": {lesson: seen}, "notification": settings}``: what each
    lesson showed, and JupyterLab's effective notification settings for the student.
    """
    import shutil
    from pathlib import Path

    from labpage import _AS_OPENED_JS, as_opened_problems
    from playwright.sync_api import sync_playwright

    name, found = server.name, {}
    user_url = f"{hub.url}/user/{name}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                    args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(f"{hub.url}/hub/login", timeout=60000)
            page.fill("#username_input", name)
            page.fill("#password_input", password)
            page.click("#login_submit")
            page.wait_for_url(f"**/user/{name}/**", timeout=180000)
            page.wait_for_selector(".jp-LabShell", timeout=120000)
            status = page.evaluate("""async (url) => {
              const xsrf = (document.cookie.match(/_xsrf=([^;]+)/) || [])[1] || '';
              const r = await fetch(url, {method: 'PUT', headers: {
                'X-XSRFToken': decodeURIComponent(xsrf), 'Content-Type': 'application/json'},
                body: JSON.stringify({raw: '{"windowingMode": "none"}'})});
              return r.status; }""", f"/user/{name}/lab/api/settings/"
                                     "@jupyterlab/notebook-extension:tracker")
            if status >= 300:
                raise ClassroomError(f"JupyterLab refused the notebook setting: HTTP {status}")
            page.close()
            for lesson in lessons:
                stored = json.loads((Path(root) / "notebooks" / f"{lesson}.ipynb")
                                    .read_text(encoding="utf-8"))
                page = context.new_page()
                page.goto(f"{user_url}/lab/tree/netlesson/notebooks/{lesson}.ipynb?reset",
                          timeout=120000)
                page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell",
                                       timeout=120000, state="attached")
                deadline = time.monotonic() + timeout
                while True:
                    shown = page.evaluate(_AS_OPENED_JS)
                    problems = as_opened_problems(stored, shown)
                    if not problems or time.monotonic() > deadline:
                        break
                    time.sleep(0.5)
                found[lesson] = {
                    "images": sum(len(cell["images"]) for cell in shown),
                    "excerpts": sum(len(cell["excerpts"]) for cell in shown),
                    "problems": [str(problem) for problem in problems],
                }
                if screenshot is not None and lesson.startswith("02"):
                    page.screenshot(path=str(screenshot))
                page.close()
        finally:
            browser.close()
            for session in server.call("GET", "/api/sessions").json():
                server.stop_session(session["id"])
    # the effective values: the student's own settings, else the schema's defaults (where
    # the server applies the installation's overrides.json)
    plugin = server.call("GET", "/lab/api/settings/@jupyterlab/apputils-extension:notification").json()
    own, props = plugin.get("settings") or {}, plugin["schema"]["properties"]
    notification = {key: own.get(key, props[key].get("default"))
                    for key in ("fetchNews", "checkForUpdates")}
    return {"lessons": found, "notification": notification}


def _class_session(api, hub, result, records, names, lessons, notebooks, solutions, exchange, log,
                   root):
    # 1. the instructor and every student, through the REST API; all servers at once
    api.create_user(INSTRUCTOR, admin=True)
    for name in names:
        api.create_user(name)
    everyone = [INSTRUCTOR] + names
    spawn = {}

    def start(name):
        t = time.monotonic()
        try:
            api.start_server(name)
            api.wait_ready(name, timeout=600)
            spawn[name] = time.monotonic() - t
        except (ClassroomError, requests.RequestException) as exc:
            (records[name].errors if name in records else result.errors).append(f"spawn: {exc}")

    t0 = time.monotonic()
    _threads(start, everyone, timeout=700)
    result.phases["spawn (all servers)"] = time.monotonic() - t0
    log(f"spawned {len(spawn)} of {len(everyone)} servers in {result.phases['spawn (all servers)']:.0f} s")
    for name, seconds in spawn.items():
        if name in records:
            records[name].spawn_seconds = seconds
    if INSTRUCTOR not in spawn:
        raise ClassroomError("the instructor's server did not start")
    servers = {name: ServerClient(hub.url, name, api.new_token(name)) for name in spawn}
    teacher = servers[INSTRUCTOR]

    # 1b. one student's first look, in a browser, before anything runs
    first = next((n for n in names if n in servers), None)
    if first is not None:
        t0 = time.monotonic()
        try:
            shot = root / "artifacts" / "hub" / "first_look_02.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            look = first_look(hub, servers[first], hub.user_password, lessons, root, screenshot=shot)
            result.as_opened, result.lab_notification = look["lessons"], look["notification"]
        except Exception as exc:  # noqa: BLE001 -- recorded; the class goes on
            result.errors.append(f"first look in the browser: {type(exc).__name__}: {exc}")
        result.phases["first look (browser)"] = time.monotonic() - t0
        log(f"{first} opened {len(result.as_opened)} lessons in the browser in "
            f"{result.phases['first look (browser)']:.0f} s")

    # 2. the instructor releases the exercises through nbgrader's exchange
    t0 = time.monotonic()
    result.instructor_log["release"] = instructor_step(teacher, "release", timeout=600)
    result.phases["release"] = time.monotonic() - t0
    log(f"released in {result.phases['release']:.0f} s")

    # 3. every student at once: the lessons (first kernels start at the same moment),
    #    then fetch, answer, submit
    present = [n for n in names if n in servers]
    barrier = threading.Barrier(len(present))

    def student(name):
        rec, server = records[name], servers[name]
        t = time.monotonic()
        for i, lesson in enumerate(lessons):
            try:
                run = run_notebook(server, f"netlesson/notebooks/{lesson}.ipynb",
                                   start_barrier=barrier if i == 0 else None)
            except (ClassroomError, requests.RequestException, threading.BrokenBarrierError) as exc:
                run = NotebookRun(name, f"netlesson/notebooks/{lesson}.ipynb",
                                  errors=[f"{type(exc).__name__}: {exc}"])
                if i == 0:
                    barrier.abort()  # the others must not wait for this student
            rec.runs.append(run)
        rec.lessons_seconds = time.monotonic() - t
        try:
            server.assignment_action("fetch", COURSE_ID, ASSIGNMENT)
            plan = plan_of(rec.kind, notebooks)
            for nb in notebooks:
                what = plan.get(nb)
                if what is None:
                    continue
                answers = solutions[nb] if what == "solved" else {
                    gid: solutions[nb][gid] if code == "solved" else code for gid, code in what.items()}
                path = f"{ASSIGNMENT}/{nb}.ipynb"
                server.write_notebook(path, answer_notebook(server.read_notebook(path), answers))
            server.assignment_action("submit", COURSE_ID, ASSIGNMENT)
        except (ClassroomError, requests.RequestException) as exc:
            rec.errors.append(f"nbgrader: {exc}")

    t0 = time.monotonic()
    _threads(student, present, timeout=3000)
    result.phases["lessons, fetch, answer, submit (all students)"] = time.monotonic() - t0
    log(f"lessons and submissions in {time.monotonic() - t0:.0f} s")

    # 4. the instructor collects, grades (a sandbox per notebook) and releases feedback
    for step, limit in (("collect", 300), ("grade", 1500), ("feedback", 600)):
        t0 = time.monotonic()
        try:
            result.instructor_log[step] = instructor_step(teacher, step, timeout=limit)
        except (ClassroomError, requests.RequestException, TimeoutError) as exc:
            result.errors.append(f"instructor {step}: {exc}")
            return
        finally:
            result.phases[step] = time.monotonic() - t0
        log(f"{step} in {result.phases[step]:.0f} s")

    # 5. every student fetches their feedback, then looks at another student's files
    inbound = exchange / COURSE_ID / "inbound"

    def afterwards(name):
        rec, server = records[name], servers[name]
        try:
            server.assignment_action("fetch_feedback", COURSE_ID, ASSIGNMENT)
            folder = f"{ASSIGNMENT}/feedback"
            for stamp in server.listing(folder):
                rec.feedback += [f for f in server.listing(f"{folder}/{stamp}") if f.endswith(".html")]
            other = present[(present.index(name) + 1) % len(present)]
            other_home = pwd_home(other)
            theirs = sorted(inbound.glob(f"{other}+{ASSIGNMENT}+*"))
            code = PROBE.format(
                other_home=other_home,
                other_notebook=f"{other_home}/{ASSIGNMENT}/{notebooks[0]}.ipynb",
                other_cache=f"{other_home}/.local/share/jupyter/nbgrader_cache",
                inbound=str(inbound))
            rec.probe = json.loads(run_code(server, code, timeout=300).strip().splitlines()[-1])
            rec.probe["other_submission_exists"] = bool(theirs)
        except (ClassroomError, requests.RequestException, ValueError, TimeoutError) as exc:
            rec.errors.append(f"after grading: {exc}")

    t0 = time.monotonic()
    _threads(afterwards, present, timeout=900)
    result.phases["fetch feedback, isolation probe"] = time.monotonic() - t0


#: what a student and the instructor both change in the course, and what only one changes
STUDENT_EDIT = "notebooks/00_index.md"
INSTRUCTOR_ONLY = "notebooks/01_socketserver_classes.md"
NEW_FILE = "notebooks/NEWS.md"


def _course_update(api, hub, repo, result, names):
    """The instructor pushes an update; each of *names* edited a file; a restart merges them."""
    from pathlib import Path

    for name in names:
        server = ServerClient(hub.url, name, api.new_token(name))
        text = server.read_text(f"netlesson/{STUDENT_EDIT}")
        server.write_text(f"netlesson/{STUDENT_EDIT}", text + f"\nmy notes ({name})\n")
    edited = repo.work / STUDENT_EDIT
    edited.write_text(edited.read_text(encoding="utf-8") + "\nthe instructor's line\n",
                      encoding="utf-8")
    only = repo.work / INSTRUCTOR_ONLY
    only.write_text(only.read_text(encoding="utf-8") + "\nupdated by the instructor\n",
                    encoding="utf-8")
    Path(repo.work / NEW_FILE).write_text("# what changed\n", encoding="utf-8")
    repo.commit("an update")
    for name in names:
        try:
            api.stop_server(name, timeout=120)
            api.start_server(name)
            api.wait_ready(name, timeout=300)
            server = ServerClient(hub.url, name, api.new_token(name))
            result.updates[name] = {
                "own_edit_kept": f"my notes ({name})" in server.read_text(f"netlesson/{STUDENT_EDIT}"),
                "instructor_change_arrived": "updated by the instructor" in server.read_text(
                    f"netlesson/{INSTRUCTOR_ONLY}"),
                "new_file_arrived": "NEWS.md" in server.listing("netlesson/notebooks"),
            }
        except (ClassroomError, requests.RequestException) as exc:
            result.updates[name] = {"error": str(exc)}


def report(result: ClassResult) -> dict:
    """The numbers benchmarks/ keeps: spawn time, lessons time, peak memory per student."""
    import statistics

    def summary(values):
        values = sorted(values)
        if not values:
            return {}
        return {"min": round(values[0], 1), "median": round(statistics.median(values), 1),
                "max": round(values[-1], 1)}

    recs = list(result.students.values())
    per_lesson = {}
    for rec in recs:
        for run in rec.runs:
            per_lesson.setdefault(run.notebook.rsplit("/", 1)[-1], []).append(run.seconds)
    mib = 1024 * 1024
    return {
        "students": len(recs),
        "lessons": result.lessons,
        "phases_seconds": {k: round(v, 1) for k, v in result.phases.items()},
        "spawn_seconds": summary([r.spawn_seconds for r in recs if r.spawn_seconds]),
        "all_lessons_seconds_per_student": summary([r.lessons_seconds for r in recs if r.lessons_seconds]),
        "lesson_seconds_median": {k: round(statistics.median(v), 1) for k, v in sorted(per_lesson.items())},
        "peak_memory_mib_per_student": summary([r.peak_rss / mib for r in recs if r.peak_rss]),
        "instructor_peak_memory_mib": round(result.instructor_peak_rss / mib, 1),
        "notebook_runs": sum(len(r.runs) for r in recs),
        "notebook_runs_with_errors": sum(1 for r in recs for run in r.runs if run.errors),
        "first_look": {
            "lessons": len(result.as_opened),
            "images": sum(seen["images"] for seen in result.as_opened.values()),
            "excerpts": sum(seen["excerpts"] for seen in result.as_opened.values()),
            "problems": sum(len(seen["problems"]) for seen in result.as_opened.values()),
        },
    }
