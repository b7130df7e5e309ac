"""The student edition of the exercises holds no solution, and matches its instructor source.

``notebooks/exercises/`` is what ``make lab``, Binder, a hub, the course website and a
clone show students; ``instructor/exercises/`` holds the sources with the solutions
(``### BEGIN SOLUTION`` ... ``### END SOLUTION``), from which ``make exercises`` generates
the student edition with nbgrader's ``generate_assignment``.  These tests run in the
students' environment (no nbgrader): nothing under ``notebooks/`` carries a solution
marker or a solution's code, every answer cell holds the stub, the cells are the
instructor's cells (same ids, types, grade ids, points), and no outputs are stored.
``tests/instructor/test_student_edition.py`` regenerates the edition with the real
nbgrader and compares it whole.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
STUDENT = ROOT / "notebooks" / "exercises"
INSTRUCTOR = ROOT / "instructor" / "exercises"
SOURCES = sorted(INSTRUCTOR.glob("*.ipynb"))
NAMES = [p.stem for p in SOURCES]

#: what nbgrader puts where a solution was (``ClearSolutions.code_stub`` in netlesson.instructor)
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
MARKERS = ("BEGIN SOLUTION", "END SOLUTION")
REGION = re.compile(r"^[ \t]*### BEGIN SOLUTION[^\n]*\n(.*?)^[ \t]*### END SOLUTION", re.MULTILINE | re.DOTALL)
FIX = "regenerate the student edition: make exercises (then commit notebooks/exercises/)"

pytestmark = pytest.mark.notebooks


def _regions(nb) -> list[str]:
    return [region for cell in nb.cells for region in REGION.findall(cell.source)]


def _outside_regions(nb) -> str:
    return "\n".join(REGION.sub("", cell.source) for cell in nb.cells)


def _solution_lines(nb) -> list[str]:
    """The distinctive lines of *nb*'s solutions: long enough to mean something, and not
    also written outside a solution (quoted by the task text, in a locked cell)."""
    elsewhere = _outside_regions(nb)
    return sorted({line.strip() for region in _regions(nb) for line in region.splitlines()
                   if len(line.strip()) > 12 and line.strip() not in elsewhere})


def _student(source: Path) -> Path:
    return STUDENT / source.name


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def test_every_exercise_has_a_student_edition_and_nothing_else_is_there():
    assert len(SOURCES) >= 6
    assert sorted(p.name for p in STUDENT.glob("*.ipynb")) == [p.name for p in SOURCES], FIX
    assert sorted(p.name for p in STUDENT.glob("*.md")) == [p.with_suffix(".md").name for p in SOURCES], FIX


def test_every_instructor_exercise_has_solutions_to_hide():
    for source in SOURCES:
        nb = nbformat.read(source, as_version=4)
        assert _regions(nb) and _solution_lines(nb), f"{source.name}: no solution region"


@pytest.mark.parametrize("path", sorted(p for p in (ROOT / "notebooks").rglob("*")
                                        if p.suffix in (".ipynb", ".md")
                                        and ".ipynb_checkpoints" not in p.parts),
                         ids=lambda p: p.relative_to(ROOT / "notebooks").as_posix())
def test_no_file_under_notebooks_has_a_solution_marker(path):
    text = path.read_text(encoding="utf-8")
    found = [marker for marker in MARKERS if marker in text]
    assert not found, f"{path.relative_to(ROOT)} contains {found}: solutions belong in instructor/exercises/; {FIX}"


def test_no_solution_is_written_anywhere_under_notebooks():
    """A whole solution region, as written, appears in no file students get."""
    files = {p: p.read_text(encoding="utf-8") for p in (ROOT / "notebooks").rglob("*")
             if p.suffix in (".ipynb", ".md") and ".ipynb_checkpoints" not in p.parts}
    leaks = []
    for source in SOURCES:
        for region in _regions(nbformat.read(source, as_version=4)):
            block = textwrap.dedent(region).strip()
            if len(block) < 40:
                continue
            leaks += [(source.name, path.relative_to(ROOT).as_posix()) for path, text in files.items()
                      if block in text or block in textwrap.dedent(text)]
    assert not leaks, f"solutions found under notebooks/: {leaks}"


@pytest.mark.parametrize("source", SOURCES, ids=NAMES)
def test_the_student_edition_has_no_line_of_the_solution(source):
    lines = _solution_lines(nbformat.read(source, as_version=4))
    for student in (_student(source), _student(source).with_suffix(".md")):
        text = student.read_text(encoding="utf-8")
        if student.suffix == ".ipynb":  # the JSON escapes quotes: compare the cells' sources
            text = "\n".join(cell.source for cell in nbformat.read(student, as_version=4).cells)
        leaked = [line for line in lines if line in text]
        assert not leaked, f"{student.relative_to(ROOT)} contains solution code {leaked[:3]}; {FIX}"


@pytest.mark.parametrize("source", SOURCES, ids=NAMES)
def test_every_answer_cell_holds_the_stub(source):
    instructor_nb = nbformat.read(source, as_version=4)
    student_nb = nbformat.read(_student(source), as_version=4)
    answers = 0
    for theirs, ours in zip(instructor_nb.cells, student_nb.cells):
        regions = len(REGION.findall(theirs.source))
        if not regions:
            continue
        answers += 1
        assert _nbgrader(ours).get("solution"), f"{source.stem} {ours.id}: a solution cell that is not an answer cell"
        for stub_line in STUB:
            assert ours.source.count(stub_line) == regions, \
                f"{source.stem} {ours.id}: {regions} solution(s) but not as many {stub_line!r}; {FIX}"
        # what is outside the solution (a signature, a docstring, a template) stays
        for line in REGION.sub("", theirs.source).splitlines():
            assert line in ours.source.splitlines(), f"{source.stem} {ours.id}: lost {line!r}; {FIX}"
    assert answers, f"{source.stem}: no answer cell"
    assert answers == sum(bool(_nbgrader(c).get("solution")) for c in student_nb.cells)


@pytest.mark.parametrize("source", SOURCES, ids=NAMES)
def test_the_cells_are_the_instructors_cells(source):
    """Same cells in the same order: ids, types, and what nbgrader grades them by."""
    keys = ("grade_id", "grade", "solution", "locked", "points", "task")

    def shape(nb):
        return [(c.id, c.cell_type, tuple(_nbgrader(c).get(k) for k in keys)) for c in nb.cells]

    assert shape(nbformat.read(_student(source), as_version=4)) == \
        shape(nbformat.read(source, as_version=4)), FIX
    student_nb = nbformat.read(_student(source), as_version=4)
    grade_ids = [_nbgrader(c)["grade_id"] for c in student_nb.cells if "grade_id" in _nbgrader(c)]
    assert grade_ids and len(grade_ids) == len(set(grade_ids))
    assert all(_nbgrader(c).get("points") for c in student_nb.cells if _nbgrader(c).get("grade"))


@pytest.mark.parametrize("source", SOURCES, ids=NAMES)
def test_no_outputs_are_stored(source):
    student_nb = nbformat.read(_student(source), as_version=4)
    kept = [c.id for c in student_nb.cells if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not kept, f"{_student(source).name}: cells with outputs {kept}; {FIX}"


@pytest.mark.parametrize("source", SOURCES, ids=NAMES)
def test_links_are_those_of_the_course_folder(source):
    """The student edition sits beside the lessons: ``../01_….ipynb`` and ``ex05_….ipynb`` resolve."""
    text = "\n".join(c.source for c in nbformat.read(_student(source), as_version=4).cells
                     if c.cell_type == "markdown")
    targets = re.findall(r"\]\(([^)#\s]+\.ipynb)\)", text)
    assert targets
    assert all((STUDENT / target).is_file() for target in targets), targets
