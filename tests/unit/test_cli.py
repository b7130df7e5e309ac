"""``python -m netlesson``: the seed's four scripts, against each other, the seed's own
scripts (tests/seed_style/) and ``nc``; run as real processes."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netlesson import tcp

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "tests" / "seed_style"
# English messages (NETLESSON_LANG=en): built at import, before conftest's fixture sets it
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8", "NETLESSON_LANG": "en"}


def _spawn(args, **kwargs):
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV, cwd=ROOT, start_new_session=True,
                            **kwargs)


def _stop(proc) -> tuple[bytes, bytes]:
    """Kill the process group; return what it had still to say (stdout, stderr)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    try:
        out, err = proc.communicate(timeout=5)
    except ValueError:  # streams already read to the end and closed
        out, err = b"", b""
    return out or b"", err or b""


class Server:
    """A server process; its port is read from its first line of output.

    Its output goes to a file, not a pipe: a server that logs every message
    would block once an unread pipe is full (64 KiB), and so would its handler.
    """

    def __init__(self, args, tmp_path_factory=None):
        import tempfile

        self.log_file = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log_file,
                                     stderr=subprocess.PIPE, env=ENV, cwd=ROOT,
                                     start_new_session=True)
        deadline = time.monotonic() + 10
        line = ""
        while time.monotonic() < deadline and self.proc.poll() is None:
            line = self._read().split("\n", 1)[0] if "\n" in self._read() else ""
            if line:
                break
            time.sleep(0.02)
        match = re.search(r"(?:127\.0\.0\.1:|PORT )(\d+)", line)
        if not match:
            code = self.proc.poll()
            _, err = _stop(self.proc)
            raise AssertionError(
                f"server did not report its port within 10 s (exit status {code}): "
                f"stdout {self._read()!r}, stderr {err.decode(errors='replace')!r}")
        self.port = int(match.group(1))
        self.first_line = line

    def _read(self) -> str:
        # pread, not seek(0) + read(): the server writes through the same open file, so
        # it shares the file offset, and a write landing between a seek(0) and the read
        # would go to offset 0 over the first line (as a server run with
        # PYTHONUNBUFFERED writes print()'s newline on its own: "\nCP upper-case...")
        fd, data, chunk = self.log_file.fileno(), b"", 1 << 16
        while part := os.pread(fd, chunk, len(data)):
            data += part
        return data.decode(errors="replace")

    def stop(self) -> str:
        """Stop the server; return everything it printed."""
        if not hasattr(self, "output"):
            _stop(self.proc)
            self.output = self._read()
            self.log_file.close()
        return self.output


def netlesson(*args):
    return [sys.executable, "-m", "netlesson", *args]


@pytest.fixture
def cli_tcp_server():
    server = Server(netlesson("tcp-server", "--port", "0"))
    yield server
    server.stop()


@pytest.fixture
def cli_udp_server():
    server = Server(netlesson("udp-server", "--port", "0"))
    yield server
    server.stop()


def _run(args, stdin: bytes, timeout=20):
    return subprocess.run(args, input=stdin, capture_output=True, env=ENV, cwd=ROOT,
                          timeout=timeout)


def test_cli_tcp_client_and_server_in_two_processes(cli_tcp_server):
    result = _run(netlesson("tcp-client", "--port", str(cli_tcp_server.port)),
                  "hello\n你好 world\n\nlast line\n".encode())
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == "HELLO\n你好 WORLD\nLAST LINE\n"
    assert result.stderr == b""
    out = cli_tcp_server.stop()
    assert "connected: 127.0.0.1:" in out
    assert "received b'hello' from 127.0.0.1:" in out
    assert "closed: 127.0.0.1:" in out


def test_cli_server_prints_where_it_listens(cli_tcp_server):
    assert cli_tcp_server.first_line.startswith("TCP upper-case echo server on 127.0.0.1:")
    assert "Ctrl-C" in cli_tcp_server.first_line


