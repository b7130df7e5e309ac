"""The socket-state table (netlesson.widgets.socket_table) and its widget, on real loopback sockets.

Every state is made on purpose on 127.0.0.1, port 0, each socket with a timeout,
and read back with both ways of reading (psutil and, on Linux, /proc/net/tcp).
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from netlesson import widgets
from netlesson.widgets import _socket_states

BACKENDS = ["psutil"] + (["proc"] if Path("/proc/self/net/tcp").exists() else [])


def _listener(backlog=5):
    listener = socket.create_server(("127.0.0.1", 0), backlog=backlog)
    listener.settimeout(2)
    return listener


def _pair(listener):
    client = socket.create_connection(listener.getsockname(), timeout=2)
    server, _ = listener.accept()
    server.settimeout(2)
    return client, server


@pytest.mark.parametrize("backend", BACKENDS)
def test_listening_socket_is_listed_with_its_descriptor(backend):
    with _listener() as listener:
        port = listener.getsockname()[1]
        table = widgets.socket_table(backend=backend)
        row = table.find(listener.getsockname())
        assert row is not None, str(table)
        assert row.state == "LISTEN" and row.listening and row.remote is None
        assert row.fd == listener.fileno() and row.owned
    # closed: nothing listens there any more (an old TIME_WAIT of another test may share the port)
    assert not [r for r in widgets.socket_table([port], backend=backend).rows if r.listening]


@pytest.mark.parametrize("backend", BACKENDS)
def test_established_then_half_close_then_time_wait_on_the_side_that_closed_first(backend):
    with _listener() as listener:
        here = listener.getsockname()
        client, server = _pair(listener)
        mine = client.getsockname()
        with client, server:
            table = widgets.socket_table([here[1]], backend=backend)
            assert table.state(mine, here) == "ESTABLISHED"
            assert table.state(here, mine) == "ESTABLISHED"
            assert table.find(here, mine).fd == server.fileno()
            client.shutdown(socket.SHUT_WR)
            assert widgets.wait_for_state(mine, here, ["FIN_WAIT2"], backend=backend) == "FIN_WAIT2"
            assert widgets.wait_for_state(here, mine, ["CLOSE_WAIT"], backend=backend) == "CLOSE_WAIT"
            assert server.recv(16) == b""
            server.close()
            assert widgets.wait_for_state(mine, here, ["TIME_WAIT"], backend=backend) == "TIME_WAIT"
            row = widgets.socket_table([here[1]], backend=backend).find(mine, here)
            assert not row.owned  # the OS kernel keeps TIME_WAIT without a descriptor
            assert widgets.wait_for_state(here, mine, [None], backend=backend) is None


@pytest.mark.skipif(sys.platform != "linux", reason="the accept queue's rules are Linux's")
@pytest.mark.parametrize("backend", BACKENDS)
def test_full_accept_queue_client_established_server_side_without_descriptor(backend):
    with _listener(backlog=0) as listener:
        here = listener.getsockname()
        first = socket.create_connection(here, timeout=2)
        later = socket.socket()
        later.setblocking(False)
        with first, later:
            later.connect_ex(here)
            mine = first.getsockname()
            state = widgets.wait_for_state(later.getsockname(), here, ["SYN_SENT"],
                                           timeout=0.5, backend=backend)
            table = widgets.socket_table([here[1]], backend=backend)
            assert table.state(mine, here) == "ESTABLISHED"
            queued = table.find(here, mine)
            assert queued is not None and queued.state == "ESTABLISHED" and not queued.owned
            assert state == "SYN_SENT"  # Linux dropped the SYN: the queue holds backlog + 1


def test_without_ports_only_this_process_and_its_loose_connections():
    with _listener() as listener:
        client, server = _pair(listener)
        with client, server:
            table = widgets.socket_table()
            assert all(row.owned for row in table.rows if row.state != "TIME_WAIT"
                       and not (row.state == "ESTABLISHED" and not row.owned))
            assert table.find(client.getsockname(), listener.getsockname()).owned
    assert table.source in ("psutil", "/proc/net/tcp")


def test_proc_parser_reads_ipv4_and_ipv6_lines():
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    v4 = ("   0: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1\n"
          "   1: 0100007F:1F91 0100007F:C350 06 00000000:00000000 03:00000F9F 00000000     0        0 0 3\n")
    rows = _socket_states._parse_proc_net_tcp(header + v4)
    if sys.byteorder == "little":
        assert rows == [(("127.0.0.1", 8081), None, "LISTEN", 4242),
                        (("127.0.0.1", 8081), ("127.0.0.1", 50000), "TIME_WAIT", 0)]
    v6 = ("   0: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 "
          "0A 00000000:00000000 00:00000000 00000000  1000        0 77 1\n")
    rows = _socket_states._parse_proc_net_tcp(header + v6)
    if sys.byteorder == "little":
        assert rows == [(("::1", 8081), None, "LISTEN", 77)]


def test_bad_backend_is_refused_and_unavailable_says_why(monkeypatch):
    with pytest.raises(ValueError, match="backend"):
        widgets.socket_table(backend="netstat")

    def fails(pid, proc=None):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_socket_states, "_proc_rows", fails)
    with pytest.raises(widgets.StatesUnavailable, match="/proc/net/tcp could not be read"):
        widgets.socket_table(backend="proc")


def test_widget_lists_watched_port_and_refreshes():
    with _listener() as listener:
        port = listener.getsockname()[1]
        states = widgets.socket_states(port)
        try:
            assert repr(states) == "<SocketStates: TCP sockets of this Jupyter kernel>"
            assert states._repr_mimebundle_()["text/plain"] == repr(states)
            assert f":{port}" in states.output.value and "LISTEN" in states.output.value
            before = states.refreshes
            states.refresh_button.click()
            assert states.refreshes == before + 1
            client, server = _pair(listener)
            with client, server:
                table = states.refresh()
                assert table.state(client.getsockname(), listener.getsockname()) == "ESTABLISHED"
                assert 'data-state="ESTABLISHED"' in states.output.value.replace("'", '"')
        finally:
            states.close()
    assert states not in _socket_states._LIVE


def test_widget_shows_why_when_sockets_cannot_be_read(monkeypatch):
    def unavailable(*args, **kwargs):
        raise widgets.StatesUnavailable("cannot list the sockets of this process: test")

    monkeypatch.setattr(_socket_states, "socket_table", unavailable)
    states = widgets.SocketStates()
    try:
        assert states.table is None and "test" in states.output.value
    finally:
        states.close()


def test_widget_timer_refreshes_on_the_event_loop():
    import asyncio

    async def run():
        states = widgets.SocketStates(interval=0.05)
        try:
            start = states.refreshes
            states.auto.value = True
            deadline = time.monotonic() + 5
            while states.refreshes < start + 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            return states.refreshes - start
        finally:
            states.close()

    assert asyncio.run(run()) >= 3
