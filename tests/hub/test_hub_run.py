"""``make hub`` started without a terminal: SIGTERM stops the hub and everything it started.

``deploy/hub.py run`` starts JupyterHub in a session of its own (so that a Ctrl-C
in the terminal reaches only deploy/hub.py, which then stops the hub in order).
Started under ``nohup``, by a service manager or with ``&`` in a script, the
command has SIGINT ignored and is stopped with SIGTERM; before it handled
SIGTERM, the hub and its proxy outlived it and had to be killed by hand.

Needs what tests/hub/test_hub_classroom.py needs (root, the installed hub);
skipped with the reason otherwise, failed when CI sets NETLESSON_REQUIRE_HUB=1.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest

import hubdriver

pytestmark = pytest.mark.timeout(1200)

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = os.environ.get("NETLESSON_REQUIRE_HUB") == "1"
MISSING = hubdriver.missing()
if MISSING and not REQUIRED:
    pytest.skip("no JupyterHub here: " + "; ".join(MISSING), allow_module_level=True)

STUDENT_PREFIX = "nltrun"
INSTRUCTOR = "nltrunteach"
#: the first run installs the hub (minutes); later runs only start it
START_TIMEOUT = 900


def _lines_of(proc) -> queue.Queue:
    lines: queue.Queue = queue.Queue()

    def pump():
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _wait_for(lines: queue.Queue, text: str, timeout: float) -> list[str]:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            break
        seen.append(line)
        if text in line:
            return seen
    pytest.fail(f"no {text!r} from deploy/hub.py run; it printed:\n{''.join(seen)}")


def _ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as nohup, systemd or `cmd &` leave it


def test_sigterm_stops_a_hub_started_without_a_terminal():
    if MISSING:
        pytest.fail("NETLESSON_REQUIRE_HUB=1 but: " + "; ".join(MISSING))
    import hub as hubmod

    workdir = Path(tempfile.mkdtemp(prefix="netlesson-hub-run-", dir="/srv"))
    workdir.chmod(0o755)
    port, api_port, proxy_api_port = (hubdriver._free_port() for _ in range(3))
    command = [sys.executable, str(ROOT / "deploy" / "hub.py"), "run",
               "--students", "1", "--student-prefix", STUDENT_PREFIX, "--instructor", INSTRUCTOR,
               "--port", str(port), "--api-port", str(api_port),
               "--proxy-api-port", str(proxy_api_port),
               "--state", str(workdir / "state"), "--exchange", str(workdir / "exchange")]
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=_ignore_sigint)
    started: list[psutil.Process] = []
    try:
        lines = _lines_of(proc)
        _wait_for(lines, "JupyterHub is running", START_TIMEOUT)
        started = psutil.Process(proc.pid).children(recursive=True)
        commands = [" ".join(child.cmdline()) for child in started]
        assert any("jupyterhub" in c for c in commands), commands
        assert any("configurable-http-proxy" in c for c in commands), commands
        assert hubdriver._answers(port)

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(120) == 0
        _wait_for(lines, "Stopping the hub", 5)
        _, alive = psutil.wait_procs(started, timeout=30)
        assert alive == [], [" ".join(p.cmdline()) for p in alive]
        assert not hubdriver._answers(port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for child in started:
            try:
                child.kill()
            except psutil.Error:
                pass
        for name in (INSTRUCTOR, f"{STUDENT_PREFIX}01"):
            hubmod.remove_account(name)
        shutil.rmtree(workdir, ignore_errors=True)
