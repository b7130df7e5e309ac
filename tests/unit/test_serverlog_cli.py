"""The command-line server's output to a pipe: every event once, each a whole line, also
the ones still waiting for the echo timer when the server is stopped (Ctrl-C or SIGTERM).

The server runs as users run it (``python -m netlesson tcp-server``), without
``PYTHONUNBUFFERED``, so its output to the pipe goes out in batches (ServerLog's echo).
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from netlesson import tcp

ROOT = Path(__file__).resolve().parents[2]


class PipedServer:
    """``python -m netlesson tcp-server --port 0``, its standard output a pipe that a
    thread here reads all along (as a terminal or ``tee`` would)."""

    def __init__(self):
        env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "netlesson", "tcp-server", "--port", "0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, cwd=ROOT, start_new_session=True)
        self.chunks = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        deadline = time.monotonic() + 15
        while "\n" not in self.text():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.kill()
                raise AssertionError(f"the server did not start: {self.text()!r}")
            time.sleep(0.01)
        self.port = int(re.search(r"127\.0\.0\.1:(\d+)", self.text()).group(1))

    def _read(self):
        while chunk := self.proc.stdout.read1(1 << 16):
            self.chunks.append(chunk)

    def text(self) -> str:
        return b"".join(self.chunks).decode()

    def stop(self, signum) -> tuple[int, str, str]:
        """Send *signum*; return the exit status, all of standard output and of stderr."""
        self.proc.send_signal(signum)
        status = self.proc.wait(15)
        self.reader.join(10)
        return status, self.text(), self.proc.stderr.read().decode()

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_piped_output_has_every_event_once_and_whole_after_the_server_is_stopped(signum):
    server = PipedServer()
    clients, messages = 8, 40
    expected = []  # every record line the server must print
    still_open = []
    try:
        def talk(i):
            client = tcp.TCPEchoClient(("127.0.0.1", server.port), timeout=10).connect()
            peer = "127.0.0.1:%d" % client.sock.getsockname()[1]
            lines = [f"connected: {peer}"]
            total = 0
            for m in range(messages):
                data = b"client %d message %d\n" % (i, m)
                assert client.send(data) == data.upper()
                lines.append(f"received {data!r} from {peer}")
                total += len(data)
            lines.append(f"closed: {peer} ({messages} recv, {total} bytes)")
            expected.extend(lines)
            if i % 2:
                client.close()  # "closed" written while serving
            else:
                still_open.append(client)  # "closed" written while the server stops

        workers = [threading.Thread(target=talk, args=(i,)) for i in range(clients)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(60)
        # at once: the last records are still waiting for the echo timer
        status, out, err = server.stop(signum)
    finally:
        for client in still_open:
            client.close()
        server.kill()
    assert status == 0, err
    assert "Traceback" not in err
    assert len(expected) == clients * (messages + 2)
    lines = out.split("\n")
    assert lines.pop() == ""  # the output ends with a whole line
    assert lines[0].startswith("TCP upper-case echo server on 127.0.0.1:")
    assert "stopping" in lines
    records = [line for line in lines[1:] if line not in ("", "stopping")]
    assert sorted(records) == sorted(expected)  # each event once, each line whole
    for i in range(clients):  # and each connection's lines in the order they happened
        mine = [line for line in records if f"client {i} message" in line]
        assert mine == [line for line in expected if f"client {i} message" in line]
