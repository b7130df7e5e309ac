"""Tests for netlesson.diagrams and netlesson.pics: drawn edges are the real ones, rendering, fallback, pics/."""

from __future__ import annotations

import html
import inspect
import json
import os
import platform
import re
import shutil
import socket
import socketserver
import subprocess
import sys
import types
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from netlesson import diagrams, trace
from netlesson.diagrams import (
    Diagram,
    DotNotFound,
    DotTimeout,
    call_flow,
    handler_classes,
    mixin_combinations,
    mro,
    provenance,
    public_classes,
    server_classes,
)
from netlesson.diagrams import _style
from netlesson.pics import standard_diagrams, traced_diagrams, write_all

REPO = Path(__file__).resolve().parents[2]
PICS = REPO / "pics"
REGENERATE = "run `python -m netlesson diagrams --out pics`"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")

EDGE_LINE = re.compile(r'^\t+("(?:[^"\\]|\\.)*"|[^\s\[]+) -> ("(?:[^"\\]|\\.)*"|[^\s\[]+)(?: \[(.*)\])?$', re.M)
NODE_LINE = re.compile(r'^\t+("(?:[^"\\]|\\.)*"|[^\s\[]+) \[(.*)\]$', re.M)


def _unquote(token: str) -> str:
    return token[1:-1].replace('\\"', '"') if token.startswith('"') else token


def dot_edges(dot: str, *, dashed: bool | None = None) -> list[tuple[str, str]]:
    """Edges parsed from DOT text; ``dashed`` filters the lookup-chain edges in or out."""
    found = []
    for tail, head, attrs in EDGE_LINE.findall(dot):
        if "style=invis" in attrs:  # layout only: not drawn
            continue
        is_dashed = "style=dashed" in attrs
        if dashed is None or dashed == is_dashed:
            found.append((_unquote(tail), _unquote(head)))
    return found


def dot_nodes(dot: str) -> dict[str, str]:
    """Node id → attribute text, parsed from DOT (graph/node/edge defaults excluded)."""
    return {
        _unquote(name): attrs
        for name, attrs in NODE_LINE.findall(dot)
        if _unquote(name) not in {"graph", "node", "edge"}
    }


def real_bases_edges(classes) -> set[tuple[str, str]]:
    return {(cls.__name__, base.__name__) for cls in classes for base in cls.__bases__}


# ---------------------------------------------------------------------------
# Class discovery and inheritance edges
# ---------------------------------------------------------------------------


def test_public_classes_are_exactly_socketservers_exports():
    names = {cls.__name__ for cls in public_classes()}
    assert names == set(socketserver.__all__)
    assert all(hasattr(socketserver, name) for name in names)


def test_platform_dependent_classes_follow_the_platform():
    names = {cls.__name__ for cls in public_classes()}
    forking = {"ForkingMixIn", "ForkingTCPServer", "ForkingUDPServer"}
    unix = {"UnixStreamServer", "UnixDatagramServer", "ThreadingUnixStreamServer", "ThreadingUnixDatagramServer"}
    assert (forking <= names) == hasattr(os, "fork")
    assert (unix <= names) == hasattr(socket, "AF_UNIX")
    forking_unix = {"ForkingUnixStreamServer", "ForkingUnixDatagramServer"}
    expected = sys.version_info >= (3, 12) and hasattr(os, "fork") and hasattr(socket, "AF_UNIX")
    assert (forking_unix <= names) == expected
    assert names.isdisjoint(forking_unix) or expected


def test_drawn_edges_equal_real_bases_of_every_public_class():
    servers, handlers = server_classes(), handler_classes()
    public = public_classes()
    expected = real_bases_edges(public)
    drawn = {(e.tail, e.head) for d in (servers, handlers) for e in d.edges if e.kind == "inherits"}
    parsed = set(dot_edges(servers.dot_source)) | set(dot_edges(handlers.dot_source))
    assert drawn == expected
    assert parsed == expected
    assert all(e.kind == "inherits" for d in (servers, handlers) for e in d.edges)
    # Every public class is drawn once, in exactly one of the two diagrams.
    server_nodes = set(dot_nodes(servers.dot_source)) - {"object"}
    handler_nodes = set(dot_nodes(handlers.dot_source)) - {"object"}
    assert server_nodes | handler_nodes == {cls.__name__ for cls in public}
    assert server_nodes.isdisjoint(handler_nodes)
    assert handler_nodes == {"BaseRequestHandler", "StreamRequestHandler", "DatagramRequestHandler"}


