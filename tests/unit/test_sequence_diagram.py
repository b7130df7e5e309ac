"""The sequence diagram (netlesson.diagrams.sequence) of socket calls recorded on a real exchange."""

from __future__ import annotations

import shutil
import socket
import threading

import pytest

from netlesson import diagrams

CLIENT, SERVER = "client", "server"


def _record_exchange():
    """One real echo over 127.0.0.1 (port 0), each call noted as the lesson notes it."""
    events = []

    def note(*fields):
        events.append(diagrams.SocketEvent(*fields))

    def serve(listener):
        conn, _ = listener.accept()
        note(SERVER, "accept")
        with conn:
            conn.settimeout(2)
            data = b""
            while chunk := conn.recv(1024):
                note(SERVER, "recv", repr(chunk), len(chunk))
                data += chunk
            note(SERVER, "recv", "b''", 0)
            note(SERVER, "sendall", "", len(data))
            conn.sendall(data.upper())
            note(SERVER, "close")

    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(2)
        thread = threading.Thread(target=serve, args=(listener,), daemon=True)
        thread.start()
        note(CLIENT, "connect")
        with socket.create_connection(listener.getsockname(), timeout=2) as sock:
            note(CLIENT, "sendall", "", 5)
            sock.sendall(b"hello")
            note(CLIENT, "shutdown", "SHUT_WR")
            sock.shutdown(socket.SHUT_WR)
            reply = b""
            while chunk := sock.recv(1024):
                note(CLIENT, "recv", repr(chunk), len(chunk))
                reply += chunk
            note(CLIENT, "recv", "b''", 0)
            note(CLIENT, "close")
        thread.join(2)
        assert not thread.is_alive()
    assert reply == b"HELLO"
    return events


def test_sequence_of_a_real_exchange_has_lanes_in_order_and_wire_arrows():
    events = _record_exchange()
    diagram = diagrams.sequence(events, "echo", lanes=[CLIENT, SERVER])
    assert diagram.summary.splitlines() == [
        f"echo: {len(events)} socket calls in 2 threads",
        "client: connect → sendall → shutdown(SHUT_WR) → recv → recv → close",
        "server: accept → recv → recv → sendall → close",
    ]
    ids = {event: node for node, event in zip(diagram.nodes, events)}
    calls = {(e.thread, e.call, e.nbytes): ids[e] for e in events}
    wire = {(edge.tail, edge.head) for edge in diagram.edges if edge.kind == "wire"}
    assert (calls[CLIENT, "connect", None], calls[SERVER, "accept", None]) in wire
    assert (calls[CLIENT, "sendall", 5], calls[SERVER, "recv", 5]) in wire
    assert (calls[CLIENT, "shutdown", None], calls[SERVER, "recv", 0]) in wire   # FIN
    assert (calls[SERVER, "sendall", 5], calls[CLIENT, "recv", 5]) in wire
    assert (calls[SERVER, "close", None], calls[CLIENT, "recv", 0]) in wire      # FIN
    assert len(wire) == 5
    # recorded as the lesson records them, every arrow points down (cause before effect)
    order = {node: n for n, node in enumerate(diagram.nodes)}
    assert all(order[tail] < order[head] for tail, head in wire)


def test_bytes_are_matched_by_stream_position_not_by_call():
    E = diagrams.SocketEvent
    events = [E("a", "connect"), E("b", "accept"),
              E("a", "send", "", 3), E("a", "send", "", 3),
              E("b", "recv", "", 4), E("b", "recv", "", 2)]
    wire = [(e.tail, e.head) for e in diagrams.sequence(events).edges if e.kind == "wire"]
    assert wire == [("e1", "e2"), ("e3", "e5"), ("e4", "e5"), ("e4", "e6")]


def test_lane_order_is_kept_and_empty_input_is_drawn():
    E = diagrams.SocketEvent
    summary = diagrams.sequence([E("server", "accept"), E("client", "connect")],
                                lanes=["client"]).summary
    assert summary.splitlines()[1:] == ["client: connect", "server: accept"]
    assert diagrams.sequence([]).summary == "One TCP exchange: no socket calls recorded"


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_sequence_renders_svg_and_png_like_every_course_diagram():
    diagram = diagrams.sequence(_record_exchange(), lanes=[CLIENT, SERVER])
    bundle = diagram._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith(("<?xml", "<svg", "<!--"))
    assert "FIN" in bundle["image/svg+xml"] and "SYN, SYN&#45;ACK, ACK" in bundle["image/svg+xml"]
    assert bundle["image/png"] and bundle["text/plain"] == diagram.summary
