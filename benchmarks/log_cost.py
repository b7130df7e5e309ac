"""What one per-message log line costs on one thread: netlesson's record and echo, the seed's print.

    python benchmarks/log_cost.py [--batch 3000] [--repeat 40]

Three numbers, each the best of ``--repeat`` batches of ``--batch`` messages,
in ns per message:

* ``handler``: ``write("received", data=data)`` -- what ``UpperEchoHandler``
  does per message through its ``ServerLog.writer`` (the record stored, echo off);
* ``timer``: rendering a batch of those records into the lines a pipe or a
  terminal gets (what the command-line server's timer thread does per message);
* ``seed print``: ``print('received from client', data)`` into /dev/null,
  as the seed's handler does (its output buffered, as when it is not a terminal).

On a server with 64 busy handler threads these costs are multiplied many times
over by waiting for the GIL, so a few tens of ns show up in ``echo_bench.py``
(see "The 64-client cost" in benchmarks/README.md).  This script measures no
sockets and no threads: it says which way a change to the log moves its cost.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netlesson.serverlog import ServerLog  # noqa: E402
from netlesson._records import _lines  # noqa: E402

PEER = ("127.0.0.1", 50000)
DATA = b"hello from a client 42"  # short: a log line shows all of it


def best_ns(run, batch: int, repeat: int) -> float:
    """The fastest of *repeat* calls of ``run()`` (which handles *batch* messages), per message."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best / batch * 1e9


def measure(batch: int = 3000, repeat: int = 40) -> dict[str, float]:
    write = ServerLog(maxlen=500).writer(PEER)

    def handler():
        for _ in range(batch):
            write("received", data=DATA)

    records = ServerLog(maxlen=batch)
    fill = records.writer(PEER)
    for _ in range(batch):
        fill("received", data=DATA)
    items = list(records._entries)

    def timer():
        _lines(items)

    with open(os.devnull, "w") as devnull:
        def seed_print():
            for _ in range(batch):
                print('received from client', DATA, file=devnull)

        return {
            "handler": best_ns(handler, batch, repeat),
            "timer": best_ns(timer, batch, repeat),
            "seed print": best_ns(seed_print, batch, repeat),
        }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=3000, help="messages per batch (default 3000)")
    parser.add_argument("--repeat", type=int, default=40, help="batches; the best counts (default 40)")
    args = parser.parse_args(argv)
    costs = measure(args.batch, args.repeat)
    print(f"Python {sys.version.split()[0]}, best of {args.repeat} batches of {args.batch} "
          f"messages, ns per message:")
    for name, ns in costs.items():
        print(f"  {name:<26} {ns:6.0f}")
    print(f"  {'handler + timer':<26} {costs['handler'] + costs['timer']:6.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
