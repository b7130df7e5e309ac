"""``python -m netlesson`` on a shared machine and in a busy terminal: a port of one's own
(NETLESSON_PORT), who holds a busy port, warnings about someone else's server or a server
that is not an upper-case echo, IPv6 hosts, host names that do not resolve, a second
Ctrl-C, and one whole line per log event however many clients talk at once."""

import io
import os
import re
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from netlesson import cli, sharedhost, tcp
from netlesson.sharedhost import PortHolder

ROOT = Path(__file__).resolve().parents[2]
# English messages (NETLESSON_LANG=en): built at import, before conftest's fixture sets it
# PYTHONFAULTHANDLER: a server that does not stop is sent SIGABRT, and says where each of
# its threads was (ServerProcess.stop), so a hang explains itself in the test's message
ENV = {**os.environ, "PYTHONIOENCODING": "utf-8", "NETLESSON_LANG": "en", "PYTHONFAULTHANDLER": "1"}
ENV.pop("NETLESSON_PORT", None)
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def netlesson(*args):
    return [sys.executable, "-m", "netlesson", *args]


def _run(args, stdin: bytes = b"", env=None, timeout=20):
    return subprocess.run(args, input=stdin, capture_output=True, env=env or ENV, cwd=ROOT,
                          timeout=timeout)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    """A command-line server; its output goes to a pipe read by a thread (as a terminal
    would read it), its first line names its address."""

    def __init__(self, args, env=None):
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env or ENV, cwd=ROOT,
                                     start_new_session=True)
        self._out = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "\n" not in self.output and self.proc.poll() is None:
            time.sleep(0.01)
        match = re.search(r"on (\S+):(\d+) ", self.output.split("\n", 1)[0])
        if not match:
            self.stop()
            raise AssertionError(f"the server did not say where it listens: {self.output!r}")
        self.port = int(match.group(2))

    def _read(self):
        for chunk in iter(lambda: self.proc.stdout.read1(1 << 16), b""):
            self._out.append(chunk)

    @property
    def output(self) -> str:
        return b"".join(self._out).decode("utf-8", "replace")

    def stop(self) -> tuple[str, str, int]:
        """Ctrl-C (SIGINT); after 15 s SIGABRT (the fault handler writes every thread's
        stack to stderr), then SIGKILL; return (stdout, stderr, exit status).  A server
        ends within about 4 s at worst (2 s for handlers, 2 s for the log's timers)."""
        if self.proc.stderr.closed:  # stopped before
            return self.output, self._err, self.proc.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGABRT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._reader.join(5)
        self._err = self.proc.stderr.read().decode("utf-8", "replace")
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.output, self._err, self.proc.returncode


