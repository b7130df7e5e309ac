"""Release the exercises to students and grade what they hand back -- with the real nbgrader.

Two jobs, each a thin driver around nbgrader's own commands, so that what
students get and how they are scored is exactly what nbgrader would do:

* :func:`release` copies ``notebooks/exercises/*.ipynb`` into a fresh nbgrader
  course directory (``source/<assignment>/``, ``nbgrader_config.py`` with the
  course id and ``CourseDirectory.root``, a SQLite gradebook), runs
  ``nbgrader generate_assignment`` -- which replaces every
  ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region with a stub, clears the
  outputs, and locks the test cells -- and copies the student notebooks to
  ``OUT/<assignment>/``.  Nothing here strips solutions by hand.

* :func:`grade` builds the same course directory again (so it needs nothing
  from the release run but the same source notebooks), copies the collected
  submissions into nbgrader's ``submitted/`` layout, runs
  ``nbgrader autograde``, and writes a CSV with one row per student and
  notebook: points, maximum points, a status, and the feedback the checkers
  gave (the text of each failed test cell's ``AssertionError``).

A course directory kept with ``--course-dir`` may be graded into again:
each :func:`grade` first removes what an earlier run left there (autograded
notebooks, feedback, logs), and afterwards sets the automatic scores of every
notebook it could not grade (or that was not handed in) to 0 in the gradebook.  So a student whose notebook
nbgrader never reached this time (it was stopped, or crashed first) shows up as
``error`` -- in the CSV and in the gradebook -- never with the score of an
earlier run, while scores adjusted by hand in nbgrader's formgrader are kept.

Submissions are laid out as nbgrader's ``submitted/`` directory is::

    SUBMISSIONS/<student_id>/<assignment>/<notebook>.ipynb
    SUBMISSIONS/alice/exercises/ex01_line_echo.ipynb

(``SUBMISSIONS/<student_id>/<notebook>.ipynb`` without the assignment level is
accepted too, and so is an nbgrader course's own ``submitted/`` folder).

A student notebook that hangs costs that student the points of the cell that
hung: nbgrader interrupts any cell that runs longer than ``timeout`` seconds
(``Execute.timeout``) and goes on with the next.  A notebook that kills its
kernel (``os._exit``, a segfault) makes nbgrader give up on that student; this
module then grades that student's notebooks one at a time, so only the
notebook that crashed scores zero (status ``error``), never the whole run.

nbgrader is run as ``python -m nbgrader`` in a subprocess, with the directory
of the running interpreter first on ``PATH`` (nbgrader calls the ``alembic``
program to create its database).

The command line is ``python -m netlesson release|grade`` (:mod:`netlesson.cli`).
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ASSIGNMENT",
    "COURSE_ID",
    "DEFAULT_TIMEOUT",
    "CSV_FIELDS",
    "NbgraderError",
    "NotebookResult",
    "release",
    "grade",
    "build_course",
    "find_submissions",
]

#: The nbgrader assignment the exercise notebooks form.
ASSIGNMENT = "exercises"
#: ``CourseDirectory.course_id`` of the generated course directory.
COURSE_ID = "netlesson"
#: Seconds one cell may run while grading before nbgrader interrupts it.  A
#: checker that finds a mistake answers within ~10 s; 30 s is nbgrader's default.
DEFAULT_TIMEOUT = 30

CSV_FIELDS = ["student", "assignment", "notebook", "points", "max_points", "status", "feedback"]

_REPO = Path(__file__).resolve().parent.parent


class NbgraderError(RuntimeError):
    """An nbgrader command failed in a way that is not one student's fault."""


@dataclass
class NotebookResult:
    """One row of the grades CSV."""

    student: str
    assignment: str
    notebook: str
    points: float
    max_points: float
    status: str  # graded | missing | error
    feedback: list[str] = field(default_factory=list)

    def as_row(self) -> dict:
        return {
            "student": self.student,
            "assignment": self.assignment,
            "notebook": self.notebook,
            "points": _number(self.points),
            "max_points": _number(self.max_points),
            "status": self.status,
            "feedback": "\n".join(self.feedback),
        }


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# ---------------------------------------------------------------------------
# the course directory
# ---------------------------------------------------------------------------
def _default_source_dir() -> Path:
    here = Path("notebooks/exercises")
    return here if here.is_dir() else _REPO / "notebooks" / "exercises"


def _source_notebooks(source_dir: Path) -> list[Path]:
    notebooks = sorted(p for p in source_dir.glob("*.ipynb") if not p.name.startswith("."))
    if not notebooks:
        raise FileNotFoundError(f"no exercise notebooks (*.ipynb) in {source_dir}")
    return notebooks


