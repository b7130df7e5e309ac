"""Build student submissions from the released notebooks, the way a student would.

A submission starts as the released notebook (solution regions replaced by
stubs, outputs cleared) and gets, per answer cell, either the source
notebook's solution, a given piece of code (a typical mistake, or something
worse), or nothing (left untouched).  Nothing is committed: the tests build
every submission from the current notebooks, so they never go stale.
"""

from __future__ import annotations

from pathlib import Path

import nbformat


def solution_cells(source: Path) -> dict[str, str]:
    """``{grade_id: source}`` of a source notebook's answer cells."""
    nb = nbformat.read(source, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def answer(released: Path, out: Path, answers: dict[str, str]) -> Path:
    """Write *released* with the answer cells named in *answers* replaced; return *out*."""
    nb = nbformat.read(released, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in answers:
            cell.source = answers[grade_id]
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    return out


def submit(released_dir: Path, source_dir: Path, student_dir: Path, plan: dict[str, object]) -> None:
    """Write one student's folder.

    *plan* maps a notebook name (without ``.ipynb``) to ``"solved"`` (every
    answer cell from the source), ``"untouched"`` (the released notebook as
    is) or a dict ``{grade_id: code or "solved"}``.  Notebooks not in the plan
    are not handed in.
    """
    for name, what in plan.items():
        released = released_dir / f"{name}.ipynb"
        solved = solution_cells(source_dir / f"{name}.ipynb")
        if what == "solved":
            answers = solved
        elif what == "untouched":
            answers = {}
        else:
            answers = {gid: solved[gid] if code == "solved" else code for gid, code in what.items()}
        answer(released, student_dir / f"{name}.ipynb", answers)
