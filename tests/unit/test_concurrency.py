"""netlesson.concurrency: echo servers of every kind in child processes, and the measuring clients.

Behaviour only (who gets served while another client is connected, what
comes back, that every process ends); how fast each kind is belongs in
benchmarks/, not in assertions.
"""

import importlib.util
import os
import socket
import subprocess
import sys
import time

import pytest

import netlesson
from netlesson import background, concurrency, tcp
from netlesson.concurrency import _process
from netlesson.concurrency import (
    KINDS,
    MODEL_KINDS,
    Comparison,
    EchoServerProcess,
    Measurement,
    WrongReply,
    ideal_rate,
    run_clients,
    start_server,
)

TIMEOUT = 5.0


@pytest.fixture(scope="module", params=KINDS)
def server(request):
    """One server process per kind, shared by the tests of this module, always stopped."""
    with start_server(request.param) as srv:
        yield srv
    assert srv.returncode == 0, srv


def test_every_kind_echoes_upper_case_to_netlessons_client(server):
    with tcp.TCPEchoClient(server.address, timeout=TIMEOUT) as client:
        assert client.send("hello 你好") == "HELLO 你好"
        assert client.send("x" * 3000) == "X" * 3000  # several recv(1024) on the server


def test_every_kind_serves_concurrent_measuring_clients(server):
    warmup = server.kind != "single"
    m = run_clients(server.address, clients=4, messages=10, warmup=warmup, timeout=TIMEOUT,
                    kind=server.kind)
    assert (m.kind, m.clients, m.messages, m.round_trips) == (server.kind, 4, 10, 40)
    assert m.seconds > 0 and m.rate == pytest.approx(40 / m.seconds)


def test_every_kind_runs_in_a_child_process_on_loopback(server):
    import os

    assert server.running
    assert server.pid != os.getpid()
    assert server.address[0] == "127.0.0.1" and server.port > 0


def _second_client_is_served_while_first_is_connected(address) -> bool:
    """Connect A and talk once; then, with A still open, does B get a reply?"""
    with socket.create_connection(address, timeout=TIMEOUT) as a:
        a.sendall(b"a")
        assert a.recv(16) == b"A"
        with socket.create_connection(address, timeout=TIMEOUT) as b:
            b.settimeout(0.5)
            b.sendall(b"b")
            try:
                return b.recv(16) == b"B"
            except TimeoutError:
                pass
            a.close()  # A leaves: now the single-threaded server gets to B
            b.settimeout(TIMEOUT)
            assert b.recv(16) == b"B", "B was never served, even after A left"
            return False


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_only_the_single_threaded_server_makes_the_second_client_wait(kind):
    with start_server(kind) as srv:
        served = _second_client_is_served_while_first_is_connected(srv.address)
    assert served is (kind != "single")


def test_forking_server_keeps_accepting_after_its_children_have_exited():
    # every connection is handled by a forked child that exits when its client
    # leaves; the parent reaps them and goes on serving
    with start_server("forking") as srv:
        m = run_clients(srv.address, clients=8, messages=3, timeout=TIMEOUT)
        assert m.round_trips == 24
        assert tcp.echo("after", srv.address, timeout=TIMEOUT) == "AFTER"


def test_stop_closes_stdin_and_the_server_exits_on_its_own():
    srv = start_server("threading")
    port = srv.port
    assert srv.stop() == 0  # 0: it left serve_forever itself; a kill would be negative
    assert not srv.running
    assert srv.stop() == 0  # idempotent
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()


def test_stop_ends_a_server_even_while_a_client_stays_connected():
    srv = start_server("asyncio")
    client = socket.create_connection(srv.address, timeout=TIMEOUT)
    try:
        client.sendall(b"x")
        assert client.recv(4) == b"X"
        assert srv.stop(timeout=3) is not None
        assert not srv.running
    finally:
        client.close()


def test_context_manager_stops_the_server_when_the_block_raises():
    with pytest.raises(RuntimeError, match="boom"):
        with start_server("single") as srv:
            raise RuntimeError("boom")
    assert not srv.running and srv.returncode == 0


def test_stop_all_stops_every_server_process_started_here():
    servers = [start_server("threading"), start_server("asyncio")]
    try:
        assert concurrency.stop_all() >= 2
        assert not any(s.running for s in servers)
    finally:
        for s in servers:
            s.stop()