def test_summaries_list_each_class_with_its_bases():
    summary = server_classes().summary
    for cls in public_classes():
        if not issubclass(cls, socketserver.BaseRequestHandler):
            bases = ", ".join(b.__name__ for b in cls.__bases__)
            assert f"  {cls.__name__}({bases})" in summary.splitlines()
    assert "  StreamRequestHandler(BaseRequestHandler)" in handler_classes().summary.splitlines()


def test_base_order_is_numbered_for_multiple_inheritance():
    dot = server_classes().dot_source
    for tail, head, attrs in EDGE_LINE.findall(dot):
        cls = getattr(socketserver, _unquote(tail))
        if len(cls.__bases__) > 1:
            position = [b.__name__ for b in cls.__bases__].index(_unquote(head)) + 1
            assert f'taillabel={position}' in attrs or f'taillabel="{position}"' in attrs
        else:
            assert "taillabel" not in attrs


# ---------------------------------------------------------------------------
# Mix-in combinations
# ---------------------------------------------------------------------------


def test_mixin_combinations_show_bases_and_numbered_mro():
    d = mixin_combinations()
    combos = [socketserver.ThreadingTCPServer, socketserver.ThreadingUDPServer]
    nodes = dot_nodes(d.dot_source)
    for combo in combos:
        prefix = combo.__name__ + "/"
        solid, dashed = dot_edges(d.dot_source, dashed=False), dot_edges(d.dot_source, dashed=True)
        inherits = {(t[len(prefix):], h[len(prefix):]) for t, h in solid if t.startswith(prefix)}
        assert inherits == real_bases_edges(combo.__mro__)
        lookup = [(t[len(prefix):], h[len(prefix):]) for t, h in dashed if t.startswith(prefix)]
        names = [k.__name__ for k in combo.__mro__]
        assert lookup == list(zip(names, names[1:]))
        for position, name in enumerate(names, start=1):
            label = nodes[prefix + name]
            assert re.search(rf">{position}</font>\s+<b>{name}</b>", label), label
        assert f"  lookup order: {' → '.join(names)}" in d.summary.splitlines()
    assert "ThreadingTCPServer(ThreadingMixIn, TCPServer)" in d.summary.splitlines()


def test_mixin_combinations_accepts_other_classes():
    name = "ForkingTCPServer" if hasattr(socketserver, "ForkingTCPServer") else "ThreadingTCPServer"
    d = mixin_combinations([name])
    assert len(d.summary.splitlines()) == 2
    with pytest.raises(TypeError):
        mixin_combinations(["NoSuchServer"])


# ---------------------------------------------------------------------------
# mro(): the highlighted class is Python's own lookup result
# ---------------------------------------------------------------------------


def highlighted_in_dot(dot: str) -> set[str]:
    return {name for name, attrs in dot_nodes(dot).items() if _style.HIGHLIGHT_FILL in attrs}


def test_mro_summary_for_threading_tcp_server():
    d = mro(socketserver.ThreadingTCPServer, "process_request")
    assert d.summary == (
        "ThreadingTCPServer → ThreadingMixIn → TCPServer → BaseServer → object\n"
        "process_request: supplied by ThreadingMixIn"
    )
    assert mro(socketserver.ThreadingTCPServer).summary == (
        "ThreadingTCPServer → ThreadingMixIn → TCPServer → BaseServer → object"
    )
    assert mro(socketserver.ThreadingUDPServer, "__init__").summary.splitlines()[1] == "__init__: supplied by TCPServer"


@pytest.mark.parametrize("name", ["process_request", "process_request_thread", "server_close"])
def test_threading_mixin_supplies_its_methods(name):
    d = mro(socketserver.ThreadingTCPServer, name)
    assert d.highlighted == ("ThreadingMixIn",)
    assert highlighted_in_dot(d.dot_source) == {"ThreadingMixIn"}