def _config_text(root: Path, timeout: int) -> str:
    return (
        "# Written by netlesson.instructor: an nbgrader course directory for the exercises.\n"
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        f"c.CourseDirectory.db_url = {('sqlite:///' + str(root / 'gradebook.db'))!r}\n"
        "# every cell may run this long while grading; then it is interrupted\n"
        f"c.Execute.timeout = {int(timeout)}\n"
        "c.Execute.interrupt_on_timeout = True\n"
        "c.ClearSolutions.code_stub = {'python': '# YOUR CODE HERE\\nraise NotImplementedError()'}\n"
    )


def build_course(course_dir, source_dir=None, *, assignment: str = ASSIGNMENT,
                 timeout: int = DEFAULT_TIMEOUT, log=None) -> Path:
    """Create an nbgrader course directory and run ``generate_assignment`` in it.

    Afterwards ``course_dir/release/<assignment>/`` holds the student notebooks
    and ``course_dir/gradebook.db`` knows every graded cell and its points.
    Re-running on the same directory regenerates the assignment.
    """
    course_dir = Path(course_dir).resolve()
    source_dir = Path(source_dir) if source_dir is not None else _default_source_dir()
    notebooks = _source_notebooks(source_dir)
    target = course_dir / "source" / assignment
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for nb in notebooks:
        shutil.copy2(nb, target / nb.name)
    (course_dir / "nbgrader_config.py").write_text(_config_text(course_dir, timeout),
                                                   encoding="utf-8")
    _nbgrader(course_dir, ["generate_assignment", assignment, "--force"], log=log,
              what="generate_assignment")
    released = course_dir / "release" / assignment
    if not all((released / nb.name).is_file() for nb in notebooks):
        raise NbgraderError(f"nbgrader generate_assignment did not write every notebook to {released}")
    return course_dir


def _nbgrader_env() -> dict:
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.setdefault("PYTHONIOENCODING", "utf-8")
    return env


def require_nbgrader() -> None:
    """Fail at once, with the install command, when nbgrader is missing.

    Otherwise the first nbgrader run would fail inside a temporary course
    directory, pointing at a log that is deleted with it.
    """
    import importlib.util

    if importlib.util.find_spec("nbgrader") is None:
        raise NbgraderError(
            f"nbgrader is not installed for {sys.executable}: install the instructor extra "
            f"with  pip install -e '.[instructor]'  in the project (make setup does this)")


