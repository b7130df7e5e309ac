"""Facts the lessons state about TCP teardown, checked on real loopback sockets.

06_pitfalls and 02_tcp_echo say: when a client process is killed, the OS closes its
sockets with a normal FIN, so the server's ``recv`` returns ``b''``; a reset (RST,
``ConnectionResetError``) comes from an abortive close such as ``SO_LINGER`` (1, 0).
08_socket_states relies on a full listen queue dropping SYNs, and on closing the
clients it dropped before it accepts; its reading client must outlast a slow server
(the last tests).
"""

import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from netlesson import framing

TIMEOUT = 10

# a client that connects, says hello, tells the parent it is ready, then waits to be killed
CLIENT = """
import socket, sys, time
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
sock.sendall(b"hi")
print("ready", flush=True)
time.sleep(60)
"""


def _listener():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.settimeout(TIMEOUT)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    return server


@pytest.mark.timeout(30)
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="no SIGKILL on this platform")
def test_killed_client_process_closes_with_fin_so_server_reads_empty_bytes():
    with _listener() as server:
        proc = subprocess.Popen(
            [sys.executable, "-c", CLIENT, str(server.getsockname()[1])],
            stdout=subprocess.PIPE, text=True,
        )
        try:
            conn, _ = server.accept()
            with conn:
                conn.settimeout(TIMEOUT)
                assert framing.recvall(conn, 2) == b"hi"
                assert proc.stdout.readline().strip() == "ready"
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=TIMEOUT)
                assert proc.returncode == -signal.SIGKILL
                # the kernel closed the dead process's socket normally: FIN, not RST
                assert conn.recv(1024) == b""
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=TIMEOUT)
            proc.stdout.close()


@pytest.mark.timeout(30)
def test_client_closing_with_so_linger_zero_resets_the_connection():
    linger = struct.pack("HH" if sys.platform == "win32" else "ii", 1, 0)
    with _listener() as server:
        client = socket.create_connection(server.getsockname(), timeout=TIMEOUT)
        conn, _ = server.accept()
        with conn:
            conn.settimeout(TIMEOUT)
            with client:
                client.sendall(b"hi")
                assert framing.recvall(conn, 2) == b"hi"
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            # close() with SO_LINGER (1, 0) aborts: the kernel sends RST instead of FIN
            with pytest.raises(ConnectionResetError):
                conn.recv(1024)  # b'' here would mean a FIN, not a reset


def _full_backlog_0_queue():
    """08_socket_states' section 3: a backlog-0 listener holding one connection, and two
    clients whose SYN it dropped (they retransmit it about 1 s and 3 s later)."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    listener.settimeout(TIMEOUT)
    address = listener.getsockname()
    first = socket.create_connection(address, timeout=TIMEOUT)
    later = []
    for _ in range(2):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(address)
        later.append(sock)
    return listener, address, first, later


@pytest.mark.timeout(30)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux drops SYNs to a full queue")
@pytest.mark.parametrize("close_before_accept", [False, True])
def test_a_dropped_syn_retransmitted_after_accept_takes_the_freed_queue_slot(close_before_accept):
    """Why 08 closes the two dropped clients *before* its accept(): a client left open
    retransmits its SYN; once accept() has freed the one slot, that SYN completes a
    handshake and the connection sits in the queue after its client closed, so the next
    connect to the listener is dropped too (a loaded machine reached the retransmit
    between 08's accept and close, and its section 6 timed out)."""
    listener, address, first, later = _full_backlog_0_queue()
    try:
        if close_before_accept:
            for sock in later:
                sock.close()
        server_side, _ = listener.accept()
        server_side.close()
        if not close_before_accept:
            time.sleep(1.5)  # the first retransmission (~1 s) lands while they are open
            for sock in later:
                sock.close()
        try:
            with socket.create_connection(address, timeout=1.5):
                connected = True
        except TimeoutError:
            connected = False
        assert connected is close_before_accept
    finally:
        first.close()
        for sock in later:
            sock.close()
        listener.close()


LESSON_08 = Path(__file__).resolve().parents[2] / "notebooks" / "08_socket_states.ipynb"


def _lesson_08_reading_client():
    """08's ``reading_client`` as the lesson defines it (its cell, without the call)."""
    nb = nbformat.read(LESSON_08, as_version=4)
    [cell] = [c for c in nb.cells
              if c.cell_type == "code" and "def reading_client(" in c.source]
    definition = cell.source.split("\nreply = reading_client(")[0]
    namespace = {"socket": socket, "threading": threading}
    exec(compile(definition, str(LESSON_08), "exec"), namespace)
    return namespace["reading_client"]


def _slow_upper_echo(listener, bytes_per_second):
    """One connection: read, wait as a server on a busy machine would, reply upper-cased."""
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(TIMEOUT)
        while chunk := conn.recv(65536):
            time.sleep(len(chunk) / bytes_per_second)
            conn.sendall(chunk.upper())


@pytest.mark.timeout(60)
def test_08_reading_client_finishes_when_the_server_is_slow():
    """On a hub with a class running 08 at once, 32 MiB took more than the 3 s the
    reading client once allowed, and its ``sendall`` timed out: a socket timeout bounds
    the whole ``sendall`` (Python >= 3.5), not each send. Here the lesson's 32 MiB at
    4 MiB/s takes about 8 s; the socket buffers hold a few MiB of it, so ``sendall``
    itself lasts some 5 s, more than that old timeout."""
    reading_client = _lesson_08_reading_client()
    message = b"a" * (32 * 1024 * 1024)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)
        server = threading.Thread(target=_slow_upper_echo,
                                  args=(listener, 4 * 1024 * 1024), daemon=True)
        server.start()
        started = time.monotonic()
        reply = reading_client(listener.getsockname(), message)
        elapsed = time.monotonic() - started
        server.join(TIMEOUT)
    assert not server.is_alive()
    assert elapsed > 5, "the server was not slow enough to test the timeout"
    assert reply == message.upper()