@pytest.mark.parametrize("cls", public_classes(), ids=lambda c: c.__name__)
def test_mro_highlights_pythons_lookup_for_every_public_attribute(cls):
    for name in dir(cls):
        d = mro(cls, name)
        expected = next((k for k in cls.__mro__ if name in vars(k)), None)
        assert expected is not None, name  # dir() of a class lists only MRO attributes
        # Python's own lookup finds exactly what that class's __dict__ holds.
        assert inspect.getattr_static(cls, name) is vars(expected)[name]
        assert len(d.highlighted) == 1 and d.classes[d.highlighted[0]] is expected, name
        assert highlighted_in_dot(d.dot_source) == {expected.__name__}, name
        assert d.summary.splitlines()[1] == f"{name}: supplied by {expected.__name__}"
        assert [d.classes[n] for n in d.nodes] == list(cls.__mro__)


def test_mro_edges_and_chain_come_from_bases_and_mro():
    cls = getattr(socketserver, "ThreadingUnixDatagramServer", socketserver.ThreadingUDPServer)
    d = mro(cls)
    assert set(dot_edges(d.dot_source, dashed=False)) == real_bases_edges(cls.__mro__)
    names = [k.__name__ for k in cls.__mro__]
    assert dot_edges(d.dot_source, dashed=True) == list(zip(names, names[1:]))
    assert d.highlighted == ()


def test_attribute_no_class_defines_is_reported():
    d = mro(socketserver.ThreadingTCPServer, "server_address")
    assert d.highlighted == ()
    assert highlighted_in_dot(d.dot_source) == set()
    assert "server_address: not defined by any class in the MRO of ThreadingTCPServer" in d.summary
    # Every class was searched in vain.
    assert d.dot_source.count("no server_address") == len(socketserver.ThreadingTCPServer.__mro__)


