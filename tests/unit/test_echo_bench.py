"""benchmarks/echo_bench.py compares servers started alike.

With the kernel's autogroup scheduling (``kernel.sched_autogroup_enabled=1``,
the default on desktop and many server kernels), each session is a scheduling
group of its own.  The benchmark once ran the command-line servers in sessions of
their own and the seed-style reference in the benchmark's session, next to its
clients.  Moving only that: the command-line server at 64 clients with 10 messages
each went from 0.68-0.73x the reference to 0.85-0.87x, and perf counted 8.2-9.1
futex calls per round trip in its own session against 5.1-6.8 in the benchmark's
(GIL hand-offs).  Every server now runs as a command in a session of its own.
"""

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from netlesson import concurrency

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "echo_bench.py"


@pytest.fixture(scope="module")
def echo_bench():
    spec = importlib.util.spec_from_file_location("echo_bench_under_test", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_server_is_started_as_a_command(echo_bench):
    assert set(echo_bench.COMMANDS) == set(echo_bench.SERVERS)


@pytest.mark.timeout(60)
@pytest.mark.skipif(not hasattr(os, "getsid"), reason="sessions are a POSIX idea")
@pytest.mark.parametrize("kind", ["seed", "netlesson", "cli"])
def test_each_server_runs_in_a_session_of_its_own_and_echoes(echo_bench, kind):
    server = echo_bench._start(kind)
    try:
        pid = server.process.pid
        assert os.getsid(pid) == pid != os.getsid(0)
        measured = concurrency.run_clients(server.address, 2, 3, timeout=10, kind=kind)
        assert measured.round_trips == 6
    finally:
        server.stop()
    assert server.process.poll() is not None


def test_the_report_names_the_scheduling_setting(echo_bench):
    assert "sched_autogroup_enabled" in echo_bench.machine()
    if sys.platform.startswith("linux") and Path("/proc/sys/kernel/sched_autogroup_enabled").exists():
        value = Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip()
        assert f"sched_autogroup_enabled {value}," in echo_bench.machine()