@pytest.fixture
def start_server():
    started = []

    def start(*args, env=None, raw=False):
        """``python -m netlesson ARGS``; with ``raw=True`` ARGS is the whole command."""
        server = ServerProcess(list(args) if raw else netlesson(*args), env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# -- a port of one's own: NETLESSON_PORT -------------------------------------------------


def test_help_says_where_the_default_port_comes_from():
    seed = _run(netlesson("tcp-server", "--help")).stdout.decode()
    assert "8081, the seed's" in seed and "NETLESSON_PORT" in seed
    own = _run(netlesson("tcp-client", "--help"),
               env={**ENV, "NETLESSON_PORT": "23456"}).stdout.decode()
    assert "default 23456, from the environment variable NETLESSON_PORT" in " ".join(own.split())


def test_two_terminals_of_one_user_pair_up_on_netlesson_port(start_server):
    env = {**ENV, "NETLESSON_PORT": str(_free_port())}
    server = start_server("tcp-server", env=env)
    assert server.port == int(env["NETLESSON_PORT"])
    result = _run(netlesson("tcp-client"), b"mine\n", env=env)
    assert (result.returncode, result.stdout, result.stderr) == (0, b"MINE\n", b"")


def test_an_unusable_netlesson_port_is_an_error_naming_the_variable():
    env = {**ENV, "NETLESSON_PORT": "eighty"}
    result = _run(netlesson("tcp-client"), b"x\n", env=env)
    err = result.stderr.decode()
    assert result.returncode == 1
    assert err.startswith("error: the environment variable NETLESSON_PORT='eighty' is not a port")
    assert "Traceback" not in err
    assert _run(netlesson("tcp-server", "--help"), env=env).returncode == 0  # help still works
    assert _run(netlesson("diagrams", "--help"), env=env).returncode == 0  # other commands too


# -- a busy port: who holds it ---------------------------------------------------------


@linux_only
def test_a_port_held_by_your_own_process_is_named_with_its_pid():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = _run(netlesson("tcp-server", "--port", str(port)))
    err = result.stderr.decode()
    assert result.returncode == 1
    assert f"127.0.0.1:{port} is in use by your own process {os.getpid()} (python" in err
    assert "--port 0" in err and "NETLESSON_PORT" in err
    assert err.count("\n") == 1 and "Traceback" not in err


OTHER = os.getuid() + 1  # another user's id (the tests may run as root)


@pytest.mark.parametrize("holder, expected", [
    (PortHolder("tcp", ("127.0.0.1", 0), OTHER, "alice", 1),
     f"is in use by another user (user alice, uid {OTHER})"),
    (PortHolder("tcp", ("127.0.0.1", 0), OTHER, "hub", 1, 4242,
                "/usr/bin/python3 /usr/local/bin/jupyterhub", True),
     f"is in use by JupyterHub (user hub, uid {OTHER}, process 4242: python3 "
     f"/usr/local/bin/jupyterhub; its API listens on 127.0.0.1:8081 by default"),
])
def test_a_port_held_by_another_user_or_jupyterhub_says_so(monkeypatch, capsys, holder,
                                                           expected):
    monkeypatch.setattr(sharedhost, "port_holders", lambda address, kind: [holder])
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert cli.main(["tcp-server", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: 127.0.0.1:{port} {expected}")
    assert "pass --port 0" in err and "export NETLESSON_PORT=PORT" in err


# -- clients: someone else's server, a server that is not an upper-case echo -------------


@pytest.mark.parametrize("holder, expected", [
    (PortHolder("tcp", ("127.0.0.1", 0), OTHER, "alice", 1),
     f"belongs to another user (user alice, uid {OTHER}): your lines go to their server"),
    (PortHolder("tcp", ("127.0.0.1", 0), OTHER, "hub", 1, None, None, True),
     f"is JupyterHub's (user hub, uid {OTHER}), not an echo server"),
])
def test_a_client_warns_before_talking_to_another_users_server(monkeypatch, capsys, tcp_server,
                                                              holder, expected):
    monkeypatch.setattr(sharedhost, "port_holders", lambda address, kind: [holder])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"hi\n")))
    assert cli.main(["tcp-client", "--port", str(tcp_server.port)]) == 0
    out, err = capsys.readouterr()
    assert out == "HI\n"  # a warning, not a refusal
    assert err.startswith(f"warning: ") and expected in err