def test_cli_tcp_client_long_and_non_utf8_lines_are_byte_exact(cli_tcp_server):
    long_line = b"x" * 3000
    huge_line = b"y" * (1 << 20)
    odd = b"\xff\xfe bytes \x80"
    result = _run(netlesson("tcp-client", "--port", str(cli_tcp_server.port)),
                  long_line + b"\n" + huge_line + b"\n" + odd + b"\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == long_line.upper() + b"\n" + huge_line.upper() + b"\n" + odd.upper() + b"\n"


def test_cli_udp_client_and_server(cli_udp_server):
    result = _run(netlesson("udp-client", "--port", str(cli_udp_server.port)),
                  "ping\n中文 udp\n".encode())
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == "PING\n中文 UDP\n"


def test_cli_tcp_client_to_a_closed_port_explains_and_exits_1():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        result = _run(netlesson("tcp-client", "--port", str(port)), b"x\n")
    assert result.returncode == 1
    assert f"nothing is listening on 127.0.0.1:{port}" in result.stderr.decode()
    assert b"Traceback" not in result.stderr


def test_cli_udp_client_without_server_explains_and_exits_1():
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = _run(netlesson("udp-client", "--port", str(port), "--timeout", "0.2"), b"x\n")
    assert result.returncode == 1
    assert "no reply from 127.0.0.1" in result.stderr.decode()
    assert b"Traceback" not in result.stderr


def test_cli_server_on_a_busy_port_explains_and_exits_1(cli_tcp_server):
    result = _run(netlesson("tcp-server", "--port", str(cli_tcp_server.port)), b"", timeout=10)
    assert result.returncode == 1
    assert f"127.0.0.1:{cli_tcp_server.port} is in use" in result.stderr.decode()
    assert "pass --port 0" in result.stderr.decode()  # the CLI's own syntax, not port=0
    assert b"Traceback" not in result.stderr


@pytest.fixture
def busy_port():
    """A port of 127.0.0.1 that a socket of this test binds and listens on."""
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        yield taken.getsockname()[1]


def _assert_bind_failure(result, *expected):
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert result.stdout == b""
    for text in expected:
        assert text in err
    assert "port=0" not in err and "Traceback" not in err and "[Errno" not in err
    assert err.startswith("error: ") and err.count("\n") == 1  # one line


@pytest.mark.parametrize("command", [
    ("tcp-server",), ("udp-server",),
    ("concurrency-server", "threading"), ("concurrency-server", "asyncio"),
])
def test_cli_server_on_a_port_bound_elsewhere_names_it_and_suggests_port_0(command, busy_port):
    if command == ("udp-server",):  # the busy socket is TCP: take the UDP port too
        import socket

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp_taken:
            udp_taken.bind(("127.0.0.1", busy_port))
            result = _run(netlesson(*command, "--port", str(busy_port)), b"", timeout=20)
    else:
        result = _run(netlesson(*command, "--port", str(busy_port)), b"", timeout=20)
    _assert_bind_failure(result, f"127.0.0.1:{busy_port} is in use", "pass --port 0")


@pytest.mark.parametrize("command", [
    ("tcp-server",), ("udp-server",),
    ("concurrency-server", "single"), ("concurrency-server", "asyncio"),
])
def test_cli_server_on_an_address_this_machine_lacks_suggests_hosts(command):
    # 192.0.2.1 (TEST-NET-1) is assigned to no host: bind() fails with
    # EADDRNOTAVAIL at once, before any packet could be sent
    result = _run(netlesson(*command, "--host", "192.0.2.1", "--port", "0"), b"", timeout=20)
    _assert_bind_failure(result, "cannot bind 192.0.2.1:0: this machine has no such address",
                         "pass --host 127.0.0.1", "--host 0.0.0.0")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root may bind ports below 1024")
@pytest.mark.parametrize("command", [("tcp-server",), ("concurrency-server", "threading")])
def test_cli_server_on_a_privileged_port_says_which_ports_to_use(command):
    result = _run(netlesson(*command, "--port", "80"), b"", timeout=20)
    _assert_bind_failure(result, "not allowed to bind 127.0.0.1:80", "below 1024",
                         "--port 1024 or higher", "--port 0")


def test_cli_words_a_refused_privileged_port_from_the_errors_attributes(monkeypatch, capsys):
    """The kernel's EACCES is simulated (this may run as root), through make_server."""
    import errno
    import socketserver

    from netlesson import cli
    from netlesson.classroom import make_server

    class Refused:
        def __init__(self, *args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tcp, "create_server", lambda address, **kwargs: make_server(
        Refused, address, socketserver.BaseRequestHandler))
    assert cli.main(["tcp-server", "--port", "80"]) == 1
    err = capsys.readouterr().err
    assert err == ("error: not allowed to bind 127.0.0.1:80: ports below 1024 need "
                   "administrator rights — pass --port 1024 or higher, or --port 0 to let "
                   "the system pick a free port\n")


@pytest.mark.parametrize("args, complaint", [
    (("tcp-server", "--port", "70000"), "70000 is not a port: ports are 0 to 65535"),
    (("tcp-client", "--port", "-1"), "-1 is not a port"),
    (("tcp-client", "--timeout", "0"), "0 is not a usable timeout"),
    (("udp-client", "--timeout", "-2"), "-2 is not a usable timeout"),
    (("udp-client", "--port", "eighty"), "'eighty' is not a port number"),
    (("tcp-client", "--port", "0"), "a client needs the server's real port"),
    (("tcp-client", "--timeout", "3e6"), "at most 86400"),
])
def test_cli_rejects_impossible_ports_and_timeouts_with_a_usage_message(args, complaint):
    result = _run(netlesson(*args), b"x\n", timeout=10)
    assert result.returncode == 2  # argparse's usage error
    assert complaint in result.stderr.decode()
    assert b"Traceback" not in result.stderr


def test_cli_tcp_client_prints_a_partial_reply_before_the_error():
    """A server that sends half a reply and closes: the half is shown, not lost."""
    import socket
    import threading

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(10)

        def half_reply():
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(10)
                conn.recv(100)
                conn.sendall(b"HELL")

        thread = threading.Thread(target=half_reply, daemon=True)
        thread.start()
        result = _run(netlesson("tcp-client", "--port", str(listener.getsockname()[1])),
                      b"hello world\nnever sent\n")
        thread.join(5)
    assert result.returncode == 1
    assert result.stdout == b"HELL\n"
    err = result.stderr.decode()
    assert "after 4 of 11 reply bytes" in err and "printed above" in err and ".partial" not in err


def test_cli_tcp_client_says_nothing_arrived_when_nothing_did():
    import socket

    with socket.socket() as listener:  # accepts (the kernel does) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        result = _run(netlesson("tcp-client", "--port", str(listener.getsockname()[1]),
                                "--timeout", "0.3"), b"hello\n")
    assert result.returncode == 1 and result.stdout == b""
    err = result.stderr.decode()
    assert "nothing arrived" in err and "printed above" not in err and ".partial" not in err


