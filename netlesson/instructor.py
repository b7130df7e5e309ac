"""Release the exercises to students, and the nbgrader course directory grading builds on.

The instructor's exercise sources -- with their ``### BEGIN SOLUTION`` ...
``### END SOLUTION`` regions -- live in ``instructor/exercises/``, outside the
folder students open.  The student versions in ``notebooks/exercises/`` are
nbgrader's own output, made from them (``make exercises``).

* :func:`release` copies the sources into a fresh nbgrader course directory
  (``source/<assignment>/``, ``nbgrader_config.py`` with the course id and
  ``CourseDirectory.root``, a SQLite gradebook), runs ``nbgrader
  generate_assignment`` -- which replaces every solution region with a stub,
  clears the outputs and locks the test cells -- and copies the student
  notebooks to ``OUT/<assignment>/``.  Nothing here strips solutions by hand.
* :func:`build_course` is that course directory; :mod:`netlesson.grading`
  builds it again for every grading run (so grading needs nothing from a
  release run but the same sources), and :func:`find_submissions` finds the
  notebooks students handed in, laid out as nbgrader's ``submitted/`` folder::

      SUBMISSIONS/<student_id>/<assignment>/<notebook>.ipynb
      SUBMISSIONS/alice/exercises/ex01_line_echo.ipynb

  (``SUBMISSIONS/<student_id>/<notebook>.ipynb`` is accepted too).

nbgrader is run as ``python -m nbgrader`` in a subprocess, with the directory
of the running interpreter first on ``PATH`` (nbgrader calls the ``alembic``
program to create its database).  Grading itself -- a sandbox per notebook,
verdicts the student cannot forge -- is :mod:`netlesson.grading`.

The command line is ``python -m netlesson release|grade`` (:mod:`netlesson.cli`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .i18n import core as _messages

_ = _messages.gettext

__all__ = [
    "ASSIGNMENT",
    "COURSE_ID",
    "DEFAULT_TIMEOUT",
    "NbgraderError",
    "release",
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

_REPO = Path(__file__).resolve().parent.parent


class NbgraderError(RuntimeError):
    """An nbgrader command failed in a way that is not one student's fault."""


# ---------------------------------------------------------------------------
# the course directory
# ---------------------------------------------------------------------------
def _default_source_dir() -> Path:
    """The instructor's exercise sources (with solutions): ``instructor/exercises``."""
    here = Path("instructor/exercises")
    return here if here.is_dir() else _REPO / "instructor" / "exercises"


def _source_notebooks(source_dir: Path) -> list[Path]:
    notebooks = sorted(p for p in source_dir.glob("*.ipynb") if not p.name.startswith("."))
    if not notebooks:
        raise FileNotFoundError(
            _("no exercise notebooks (*.ipynb) in {folder}").format(folder=source_dir))
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
        raise NbgraderError(_("nbgrader generate_assignment did not write every notebook to "
                              "{folder}").format(folder=released))
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
            _("nbgrader is not installed for {python}: install the instructor extra with  "
              "pip install -e '.[instructor]'  in the project (make setup does this)").format(
                python=sys.executable))


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
        # the path only when it outlives this run (a temporary course directory does not)
        if course_dir.name.startswith("netlesson-course-"):
            log(_("nbgrader {command}: exit status {status}").format(
                command=what, status=proc.returncode))
        else:
            log(_("nbgrader {command}: exit status {status} (log: {log})").format(
                command=what, status=proc.returncode, log=logfile))
    if check and proc.returncode != 0:
        tail = "".join(logfile.read_text(encoding="utf-8", errors="replace").splitlines(True)[-25:])
        raise NbgraderError(_("nbgrader {command} failed (exit status {status}); the end of "
                              "{log}:\n{tail}").format(command=args[0], status=proc.returncode,
                                                       log=logfile, tail=tail))
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
                    log(_("released {path}").format(path=target / path.name))
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
        raise FileNotFoundError(_("no submissions directory {folder}").format(folder=root))
    found = {}
    for student in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        nested = student / assignment
        if nested.is_dir():
            found[student.name] = nested
        elif any(student.glob("*.ipynb")):
            found[student.name] = student
    if not found:
        raise FileNotFoundError(
            _("no submissions in {folder}: expected "
              "{folder}/<student_id>/{assignment}/<notebook>.ipynb").format(
                folder=root, assignment=assignment))
    return found


#: What an earlier :func:`grade` run leaves in a course directory, besides the
#: gradebook.  Each would otherwise pass for a result of this run: an
#: autograded notebook makes a student look graded (and sends :func:`_collect`
#: to the gradebook for their old score), an old feedback page shows old
#: results, and an old log's "Kernel died" would explain a new failure.
_GRADING_RECORDS = ("submitted", "autograded", "feedback", "logs")


def _forget_earlier_grading(course: Path) -> None:
    """Remove :data:`_GRADING_RECORDS` from *course*, so all results come from this run.

    The gradebook stays: nbgrader updates the scores of every notebook it
    grades, and keeps the ones adjusted by hand; :mod:`netlesson.grading`
    writes every automatic score of the new run.
    """
    for name in _GRADING_RECORDS:
        path = course / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
