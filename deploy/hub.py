#!/usr/bin/env python3
"""A real JupyterHub for the course on one Linux machine: install it, give it accounts, run it.

``make hub`` runs ``python3 deploy/hub.py run``: it installs (or updates) the
hub, creates an instructor and a few student accounts, starts JupyterHub with
the one-machine configuration (``deploy/local/jupyterhub_config.py``) and prints
the URL and the passwords.  Ctrl-C stops the hub and every server it started;
the accounts stay until ``python3 deploy/hub.py remove-accounts``.  The
classroom test (``tests/hub/``) drives the same functions.

What :func:`install` puts under the prefix (default ``/opt/netlesson-hub``),
all readable by every user and written only by root:

``python/``  a copy of the Python that built it, when that one is not
             executable by other users (e.g. under root's 0700 home); the copy's
             library path is made relative with ``patchelf``
``env/``     one virtual environment for the hub and the students' servers:
             the course's runtime, JupyterHub, nbgrader's student side (only
             the assignment list is enabled) and nbgitpuller, installed with
             ``constraints.txt``
``src/``     the netlesson package, copied from the checkout and installed
             editable from here: students never read the checkout
``env/etc/jupyter/``  kernels on IPC transport; nbgrader's exchange and course id
``proxy/``   configurable-http-proxy, installed by ``npm ci`` from the pinned
             ``deploy/local/proxy/package-lock.json``
``course/``  what a new student gets in ``~/netlesson``: ``notebooks/`` and ``pics/``

Accounts are ordinary system users (``useradd``), homes mode 0700.  The test
authenticator (``shared-password``) is for trying the hub only: anyone with the
printed password can log in as any student.  A class uses PAM (the local
accounts' own passwords) or the site's login: see docs/instructors.md.

Needs root, Linux, Node.js >= 18 with npm, and Python >= 3.11.5.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
CONFIG = DEPLOY / "local" / "jupyterhub_config.py"
PROXY_PINS = DEPLOY / "local" / "proxy"
SINGLEUSER = DEPLOY / "local" / "singleuser"
DEFAULT_PREFIX = Path("/opt/netlesson-hub")
DEFAULT_STATE = Path("/srv/netlesson-hub")
DEFAULT_EXCHANGE = Path("/srv/nbgrader/exchange")
#: nbgrader's course id (netlesson.instructor.COURSE_ID)
COURSE_ID = "netlesson"
#: nbgrader's lab plugins and server extensions students do not get: only the
#: assignment list (fetch, submit, fetch feedback) stays
NBGRADER_SERVER_OFF = ("formgrader", "course_list", "validate_assignment")
NBGRADER_LAB_OFF = ("formgrader", "create-assignment", "course-list", "validate-assignment")
#: JupyterLab settings every student starts with (as ``make setup`` writes for ``make lab``,
#: and binder/postBuild for Binder): no "official Jupyter news?" question and no update
#: check on a student's first screen
LAB_OVERRIDES = {"@jupyterlab/apputils-extension:notification":
                 {"fetchNews": "false", "checkForUpdates": False}}
#: the node version configurable-http-proxy 5.1 needs
NODE_MAJOR = 18


class HubProblem(RuntimeError):
    """The hub cannot be installed or started here; the message says why and what to do."""


def log_line(text: str) -> None:
    print(text, flush=True)


# ---------------------------------------------------------------------------
# what this machine must have
# ---------------------------------------------------------------------------
def problems() -> list[str]:
    """Why a multi-user hub cannot run here (empty when it can)."""
    found = []
    if not sys.platform.startswith("linux"):
        found.append("the one-machine hub runs on Linux only")
    if os.geteuid() != 0:
        found.append("the hub must run as root: it starts each student's server as that "
                     "student's own system user (run `sudo make hub`)")
    for tool in ("useradd", "userdel", "runuser"):
        if shutil.which(tool) is None:
            found.append(f"`{tool}` is missing (package passwd / util-linux)")
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        found.append("Node.js and npm are missing (JupyterHub's proxy is a Node program): "
                     "apt-get install nodejs npm")
    else:
        version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
        major = int(version.strip().lstrip("v").split(".")[0] or 0)
        if major < NODE_MAJOR:
            found.append(f"Node.js {version.strip()} is too old for configurable-http-proxy "
                         f"(needs >= {NODE_MAJOR})")
    return found


# ---------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------
def _inputs_digest(python: str) -> str:
    """What the installation is made from: when it changes, install again."""
    h = hashlib.sha256(os.path.realpath(python).encode())
    files = [ROOT / "pyproject.toml", ROOT / "constraints.txt", Path(__file__),
             DEPLOY / "course_loop.py",
             PROXY_PINS / "package-lock.json"]
    files += sorted((ROOT / "netlesson").rglob("*.py")) + sorted((ROOT / "netlesson").rglob("*.mo"))
    files += sorted(SINGLEUSER.rglob("*"))
    for tree in ("notebooks", "pics"):
        files += sorted(p for p in (ROOT / tree).rglob("*") if ".ipynb_checkpoints" not in p.parts)
    for path in files:
        if path.is_file():
            h.update(str(path.relative_to(ROOT)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _runs_for_others(python: str) -> bool:
    """Can another user (``nobody``) run this Python, and is it >= 3.11.5?"""
    if os.geteuid() != 0:
        return True  # nobody else will run it: this hub runs as you
    probe = "import sys; sys.exit(0 if sys.version_info >= (3, 11, 5) else 3)"
    try:
        return subprocess.run(["runuser", "-u", "nobody", "--", python, "-c", probe],
                              capture_output=True, timeout=60, cwd="/").returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _base_python(python: str) -> tuple[Path, str]:
    """(base prefix, X.Y) of the interpreter *python* (its venv's base if it is one)."""
    out = subprocess.run([python, "-c", "import sys; print(sys.base_prefix); "
                                        "print('%d.%d' % sys.version_info[:2])"],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    return Path(out[0]), out[1]


def _ensure_patchelf() -> str:
    tool = shutil.which("patchelf")
    if tool is None and os.geteuid() == 0 and shutil.which("apt-get"):
        log_line("Installing patchelf with apt-get (to relocate the copied Python) ...")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "-qq", "patchelf"], env=env,
                       stdout=subprocess.DEVNULL, check=False)
        tool = shutil.which("patchelf")
    if tool is None:
        raise HubProblem("patchelf is missing (apt-get install patchelf), or pass --python with a "
                         "Python >= 3.11.5 that every user can run (e.g. /usr/local/bin/python3.12)")
    return tool


