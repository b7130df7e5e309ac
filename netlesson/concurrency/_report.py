"""The report: measure several kinds at several client counts, as a table and a plot.

:func:`compare` starts each kind in turn (:func:`~netlesson.concurrency.start_server`),
measures it (:func:`~netlesson.concurrency.run_clients`) and stops it; the
:class:`Comparison` it returns prints as a table of round trips per second,
each with the ideal rate the simulated work allows (:func:`ideal_rate`), and
draws the same as a matplotlib plot.
"""

from __future__ import annotations

import os
import statistics

from ._clients import DEFAULT_PAYLOAD, run_clients
from ._kinds import MODEL_KINDS
from ._process import start_server

__all__ = ["usable_cpus", "ideal_rate", "Comparison", "compare"]


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, not the machine's total.

    ``os.cpu_count()`` counts every CPU of the machine, also those a container
    or ``taskset`` does not let this process use.
    """
    if hasattr(os, "process_cpu_count"):  # Python 3.13+
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def ideal_rate(kind: str, clients: int, delay: float, work: str = "sleep",
               cpus: int | None = None) -> float | None:
    """Round trips/s if the handler's simulated work were the only cost.

    A single-threaded server does one message at a time: ``1 / delay``.  With
    ``work="sleep"`` the other models wait for all clients at once:
    ``clients / delay``.  With ``work="cpu"`` only separate processes run
    Python code in parallel: forking reaches ``min(clients, cpus) / delay``,
    threads and asyncio ``1 / delay`` (the GIL, or the one event loop).
    """
    if delay <= 0:
        return None
    if kind == "single":
        return 1 / delay
    if work == "sleep":
        return clients / delay
    if kind == "forking":
        return min(clients, cpus or usable_cpus()) / delay
    return 1 / delay


class Comparison:
    """Measurements of several kinds at several client counts, as a table and a plot."""

    def __init__(self, measurements, *, delay: float, work: str):
        self.measurements = list(measurements)
        self.delay = delay
        self.work = work

    @property
    def kinds(self) -> list[str]:
        return list(dict.fromkeys(m.kind for m in self.measurements))

    @property
    def client_counts(self) -> list[int]:
        return sorted({m.clients for m in self.measurements})

    def rate(self, kind: str, clients: int) -> float:
        rates = [m.rate for m in self.measurements if m.kind == kind and m.clients == clients]
        if not rates:
            raise KeyError((kind, clients))
        return statistics.median(rates)

    def table(self) -> str:
        """Round trips/s, one row per kind, one column per client count (ideal in brackets)."""
        counts = self.client_counts
        head = ["server"] + [f"{n} client{'s' if n > 1 else ''}" for n in counts]
        rows = [head]
        for kind in self.kinds:
            row = [kind]
            for n in counts:
                cell = f"{self.rate(kind, n):,.0f}"
                ideal = ideal_rate(kind, n, self.delay, self.work)
                if ideal is not None:
                    cell += f" ({ideal:,.0f})"
                row.append(cell)
            rows.append(row)
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                           for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        note = (f"round trips per second; in brackets: the ideal if {self.delay * 1000:g} ms "
                f"of {'waiting' if self.work == 'sleep' else 'CPU work'} per message were "
                f"the only cost") if self.delay else "round trips per second"
        return "\n".join(lines + ["", note])

    def __str__(self) -> str:
        return self.table()

    def _repr_pretty_(self, p, cycle):
        p.text(self.table())

    def plot(self, ax=None):
        """Round trips/s against concurrent clients, one line per kind (log-log)."""
        import matplotlib.pyplot as plt

        own = ax is None
        if own:
            fig, ax = plt.subplots(figsize=(6.4, 4.0))
        else:
            fig = ax.figure
        counts = self.client_counts
        # distinct markers and dashes: lines that coincide (threading and
        # asyncio often do) must stay tellable apart
        styles = [("o", "-"), ("s", "--"), ("^", "-."), ("D", (0, (1, 1))), ("v", "-"), ("P", "--")]
        for i, kind in enumerate(self.kinds):
            marker, dashes = styles[i % len(styles)]
            ax.plot(counts, [self.rate(kind, n) for n in counts], marker=marker,
                    linestyle=dashes, markersize=7 - i % 3, alpha=0.85, label=kind)
        if self.delay:
            ax.plot(counts, [n / self.delay for n in counts], linestyle=":", color="grey",
                    label=f"clients / {self.delay * 1000:g} ms")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(counts)
        ax.set_xticklabels([str(n) for n in counts])
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel("round trips per second")
        what = (f"{self.delay * 1000:g} ms {'sleep' if self.work == 'sleep' else 'CPU work'} "
                f"per message") if self.delay else "no simulated work"
        ax.set_title(f"TCP echo, {what}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        if own:
            fig.tight_layout()
            plt.close(fig)  # returned, displayed once by whoever shows it
        return fig


def compare(kinds=MODEL_KINDS, clients=(1, 8, 32), *, messages: int = 5, delay: float = 0.01,
            work: str = "sleep", payload: bytes = DEFAULT_PAYLOAD, timeout: float = 10.0,
            rounds: int = 1) -> Comparison:
    """Start each kind in turn, measure it at every client count, stop it.

    ``rounds > 1`` repeats every measurement and the table shows the median.
    """
    results = []
    for kind in kinds:
        with start_server(kind, delay=delay, work=work) as srv:
            for _ in range(rounds):
                for n in clients:
                    results.append(run_clients(srv.address, n, messages, payload=payload,
                                               timeout=timeout, warmup=kind != "single",
                                               kind=kind))
    return Comparison(results, delay=delay, work=work)
