"""What the exercise-checker tests share: the notebooks' own solutions, and a failure's message.

The solutions are taken from the source notebooks themselves (the code of
their locked set-up cells and their nbgrader solution cells), so a test fails
if a notebook's answer and its checker drift apart.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import nbformat
import pytest

EXERCISES = Path(__file__).resolve().parents[2] / "instructor" / "exercises"


def load_solution(notebook: str) -> dict:
    """Run a source notebook's locked code cells and solution cells; return the namespace."""
    nb = nbformat.read(EXERCISES / f"{notebook}.ipynb", as_version=4)
    namespace: dict = {"__name__": f"exercise_{notebook}"}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade"):
            continue
        if meta.get("solution") or meta.get("locked"):
            exec(compile(cell.source, f"<{notebook}:{meta['grade_id']}>", "exec"), namespace)
    return namespace


def failure(check, *args, **kwargs) -> str:
    """Run a checker that must fail; return its message."""
    with pytest.raises(AssertionError) as info:
        check(*args, **kwargs)
    return str(info.value)


def no_check_threads_left(prefix: str = "netlesson-check-serve", timeout: float = 2.0) -> bool:
    """No thread whose name starts with *prefix* is left (polled for up to *timeout* s).

    By default: every server a check started has stopped serving.  With
    ``prefix="netlesson-check-call-NAME"``: the worker thread that ran the
    student's ``NAME`` has ended.
    """
    deadline = time.monotonic() + timeout
    while True:
        if not any(t.name.startswith(prefix) for t in threading.enumerate()):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