def _copy_python(python: str, target: Path) -> str:
    """Copy *python*'s interpreter and standard library to *target*; return the copy's path.

    Used when the interpreter lives where students cannot reach it (pyenv under
    /root, mode 0700).  Site-packages and the test suite are left out.  A shared
    ``libpython`` is found through a relative library path (``$ORIGIN/../lib``).
    """
    base, xy = _base_python(python)
    if target.exists():
        shutil.rmtree(target)
    (target / "bin").mkdir(parents=True)
    (target / "lib").mkdir()
    binary = base / "bin" / f"python{xy}"
    shutil.copy2(binary, target / "bin" / f"python{xy}")
    for name in ("python3", "python"):
        (target / "bin" / name).symlink_to(f"python{xy}")
    for lib in (base / "lib").glob(f"libpython{xy}*.so*"):
        shutil.copy2(lib, target / "lib" / lib.name, follow_symlinks=False)
    shutil.copytree(base / "lib" / f"python{xy}", target / "lib" / f"python{xy}", symlinks=True,
                    ignore=shutil.ignore_patterns("site-packages", "test", "idle_test"))
    (target / "lib" / f"python{xy}" / "site-packages").mkdir()
    if any((target / "lib").glob("libpython*.so*")):
        patchelf = _ensure_patchelf()
        subprocess.run([patchelf, "--set-rpath", "$ORIGIN/../lib", str(target / "bin" / f"python{xy}")],
                       check=True)
    return str(target / "bin" / f"python{xy}")


def _run(cmd: list[str], logfile: Path, what: str, **kwargs) -> None:
    with open(logfile, "a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(map(str, cmd))}\n")
        out.flush()
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, **kwargs)
    if proc.returncode != 0:
        tail = "".join(logfile.read_text(encoding="utf-8", errors="replace").splitlines(True)[-30:])
        raise HubProblem(f"{what} failed (exit status {proc.returncode}); the end of {logfile}:\n{tail}")