def _nbgrader(course_dir: Path, args: list[str], *, log=None, what: str,
              check: bool = True, wall_timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m nbgrader ARGS`` in *course_dir*; its output goes to the log."""
    cmd = [sys.executable, "-m", "nbgrader", *args,
           f"--CourseDirectory.root={course_dir}"]
    logs = course_dir / "logs"
    logs.mkdir(exist_ok=True)
    logfile = logs / f"{what}.log"
    with open(logfile, "a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        try:
            proc = subprocess.run(cmd, cwd=course_dir, env=_nbgrader_env(), stdout=out,
                                  stderr=subprocess.STDOUT, timeout=wall_timeout, check=False)
        except subprocess.TimeoutExpired:
            out.write(f"\n[netlesson] stopped after {wall_timeout:.0f} s\n")
            proc = subprocess.CompletedProcess(cmd, returncode=-9)
    if log is not None:
        log(f"nbgrader {what}: exit status {proc.returncode} (log: {logfile})")
    if check and proc.returncode != 0:
        tail = "".join(logfile.read_text(encoding="utf-8", errors="replace").splitlines(True)[-25:])
        raise NbgraderError(f"nbgrader {args[0]} failed (exit status {proc.returncode}); the end "
                            f"of {logfile}:\n{tail}")
    return proc


# ---------------------------------------------------------------------------
# release
# ---------------------------------------------------------------------------
def release(out_dir, source_dir=None, *, assignment: str = ASSIGNMENT, course_dir=None,
            log=None) -> Path:
    """Write the student version of every exercise notebook to ``out_dir/<assignment>/``.

    *course_dir* keeps the nbgrader course directory for inspection; by default
    it is a temporary directory, removed afterwards (:func:`grade` rebuilds it).
    Returns the folder that holds the student notebooks.
    """
    require_nbgrader()
    out_dir = Path(out_dir)
    with _course_dir(course_dir) as course:
        build_course(course, source_dir, assignment=assignment, log=log)
        released = course / "release" / assignment
        target = out_dir / assignment
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(released.iterdir()):
            if path.is_file():
                shutil.copy2(path, target / path.name)
                if log is not None:
                    log(f"released {target / path.name}")
    return target


class _course_dir:
    """Context manager: the given course directory, or a temporary one."""

    def __init__(self, course_dir):
        self.given = course_dir
        self._tmp = None

    def __enter__(self) -> Path:
        if self.given is not None:
            path = Path(self.given).resolve()
            path.mkdir(parents=True, exist_ok=True)
            return path
        self._tmp = tempfile.TemporaryDirectory(prefix="netlesson-course-")
        return Path(self._tmp.name).resolve()

    def __exit__(self, *exc):
        if self._tmp is not None:
            self._tmp.cleanup()


# ---------------------------------------------------------------------------
# grade
# ---------------------------------------------------------------------------
def find_submissions(submissions_dir, assignment: str = ASSIGNMENT) -> dict[str, Path]:
    """``{student_id: folder with that student's notebooks}``.

    Accepts ``<student>/<assignment>/*.ipynb`` (nbgrader's ``submitted/``
    layout) and ``<student>/*.ipynb``.
    """
    root = Path(submissions_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"no submissions directory {root}")
    found = {}
    for student in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        nested = student / assignment
        if nested.is_dir():
            found[student.name] = nested
        elif any(student.glob("*.ipynb")):
            found[student.name] = student
    if not found:
        raise FileNotFoundError(
            f"no submissions in {root}: expected {root}/<student_id>/{assignment}/<notebook>.ipynb")
    return found


def grade(submissions_dir, out_csv="grades.csv", *, source_dir=None, assignment: str = ASSIGNMENT,
          course_dir=None, timeout: int = DEFAULT_TIMEOUT, log=None) -> Path:
    """Autograde every student's notebooks with nbgrader; write the CSV; return its path.

    One row per student and exercise notebook (:data:`CSV_FIELDS`).  *timeout*
    is the time one cell may run.  *course_dir* keeps the nbgrader course
    directory (gradebook, autograded notebooks, logs); by default it is
    temporary.  A given *course_dir* may be reused: what an earlier run left in
    it is removed first (:func:`_forget_earlier_grading`), and the gradebook's
    automatic scores of the notebooks this run could not grade, or that were
    not handed in, are reset (:func:`_zero_ungraded`): every score and every
    reason comes from this run.
    """
    require_nbgrader()
    students = find_submissions(submissions_dir, assignment)
    out_csv = Path(out_csv)
    with _course_dir(course_dir) as course:
        _forget_earlier_grading(course)
        build_course(course, source_dir, assignment=assignment, timeout=timeout, log=log)
        notebooks = [p.stem for p in sorted((course / "release" / assignment).glob("*.ipynb"))]
        submitted_root = course / "submitted"
        for student, folder in students.items():
            shutil.copytree(folder, submitted_root / student / assignment,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))

        cells = max(_count_code_cells(course / "release" / assignment / f"{nb}.ipynb")
                    for nb in notebooks)
        per_notebook = cells * (timeout + 5) + 60
        _nbgrader(course, ["autograde", assignment, "--force"], log=log, what="autograde",
                  check=False, wall_timeout=per_notebook * len(notebooks) * len(students))
        errors: dict[tuple[str, str], str] = {}
        for student in students:
            missing = [nb for nb in notebooks
                       if _submitted(course, student, assignment, nb)
                       and not _autograded(course, student, assignment, nb).is_file()]
            for nb in missing:  # nbgrader gave up on this student: one notebook at a time
                proc = _nbgrader(course, ["autograde", assignment, f"--student={student}",
                                          f"--notebook={nb}", "--force"],
                                 log=log, what=f"autograde-{student}-{nb}", check=False,
                                 wall_timeout=per_notebook)
                if not _autograded(course, student, assignment, nb).is_file():
                    errors[(student, nb)] = _failure_reason(course / "logs" /
                                                            f"autograde-{student}-{nb}.log",
                                                            proc.returncode)
        _zero_ungraded(course, assignment,
                       set(errors) | {(student, nb) for student in students for nb in notebooks
                                      if not _submitted(course, student, assignment, nb)})
        results = _collect(course, assignment, list(students), notebooks, errors, timeout)
    _write_csv(out_csv, results)
    if log is not None:
        for student in students:
            rows = [r for r in results if r.student == student]
            log(f"{student}: {_number(sum(r.points for r in rows))} / "
                f"{_number(sum(r.max_points for r in rows))}")
    return out_csv


#: What an earlier :func:`grade` run leaves in a course directory, besides the
#: gradebook.  Each would otherwise pass for a result of this run: an
#: autograded notebook makes a student look graded (and sends :func:`_collect`
#: to the gradebook for their old score), an old feedback page shows old
#: results, and an old log's "Kernel died" would explain a new failure.
_GRADING_RECORDS = ("submitted", "autograded", "feedback", "logs")


def _forget_earlier_grading(course: Path) -> None:
    """Remove :data:`_GRADING_RECORDS` from *course*, so all results come from this run.

    The gradebook stays: nbgrader updates the scores of every notebook it
    grades, and keeps the ones adjusted by hand; :func:`_zero_ungraded` deals
    with the rest.
    """
    for name in _GRADING_RECORDS:
        path = course / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def _zero_ungraded(course: Path, assignment: str, ungraded) -> None:
    """Set the automatic scores of *ungraded* ``(student, notebook)`` pairs to 0 in the gradebook.

    They are the notebooks this run could not grade or that were not handed
    in.  nbgrader leaves a notebook it fails on, or a student it never reached,
    as it was -- with an earlier run's scores, if there was one.  Zero is what
    nbgrader itself gives a notebook that was not handed in, and it makes the
    gradebook (and the formgrader) agree with the CSV, where such a notebook
    has 0 points.  Scores set by hand (``manual_score``) are left alone.
    """
    if not ungraded:
        return
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        for student, notebook in sorted(ungraded):
            try:
                submission = gb.find_submission_notebook(notebook, assignment, student)
            except MissingEntry:
                continue
            for grade in submission.grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
        gb.db.commit()


def _count_code_cells(path: Path) -> int:
    import nbformat

    return sum(1 for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")


def _submitted(course: Path, student: str, assignment: str, notebook: str) -> bool:
    return (course / "submitted" / student / assignment / f"{notebook}.ipynb").is_file()


def _autograded(course: Path, student: str, assignment: str, notebook: str) -> Path:
    return course / "autograded" / student / assignment / f"{notebook}.ipynb"


def _failure_reason(logfile: Path, returncode: int) -> str:
    text = logfile.read_text(encoding="utf-8", errors="replace") if logfile.exists() else ""
    if returncode == -9:
        return "grading this notebook took too long and was stopped"
    # Matching nbgrader's log text is a last resort, and the only one: `nbgrader
    # autograde` runs in its own process (so its exceptions never reach us), exits
    # with the same status for every failed notebook, writes no machine-readable
    # result, and says why only in this log: nbclient's DeadKernelError traceback
    # ("Kernel died"), or its own UnresponsiveKernelError message ("the kernel
    # became unresponsive").  Should that wording change, the general reason last
    # below is given instead, so a mismatch costs detail, not a grade.
    if "DeadKernelError" in text or "Kernel died" in text:
        return ("the kernel died while running this notebook (os._exit, a crash, or out of "
                "memory); no cell could be graded")
    if "unresponsive" in text:
        return "the kernel stopped responding (it ignored the interrupt after a timeout)"
    return "nbgrader could not grade this notebook; see the autograde log in the course directory"


def _cell_errors(cell) -> list[tuple[str, str]]:
    return [(o.get("ename", "Error"), str(o.get("evalue", ""))) for o in cell.get("outputs", [])
            if o.get("output_type") == "error"]


def _feedback(path: Path, timeout: int) -> list[str]:
    """Explain every failed test cell (and every failing answer cell) of an autograded notebook."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    notes = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        errors = _cell_errors(cell)
        if not errors or not (meta.get("grade") or meta.get("solution")):
            continue
        ename, evalue = errors[-1]
        where = meta.get("grade_id", "?")
        if ename == "CellTimeoutError" or any(e == "CellTimeoutError" for e, _ in errors):
            notes.append(f"{where}: ran longer than {timeout} s and was interrupted "
                         f"(an endless loop, or a recv() without a timeout?)")
        elif meta.get("grade"):
            notes.append(f"{where}: {ename}: {evalue}" if evalue else f"{where}: {ename}")
        elif ename == "NotImplementedError":
            notes.append(f"{where}: not answered (the cell still raises NotImplementedError)")
        else:
            notes.append(f"{where}: the answer cell raised {ename}: {evalue}")
    return notes


def _collect(course: Path, assignment: str, students: list[str], notebooks: list[str],
             errors: dict, timeout: int) -> list[NotebookResult]:
    from nbgrader.api import Gradebook, MissingEntry

    results = []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        max_points = {nb.name: nb.max_score for nb in gb.find_assignment(assignment).notebooks}
        for student in students:
            for nb in notebooks:
                row = NotebookResult(student, assignment, nb, 0.0, float(max_points.get(nb, 0)),
                                     "graded")
                if not _submitted(course, student, assignment, nb):
                    row.status = "missing"
                    row.feedback.append("not handed in")
                elif (student, nb) in errors:
                    row.status = "error"
                    row.feedback.append(errors[(student, nb)])
                else:
                    try:
                        submission = gb.find_submission_notebook(nb, assignment, student)
                        row.points = float(submission.score or 0)
                    except MissingEntry:
                        row.status = "error"
                        row.feedback.append("nbgrader has no grade for this notebook")
                    path = _autograded(course, student, assignment, nb)
                    if path.is_file():
                        row.feedback.extend(_feedback(path, timeout))
                results.append(row)
    return results


def _write_csv(path: Path, results: list[NotebookResult]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for result in results:
            writer.writerow(result.as_row())
