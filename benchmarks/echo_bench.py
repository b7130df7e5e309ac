"""Echo throughput and stop-to-free-port time: netlesson against the seed's way.

Two questions, answered on loopback in one run (about two and a quarter minutes):

1. **Round trips per second** with 1, 8 and 64 concurrent TCP clients against
   (a) a server written exactly like the seed's (``ThreadingTCPServer`` and a
   handler that ``print()``-s every message; its stdout goes to /dev/null),
   (b) netlesson's ``ClassroomTCPServer`` with ``UpperEchoHandler`` (which
   stores a structured record per message in its ``ServerLog`` and prints
   nothing), (c) an asyncio streams echo, and the command-line server as users
   run it -- ``python -m netlesson tcp-server --port 0`` in a process of its
   own, printing a line per event like the seed -- with its output (d) to
   /dev/null and (f) to a pipe that a thread here reads, against (e) the seed's
   own script (``benchmarks/seed_server.py``) with its output to a pipe too.
   Every server is a command in a process and a session of its own, as in a
   terminal ((a), (b), (c): ``python -m netlesson concurrency-server KIND
   --forever``), its port read from its listening socket: with the kernel's
   autogroup scheduling, a server in the benchmark's own session would share
   a scheduling group with the clients and the others would not.  The
   clients run here, in one thread with a selector.  Turns alternate, and
   each server's turn comes right before or right after the turn of the
   server it is compared with (round 1: d a b, e f, c; round 2: b a d, c, f
   e; ...), so a burst of load from elsewhere on the machine hits both alike.
   The table shows each server's median rate over rounds and, in brackets, the
   median of its per-round ratios to its reference (the two turns of one
   round ran side by side) with the middle half of those ratios: on a busy
   machine they spread widely.  Server CPU time per round trip is reported too: it
   is what netlesson's extra work costs, and it changes less when the machine
   is busy than round trips per second do.  The children run without
   ``PYTHONUNBUFFERED`` (dropped from the environment if set), as in a
   user's terminal: with it, every ``print`` would be a system call.

2. **Stop to free port**: the time from asking a running server to stop until
   a new server could bind its port, for netlesson's launcher
   (``background.start_tcp(...).stop()``, idle and with a client connected)
   against a stock ``ThreadingTCPServer`` stopped with ``shutdown()`` +
   ``server_close()``, whose ``serve_forever`` notices the request only at its
   next poll (``poll_interval=0.5`` by default).  Each run waits a different
   time (spread evenly over 0-0.5 s, in shuffled order) between start and
   stop, so the stock server is caught at every phase of its poll.

Usage::

    .venv/bin/python benchmarks/echo_bench.py            # print the tables
    .venv/bin/python benchmarks/echo_bench.py --write    # ...and update benchmarks/README.md
    .venv/bin/python benchmarks/echo_bench.py --quick    # fewer rounds, for a smoke test

Targets (issue 2): netlesson (b) and the command-line server (d), (f) >= 0.9x
the seed-style server writing to the same place, at every concurrency; median
stop <= 5 ms.
"""

from __future__ import annotations

import argparse
import datetime
import errno
import os
import platform
import random
import re
import signal
import socket
import socketserver
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

import psutil  # noqa: E402

from netlesson import background, concurrency  # noqa: E402

SERVERS = {
    "seed": "(a) seed-style: `ThreadingTCPServer` + `print()` per message, output to /dev/null",
    "netlesson": ("(b) netlesson: `ClassroomTCPServer` + `UpperEchoHandler` "
                  "(log kept, not printed)"),
    "asyncio": "(c) asyncio streams echo",
    "cli": "(d) `python -m netlesson tcp-server`, output to /dev/null",
    "seed-pipe": "(e) the seed's server script (`benchmarks/seed_server.py`), output to a pipe",
    "cli-pipe": "(f) `python -m netlesson tcp-server`, output to a pipe",
}
#: what each server's ratio is taken against: the seed-style server writing to the same place
REFERENCE = {"seed-pipe": None, "cli-pipe": "seed-pipe"}
#: the servers that must reach RATIO_TARGET
TARGETED = ("netlesson", "cli", "cli-pipe")
#: every server as a command in a process and a session of its own, as a server started
#: in a terminal runs: the command and where its standard output goes.  One session
#: each, for all of them alike: with the kernel's autogroup scheduling
#: (``kernel.sched_autogroup_enabled``), a process in a new session competes with the
#: clients here as a group of its own, and a server that shares the benchmark's session
#: does not (see "Same scheduling for every server" in benchmarks/README.md).
COMMANDS = {
    **{kind: (["-m", "netlesson", "concurrency-server", kind, "--port", "0", "--forever"],
              "devnull")
       for kind in ("seed", "netlesson", "asyncio")},
    "cli": (["-m", "netlesson", "tcp-server", "--port", "0"], "devnull"),
    "seed-pipe": ([str(HERE / "seed_server.py"), "0"], "pipe"),
    "cli-pipe": (["-m", "netlesson", "tcp-server", "--port", "0"], "pipe"),
}
CONCURRENCY = (1, 8, 64)
#: servers whose turns run side by side in a round: each targeted one next to its reference
TURN_GROUPS = (("cli", "seed", "netlesson"), ("seed-pipe", "cli-pipe"), ("asyncio",))
RATIO_TARGET = 0.9
STOP_TARGET_MS = 5.0
README = HERE / "README.md"
# --write replaces the marked block in both: benchmarks/README.md and the project README
READMES = (README, HERE.parent / "README.md")
START, END = "<!-- echo_bench:start -->", "<!-- echo_bench:end -->"


