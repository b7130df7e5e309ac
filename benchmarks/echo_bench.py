"""Echo throughput and stop-to-free-port time: netlesson against the seed's way.

Two questions, answered on loopback in one run (about a minute):

1. **Round trips per second** with 1, 8 and 64 concurrent TCP clients against
   (a) a server written exactly like the seed's (``ThreadingTCPServer`` and a
   handler that ``print()``-s every message; its stdout goes to /dev/null),
   (b) netlesson's ``ClassroomTCPServer`` with ``UpperEchoHandler`` (which
   stores a structured record per message in its ``ServerLog`` instead; the
   record's text is rendered only when the log is read or echoed), (c) an
   asyncio streams echo.
   Each server runs in its own process (``netlesson.concurrency``); the
   clients run here, in one thread with a selector.  Turns alternate
   (round 1: a b c, round 2: b c a, round 3: c a b, ...) so a burst of load
   from elsewhere on the machine hits every server alike, and the table shows
   the median over rounds.  Server CPU time per round trip is reported too: it
   is what netlesson's extra work costs, and it hardly changes when the machine
   is busy, while round trips per second do.

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

Targets (issue 2): netlesson >= 0.9x the seed-style server at every
concurrency; median stop <= 5 ms.
"""

from __future__ import annotations

import argparse
import datetime
import errno
import os
import platform
import random
import re
import socket
import socketserver
import statistics
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

from netlesson import background, concurrency  # noqa: E402

SERVERS = {
    "seed": "(a) seed-style: `ThreadingTCPServer` + `print()` per message",
    "netlesson": "(b) netlesson: `ClassroomTCPServer` + `UpperEchoHandler`",
    "asyncio": "(c) asyncio streams echo",
}
CONCURRENCY = (1, 8, 64)
RATIO_TARGET = 0.9
STOP_TARGET_MS = 5.0
README = HERE / "README.md"
# --write replaces the marked block in both: benchmarks/README.md and the project README
READMES = (README, HERE.parent / "README.md")
START, END = "<!-- echo_bench:start -->", "<!-- echo_bench:end -->"


# -- throughput -----------------------------------------------------------------


def throughput(rounds: int, total: int, timeout: float) -> dict:
    """Median round trips/s and CPU per round trip for every (server, clients)."""
    rates = {(k, n): [] for k in SERVERS for n in CONCURRENCY}
    cpu = {(k, n): [0.0, 0] for k in SERVERS for n in CONCURRENCY}
    kinds = list(SERVERS)
    procs = {}
    try:
        for kind in kinds:
            procs[kind] = concurrency.start_server(kind)
        for r in range(rounds):
            order = kinds[r % len(kinds):] + kinds[:r % len(kinds)]
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
    return {
        key: {
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
    return (f"{datetime.date.today().isoformat()}, {platform.system()} {platform.machine()}, "
            f"nproc {os.cpu_count()}, Python {platform.python_version()}, "
            f"load average at the end {load}")


def report(tp: dict, stops: dict, args) -> tuple[str, bool]:
    out = []
    ok = True
    out.append(f"Measured {machine()}.")
    out.append("")
    out.append(f"**Echo round trips per second** (median of {args.rounds} alternating rounds; "
               f"about {args.total} round trips per turn; "
               f"ratio to the seed-style server in brackets)")
    out.append("")
    out.append("| server | " + " | ".join(f"{n} client{'s' if n > 1 else ''}"
                                          for n in CONCURRENCY) + " |")
    out.append("| --- |" + " ---: |" * len(CONCURRENCY))
    for kind, label in SERVERS.items():
        cells = []
        for n in CONCURRENCY:
            rate = tp[kind, n]["median"]
            cell = f"{rate:,.0f}"
            if kind != "seed":
                ratio = rate / tp["seed", n]["median"]
                cell += f" ({ratio:.2f}×)"
                if kind == "netlesson" and ratio < RATIO_TARGET:
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
    ratios = [tp["netlesson", n]["median"] / tp["seed", n]["median"] for n in CONCURRENCY]
    out.append("")
    out.append(
        f"Targets: netlesson ≥ {RATIO_TARGET}× the seed-style server at every concurrency "
        f"(measured {', '.join(f'{r:.2f}×' for r in ratios)}: "
        f"{'met' if min(ratios) >= RATIO_TARGET else 'NOT met'}); median stop ≤ "
        f"{STOP_TARGET_MS:g} ms (measured {stops['netlesson']['median']:.1f} ms idle, "
        f"{stops['netlesson+client']['median']:.1f} ms with a client: "
        f"{'met' if max(stops['netlesson']['median'], stops['netlesson+client']['median']) <= STOP_TARGET_MS else 'NOT met'})."
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
    parser.add_argument("--rounds", type=int, default=9, help="throughput rounds (default 9)")
    parser.add_argument("--total", type=int, default=2000,
                        help="round trips per turn, split among the clients (default 2000)")
    parser.add_argument("--stop-runs", type=int, default=50, help="stop measurements per kind")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-reply timeout, s")
    parser.add_argument("--quick", action="store_true", help="3 rounds, 10 stop runs")
    parser.add_argument("--write", action="store_true", help="update the results in benchmarks/README.md and README.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.stop_runs = 3, 10
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