def test_mro_of_a_students_subclass():
    class MyServer(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True

    d = mro(MyServer, "allow_reuse_address")
    assert d.summary.splitlines() == [
        "MyServer → ThreadingTCPServer → ThreadingMixIn → TCPServer → BaseServer → object",
        "allow_reuse_address: supplied by MyServer",
    ]
    assert highlighted_in_dot(d.dot_source) == {"MyServer"}
    init = mro(MyServer, "__init__")
    assert init.classes[init.highlighted[0]] is socketserver.TCPServer
    assert "no __init__" in dot_nodes(init.dot_source)["MyServer"]
    assert "no __init__" not in dot_nodes(init.dot_source)["BaseServer"]  # never consulted


def test_mro_with_clashing_class_names_keeps_nodes_apart():
    class TCPServer(socketserver.TCPServer):  # same name as its base, as students do
        def server_bind(self):
            super().server_bind()

    d = mro(TCPServer, "server_bind")
    own = f"{__name__}.{TCPServer.__qualname__}"
    assert d.nodes[:2] == (own, "socketserver.TCPServer")
    assert d.highlighted == (own,)
    assert (own, "socketserver.TCPServer") in dot_edges(d.dot_source, dashed=False)
    assert len(set(d.nodes)) == len(d.nodes)


def test_mro_rejects_instances():
    with pytest.raises(TypeError, match="type\\(obj\\)"):
        mro(socketserver.BaseRequestHandler.__new__(socketserver.BaseRequestHandler), "handle")


@st.composite
def hierarchies(draw):
    """Random class hierarchies; each class may define some of the attributes a, b, c."""
    count = draw(st.integers(min_value=1, max_value=6))
    specs = []
    for i in range(count):
        bases = draw(st.lists(st.integers(0, i - 1), unique=True, max_size=3)) if i else []
        attrs = draw(st.sets(st.sampled_from("abc")))
        specs.append((bases, attrs))
    return specs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(hierarchies())
def test_mro_matches_python_on_random_hierarchies(specs):
    classes: list[type] = []
    for i, (bases, attrs) in enumerate(specs):
        namespace = {name: f"from K{i}" for name in attrs}
        try:
            classes.append(type(f"K{i}", tuple(classes[b] for b in bases) or (object,), namespace))
        except TypeError:  # no consistent MRO: Python refuses such a class too
            assume(False)
    leaf = classes[-1]
    for name in "abc":
        d = mro(leaf, name)
        try:
            looked_up = getattr(leaf, name)  # Python's real attribute lookup
        except AttributeError:
            assert d.highlighted == () and "not defined by any class" in d.summary
            continue
        assert d.highlighted == (looked_up.removeprefix("from "),)
        assert highlighted_in_dot(d.dot_source) == set(d.highlighted)
    assert set(dot_edges(d.dot_source, dashed=False)) == real_bases_edges(leaf.__mro__)


# ---------------------------------------------------------------------------
# Call flow
# ---------------------------------------------------------------------------


@dataclass
class Call:
    thread: str
    qualname: str
    depth: int
    defining_class: str
    filename: str
    lineno: int


def _call(thread: str, qualname: str, depth: int) -> Call:
    owner, method = qualname.split(".")
    func = getattr(getattr(socketserver, owner, None), method, None)
    if func is not None:
        return Call(thread, qualname, depth, owner, inspect.getsourcefile(func), inspect.getsourcelines(func)[1])
    return Call(thread, qualname, depth, owner, os.path.join(str(REPO), "netlesson", "tcp.py"), 10)


TCP_CALLS = [
    _call("main", "TCPServer.__init__", 0),
    _call("main", "BaseServer.__init__", 1),
    _call("main", "TCPServer.server_bind", 1),
    _call("main", "TCPServer.server_activate", 1),
    _call("serve_forever thread", "BaseServer.serve_forever", 0),
    _call("serve_forever thread", "BaseServer._handle_request_noblock", 1),
    _call("serve_forever thread", "TCPServer.get_request", 2),
    _call("serve_forever thread", "BaseServer.verify_request", 2),
    _call("serve_forever thread", "ThreadingMixIn.process_request", 2),
    _call("handler thread 1", "ThreadingMixIn.process_request_thread", 0),
    _call("handler thread 1", "BaseServer.finish_request", 1),
    _call("handler thread 1", "BaseRequestHandler.__init__", 2),
    _call("handler thread 1", "BaseRequestHandler.setup", 3),
    _call("handler thread 1", "UpperCaseHandler.handle", 3),
    _call("handler thread 1", "BaseRequestHandler.finish", 3),
    _call("handler thread 1", "TCPServer.shutdown_request", 1),
    _call("handler thread 1", "TCPServer.close_request", 2),
    _call("main", "BaseServer.shutdown", 0),
]


def test_call_flow_lanes_numbering_and_edges():
    d = call_flow(TCP_CALLS, title="TCP")
    dot = d.dot_source
    clusters = re.findall(r"subgraph (cluster_\d+) \{\n\t+.*label=(\"[^\"]*\"|\S+)", dot)
    assert [_unquote(label) for _, label in clusters] == ["main", "serve_forever thread", "handler thread 1"]
    by_kind = {kind: {(e.tail, e.head) for e in d.edges if e.kind == kind} for kind in ("calls", "then", "thread")}
    assert by_kind["calls"] == {
        ("c1", "c2"), ("c1", "c3"), ("c1", "c4"),
        ("c5", "c6"), ("c6", "c7"), ("c6", "c8"), ("c6", "c9"),
        ("c10", "c11"), ("c11", "c12"), ("c12", "c13"), ("c12", "c14"), ("c12", "c15"),
        ("c10", "c16"), ("c16", "c17"),
    }
    # no starters known in a plain list: each new thread's arrow comes from a label
    assert by_kind["thread"] == {("c5_origin", "c5"), ("c10_origin", "c10")}
    assert by_kind["then"] == {("c4", "c18")}
    assert set(dot_edges(dot)) == {(e.tail, e.head) for e in d.edges}
    nodes = dot_nodes(dot)
    assert re.search(r">14</font>\s+<b>UpperCaseHandler</b>\.handle", nodes["c14"])
    assert _style.FILL_USER in nodes["c14"] and _style.FILL_USER not in nodes["c7"]
    get_request_line = inspect.getsourcelines(socketserver.TCPServer.get_request)[1]
    assert f"socketserver.py:{get_request_line}" in nodes["c7"]
    assert d.summary.splitlines() == [
        "TCP: 18 calls in 3 threads",
        "main: TCPServer.__init__ → BaseServer.__init__ → TCPServer.server_bind → TCPServer.server_activate"
        " → BaseServer.shutdown",
        "serve_forever thread: BaseServer.serve_forever → BaseServer._handle_request_noblock"
        " → TCPServer.get_request → BaseServer.verify_request → ThreadingMixIn.process_request",
        "handler thread 1: ThreadingMixIn.process_request_thread → BaseServer.finish_request"
        " → BaseRequestHandler.__init__ → BaseRequestHandler.setup → UpperCaseHandler.handle"
        " → BaseRequestHandler.finish → TCPServer.shutdown_request → TCPServer.close_request",
    ]


def test_call_flow_has_no_machine_specific_text():
    dot = call_flow(TCP_CALLS).dot_source
    for path in {os.path.dirname(socketserver.__file__), str(REPO), sys.prefix, sys.base_prefix}:
        assert path not in dot
    assert "netlesson/tcp.py:10" in dot or "tcp.py:10" in dot
    assert not re.search(r"0x[0-9a-f]{6,}", dot)


def test_call_flow_is_deterministic_and_accepts_trace_results():
    first = call_flow(TCP_CALLS).dot_source
    assert call_flow(list(TCP_CALLS)).dot_source == first
    assert call_flow(types.SimpleNamespace(calls=TCP_CALLS)).dot_source == first
    assert call_flow(iter(TCP_CALLS)).dot_source == first


@dataclass
class FakeTrace:
    """Like netlesson.trace.Trace: ``.calls`` plus ``.starters`` (thread label → starting call)."""

    calls: list
    starters: dict


def test_new_thread_edge_comes_from_the_starting_call_when_known():
    # As in a real trace: process_request's callee runs after the thread was started.
    calls = TCP_CALLS[:9] + [_call("serve_forever thread", "_Threads.append", 3)] + TCP_CALLS[9:]
    guessed = call_flow(calls)
    # unknown starter: the arrow comes from a label, not from the call recorded before
    assert ("c11_origin", "c11") in {(e.tail, e.head) for e in guessed.edges if e.kind == "thread"}
    assert not any(e.head == "c11" and e.tail == "c10" for e in guessed.edges)
    assert 'label="new thread"' in guessed.dot_source
    assert "thread started outside the traced calls" in guessed.dot_source
    known = call_flow(FakeTrace(calls, {"handler thread 1": calls[8]}))
    assert {(e.tail, e.head) for e in known.edges if e.kind == "thread"} == {("c5_origin", "c5"),
                                                                             ("c9", "c11")}
    assert 'c9 -> c11 [label="starts thread"' in known.dot_source


def test_call_flow_of_a_real_trace():
    result = trace.trace_tcp()
    d = call_flow(result)
    records = list(result.calls)
    threads = list(dict.fromkeys(r.thread for r in records))
    assert d.summary.splitlines()[0].endswith(f"{len(records)} calls in {len(threads)} threads")
    starts = [(e.tail, e.head) for e in d.edges if e.kind == "thread"]
    by_id = dict(zip(d.nodes, records))
    into_handler = [
        by_id[t].qualname for t, h in starts if by_id[h].qualname == "ThreadingMixIn.process_request_thread"
    ]
    assert into_handler == ["ThreadingMixIn.process_request"]
    assert call_flow(trace.trace_tcp()).dot_source == d.dot_source  # stable across runs
    for path in {os.path.dirname(socketserver.__file__), str(REPO), sys.prefix}:
        assert path not in d.dot_source


def test_call_flow_rejects_records_missing_fields_and_handles_empty():
    with pytest.raises(TypeError, match="lacks .*lineno"):
        call_flow([types.SimpleNamespace(thread="main", qualname="f", depth=0, defining_class="X", filename="x.py")])
    empty = call_flow([])
    assert empty.summary == "Call flow: no calls recorded"
    assert empty.edges == ()


# ---------------------------------------------------------------------------
# Determinism, rendering, fallback
# ---------------------------------------------------------------------------


def test_dot_is_deterministic_within_a_process():
    first = {k: d.dot_source for k, d in standard_diagrams().items()}
    second = {k: d.dot_source for k, d in standard_diagrams().items()}
    assert first == second
    assert set(first) == {
        "server_classes", "handler_classes", "mixins", "mro_ThreadingTCPServer", "mro_ThreadingUDPServer"
    }
    for text in first.values():
        assert text.splitlines()[0] == f"// {provenance()}"


def test_dot_is_deterministic_across_hash_seeds():
    code = (
        "import json; from netlesson.pics import standard_diagrams;"
        "print(json.dumps({k: d.dot_source for k, d in standard_diagrams().items()}))"
    )
    outputs = []
    for seed in ("1", "4242"):
        path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=path)
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        outputs.append(json.loads(result.stdout))
    assert outputs[0] == outputs[1] == {k: d.dot_source for k, d in standard_diagrams().items()}