def test_simulated_work_delays_every_reply():
    # not a speed claim: a reply simply cannot come before the handler's pause ends
    with start_server("threading", delay=0.2) as srv:
        t0 = time.monotonic()
        assert tcp.echo("slow", srv.address, timeout=TIMEOUT) == "SLOW"
        assert time.monotonic() - t0 >= 0.2


def test_cpu_work_kind_still_echoes():
    with start_server("forking", delay=0.01, work="cpu") as srv:
        assert run_clients(srv.address, clients=2, messages=2, timeout=TIMEOUT).round_trips == 4


def test_seed_style_server_prints_without_ever_blocking_on_a_full_pipe():
    # ~100 KB of print() output: more than a pipe holds (64 KiB).  If the
    # handler's stdout were still the pipe nobody reads, it would block.
    with start_server("seed") as srv:
        m = run_clients(srv.address, clients=8, messages=250, timeout=TIMEOUT)
        assert m.round_trips == 2000


def test_unknown_kind_is_refused_before_anything_starts():
    with pytest.raises(ValueError, match="unknown server kind 'forky'"):
        start_server("forky")


def test_bad_work_and_negative_delay_are_refused():
    with pytest.raises(ValueError, match="'sleep' or 'cpu'"):
        EchoServerProcess("threading", delay=0.1, work="gpu")
    for delay in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=">= 0"):
            EchoServerProcess("threading", delay=delay)


@pytest.mark.parametrize("kind", ["seed", "netlesson"])
def test_benchmark_kinds_take_no_simulated_work(kind):
    with pytest.raises(ValueError, match="takes no delay"):
        start_server(kind, delay=0.01)


def test_a_busy_port_is_reported_with_the_childs_error():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match="exited.*in use"):
            start_server("threading", port=port)


def test_address_before_start_explains_what_to_do():
    with pytest.raises(RuntimeError, match="has not been started"):
        EchoServerProcess("single").address


def test_cpu_seconds_is_read_from_the_child():
    with start_server("threading") as srv:
        before = srv.cpu_seconds()
        run_clients(srv.address, clients=2, messages=50, timeout=TIMEOUT)
        after = srv.cpu_seconds()
    if before is None:
        pytest.skip("no /proc on this platform")
    assert after >= before >= 0