def test_cli_tcp_client_words_a_too_long_reply_for_the_terminal(capsys):
    """The terminal is told what was printed and what was dropped, not about ``.extra``."""
    import io
    import socketserver

    from netlesson import background

    class Chatty(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.settimeout(5)
            self.request.sendall(self.request.recv(1024).upper() + b"!!")
            self.request.recv(1024)  # until the client has gone

    out = io.StringIO()
    with background.start_tcp("test-cli-chatty", handler=Chatty) as srv:
        status = tcp.interactive(srv.address, lines=["hello", "never sent"], out=out, timeout=5)
    err = capsys.readouterr().err
    assert status == 1 and out.getvalue() == "HELLO\n"
    assert "2 byte(s) more than the 5-byte reply" in err
    assert "printed above (standard output), the extra bytes were dropped" in err
    assert ".reply" not in err and ".extra" not in err


def test_cli_udp_client_shows_a_cut_reply_and_goes_on(capsys):
    import io
    import socketserver

    from netlesson import background, udp

    class FirstThree(socketserver.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            sock.sendto(data[:3].upper(), self.client_address)

    out = io.StringIO()
    with background.start_udp("test-cli-cut", handler=FirstThree) as srv:
        status = udp.interactive(srv.address, lines=["hello", "ok"], out=out, timeout=1.0,
                                 max_datagram=None)  # a short reply is then a cut one
    err = capsys.readouterr().err
    assert status == 0 and out.getvalue() == "HEL\nOK\n"
    assert "warning: sent a 5-byte datagram but the reply has only 3 bytes" in err
    assert "printed above" in err and ".reply" not in err


def test_cli_udp_client_reports_a_too_long_line_and_goes_on(cli_udp_server):
    result = _run(netlesson("udp-client", "--port", str(cli_udp_server.port)),
                  b"before\n" + b"z" * 9000 + b"\nafter\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"BEFORE\nAFTER\n"
    err = result.stderr.decode()
    assert err.count("error: ") == 1
    assert "this line is a 9000-byte datagram and was not sent" in err
    assert "at most 8192 bytes per datagram" in err and "lines of at most 8192 bytes" in err
    # the notebook's advice (a server class setting) is no use at a terminal
    assert "raise max_packet_size" not in err


def test_cli_udp_client_words_udps_own_limit_from_the_error(capsys):
    """A line over UDP's own limit: the terminal is told it was not sent, and why, once."""
    import io

    from netlesson import background, udp

    out = io.StringIO()
    with background.start_udp("test-cli-udp-limit") as srv:
        status = udp.interactive(srv.address, lines=["z" * 65508, "after"], out=out,
                                 timeout=1.0, max_datagram=None)
    err = capsys.readouterr().err
    assert status == 0 and out.getvalue() == "AFTER\n"
    assert "this line is a 65508-byte datagram and was not sent" in err
    assert "carries at most 65507 bytes" in err and "tcp-client" in err
    assert "max_packet_size" not in err  # no server setting can help here


def test_cli_client_ctrl_c_ends_without_traceback(cli_tcp_server):
    proc = _spawn(netlesson("tcp-client", "--port", str(cli_tcp_server.port)))
    try:
        proc.stdin.write(b"one\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"ONE\n"
        proc.send_signal(signal.SIGINT)  # waiting for the next line
        assert proc.wait(5) == 130
        _, err = _stop(proc)
        assert b"Traceback" not in err
    finally:
        _stop(proc)


@pytest.mark.parametrize("kind", ["tcp", "udp"])
def test_cli_server_ctrl_c_stops_cleanly(kind):
    server = Server(netlesson(f"{kind}-server", "--port", "0"))
    try:
        server.proc.send_signal(signal.SIGINT)
        assert server.proc.wait(5) == 0
        _, err = _stop(server.proc)
        assert b"Traceback" not in err
    finally:
        server.stop()


# -- interoperability with the seed's scripts --------------------------------

def test_netlesson_tcp_client_against_the_seed_tcp_server():
    server = Server([sys.executable, str(SEED / "tcp_server.py"), "0"])
    try:
        long_line = "z" * 2500  # the seed server answers in 1024-byte pieces
        result = _run(netlesson("tcp-client", "--port", str(server.port)),
                      f"seed\n{long_line}\n".encode())
        assert result.returncode == 0, result.stderr
        assert result.stdout.decode() == f"SEED\n{long_line.upper()}\n"
    finally:
        server.stop()


def test_seed_tcp_client_against_the_netlesson_tcp_server(cli_tcp_server):
    result = _run([sys.executable, str(SEED / "tcp_client.py"), str(cli_tcp_server.port)],
                  "hello\n你好\n".encode())
    lines = result.stdout.decode().replace("input: ", "").splitlines()
    assert lines[:2] == ["reply HELLO", "reply 你好"]
    assert lines[2] == "EOFError"  # the seed client ends when input() runs out


def test_netlesson_udp_client_against_the_seed_udp_server():
    server = Server([sys.executable, str(SEED / "udp_server.py"), "0"])
    try:
        result = _run(netlesson("udp-client", "--port", str(server.port)), b"seed udp\n")
        assert result.returncode == 0, result.stderr
        assert result.stdout == b"SEED UDP\n"
    finally:
        server.stop()


def test_seed_udp_client_against_the_netlesson_udp_server(cli_udp_server):
    result = _run([sys.executable, str(SEED / "udp_client.py"), str(cli_udp_server.port)],
                  b"abc\nxyz\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().replace("input: ", "").splitlines() == ["reply ABC", "reply XYZ"]


# -- interoperability with nc --------------------------------------------------

needs_nc = pytest.mark.skipif(shutil.which("nc") is None,
                              reason="nc not installed (apt-get install netcat-openbsd)")


@needs_nc
def test_nc_as_a_tcp_client_of_the_netlesson_server(cli_tcp_server):
    result = subprocess.run(["nc", "-N", "127.0.0.1", str(cli_tcp_server.port)],
                            input=b"from nc\n", capture_output=True, timeout=10)
    assert result.stdout == b"FROM NC\n"


@needs_nc
def test_nc_as_a_udp_client_of_the_netlesson_server(cli_udp_server):
    result = subprocess.run(["nc", "-u", "-w", "1", "127.0.0.1", str(cli_udp_server.port)],
                            input=b"udp from nc\n", capture_output=True, timeout=10)
    assert result.stdout == b"UDP FROM NC\n"


@needs_nc
def test_netlesson_tcp_client_against_an_nc_echo_listener():
    """``nc -l`` is not an echo server; netlesson's client times out and keeps the partial reply."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    listener = _spawn(["nc", "-l", "127.0.0.1", str(port)])
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                client = tcp.TCPEchoClient(("127.0.0.1", port), timeout=1).connect()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        import threading

        from netlesson.errors import ReplyTimeout

        seen = []

        def person_at_the_nc_end():
            seen.append(listener.stdout.read(5))  # once the message has arrived...
            listener.stdin.write(b"HI")  # ...they type a 2-byte answer
            listener.stdin.flush()

        typist = threading.Thread(target=person_at_the_nc_end, daemon=True)
        typist.start()
        with client:
            with pytest.raises(ReplyTimeout) as info:
                client.send("hello")
        typist.join(5)
        assert seen == [b"hello"]
        assert info.value.partial == b"HI"
    finally:
        _stop(listener)


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("netlesson")
    if not exe.exists():
        pytest.skip("console script not installed in this environment (PYTHONPATH run)")
    result = subprocess.run([str(exe), "--help"], capture_output=True, timeout=10)
    assert result.returncode == 0
    assert b"tcp-server" in result.stdout
