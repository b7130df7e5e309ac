"""The benchmark tools beside echo_bench.py run as a maintainer runs them.

They are measurements, not tests of speed: these tests check that each runs on
this Python, through the code the servers use, and reports every number it
names -- and that ab_servers.py refuses a server it cannot start, saying why.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"


def _run(script, *args, timeout=50):
    return subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


@pytest.mark.timeout(60)
def test_log_cost_reports_the_handler_the_timer_and_the_seed_print():
    result = _run("log_cost.py", "--batch", "200", "--repeat", "2")
    assert result.returncode == 0, result.stderr
    costs = dict(re.findall(r"^  (handler|timer|seed print|handler \+ timer) +(\d+)$",
                            result.stdout, re.M))
    assert set(costs) == {"handler", "timer", "seed print", "handler + timer"}, result.stdout
    assert all(int(ns) > 0 for ns in costs.values())
    assert int(costs["handler + timer"]) >= int(costs["handler"])


@pytest.mark.timeout(90)
def test_ab_servers_compares_servers_run_from_a_directory_and_stops_them(tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "netlesson", copy / "netlesson",
                    ignore=shutil.ignore_patterns("__pycache__"))
    result = _run("ab_servers.py", "--rounds", "2", "--clients", "2", "--total", "20",
                  "ref=.:seed", f"copy={copy}:cli", timeout=80)
    assert result.returncode == 0, result.stderr
    rows = re.findall(r"^  (\S+) +([\d,]+)/s  ratio (\d\.\d{3}) \(([\d.]+)-([\d.]+)\)"
                      r"  cpu/round trip +([\d.]+ us|n/a)$", result.stdout, re.M)
    assert [row[0] for row in rows] == ["ref", "copy"], result.stdout
    assert rows[0][2] == "1.000"  # the reference against itself
    assert all(int(row[1].replace(",", "")) > 0 for row in rows)
    assert "2 rounds, 2 clients, 10 round trips each" in result.stdout
    # every server it started is stopped: no process is left running in the copy
    import psutil

    left = [p.info for p in psutil.process_iter(["pid", "cwd", "cmdline"])
            if p.info["cwd"] == str(copy)]
    assert left == []


@pytest.mark.parametrize("spec, why", [
    ("ref=/nonexistent:seed", "holds no netlesson package"),
    ("ref=.:sed", "unknown server 'sed'"),
    ("ref.:seed", "expected LABEL=DIR:KIND"),
])
def test_ab_servers_refuses_a_server_it_cannot_start(spec, why):
    result = _run("ab_servers.py", spec, timeout=30)
    assert result.returncode == 2
    assert why in result.stderr