def test_command_line_serve_prints_the_port_and_exits_at_end_of_input():
    proc = subprocess.Popen(
        [sys.executable, "-m", "netlesson", "concurrency-server", "threading", "--port", "0"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        port = int(proc.stdout.readline())
        assert tcp.echo("cli", ("127.0.0.1", port), timeout=TIMEOUT) == "CLI"
        proc.stdin.close()
        assert proc.wait(TIMEOUT) == 0
        assert b"threading echo server on 127.0.0.1:" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(TIMEOUT)
        proc.stdout.close()
        proc.stderr.close()


def _netlesson(*args, timeout=TIMEOUT * 4):
    return subprocess.run([sys.executable, "-m", "netlesson", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=timeout)


@pytest.mark.parametrize("args, complaint", [
    (("concurrency-server", "forky"), "unknown server kind 'forky'; choose one of single,"),
    (("concurrency-server", "threading", "--work", "gpu"), "work must be 'sleep' or 'cpu'"),
    (("concurrency-server", "seed", "--delay", "0.01"), "takes no delay"),
    (("concurrency-server", "threading", "--delay", "nan"), "nan is not a usable delay"),
    (("concurrency-server", "threading", "--delay", "inf"), "inf is not a usable delay"),
    (("concurrency-server", "threading", "--delay", "-1"), "-1 is not a usable delay"),
    (("concurrency-server", "threading", "--delay", "soon"), "'soon' is not a number"),
    (("concurrency-server", "threading", "--backlog", "0"), "0 is too small"),
    (("concurrency-server", "threading", "--backlog", "-5"), "-5 is too small"),
    (("concurrency-measure", "127.0.0.1"), "'127.0.0.1' is not HOST:PORT"),
    (("concurrency-measure", "127.0.0.1:0"), "a client needs the server's real port"),
    (("concurrency-measure", "127.0.0.1:9", "--clients", "0"), "0 is too small"),
    (("concurrency-measure", "127.0.0.1:9", "--messages", "0"), "0 is too small"),
    (("concurrency-compare", "--kinds", "single", "forky"), "unknown server kind 'forky'"),
    (("concurrency-compare", "--clients", "1", "0"), "0 is too small"),
    (("concurrency-compare", "--messages", "-1"), "-1 is too small"),
    (("concurrency-compare", "--delay", "nan"), "nan is not a usable delay"),
    (("concurrency-compare", "--work", "gpu"), "work must be 'sleep' or 'cpu'"),
    (("concurrency-compare", "--kinds", "seed", "--delay", "0.01"), "takes no delay"),
])
def test_command_line_mistakes_are_usage_errors_with_exit_status_2(args, complaint):
    result = _netlesson(*args)
    err = result.stderr.decode()
    assert result.returncode == 2 and result.stdout == b"", err
    assert err.startswith("usage: netlesson " + args[0])  # the subcommand's usage
    assert f"netlesson {args[0]}: error: " in err and complaint in err
    assert "Traceback" not in err


def test_other_commands_do_not_import_the_concurrency_package():
    code = ("import sys\n"
            "from netlesson import cli\n"
            "cli.build_parser().parse_args(['tcp-server', '--port', '0'])\n"
            "print(sorted(m for m in sys.modules if m.startswith('netlesson.concurrency')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=TIMEOUT * 4, check=True).stdout
    assert out.strip() == "[]"


def test_command_line_measure_reports_clients_messages_and_rate():
    with start_server("threading") as srv:
        result = _netlesson("concurrency-measure", f"127.0.0.1:{srv.port}", "--clients", "2",
                            "--messages", "3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().startswith("2 clients x 3 messages = 6 round trips in ")
    assert result.stdout.decode().endswith(" round trips/s\n")


def test_command_line_measure_without_warmup_serves_a_single_threaded_server():
    with start_server("single") as srv:
        result = _netlesson("concurrency-measure", f"127.0.0.1:{srv.port}", "--clients", "2",
                            "--messages", "2", "--no-warmup")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"2 clients x 2 messages = 4 round trips")


def test_command_line_measure_of_a_closed_port_says_to_start_a_server():
    with socket.socket() as s:  # bound, never listening: connections are refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        result = _netlesson("concurrency-measure", f"127.0.0.1:{port}", "--clients", "1",
                            "--messages", "1")
    err = result.stderr.decode()
    assert result.returncode == 1 and result.stdout == b""
    assert err.startswith(f"error: nothing is listening on 127.0.0.1:{port}")
    assert "concurrency-server" in err and "Traceback" not in err


def test_command_line_measure_names_a_server_that_is_not_an_upper_case_echo():
    with background.start_tcp("test-conc-cli-noupper", handler=_NoUpper) as srv:
        result = _netlesson("concurrency-measure", f"127.0.0.1:{srv.address[1]}",
                            "--clients", "1", "--messages", "1")
    err = result.stderr.decode()
    assert result.returncode == 1
    assert f"127.0.0.1:{srv.address[1]} is not an upper-case echo server: sent b'hello" in err
    assert "Traceback" not in err


def test_command_line_compare_prints_a_table_of_the_kinds_asked_for():
    result = _netlesson("concurrency-compare", "--kinds", "single", "asyncio", "--clients", "1",
                        "2", "--messages", "2", "--delay", "0.001", timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[0].split() == ["server", "1", "client", "2", "clients"]
    assert [line.split()[0] for line in lines[2:4]] == ["single", "asyncio"]
    assert "1 ms of waiting per message" in lines[-1]


def test_command_line_compare_of_benchmark_kinds_simulates_no_work_by_default():
    result = _netlesson("concurrency-compare", "--kinds", "seed", "--clients", "1",
                        "--messages", "2", timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[2].split()[0] == "seed" and lines[-1] == "round trips per second"


# -- which package the child imports -------------------------------------------


def test_an_installed_package_gets_no_pythonpath(tmp_path):
    """A non-editable install: the parent directory is site-packages, which must not go first."""
    stdlib, site = str(tmp_path / "lib" / "python3"), str(tmp_path / "lib" / "site-packages")
    package = os.path.join(site, "netlesson")
    assert _process._child_pythonpath(package, package, ["", stdlib, site], None) is None
    assert _process._child_pythonpath(package, package, ["", stdlib, site], "/extra") is None


def test_a_plain_source_checkout_is_put_on_the_pythonpath(tmp_path):
    checkout = str(tmp_path / "checkout")
    package = os.path.join(checkout, "netlesson")
    child_path = ["", str(tmp_path / "lib" / "python3"), str(tmp_path / "site-packages")]
    assert _process._child_pythonpath(package, None, child_path, None) == checkout
    assert _process._child_pythonpath(package, None, child_path, "/extra") == \
        checkout + os.pathsep + "/extra"


def test_another_copy_of_the_package_is_overridden_only_from_outside_its_path(tmp_path):
    site = str(tmp_path / "site-packages")
    other = os.path.join(site, "netlesson")
    checkout = os.path.join(str(tmp_path / "checkout"), "netlesson")
    # an older install elsewhere: the checkout goes first, as the parent imported it
    assert _process._child_pythonpath(checkout, other, [site], None) == \
        os.path.dirname(checkout)
    # our own directory is on the path but shadowed (by the working directory, say):
    # putting it first would also put it before the standard library
    ours = os.path.join(site, "netlesson")
    assert _process._child_pythonpath(ours, str(tmp_path / "cwd" / "netlesson"),
                                         ["", site], None) is None


def test_this_interpreter_finds_the_package_itself_so_the_child_env_is_unchanged(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/nonexistent-netlesson-test")
    found, child_path = _process._netlesson_seen_by(sys.executable, dict(os.environ),
                                                       os.getcwd())
    assert os.path.realpath(found) == os.path.realpath(os.path.dirname(netlesson.__file__))
    assert "/nonexistent-netlesson-test" in child_path
    assert _process._child_env()["PYTHONPATH"] == "/nonexistent-netlesson-test"


def test_a_child_that_cannot_find_the_package_is_given_its_checkout(tmp_path):
    """``python -S`` (no site-packages) in another directory stands in for a plain checkout."""
    bare = tmp_path / "python-S"
    bare.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    bare.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    found, child_path = _process._netlesson_seen_by(str(bare), env, str(tmp_path))
    assert found is None and child_path
    path = _process._child_pythonpath(_process._PACKAGE_DIR, found, child_path, None)
    assert path == os.path.dirname(_process._PACKAGE_DIR)
    out = subprocess.run(
        [str(bare), "-c", "import netlesson.concurrency as c; print(c.__file__)"],
        env=dict(env, PYTHONPATH=path), cwd=tmp_path, capture_output=True, text=True,
        timeout=TIMEOUT * 4, check=True).stdout
    assert os.path.realpath(out.strip()) == os.path.realpath(concurrency.__file__)


# -- measuring clients --------------------------------------------------------


class _NoUpper(tcp.UpperEchoHandler):
    """A handler that forgot ``.upper()``: the measuring clients must notice."""

    def handle(self):
        while data := self.request.recv(1024):
            self.request.sendall(data)


class _Silent(tcp.UpperEchoHandler):
    def handle(self):
        self.request.recv(1024)
        time.sleep(0.5)


def test_run_clients_rejects_a_reply_that_is_not_upper_cased():
    with background.start_tcp("test-conc-noupper", handler=_NoUpper) as srv:
        with pytest.raises(WrongReply, match="expected b'HELLO") as info:
            run_clients(srv.address, clients=2, messages=3, timeout=TIMEOUT)
    assert info.value.reply == info.value.sent != info.value.expected


def test_run_clients_times_out_instead_of_hanging_on_a_silent_server():
    with background.start_tcp("test-conc-silent", handler=_Silent) as srv:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError, match="no reply for 0.2 s after 0 of 6") as info:
            run_clients(srv.address, clients=3, messages=2, timeout=0.2, warmup=False)
        assert time.monotonic() - t0 < 2
    assert isinstance(info.value, concurrency.NoReply)
    assert (info.value.timeout, info.value.done, info.value.total) == (0.2, 0, 6)


def test_run_clients_reports_a_server_that_closes_mid_conversation():
    class _OneAndDone(tcp.UpperEchoHandler):
        def handle(self):
            self.request.sendall(self.request.recv(1024).upper())

    with background.start_tcp("test-conc-oneanddone", handler=_OneAndDone) as srv:
        with pytest.raises(ConnectionError, match="after 0 of 5 round trips"):
            run_clients(srv.address, clients=1, messages=5, timeout=TIMEOUT)


def test_run_clients_handles_a_payload_longer_than_the_servers_buffer():
    payload = b"abc" * 1000
    with background.start_tcp("test-conc-long") as srv:
        m = run_clients(srv.address, clients=3, messages=4, payload=payload, timeout=TIMEOUT)
    assert m.round_trips == 12


def test_run_clients_refuses_arguments_that_would_measure_nothing():
    with pytest.raises(ValueError, match="clients >= 1"):
        run_clients(("127.0.0.1", 9), clients=0)
    with pytest.raises(ValueError, match="empty payload"):
        run_clients(("127.0.0.1", 9), payload=b"")


def test_measurement_text_names_kind_clients_and_rate():
    m = Measurement("threading", 8, 5, 0.5)
    assert m.round_trips == 40 and m.rate == 80
    assert str(m) == "threading: 8 clients x 5 messages = 40 round trips in 500 ms -> 80 round trips/s"


@pytest.mark.parametrize("kind, clients, work, expected", [
    ("single", 32, "sleep", 100),
    ("threading", 32, "sleep", 3200),
    ("asyncio", 8, "sleep", 800),
    ("threading", 8, "cpu", 100),
    ("forking", 8, "cpu", 200),
])
def test_ideal_rate_follows_the_model(kind, clients, work, expected):
    assert ideal_rate(kind, clients, 0.01, work, cpus=2) == pytest.approx(expected)


def test_ideal_rate_is_undefined_without_simulated_work():
    assert ideal_rate("threading", 8, 0.0) is None


def _fake_comparison():
    ms = [Measurement(k, n, 5, 5 * (n if k == "single" else 1) * 0.01 / 0.9)
          for k in ("single", "threading") for n in (1, 8)]
    return Comparison(ms, delay=0.01, work="sleep")


def test_comparison_table_lists_every_kind_and_client_count_with_the_ideal():
    table = _fake_comparison().table()
    lines = table.splitlines()
    assert lines[0].split() == ["server", "1", "client", "8", "clients"]
    assert lines[2].split() == ["single", "90", "(100)", "90", "(100)"]
    assert lines[3].split() == ["threading", "90", "(100)", "720", "(800)"]
    assert "10 ms of waiting per message" in table


def test_comparison_plot_draws_one_line_per_kind_plus_the_ideal():
    fig = _fake_comparison().plot()
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["single", "threading", "clients / 10 ms"]
    assert list(ax.get_lines()[1].get_ydata()) == pytest.approx([90, 720])
    assert ax.get_xlabel() == "concurrent clients"


def _server_children() -> set[int]:
    """PIDs of this process's live children running ``concurrency-server``.

    Asks the operating system, not ``_process._running`` (a WeakSet: a
    process object dropped without being stopped vanishes from it while its
    child runs on).  psutil if installed, else Linux's /proc.
    """
    try:
        import psutil
    except ImportError:
        psutil = None
    found = set()
    if psutil is not None:
        for child in psutil.Process().children():
            try:
                if (child.status() != psutil.STATUS_ZOMBIE
                        and "concurrency-server" in child.cmdline()):
                    found.add(child.pid)
            except psutil.Error:  # exited meanwhile
                pass
        return found
    if not os.path.isdir("/proc/self"):
        pytest.skip("neither psutil nor /proc: cannot list child processes")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().split(b"\0")
        except OSError:  # exited meanwhile
            continue
        state, ppid = stat[stat.rindex(b")") + 2:].split()[:2]
        if int(ppid) == os.getpid() and state != b"Z" and b"concurrency-server" in cmdline:
            found.add(int(entry))
    return found


def _leaked(before: set[int], deadline: float = 5.0) -> set[int]:
    """Children started since *before* still running after *deadline* seconds (polled)."""
    end = time.monotonic() + deadline
    while True:
        leaked = _server_children() - before
        if not leaked or time.monotonic() > end:
            return leaked
        time.sleep(0.05)


@pytest.mark.parametrize("how", ["psutil", "/proc"])
def test_the_leak_check_sees_a_server_that_was_not_stopped(how, monkeypatch):
    if how == "/proc":
        monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil now fails
    elif importlib.util.find_spec("psutil") is None:
        pytest.skip("psutil is not installed")
    before = _server_children()
    srv = start_server("threading")
    try:
        assert _leaked(before, deadline=0) == {srv.pid}
    finally:
        srv.stop()
    assert _leaked(before) == set()


def test_compare_measures_each_kind_in_its_own_process():
    before = _server_children()  # the module's shared server may be running
    result = concurrency.compare(("single", "asyncio"), (1, 3), messages=2, delay=0.001)
    assert result.kinds == ["single", "asyncio"]
    assert result.client_counts == [1, 3]
    assert {(m.kind, m.clients, m.round_trips) for m in result.measurements} == {
        ("single", 1, 2), ("single", 3, 6), ("asyncio", 1, 2), ("asyncio", 3, 6)}
    assert _leaked(before) == set()  # every server compare started has exited
