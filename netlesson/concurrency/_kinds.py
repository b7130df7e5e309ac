"""The servers the concurrency lab can start, and the options each one takes.

Both sides of the process boundary read this: the parent checks a request
with :func:`check_options` before it starts a child (so a mistake is reported
in the notebook, not as a child's exit status), and the child checks its
command line the same way.
"""

from __future__ import annotations

import math
import os

#: The four concurrency models the notebook compares.
MODEL_KINDS = ("single", "threading", "forking", "asyncio")
#: Every kind: the models, plus the two servers ``benchmarks/echo_bench.py``
#: compares with ``asyncio`` as they are (``seed`` and ``netlesson``).
KINDS = MODEL_KINDS + ("seed", "netlesson")

#: Listen backlog of the model kinds.  ``socketserver`` uses 5; with 32
#: clients connecting at once to the single-threaded server, a queue of 5
#: overflows and Linux drops connection attempts, which the client's TCP
#: retries after a second -- the plot would then show SYN retransmission
#: timers instead of concurrency.  ``seed`` and ``netlesson`` keep their own
#: class defaults (5), since the benchmark compares them as they are.
DEFAULT_BACKLOG = 128

#: How a handler spends its simulated work: waiting, or keeping the CPU busy.
WORKS = ("sleep", "cpu")


def check_options(kind: str, delay: float, work: str) -> None:
    """Raise ``ValueError`` (saying what to pass instead) unless *kind* can run so."""
    if kind not in KINDS:
        raise ValueError(f"unknown server kind {kind!r}; choose one of {', '.join(KINDS)}")
    if work not in WORKS:
        raise ValueError(f"work must be 'sleep' or 'cpu', not {work!r}")
    if not math.isfinite(delay) or delay < 0:
        raise ValueError(f"delay must be a number of seconds >= 0, got {delay}")
    if delay and kind not in MODEL_KINDS:
        raise ValueError(
            f"the {kind!r} server runs its handler unchanged, so it takes no delay; "
            f"simulated work is for {', '.join(MODEL_KINDS)}"
        )
    if kind == "forking" and not hasattr(os, "fork"):
        raise ValueError("this platform has no os.fork(): the forking server needs Linux or macOS")