@needs_dot
@pytest.mark.parametrize(
    "build",
    [server_classes, handler_classes, mixin_combinations, lambda: mro(socketserver.ThreadingUDPServer, "get_request")],
)
def test_renders_valid_svg_with_class_names(build):
    d = build()
    svg = d.svg()
    root = ET.fromstring(svg.encode("utf-8"))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    for cls in d.classes.values():
        assert cls.__name__ in texts
    for path in {os.path.dirname(socketserver.__file__), str(REPO), sys.prefix, os.getcwd(), os.path.expanduser("~")}:
        if len(path) > 1:
            assert path not in svg
    bundle = d._repr_mimebundle_()
    assert set(bundle) == {"image/svg+xml", "image/png", "text/plain"}
    assert bundle["text/plain"] == d.summary
    assert set(d._repr_mimebundle_(include={"text/plain"})) == {"text/plain"}
    assert set(d._repr_mimebundle_(exclude={"text/plain"})) == {"image/svg+xml", "image/png"}


def _assert_fallback(bundle: dict, d: Diagram, problem: str) -> None:
    assert "image/svg+xml" not in bundle
    text = bundle["text/plain"]
    assert problem in text
    assert d.summary in text
    assert d.dot_source in text
    page = bundle["text/html"]
    assert problem in html.unescape(page)
    assert d.dot_source in html.unescape(page)  # the DOT source is shown ...
    assert " -&gt; " in page and " -> " not in page  # ... escaped, so it cannot break the page