# -- throughput -----------------------------------------------------------------


class CommandServer:
    """A server command in a process of its own, its standard output to /dev/null or to
    a pipe that a thread here reads (and counts the lines of), as a terminal would."""

    def __init__(self, args: list[str], output: str, timeout: float = 10.0, cwd=HERE.parent):
        self.lines = 0
        self.process = subprocess.Popen(
            [sys.executable, *args], cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if output == "pipe" else subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        self._reader = None
        if output == "pipe":
            self._reader = threading.Thread(target=self._drain, daemon=True)
            self._reader.start()
        try:
            self.address = ("127.0.0.1", self._listening_port(timeout))
        except BaseException:
            self.stop()
            raise

    def _drain(self) -> None:
        for chunk in iter(lambda: self.process.stdout.read1(1 << 16), b""):
            self.lines += chunk.count(b"\n")

    def _listening_port(self, timeout: float) -> int:
        """The port of the process's listening socket (the seed's script prints none)."""
        deadline = time.monotonic() + timeout
        proc = psutil.Process(self.process.pid)
        while time.monotonic() < deadline and self.process.poll() is None:
            for conn in proc.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN:
                    return conn.laddr.port
            time.sleep(0.02)
        raise RuntimeError(f"{self.process.args} did not start listening within {timeout:g} s")

    def cpu_seconds(self) -> float | None:
        try:
            times = psutil.Process(self.process.pid).cpu_times()
        except psutil.Error:
            return None
        return times.user + times.system + times.children_user + times.children_system

    def stop(self) -> None:
        """Ctrl-C (SIGINT), as a user stops it; then SIGKILL if it is still there after 3 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self._reader is not None:
            self._reader.join(5)
            self.process.stdout.close()


def _start(kind: str) -> CommandServer:
    return CommandServer(*COMMANDS[kind])


def turn_order(r: int) -> list[str]:
    """The servers' turns in round *r*: the groups of :data:`TURN_GROUPS`, each group first
    in turn, and every other round backwards (so each server runs as often right before
    its reference as right after it)."""
    groups = TURN_GROUPS[r % len(TURN_GROUPS):] + TURN_GROUPS[:r % len(TURN_GROUPS)]
    order = [kind for group in groups for kind in group]
    return order[::-1] if r % 2 else order


def throughput(rounds: int, total: int, timeout: float) -> dict:
    """Round trips/s (each round's, and their median) and CPU per round trip for every
    (server, clients)."""
    rates = {(k, n): [] for k in SERVERS for n in CONCURRENCY}
    cpu = {(k, n): [0.0, 0] for k in SERVERS for n in CONCURRENCY}
    kinds = list(SERVERS)
    procs = {}
    try:
        for kind in kinds:
            procs[kind] = _start(kind)
        for r in range(rounds):
            order = turn_order(r)
            for n in CONCURRENCY:
                messages = max(10, total // n)
                for kind in order:
                    proc = procs[kind]
                    before = proc.cpu_seconds()
                    m = concurrency.run_clients(proc.address, n, messages, timeout=timeout,
                                                kind=kind)
                    after = proc.cpu_seconds()
                    rates[kind, n].append(m.rate)
                    if before is not None and after is not None:
                        cpu[kind, n][0] += after - before
                        cpu[kind, n][1] += m.round_trips + n  # + the warm-up round trip
            print(f"  round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
    finally:
        for proc in procs.values():
            proc.stop()
    for kind, proc in procs.items():  # the pipes' readers saw a line per message
        if isinstance(proc, CommandServer) and COMMANDS[kind][1] == "pipe":
            print(f"  {kind}: {proc.lines} lines of output read from its pipe",
                  file=sys.stderr, flush=True)
    return {
        key: {
            "rates": values,  # one per round, in order
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
            "cpu_us": (cpu[key][0] / cpu[key][1] * 1e6) if cpu[key][1] and cpu[key][0] else None,
        }
        for key, values in rates.items()
    }


# -- stop to free port ----------------------------------------------------------


class _PlainEcho(socketserver.BaseRequestHandler):
    """The seed's handler without its prints (nothing to print to here)."""

    def handle(self):
        while True:
            try:
                data = self.request.recv(1024)
            except OSError:
                return
            if not data:
                return
            self.request.sendall(data.upper())


def _wait_free(port: int, limit: float = 5.0) -> float:
    """Return when a new listening socket can bind *port* (as a server with
    ``allow_reuse_address = True`` would); the monotonic time it succeeded."""
    deadline = time.perf_counter() + limit
    while True:
        probe = socket.socket()
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            return time.perf_counter()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or time.perf_counter() > deadline:
                raise
        finally:
            probe.close()
        time.sleep(0.0002)


def _stop_netlesson(phase: float, with_client: bool) -> float:
    handle = background.start_tcp("echo-bench-stop")
    client = None
    try:
        if with_client:
            client = socket.create_connection(handle.address, timeout=2)
            client.sendall(b"hi")
            client.recv(16)
        time.sleep(phase)
        t0 = time.perf_counter()
        handle.stop()
        t1 = _wait_free(handle.port)
    finally:
        handle.stop()
        if client is not None:
            client.close()
    return t1 - t0


def _stop_stock(phase: float) -> float:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _PlainEcho)
    thread = threading.Thread(target=server.serve_forever, daemon=True)  # poll_interval=0.5
    thread.start()
    try:
        time.sleep(phase)
        port = server.server_address[1]
        t0 = time.perf_counter()
        server.shutdown()
        server.server_close()
        t1 = _wait_free(port)
    finally:
        server.server_close()
        thread.join(2)
    return t1 - t0


STOPS = {
    "netlesson": ("netlesson `ServerHandle.stop()`", lambda ph: _stop_netlesson(ph, False)),
    "netlesson+client": ("netlesson `ServerHandle.stop()`, one client connected",
                         lambda ph: _stop_netlesson(ph, True)),
    "stock": ("stock `ThreadingTCPServer`: `shutdown()` + `server_close()`, "
              "default `poll_interval=0.5`", _stop_stock),
}


def stop_times(runs: int, seed: int = 1) -> dict:
    phases = [0.5 * (i + 0.5) / runs for i in range(runs)]
    random.Random(seed).shuffle(phases)
    times = {k: [] for k in STOPS}
    keys = list(STOPS)
    for i, phase in enumerate(phases):
        for key in keys[i % len(keys):] + keys[:i % len(keys)]:
            times[key].append(STOPS[key][1](phase))
        if (i + 1) % 10 == 0:
            print(f"  stop run {i + 1}/{runs} done", file=sys.stderr, flush=True)
    return {k: _summary(v) for k, v in times.items()}


def _summary(seconds: list[float]) -> dict:
    ms = sorted(s * 1000 for s in seconds)
    p90 = ms[min(len(ms) - 1, int(round(0.9 * (len(ms) - 1))))]
    return {"median": statistics.median(ms), "p90": p90, "max": ms[-1], "runs": len(ms)}


# -- report ---------------------------------------------------------------------


def machine() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    try:
        autogroup = Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip()
    except OSError:
        autogroup = "n/a"
    return (f"{datetime.date.today().isoformat()}, {platform.system()} {platform.machine()}, "
            f"nproc {os.cpu_count()}, Python {platform.python_version()}, "
            f"sched_autogroup_enabled {autogroup}, load average at the end {load}")


def paired_ratios(tp: dict, kind: str, n: int) -> list[float]:
    """*kind*'s rate over its reference's, round by round (their turns ran side by side)."""
    reference = REFERENCE.get(kind, "seed")
    return [x / y for x, y in zip(tp[kind, n]["rates"], tp[reference, n]["rates"])]


def middle_half(values: list[float]) -> tuple[float, float]:
    """The 25th and 75th percentiles of *values*."""
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def report(tp: dict, stops: dict, args) -> tuple[str, bool]:
    out = []
    ok = True
    out.append(f"Measured {machine()}.")
    out.append("")
    out.append(f"**Echo round trips per second** (median of {args.rounds} alternating rounds; "
               f"about {args.total} round trips per turn; in brackets the median of the "
               f"per-round ratios to the seed-style server whose output goes to the same place "
               f"-- (a) for /dev/null, (e) for a pipe -- and the middle half of those ratios)")
    out.append("")
    out.append("| server | " + " | ".join(f"{n} client{'s' if n > 1 else ''}"
                                          for n in CONCURRENCY) + " |")
    out.append("| --- |" + " ---: |" * len(CONCURRENCY))
    for kind, label in SERVERS.items():
        cells = []
        for n in CONCURRENCY:
            rate = tp[kind, n]["median"]
            cell = f"{rate:,.0f}"
            reference = REFERENCE.get(kind, "seed")
            if kind != "seed" and reference:
                ratios = paired_ratios(tp, kind, n)
                ratio = statistics.median(ratios)
                low, high = middle_half(ratios)
                cell += f" ({ratio:.2f}×, {low:.2f}–{high:.2f})"
                if kind in TARGETED and ratio < RATIO_TARGET:
                    ok = False
            cells.append(cell)
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    if all(tp[k, n]["cpu_us"] for k in SERVERS for n in CONCURRENCY):
        out.append("")
        out.append("**Server CPU time per round trip** (µs, user + system, all rounds together)")
        out.append("")
        out.append("| server | " + " | ".join(f"{n} client{'s' if n > 1 else ''}"
                                              for n in CONCURRENCY) + " |")
        out.append("| --- |" + " ---: |" * len(CONCURRENCY))
        for kind, label in SERVERS.items():
            out.append(f"| {label} | " + " | ".join(f"{tp[kind, n]['cpu_us']:.0f}"
                                                    for n in CONCURRENCY) + " |")
    out.append("")
    out.append(f"**Stop to free port** (ms, {stops['stock']['runs']} runs each)")
    out.append("")
    out.append("| how the server is stopped | median | p90 | max |")
    out.append("| --- | ---: | ---: | ---: |")
    for key, (label, _) in STOPS.items():
        s = stops[key]
        out.append(f"| {label} | {s['median']:.1f} | {s['p90']:.1f} | {s['max']:.1f} |")
        if key.startswith("netlesson") and s["median"] > STOP_TARGET_MS:
            ok = False
    verdicts = []
    for kind in TARGETED:
        ratios = [statistics.median(paired_ratios(tp, kind, n)) for n in CONCURRENCY]
        verdicts.append(f"{SERVERS[kind].split()[0]} {', '.join(f'{r:.2f}×' for r in ratios)}")
    met = all(statistics.median(paired_ratios(tp, kind, n)) >= RATIO_TARGET
              for kind in TARGETED for n in CONCURRENCY)
    stop_ms = max(stops['netlesson']['median'], stops['netlesson+client']['median'])
    out.append("")
    out.append(
        f"Targets: (b), (d) and (f) ≥ {RATIO_TARGET}× the seed-style server at every "
        f"concurrency (measured {'; '.join(verdicts)}: {'met' if met else 'NOT met'}); "
        f"median stop ≤ {STOP_TARGET_MS:g} ms (measured {stops['netlesson']['median']:.1f} ms "
        f"idle, {stops['netlesson+client']['median']:.1f} ms with a client: "
        f"{'met' if stop_ms <= STOP_TARGET_MS else 'NOT met'})."
    )
    return "\n".join(out), ok


def write_readme(text: str, command: str, path: Path = README) -> None:
    block = f"{START}\n_Written by `{command}`._\n\n{text}\n{END}"
    old = path.read_text(encoding="utf-8")
    if START not in old or END not in old:
        raise SystemExit(f"{path} has no {START} ... {END} block to replace")
    new = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, old, flags=re.S)
    path.write_text(new, encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # 45: a median over 15 rounds moved by +-0.05 from run to run, more than the margin
    # to the 0.9x target at 64 clients (benchmarks/README.md)
    parser.add_argument("--rounds", type=int, default=45, help="throughput rounds (default 45)")
    parser.add_argument("--total", type=int, default=2000,
                        help="round trips per turn, split among the clients (default 2000)")
    parser.add_argument("--stop-runs", type=int, default=50, help="stop measurements per kind")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-reply timeout, s")
    parser.add_argument("--quick", action="store_true", help="3 rounds, 10 stop runs")
    parser.add_argument("--write", action="store_true", help="update the results in benchmarks/README.md and README.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.stop_runs = 3, 10
    # as in a user's terminal: PYTHONUNBUFFERED would make every print() a system call
    os.environ.pop("PYTHONUNBUFFERED", None)
    started = time.perf_counter()
    print("throughput ...", file=sys.stderr, flush=True)
    tp = throughput(args.rounds, args.total, args.timeout)
    print("stop to free port ...", file=sys.stderr, flush=True)
    stops = stop_times(args.stop_runs)
    text, _ok = report(tp, stops, args)
    print(text)
    print(f"\n(benchmark took {time.perf_counter() - started:.0f} s)", file=sys.stderr)
    if args.write:
        cmd = "python benchmarks/echo_bench.py" + (" --quick" if args.quick else "")
        for path in READMES:
            write_readme(text, cmd, path)
            print(f"wrote {path.relative_to(HERE.parent)}", file=sys.stderr)
    # Exit 0 either way: this is a measurement, not a test; the verdict is in the text.
    return 0


if __name__ == "__main__":
    sys.exit(main())
