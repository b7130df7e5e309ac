"""Server against server at one concurrency: what one change to netlesson costs.

    python benchmarks/ab_servers.py [--rounds 60] [--clients 64] [--total 2000] \\
        a=.:seed before=/tmp/before:netlesson after=.:netlesson

Each argument is ``LABEL=DIR:KIND``: *KIND* one of ``echo_bench.py``'s servers
(``seed``, ``netlesson``, ``asyncio``, ``cli``, ``seed-pipe``, ``cli-pipe``),
started as ``echo_bench.py`` starts it -- a command in a session of its own --
but in directory *DIR*, so ``python -m netlesson`` runs the ``netlesson``
package in *DIR*: a ``git worktree`` of another commit, or a copy of the
package with one change.  Every round runs one turn of each server, with
``--clients`` concurrent clients and ``--total`` round trips among them;
every other round backwards.  The first server is the reference.

For each server it prints the median round trips per second, the median of its
per-round ratios to the reference with their middle half, and the server's CPU
time per round trip.  Between runs of this script, medians move by a few
hundredths and CPU by about 2 us at 64 clients on a 2-core machine: compare
servers within one run, and run it more than once (benchmarks/README.md, "A
cheaper echo and record").  ``PYTHONUNBUFFERED`` is removed from the
environment first, as ``echo_bench.py`` does.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import echo_bench  # noqa: E402

from netlesson import concurrency  # noqa: E402


def parse_spec(text: str) -> tuple[str, Path, str]:
    """``LABEL=DIR:KIND`` -> (label, directory, kind); ``ValueError`` saying what is wrong."""
    label, sep, rest = text.partition("=")
    directory, sep2, kind = rest.rpartition(":")
    if not (sep and sep2 and label and directory and kind):
        raise ValueError(f"{text!r}: expected LABEL=DIR:KIND, such as after=.:netlesson")
    if kind not in echo_bench.COMMANDS:
        raise ValueError(f"{text!r}: unknown server {kind!r}; one of "
                         f"{', '.join(echo_bench.COMMANDS)}")
    path = Path(directory).resolve()
    if not (path / "netlesson" / "__init__.py").is_file():
        raise ValueError(f"{text!r}: {path} holds no netlesson package")
    return label, path, kind


def compare(specs, rounds: int, clients: int, total: int, timeout: float = 10.0) -> list[dict]:
    """Run the rounds; one result per server, the reference first."""
    messages = max(10, total // clients)
    servers = []
    try:
        for label, path, kind in specs:
            args, output = echo_bench.COMMANDS[kind]
            servers.append((label, echo_bench.CommandServer(args, output, timeout, cwd=path)))
        rates = {label: [] for label, _ in servers}
        cpu = {label: [0.0, 0] for label, _ in servers}
        for r in range(rounds):
            for label, server in (servers if r % 2 == 0 else servers[::-1]):
                before = server.cpu_seconds()
                m = concurrency.run_clients(server.address, clients, messages,
                                            timeout=timeout, kind=label)
                after = server.cpu_seconds()
                rates[label].append(m.rate)
                if before is not None and after is not None:
                    cpu[label][0] += after - before
                    cpu[label][1] += m.round_trips + clients  # + the warm-up round trips
    finally:
        for _, server in servers:
            server.stop()
    reference = servers[0][0]
    results = []
    for label, _ in servers:
        ratios = [x / y for x, y in zip(rates[label], rates[reference])]
        low, high = echo_bench.middle_half(ratios)
        seconds, trips = cpu[label]
        results.append({"label": label, "median": statistics.median(rates[label]),
                        "ratio": statistics.median(ratios), "middle_half": (low, high),
                        "cpu_us": seconds / trips * 1e6 if trips and seconds else None})
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("servers", nargs="+", metavar="LABEL=DIR:KIND")
    parser.add_argument("--rounds", type=int, default=60, help="rounds (default 60)")
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (default 64)")
    parser.add_argument("--total", type=int, default=2000,
                        help="round trips per turn, split among the clients (default 2000)")
    args = parser.parse_args(argv)
    try:
        specs = [parse_spec(text) for text in args.servers]
    except ValueError as exc:
        parser.error(str(exc))
    if len({label for label, _, _ in specs}) != len(specs):
        parser.error("every server needs a label of its own")
    os.environ.pop("PYTHONUNBUFFERED", None)  # as in a user's terminal (see echo_bench.py)
    results = compare(specs, args.rounds, args.clients, args.total)
    print(f"{args.rounds} rounds, {args.clients} clients, {max(10, args.total // args.clients)} "
          f"round trips each; ratios to {results[0]['label']}:")
    for res in results:
        cpu = f"{res['cpu_us']:5.1f} us" if res["cpu_us"] is not None else "    n/a"
        low, high = res["middle_half"]
        print(f"  {res['label']:<12} {res['median']:9,.0f}/s  ratio {res['ratio']:.3f} "
              f"({low:.2f}-{high:.2f})  cpu/round trip {cpu}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