def test_fallback_when_dot_is_not_on_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    d = mro(socketserver.ThreadingTCPServer, "__init__")
    bundle = d._repr_mimebundle_()
    _assert_fallback(bundle, d, "Graphviz's `dot` program is missing")
    for hint in ("apt-get install graphviz", "brew install graphviz", "conda install -c conda-forge graphviz"):
        assert hint in bundle["text/plain"] and hint in bundle["text/html"]
    with pytest.raises(DotNotFound, match="apt-get install graphviz"):
        d.svg()
    with pytest.raises(DotNotFound):
        d.save(tmp_path / "out", "x")
    assert (tmp_path / "out" / "x.dot").read_text() == d.dot_source
    assert not (tmp_path / "out" / "x.svg").exists()


def test_fallback_when_dot_vanishes_between_lookup_and_run(tmp_path, monkeypatch):
    gone = tmp_path / "no-such-dir" / "dot"
    monkeypatch.setattr(shutil, "which", lambda name: str(gone))
    d = handler_classes()
    _assert_fallback(d._repr_mimebundle_(), d, "Graphviz's `dot` program is missing")
    with pytest.raises(DotNotFound):
        d.svg()


def _counting_dot(tmp_path: Path) -> Path:
    """A ``dot`` on PATH that notes each run in ``runs`` and then is the real dot."""
    real = shutil.which("dot")
    fake = tmp_path / "bin" / "dot"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho run >> "{tmp_path / "runs"}"\nexec "{real}" "$@"\n')
    fake.chmod(0o755)
    return fake


@needs_dot
@pytest.mark.skipif(os.name != "posix", reason="uses a shell script as a counting dot")
def test_svg_is_rendered_once_per_dot_source(tmp_path, monkeypatch):
    fake = _counting_dot(tmp_path)
    monkeypatch.setenv("PATH", os.pathsep.join([str(fake.parent), os.environ.get("PATH", "")]))
    d = mro(socketserver.ThreadingTCPServer, "__init__")
    first = d.svg()
    assert d.svg() == first
    assert d._repr_mimebundle_()["image/svg+xml"] == first
    d.save(tmp_path / "out")
    assert (tmp_path / "out" / f"{d.name}.svg").read_text(encoding="utf-8") == first
    # one dot run per format (SVG, and the PNG the display and save() add) for five uses
    assert (tmp_path / "runs").read_text().split() == ["run", "run"]
    # the graph is public and mutable: a changed DOT source is drawn again
    d.graph.node("ExtraNode")
    again = d.svg()
    assert "ExtraNode" in again and "ExtraNode" not in first
    assert (tmp_path / "runs").read_text().split() == ["run", "run", "run"]