@linux_only
def test_a_client_of_its_own_users_server_gets_no_warning(start_server):
    server = start_server("tcp-server", "--port", "0")
    result = _run(netlesson("tcp-client", "--port", str(server.port)), b"quiet\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, b"QUIET\n", b"")


class _PlainEcho(socketserver.BaseRequestHandler):
    """Echoes without upper-casing: a server, but not the course's."""

    def handle(self):
        if isinstance(self.request, tuple):
            data, sock = self.request
            sock.sendto(data, self.client_address)
            return
        self.request.settimeout(5)
        while data := self.request.recv(1024):
            self.request.sendall(data)


@pytest.fixture(params=["tcp", "udp"])
def plain_echo(request):
    cls = socketserver.ThreadingTCPServer if request.param == "tcp" else socketserver.UDPServer
    server = cls(("127.0.0.1", 0), _PlainEcho)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield request.param, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_client_warns_once_when_the_server_is_not_an_upper_case_echo(plain_echo):
    kind, port = plain_echo
    result = _run(netlesson(f"{kind}-client", "--port", str(port)), b"hello\nworld\n")
    err = result.stderr.decode()
    assert result.returncode == 0
    assert result.stdout == b"hello\nworld\n"  # shown as it came: it goes on
    assert err.count("warning:") == 1
    assert (f"the server at 127.0.0.1:{port} does not look like an upper-case echo server: "
            f"it answered b'hello' to b'hello'") in err


# -- IPv6 -------------------------------------------------------------------------------


def _has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


needs_ipv6 = pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback (::1)")


@needs_ipv6
@pytest.mark.parametrize("kind", ["tcp", "udp"])
@pytest.mark.parametrize("server_host", ["::1", "::"])
def test_servers_and_clients_speak_ipv6(start_server, kind, server_host):
    server = start_server(f"{kind}-server", "--host", server_host, "--port", "0")
    assert f" on [{server_host}]:{server.port} " in server.output.split("\n", 1)[0]
    result = _run(netlesson(f"{kind}-client", "--host", "::1", "--port", str(server.port)),
                  b"over ipv6\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, b"OVER IPV6\n", b"")
    out, err, status = server.stop()
    assert "received b'over ipv6' from [::1]:" in out
    assert status == 0 and "Traceback" not in err


# -- host names that do not resolve -------------------------------------------------------


@pytest.mark.parametrize("command", ["tcp-server", "udp-server", "tcp-client", "udp-client"])
def test_a_host_name_that_does_not_resolve_is_named(command):
    port = "0" if command.endswith("server") else "8081"
    result = _run(netlesson(command, "--host", "no-such-host.invalid", "--port", port), b"x\n")
    err = result.stderr.decode()
    assert result.returncode == 1
    assert err.startswith("error: cannot resolve host 'no-such-host.invalid' (")
    assert err.count("\n") == 1 and "Traceback" not in err


# -- Ctrl-C, twice --------------------------------------------------------------------


@pytest.mark.parametrize("gap", [0.0, 0.002, 0.01, 0.03])
def test_a_second_ctrl_c_while_the_server_stops_is_quiet(start_server, gap):
    server = start_server("tcp-server", "--port", "0")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as client:
        client.sendall(b"busy\n")
        assert client.recv(16) == b"BUSY\n"
        server.proc.send_signal(signal.SIGINT)
        time.sleep(gap)
        if server.proc.poll() is None:
            server.proc.send_signal(signal.SIGINT)
        out, err, status = server.stop()
    assert status == 0, err  # -6: it hung, and err says where each thread was
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "\nstopping\n" in out


_THREADS_AT_EXIT = """
import sys, threading
from netlesson import cli
status = cli.main(sys.argv[1:])
print("threads left:", sorted(t.name for t in threading.enumerate()), flush=True)
sys.exit(status)
"""


@pytest.mark.parametrize("kind", ["tcp", "udp"])
def test_a_stopped_server_leaves_no_thread_running_while_python_exits(start_server, kind):
    """Handler threads and the log's timer threads are daemon threads: Python does not wait
    for them, and one still running while the interpreter shuts down is a known source of
    rare hangs at exit.  After Ctrl-C the server ends them all before it returns."""
    server = start_server(sys.executable, "-c", _THREADS_AT_EXIT, f"{kind}-server",
                          "--port", "0", raw=True)
    family = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, family) as client:
        client.settimeout(5)
        client.connect(("127.0.0.1", server.port))
        client.send(b"still here\n")
        assert client.recv(64) == b"STILL HERE\n"  # a "received" record waits for its timer
        out, err, status = server.stop()
    assert status == 0, err
    assert "threads left: ['MainThread']" in out, out


# -- one whole line per event ------------------------------------------------------------

_EVENT = re.compile(r"(connected: 127\.0\.0\.1:\d+"
                    r"|received b'client \d+ message \d+' from 127\.0\.0\.1:\d+"
                    r"|closed: 127\.0\.0\.1:\d+ \(\d+ recv, \d+ bytes\))")


@pytest.mark.parametrize("buffering", ["batched", "unbuffered"])
def test_each_log_event_is_one_whole_line_however_many_clients_talk(start_server, buffering):
    """16 clients x 40 messages at once, the server's output to a pipe: every line is
    exactly one event (batched: as users run it; unbuffered: ``PYTHONUNBUFFERED``)."""
    env = dict(ENV)
    if buffering == "batched":
        env.pop("PYTHONUNBUFFERED", None)
    else:
        env["PYTHONUNBUFFERED"] = "1"
    server = start_server("tcp-server", "--port", "0", env=env)
    clients, messages = 16, 40
    failures = []

    def talk(i):
        try:
            with tcp.TCPEchoClient(("127.0.0.1", server.port), timeout=10) as client:
                for m in range(messages):
                    assert client.send(f"client {i} message {m}") == f"CLIENT {i} MESSAGE {m}"
        except Exception as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=talk, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not failures and not any(t.is_alive() for t in threads)
    # the closed records come after the clients leave: wait for all of them
    deadline = time.monotonic() + 10
    while server.output.count("closed: ") < clients and time.monotonic() < deadline:
        time.sleep(0.02)
    out, err, status = server.stop()
    lines = out.split("\n")
    assert lines[0].startswith("TCP upper-case echo server on 127.0.0.1:")
    assert lines[-3:] == ["", "stopping", ""]  # every client had left: nothing after it
    events = lines[1:-3]
    bad = [line for line in events if not _EVENT.fullmatch(line)]
    assert not bad, bad[:5]
    assert sum(line.startswith("received ") for line in events) == clients * messages
    assert sum(line.startswith("closed: ") for line in events) == clients
    assert status == 0 and err == ""


def test_backlog_is_passed_to_the_server(monkeypatch, capsys):
    seen = {}

    def create_server(address, **kwargs):
        seen.update(kwargs)
        raise OSError("stop here")

    monkeypatch.setattr(tcp, "create_server", create_server)
    assert cli.main(["tcp-server", "--port", "0", "--backlog", "64"]) == 1
    assert seen["backlog"] == 64
    assert "stop here" in capsys.readouterr().err
