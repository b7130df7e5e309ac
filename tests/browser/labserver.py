"""Start and stop a private JupyterLab server for the browser tests.

Why a private server rather than whatever ``jupyter lab`` the developer has
open: a test must see the course exactly as a student who just cloned the
repository sees it.  So the server gets

* a throw-away copy of ``notebooks/`` as its root, so running cells (which
  store outputs, create checkpoints, may write files) never touches the
  working tree;
* fresh runtime, config, workspace and user-settings directories, so no saved
  layout, open tab, theme or ``~/.jupyter`` config of the developer changes
  what the page looks like -- while the data path still contains the
  virtualenv's ``share/jupyter`` (``sys.prefix``), where the ipywidgets lab
  extension and the ``python3`` kernelspec are installed;
* 127.0.0.1, a free port and a random token, like a real local server;
* no outbound network: news and update checks are switched off (CI has only
  loopback, and a "news" toast would cover part of the page).

The server runs in its own process group.  :meth:`LabServer.stop` asks it to
shut down over its REST API (which shuts the kernels down), then signals the
group, then kills any kernel that is left -- kernels start their own sessions,
so they are found by the connection files in this server's private runtime
directory, which no other process on the machine refers to.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import secrets
from pathlib import Path

#: JupyterLab user settings written into the fresh settings directory.
#: ``windowingMode: none`` attaches every cell to the DOM: JupyterLab 4 otherwise
#: may detach (or skip rendering of) cells outside the viewport, and the checks
#: below must see the outputs of every cell, not only the visible ones.
USER_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none",
    },
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}

#: Server-side configuration (``jupyter_server_config.json`` in the fresh config dir).
SERVER_CONFIG = {
    "LabApp": {
        "news_url": None,
        "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate",
    },
    "ServerApp": {
        # Fail instead of silently moving to the next port, which the tests would not poll.
        "port_retries": 0,
    },
}


class LabServerError(RuntimeError):
    """JupyterLab did not come up; the message carries the end of its log."""


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1 (start() retries if it is taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """One ``jupyter lab`` process serving a copy of a notebook folder.

    Use :meth:`start` (a classmethod) and always :meth:`stop` -- the session
    fixture does both, the latter in a ``finally``.
    """

    def __init__(self, root: Path, base: Path, port: int, token: str,
                 process: subprocess.Popen, log_path: Path):
        self.root = root            # the throw-away copy of notebooks/
        self.base = base            # everything private to this server
        self.port = port
        self.token = token
        self.process = process
        self.log_path = log_path
        self.runtime_dir = base / "runtime"
        self._ending: dict[str, threading.Thread] = {}  # relpath -> end_sessions in progress

    # -- start ---------------------------------------------------------------
    @classmethod
    def start(cls, notebooks: Path, base: Path | None = None, *, python: str = sys.executable,
              timeout: float = 90.0, attempts: int = 3) -> "LabServer":
        """Copy *notebooks* and serve the copy; return once ``/api/status`` answers.

        Raises :class:`LabServerError` (with the server's log) if it does not
        answer within *timeout* seconds.  A port taken between choosing and
        binding it is retried with another port.
        """
        base = Path(tempfile.mkdtemp(prefix="netlesson-lab-")) if base is None else Path(base)
        root = base / "notebooks"
        if notebooks.is_dir():
            shutil.copytree(notebooks, root,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        else:
            root.mkdir(parents=True)
        env = cls._prepare_dirs(base, python)
        last_error: Exception | None = None
        for attempt in range(attempts):
            port = free_port()
            token = secrets.token_hex(24)
            log_path = base / f"jupyter-lab-{attempt}.log"
            cmd = [
                python, "-m", "jupyter", "lab",
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root}",
                f"--LabApp.workspaces_dir={base / 'workspaces'}",
                f"--LabApp.user_settings_dir={base / 'config' / 'lab' / 'user-settings'}",
            ]
            if hasattr(os, "geteuid") and os.geteuid() == 0:
                cmd.append("--allow-root")
            with open(log_path, "wb") as log:
                process = subprocess.Popen(cmd, cwd=root, env=env, stdout=log,
                                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           start_new_session=True)
            server = cls(root, base, port, token, process, log_path)
            try:
                server._wait_ready(timeout)
                return server
            except LabServerError as exc:
                last_error = exc
                server.stop()
                if "already in use" not in server.log_tail().lower():
                    break  # not a port clash: trying another port would not help
        raise last_error  # type: ignore[misc]

    @staticmethod
    def _prepare_dirs(base: Path, python: str) -> dict:
        """Fresh Jupyter/IPython directories; an environment that points at them."""
        for name in ("runtime", "config", "data", "workspaces", "ipython"):
            (base / name).mkdir(parents=True, exist_ok=True)
        settings_dir = base / "config" / "lab" / "user-settings"
        for rel, value in USER_SETTINGS.items():
            path = settings_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value, indent=2), encoding="utf-8")
        (base / "config" / "jupyter_server_config.json").write_text(
            json.dumps(SERVER_CONFIG, indent=2), encoding="utf-8")
        env = dict(os.environ)
        env.update({
            "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
            "JUPYTER_CONFIG_DIR": str(base / "config"),
            # The user-level data dir moves here; the virtualenv's share/jupyter
            # (sys.prefix) stays on the data path, so the ipywidgets lab
            # extension and the python3 kernelspec are still found.
            "JUPYTER_DATA_DIR": str(base / "data"),
            "IPYTHONDIR": str(base / "ipython"),
            "JUPYTER_PLATFORM_DIRS": "0",
            "PYTHONUNBUFFERED": "1",
            "BROWSER": "true",  # belt and braces next to --no-browser
        })
        for var in ("JUPYTER_PATH", "JUPYTER_CONFIG_PATH", "JUPYTERLAB_SETTINGS_DIR",
                    "JUPYTERLAB_WORKSPACES_DIR", "JUPYTER_TOKEN"):
            env.pop(var, None)
        # The kernel runs ``python`` resolved to the server's interpreter; tools the
        # notebooks call (``jupyter``, the netlesson CLI) come from the same venv.
        env["PATH"] = str(Path(python).parent) + os.pathsep + env.get("PATH", "")
        return env

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LabServerError(
                    f"jupyter lab exited with status {self.process.returncode} before it "
                    f"answered; end of its log:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.api_url("status"), timeout=2) as resp:
                    if resp.status == 200:
                        json.load(resp)
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
                pass
            time.sleep(0.25)
        raise LabServerError(
            f"jupyter lab did not answer {self.url}api/status within {timeout:.0f} s; "
            f"end of its log:\n{self.log_tail()}")

    # -- addresses -----------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def api_url(self, path: str) -> str:
        return f"{self.url}api/{path}?token={self.token}"

    def lab_url(self) -> str:
        """JupyterLab's start page, logged in with the token.

        ``reset`` starts from the default layout instead of restoring a saved
        workspace, so no tab from an earlier page load is reopened.
        """
        return f"{self.url}lab?reset&token={self.token}"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    # -- REST helpers --------------------------------------------------------
    def _request(self, method: str, path: str, timeout: float = 5.0):
        req = urllib.request.Request(self.api_url(path), method=method,
                                     data=None if method == "GET" else b"")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def sessions(self) -> list[dict]:
        return self._request("GET", "sessions")

    def start_session(self, relpath: str) -> bool:
        """Start the kernel for notebook *relpath* before a student opens it.

        JupyterLab, opening a notebook, joins the session that exists for its
        path -- the same as reopening a notebook whose kernel still runs -- so
        the notebook then opens without waiting for a kernel to start.  The
        kernel is fresh: nothing has run in it.  Returns ``False`` (and starts
        nothing) when the notebook names no kernelspec: JupyterLab then asks
        the student to pick one, and the test should see that dialog.
        """
        try:
            nb = json.loads((self.root / relpath).read_text(encoding="utf-8"))
            kernel = nb["metadata"]["kernelspec"]["name"]
        except (OSError, ValueError, KeyError, TypeError):
            return False
        self.wait_ended(relpath)
        if any(s.get("path") == relpath for s in self.sessions()):
            return True
        body = json.dumps({"path": relpath, "name": Path(relpath).name, "type": "notebook",
                           "kernel": {"name": kernel}}).encode()
        req = urllib.request.Request(self.api_url("sessions"), data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
        return True

    def end_sessions(self, relpath: str, *, wait: bool = True) -> None:
        """End every session of notebook *relpath* (its kernel, and servers it started, stop).

        With ``wait=False`` this happens in a background thread, which
        :meth:`stop` joins.
        """
        def end():
            for session in self.sessions():
                if session.get("path") == relpath:
                    try:
                        self._request("DELETE", f"sessions/{session['id']}", timeout=30)
                    except urllib.error.HTTPError as exc:
                        if exc.code != 404:  # 404: already gone
                            raise

        self.wait_ended(relpath)
        if wait:
            end()
            return
        thread = threading.Thread(target=self._quietly, args=(end,), daemon=True,
                                  name=f"end-session {relpath}")
        thread.start()
        self._ending[relpath] = thread

    def wait_ended(self, relpath: str, timeout: float = 30.0) -> None:
        """Wait for a background :meth:`end_sessions` of *relpath* to finish.

        Opening a notebook whose old session is still being deleted would
        make JupyterLab join that session -- and lose its kernel a moment later.
        """
        thread = self._ending.pop(relpath, None)
        if thread is not None:
            thread.join(timeout)

    @staticmethod
    def _quietly(func) -> None:
        try:
            func()
        except (OSError, ValueError):
            pass  # the server is going away; stop() cleans up what is left

    # -- stop ----------------------------------------------------------------
    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server and every kernel it started.  Safe to call twice."""
        for relpath in list(self._ending):
            self.wait_ended(relpath, timeout)
        if self.process.poll() is None:
            try:
                self._request("POST", "shutdown", timeout=5)
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(5)
                except subprocess.TimeoutExpired:
                    self._signal_group(self.process.pid, signal.SIGKILL)
                    self.process.wait(5)
        # Whatever is left in the server's process group (it leads its own session).
        self._signal_group(self.process.pid, signal.SIGKILL)
        for pid in self._orphan_kernel_pids():
            try:
                pgid = os.getpgid(pid)
            except ProcessLookupError:
                continue
            if pgid == pid:  # a kernel leads its own session: take its children too
                self._signal_group(pid, signal.SIGKILL)
            else:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    @staticmethod
    def _signal_group(pid: int, sig: int) -> None:
        """Signal the process group led by *pid* (started with a new session).

        Never our own group: that would take pytest down with it.
        """
        if pid == os.getpgrp():
            return
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _orphan_kernel_pids(self) -> list[int]:
        """Processes whose command line names a file in this server's runtime dir.

        Kernels are started with ``-f RUNTIME/kernel-ID.json``; the runtime dir
        is private to this server, so this matches our kernels and nothing else.
        """
        marker = str(self.runtime_dir)
        pids = []
        proc = Path("/proc")
        if not proc.is_dir():
            return pids
        for entry in proc.iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                    "utf-8", "replace")
            except OSError:
                continue
            if marker in cmdline:
                pids.append(int(entry.name))
        return pids