@pytest.mark.skipif(os.name != "posix", reason="uses an executable script as a fake dot")
def test_a_dot_that_hangs_is_stopped_after_the_timeout(tmp_path, monkeypatch):
    fake = tmp_path / "dot"
    pid_file = tmp_path / "pid"
    fake.write_text(
        f"#!{sys.executable}\nimport os, sys, time\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "sys.stdin.read()\ntime.sleep(60)\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    d = mixin_combinations()
    with pytest.raises(DotTimeout, match=r"took more than 0\.5 s to draw the diagram 'mixins'"):
        d.svg(timeout=0.5)
    # the stuck dot was killed and reaped, not left running
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)
    # a notebook display shows the message and the DOT source instead of hanging
    monkeypatch.setattr(d, "render_timeout", 0.5)
    bundle = d._repr_mimebundle_()
    _assert_fallback(bundle, d, "took more than 0.5 s")
    assert "render_timeout" in bundle["text/plain"]
    assert Diagram.render_timeout == diagrams.RENDER_TIMEOUT == 20.0


@pytest.mark.skipif(os.name != "posix", reason="uses an executable script as a fake dot")
def test_fallback_when_dot_fails(tmp_path, monkeypatch):
    fake = tmp_path / "dot"
    # A Python script, so it needs nothing else on the emptied PATH.  It reads its
    # input first, like the real dot, then fails the way dot does on bad input.
    fake.write_text(
        f"#!{sys.executable}\nimport sys\nsys.stdin.read()\nsys.stderr.write('simulated crash\\n')\nsys.exit(3)\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    d = server_classes()
    bundle = d._repr_mimebundle_()
    _assert_fallback(bundle, d, "Graphviz's `dot` program failed to draw this diagram")
    assert "simulated crash" in bundle["text/plain"]  # dot's own complaint is passed on


def test_repr_and_str():
    d = mro(socketserver.ThreadingTCPServer)
    assert str(d) == d.summary
    assert repr(d) == (
        "<Diagram 'mro_ThreadingTCPServer': ThreadingTCPServer → ThreadingMixIn → TCPServer → BaseServer → object>"
    )


# ---------------------------------------------------------------------------
# pics/ and write_all
# ---------------------------------------------------------------------------


CALL_FLOW_STEMS = ["call_flow_tcp", "call_flow_udp"]


@pytest.fixture(scope="module")
def regenerated_call_flows():
    """The call flows drawn from fresh traces, once for all the tests that need them."""
    return traced_diagrams()


# The python ``graphviz`` package's version is deliberately not part of the skip
# condition: the DOT text it writes was checked to be byte-identical with graphviz
# 0.20, 0.20.1 and 0.21 (see the module docstring of netlesson.diagrams).
@pytest.mark.parametrize("stem", sorted(standard_diagrams()) + CALL_FLOW_STEMS)
def test_committed_pics_are_up_to_date(stem, request):
    committed = PICS / f"{stem}.dot"
    assert committed.exists(), f"pics/{stem}.dot is missing; {REGENERATE}"
    assert (PICS / f"{stem}.svg").exists(), f"pics/{stem}.svg is missing; {REGENERATE}"
    png = (PICS / f"{stem}.png")
    assert png.exists(), f"pics/{stem}.png is missing; {REGENERATE}"
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"
    text = committed.read_bytes().decode("utf-8")
    recorded = text.split("\n", 1)[0].removeprefix("// ")
    call_flow_pic = stem in CALL_FLOW_STEMS
    expected_provenance = provenance(full_version=call_flow_pic)
    if recorded != expected_provenance:
        here = expected_provenance.removeprefix("generated by netlesson ")
        why = ("its socketserver.py line numbers may legitimately differ: call flows are "
               "compared only on exactly that Python release" if call_flow_pic else
               "its classes may legitimately differ: compared only on that Python")
        pytest.skip(f"pics/{stem}.dot was {recorded}; this run is {here}, so {why}")
    if call_flow_pic:
        fresh = request.getfixturevalue("regenerated_call_flows")[stem].dot_source
    else:
        fresh = standard_diagrams()[stem].dot_source
    assert text == fresh, f"pics/{stem}.dot is stale; {REGENERATE}"


def test_call_flow_provenance_names_the_full_python_version():
    full = platform.python_version()
    assert full.count(".") >= 2
    assert provenance(full_version=True) == provenance().replace(
        "Python {}.{} ".format(*sys.version_info[:2]), f"Python {full} ")
    assert call_flow(TCP_CALLS).dot_source.splitlines()[0] == f"// {provenance(full_version=True)}"
    # class diagrams keep major.minor: patch releases add no classes
    assert server_classes().dot_source.splitlines()[0] == f"// {provenance()}"
    for stem in CALL_FLOW_STEMS:
        first = (PICS / f"{stem}.dot").read_text(encoding="utf-8").splitlines()[0]
        assert re.fullmatch(r"// generated by netlesson on Python \d+\.\d+\.\d+\S* \(.*\)", first), first


def test_committed_pics_carry_no_machine_specific_text():
    files = sorted(PICS.glob("*.dot")) + sorted(PICS.glob("*.svg"))
    if not files:
        pytest.fail(f"pics/ is empty; {REGENERATE}")
    for path in files:
        text = path.read_text(encoding="utf-8")
        for marker in (str(REPO), "/home/", "/root/", "/tmp/", "/Users/", "site-packages", "\\\\"):
            assert marker not in text, f"{path.name} contains {marker!r}"
        assert not re.search(r"0x[0-9a-fA-F]{6,}", text), f"{path.name} contains an object address"
        assert not re.search(r"127\.0\.0\.1:\d+|localhost:\d+|port \d{4,5}", text), f"{path.name} contains a port"


def _fake_traces(monkeypatch):
    """Traces without servers: pics draws whatever netlesson.trace hands it."""
    monkeypatch.setattr(trace, "trace_tcp", lambda: types.SimpleNamespace(calls=TCP_CALLS))
    monkeypatch.setattr(trace, "trace_udp",
                        lambda: types.SimpleNamespace(calls=[c for c in TCP_CALLS if "noblock" not in c.qualname]))


@needs_dot
def test_write_all_writes_dot_svg_and_png_for_everything(tmp_path, monkeypatch):
    _fake_traces(monkeypatch)
    written = write_all(tmp_path)
    stems = sorted(standard_diagrams()) + ["call_flow_tcp", "call_flow_udp"]
    assert sorted(p.name for p in written) == sorted(f"{s}.{ext}" for s in stems for ext in ("dot", "svg", "png"))
    for stem, d in standard_diagrams().items():
        assert (tmp_path / f"{stem}.dot").read_text() == d.dot_source
    tcp_dot = (tmp_path / "call_flow_tcp.dot").read_text()
    assert set(dot_edges(tcp_dot)) == {(e.tail, e.head) for e in call_flow(TCP_CALLS).edges}
    assert "TCP request" in tcp_dot and "UDP request" in (tmp_path / "call_flow_udp.dot").read_text()
    ET.fromstring((tmp_path / "call_flow_udp.svg").read_bytes())


def test_diagram_displays_svg_and_a_png_of_the_same_size_for_untrusted_notebooks():
    """JupyterLab shows no stored SVG from an untrusted notebook, but shows a PNG."""
    import base64

    from netlesson.diagrams._render import _png_size

    d = server_classes()
    bundle = d._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith(("<?xml", "<svg"))
    width, height = _png_size(base64.b64decode(bundle["image/png"]))
    svg = re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', bundle["image/svg+xml"])
    # a browser draws 1 pt as 96/72 CSS pixels: the PNG, at 96 dpi, is as big as the SVG
    assert abs(width - float(svg.group(1)) * 96 / 72) <= 3
    assert abs(height - float(svg.group(2)) * 96 / 72) <= 3
    assert bundle["text/plain"] == d.summary
    only_text = d._repr_mimebundle_(include=["text/plain"])
    assert only_text == {"text/plain": d.summary}