def install(prefix: Path = DEFAULT_PREFIX, python: str | None = None, *, log=log_line) -> Path:
    """Install or update the hub under *prefix*; return *prefix*.  Nothing is done when up to date.

    *python* builds the environment (default: this interpreter's base).  When
    other users cannot run it, a copy is made under ``prefix/python``.
    """
    prefix = Path(prefix)
    python = python or getattr(sys, "_base_executable", sys.executable)
    stamp = prefix / ".netlesson-hub-installed"
    digest = _inputs_digest(python)
    if stamp.is_file() and stamp.read_text().strip() == digest and (prefix / "env" / "bin" / "jupyterhub").exists():
        return prefix
    prefix.mkdir(parents=True, exist_ok=True)
    prefix.chmod(0o755)
    logfile = prefix / "install.log"
    logfile.write_text("")
    log(f"Installing the hub into {prefix} (log: {logfile}) ...")
    base = python if _runs_for_others(python) else _copy_python(python, prefix / "python")
    env = prefix / "env"
    if env.exists():
        shutil.rmtree(env)
    _run([base, "-m", "venv", str(env)], logfile, "creating the virtual environment")
    pip = [str(env / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    _run(pip + ["install", "-q", "--upgrade", "pip"], logfile, "upgrading pip")
    # netlesson from a copy every user can read (prefix/src), installed editable:
    # the grader's sandbox mounts the interpreter's prefixes but never the
    # directory above the package (for a checkout: the repository), and for a
    # non-editable install that directory would be site-packages itself.
    # editable_mode=compat puts prefix/src/netlesson on sys.path (a .pth line),
    # so the real package is found before a folder named netlesson in the
    # current directory (a student's ~/netlesson, when Python runs from ~).
    source = _project_copy(prefix / "src" / "netlesson")
    _run(pip + ["install", "-q", "-c", str(ROOT / "constraints.txt"),
                "--config-settings", "editable_mode=compat", "-e", f"{source}[hub]"],
         logfile, "pip install netlesson[hub]")
    _configure_singleuser(env, logfile)
    # the instructor's loop (deploy/course_loop.py) as a command of the environment
    tool = env / "bin" / "netlesson-course"
    tool.write_text(f"#!{env / 'bin' / 'python'}\n" + (DEPLOY / "course_loop.py").read_text())
    tool.chmod(0o755)
    _install_proxy(prefix / "proxy", logfile)
    _install_course(prefix / "course")
    subprocess.run(["chmod", "-R", "u+rwX,go+rX,go-w", str(prefix)], check=True)
    stamp.write_text(digest + "\n")
    log(f"Installed: {prefix}")
    return prefix


def _project_copy(target: Path) -> Path:
    """What pip needs to build netlesson, copied to *target* (no .git, no venvs, no instructor/)."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, target / name)
    shutil.copytree(ROOT / "netlesson", target / "netlesson",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def _configure_singleuser(env: Path, logfile: Path) -> None:
    """Students' servers: kernels on IPC; nbgrader's exchange; only the assignment list;
    JupyterLab's news question off."""
    etc = env / "etc" / "jupyter"
    (etc / "jupyter_server_config.d").mkdir(parents=True, exist_ok=True)
    for path in SINGLEUSER.rglob("*"):
        if path.is_file() and path.name != "README.md":
            target = etc / path.relative_to(SINGLEUSER)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    jupyter = str(env / "bin" / "jupyter")
    for ext in NBGRADER_SERVER_OFF:
        _run([jupyter, "server", "extension", "disable", "--sys-prefix",
              f"nbgrader.server_extensions.{ext}"], logfile, f"disabling nbgrader's {ext}")
    for plugin in NBGRADER_LAB_OFF:
        _run([jupyter, "labextension", "disable", "--level=sys_prefix",
              f"@jupyter/nbgrader:{plugin}"], logfile, f"disabling nbgrader's {plugin} panel")
    # locked: a student cannot switch them back on in JupyterLab's plugin manager
    page_config = etc / "labconfig" / "page_config.json"
    settings = json.loads(page_config.read_text())
    settings.setdefault("lockedExtensions", {}).update(
        {f"@jupyter/nbgrader:{plugin}": True for plugin in NBGRADER_LAB_OFF})
    page_config.write_text(json.dumps(settings, indent=2) + "\n")
    overrides = env / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    overrides.parent.mkdir(parents=True, exist_ok=True)
    overrides.write_text(json.dumps(LAB_OVERRIDES, indent=2) + "\n")


def _install_proxy(target: Path, logfile: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(PROXY_PINS / name, target / name)
    npm = shutil.which("npm")
    if npm is None:
        raise HubProblem("npm is missing: apt-get install nodejs npm")
    _run([npm, "ci", "--no-audit", "--no-fund", "--omit=dev"], logfile,
         "npm ci (configurable-http-proxy)", cwd=target)


def _install_course(target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    for tree in ("notebooks", "pics"):
        shutil.copytree(ROOT / tree, target / tree, ignore=ignore)


# ---------------------------------------------------------------------------
# accounts
# ---------------------------------------------------------------------------
def create_account(name: str, *, instructor: bool = False) -> pwd.struct_passwd:
    """A system user *name* with a private home (0700); an instructor also gets the exercise sources.

    An existing user is kept as it is (its home is still made private).
    """
    try:
        user = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", "--comment",
                        "netlesson hub " + ("instructor" if instructor else "student"), name],
                       check=True, capture_output=True)
        user = pwd.getpwnam(name)
    home = Path(user.pw_dir)
    home.chmod(0o700)
    if instructor:
        course = home / "netlesson"
        if not course.exists():
            # the instructor's checkout: the exercise sources (with solutions) grading reads
            course.mkdir()
            shutil.copytree(ROOT / "instructor", course / "instructor",
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
            subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(course)], check=True)
    return user


def remove_account(name: str) -> None:
    """Stop every process of *name* and delete the user and its home."""
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    kill_user_processes(uid)
    subprocess.run(["userdel", "--remove", name], capture_output=True, check=False)


def kill_user_processes(uid: int, grace: float = 3.0) -> list[int]:
    """SIGTERM, then SIGKILL, every process whose real uid is *uid*; return their pids."""
    def pids():
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if entry.stat().st_uid == uid:
                        found.append(int(entry.name))
                except OSError:
                    pass
        return found

    first = pids()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids():
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + grace
        while pids() and time.monotonic() < deadline:
            time.sleep(0.1)
    return first


# ---------------------------------------------------------------------------
# the exchange
# ---------------------------------------------------------------------------
def make_exchange(path: Path = DEFAULT_EXCHANGE) -> Path:
    """nbgrader's exchange: a directory everyone may write, nobody may delete others' files (1777)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o1777)
    return path


# ---------------------------------------------------------------------------
# the hub process
# ---------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Hub:
    """A running JupyterHub (and its proxy), started by :meth:`start`, stopped by :meth:`stop`."""

    prefix: Path
    state: Path
    port: int
    api_port: int
    proxy_api_port: int
    exchange: Path
    students: list[str]
    instructors: list[str]
    user_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    service_token: str | None = None
    #: more NETLESSON_HUB_* settings for jupyterhub_config.py, e.g. {"COURSE_REPO": url}
    settings: dict = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "NETLESSON_HUB"))}
        env.update({
            "NETLESSON_HUB_PREFIX": str(self.prefix),
            "NETLESSON_HUB_BIND_URL": self.url,
            "NETLESSON_HUB_API_URL": f"http://127.0.0.1:{self.api_port}",
            "NETLESSON_HUB_PROXY_API_URL": f"http://127.0.0.1:{self.proxy_api_port}",
            "NETLESSON_EXCHANGE": str(self.exchange),
            "NETLESSON_HUB_STUDENTS": ",".join(self.students),
            "NETLESSON_HUB_INSTRUCTORS": ",".join(self.instructors),
            "NETLESSON_HUB_AUTH": "shared-password",
            "NETLESSON_HUB_USER_PASSWORD": self.user_password,
            "NETLESSON_HUB_ADMIN_PASSWORD": self.admin_password,
        })
        if self.service_token:
            env["NETLESSON_HUB_SERVICE_TOKEN"] = self.service_token
        env.update({f"NETLESSON_HUB_{key}": value for key, value in self.settings.items()})
        return env

    def start(self, timeout: float = 120.0) -> "Hub":
        self.state.mkdir(parents=True, exist_ok=True)
        self.state.chmod(0o700)
        logfile = open(self.state / "jupyterhub.log", "ab")
        self.process = subprocess.Popen(
            [str(self.prefix / "env" / "bin" / "jupyterhub"), "-f", str(CONFIG)],
            cwd=self.state, env=self.environment(), stdout=logfile, stderr=subprocess.STDOUT,
            start_new_session=True)
        logfile.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise HubProblem(f"JupyterHub exited with status {self.process.returncode}; "
                                 f"the end of its log:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/hub/api/", timeout=5) as reply:
                    if reply.status == 200:
                        return self
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.5)
        self.stop()
        raise HubProblem(f"JupyterHub did not answer within {timeout:.0f} s; the end of its log:\n"
                         f"{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        path = self.state / "jupyterhub.log"
        if not path.is_file():
            return "(no log)"
        return "".join(path.read_text(encoding="utf-8", errors="replace").splitlines(True)[-lines:])

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the hub: it stops every single-user server and the proxy (cleanup_servers)."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


# ---------------------------------------------------------------------------
# make hub
# ---------------------------------------------------------------------------
def _run_hub(args) -> int:
    found = problems()
    if found:
        print("make hub cannot start a hub here:\n  - " + "\n  - ".join(found), file=sys.stderr)
        return 1
    prefix = install(Path(args.prefix), args.python)
    students = [f"{args.student_prefix}{i:02d}" for i in range(1, args.students + 1)]
    instructors = [args.instructor]
    for name in instructors:
        create_account(name, instructor=True)
    for name in students:
        create_account(name)
    exchange = make_exchange(Path(args.exchange))
    state = Path(args.state)
    state.mkdir(parents=True, exist_ok=True)
    secrets_file = state / "passwords.json"
    if secrets_file.is_file():
        saved = json.loads(secrets_file.read_text())
    else:
        saved = {"user": secrets.token_urlsafe(12), "admin": secrets.token_urlsafe(32)}
        secrets_file.write_text(json.dumps(saved))
        secrets_file.chmod(0o600)
    hub = Hub(prefix=prefix, state=state, port=args.port, api_port=args.api_port,
              proxy_api_port=args.proxy_api_port, exchange=exchange, students=students,
              instructors=instructors, user_password=saved["user"], admin_password=saved["admin"])
    # Started without a terminal (nohup, a service manager, `&` in a script), this
    # process has SIGINT ignored and is stopped with SIGTERM (or SIGHUP when its
    # terminal goes away).  The hub runs in a session of its own and outlives us
    # unless we stop it, so both end here the way Ctrl-C does.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    try:
        hub.start()
        print(f"""
JupyterHub is running: {hub.url}
  students:   {', '.join(students)}   password: {saved['user']}
  instructor: {args.instructor}   password: {saved['admin']}   (admin; nbgrader in a terminal)
  (the test authenticator: for trying only -- see docs/instructors.md for a class)
  log: {state / 'jupyterhub.log'}
Ctrl-C (or SIGTERM) stops the hub and every student's server.  Remove the accounts with
  python3 deploy/hub.py remove-accounts
""", flush=True)
        while hub.process is not None and hub.process.poll() is None:
            time.sleep(1)
        print(f"JupyterHub stopped; the end of its log:\n{hub.log_tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping the hub ...", flush=True)
        return 0
    finally:
        _ignore_stop_signals()  # a second Ctrl-C or SIGTERM must not cut the stop short
        hub.stop()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _ignore_stop_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)


def _remove_accounts(args) -> int:
    names = [args.instructor] + [u.pw_name for u in pwd.getpwall()
                                 if u.pw_name.startswith(args.student_prefix)]
    for name in names:
        remove_account(name)
        print(f"removed {name}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("install", "run", "remove-accounts"):
        p = sub.add_parser(name)
        p.add_argument("--prefix", default=str(DEFAULT_PREFIX), help="where the hub is installed")
        p.add_argument("--python", default=None, help="the Python that builds it (>= 3.11.5)")
        p.add_argument("--state", default=str(DEFAULT_STATE),
                       help="the hub's database, cookie secret, log and passwords (root only)")
        p.add_argument("--exchange", default=str(DEFAULT_EXCHANGE), help="nbgrader's exchange")
        p.add_argument("--port", type=int, default=8000, help="the hub's URL (127.0.0.1:PORT)")
        p.add_argument("--api-port", type=int, default=8090,
                       help="the hub's internal API (not 8081: the course's own port)")
        p.add_argument("--proxy-api-port", type=int, default=8001, help="the proxy's API")
        p.add_argument("--students", type=int, default=3, help="how many student accounts")
        p.add_argument("--student-prefix", default="nlstu", help="student account names: PREFIX01, ...")
        p.add_argument("--instructor", default="nlteacher", help="the instructor's account")
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            found = [p for p in problems() if "root" not in p] if os.geteuid() != 0 else problems()
            if found:
                print("cannot install the hub here:\n  - " + "\n  - ".join(found), file=sys.stderr)
                return 1
            install(Path(args.prefix), args.python)
            return 0
        if args.command == "run":
            return _run_hub(args)
        return _remove_accounts(args)
    except HubProblem as exc:
        print(exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
