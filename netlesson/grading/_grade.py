"""Grade a class: every student notebook judged in its own sandbox, in parallel, recorded outside.

:func:`grade` is what ``python -m netlesson grade`` runs:

1. Build the nbgrader course directory from the instructor's sources
   (:func:`netlesson.instructor.build_course`: ``generate_assignment`` writes the
   released notebooks and the gradebook).
2. Find each student's notebooks (:func:`match_notebooks`: a notebook handed in
   as ``ex03_MRO_supplier (1).ipynb`` is matched, with a flag), copy them
   read-only into the course's ``submitted/`` folder and hash them.
3. Judge every notebook (:func:`netlesson.grading._judge.judge`): a fresh Python
   in a sandbox that sees only the program built from that notebook, *jobs* at a
   time; a line per student as they finish, and a progress bar on a terminal.
4. Outside every sandbox, and only there: check the hashes, write the scores to
   nbgrader's gradebook (hand-set manual scores are kept), the CSV (one row per
   student and notebook, with a ``flags`` column), and per student, a log and
   the graded notebook (answers, outputs, the checkers' messages) next to the CSV
   in ``<csv name>-logs/<student>/`` -- the feedback names files that stay.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import sys
import threading
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .. import instructor
from ..i18n import core as _messages
from . import _judge
from ._judge import Flag

_ = _messages.gettext

__all__ = ["grade", "match_notebooks", "NotebookResult", "CSV_FIELDS", "SandboxRefused",
           "default_jobs"]

#: The CSV's columns.  ``feedback`` and ``flags`` are sentences in the grader's language
#: (``NETLESSON_LANG``); ``flag_codes`` names the same flags by their stable codes
#: (:data:`netlesson.grading.FLAG_CODES`: ``time-limit``, ``tampering`` ...), for filtering.
CSV_FIELDS = ["student", "assignment", "notebook", "points", "max_points", "status", "feedback",
              "flags", "flag_codes"]


class SandboxRefused(RuntimeError):
    """No sandbox here, and the instructor did not accept running student code without one."""


def default_jobs() -> int:
    """How many notebooks are judged at once by default: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


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
    flags: list[str] = field(default_factory=list)

    def as_row(self) -> dict:
        return {"student": self.student, "assignment": self.assignment, "notebook": self.notebook,
                "points": _number(self.points), "max_points": _number(self.max_points),
                "status": self.status, "feedback": "\n".join(self.feedback),
                "flags": "; ".join(self.flags),
                "flag_codes": " ".join(dict.fromkeys(f.code for f in self.flags
                                                     if isinstance(f, Flag)))}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# ---------------------------------------------------------------------------
# which file is which notebook
# ---------------------------------------------------------------------------
_COPY_SUFFIX = re.compile(r"(\s*\(\d+\)|[\s_-]*(copy|副本)(\s*\d+)?|[\s_-]+\d+)$", re.IGNORECASE)


def _normal(stem: str) -> str:
    stem = unicodedata.normalize("NFKC", stem).strip().lower()
    for _round in range(3):
        stem = _COPY_SUFFIX.sub("", stem).strip()
    return re.sub(r"[\s_-]+", "_", stem)


def match_notebooks(folder: Path, expected: list[str]) -> dict[str, tuple[Path, str | None]]:
    """``{notebook: (file, note)}``: the file in *folder* handed in for each expected notebook.

    An exact name wins.  Otherwise a name that differs only in case, spacing,
    or a copy suffix (``" (1)"``, ``"-copy"``, ``" 副本"``) is matched, and *note*
    says so; when several such files compete, the newest is taken and the note
    names the others.  Notebooks with no file are left out.
    """
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and p.suffix.lower() == ".ipynb" and not p.name.startswith("."))
    found: dict[str, tuple[Path, str | None]] = {}
    for name in expected:
        exact = folder / f"{name}.ipynb"
        if exact.is_file():
            found[name] = (exact, None)
            continue
        near = [p for p in files if _normal(p.stem) == _normal(name)]
        if not near:
            continue
        near.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        if len(near) > 1:
            note = _("handed in as {name} (newest of {names})").format(
                name=repr(near[0].name), names=", ".join(repr(p.name) for p in near))
        else:
            note = _("handed in as {name}").format(name=repr(near[0].name))
        found[name] = (near[0], Flag("renamed-file", note))
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------
# progress
# ---------------------------------------------------------------------------
class _Progress:
    """A line per student as they finish; a bar on stderr when it is a terminal."""

    def __init__(self, total: int, log, stream=None):
        self.total = total
        self.done = 0
        self.log = log
        self.stream = stream if stream is not None else sys.stderr
        self.bar = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.monotonic()
        self._lock = threading.Lock()

    def student_done(self, line: str) -> None:
        with self._lock:
            self.done += 1
            if self.bar:
                self.stream.write("\r\033[K")
            if self.log is not None:
                self.log(f"[{self.done:>{len(str(self.total))}}/{self.total}] {line}")
            if self.bar:
                filled = int(30 * self.done / max(self.total, 1))
                elapsed = time.monotonic() - self.t0
                self.stream.write(f"[{'#' * filled}{'.' * (30 - filled)}] " + _messages.ngettext(
                    "{done}/{total} student, {seconds} s", "{done}/{total} students, {seconds} s",
                    self.total).format(done=self.done, total=self.total, seconds=f"{elapsed:.0f}"))
                if self.done == self.total:
                    self.stream.write("\n")
                self.stream.flush()


# ---------------------------------------------------------------------------
# grade
# ---------------------------------------------------------------------------
def grade(submissions_dir, out_csv="grades.csv", *, source_dir=None,
          assignment: str = instructor.ASSIGNMENT, course_dir=None,
          timeout: int = instructor.DEFAULT_TIMEOUT, jobs: int | None = None,
          allow_unsandboxed: bool = False, limits=None, log=None) -> Path:
    """Grade every student's notebooks; write the CSV, the logs and the gradebook; return the CSV.

    *timeout* is the time one cell may run; *jobs* how many notebooks are
    judged at once (default :func:`default_jobs`).  Without a working sandbox
    (bubblewrap) this refuses with :class:`SandboxRefused`, unless
    *allow_unsandboxed* -- then student code runs with your rights, and every
    row is flagged ``unsandboxed``.
    """
    from . import _sandbox

    instructor.require_nbgrader()
    problem = _sandbox.sandbox_problem()
    if problem is not None and not allow_unsandboxed:
        raise SandboxRefused(
            _("cannot grade safely: {problem}\nStudent code would run with your rights, next to "
              "every other student's files. Install bubblewrap (Debian/Ubuntu: apt-get install "
              "bubblewrap), or pass --allow-unsandboxed to accept that risk.").format(
                problem=problem))
    sandboxed = problem is None
    students = instructor.find_submissions(submissions_dir, assignment)
    out_csv = Path(out_csv)
    logs_dir = out_csv.with_name(out_csv.stem + "-logs")
    jobs = max(1, int(jobs or default_jobs()))
    with instructor._course_dir(course_dir) as course:
        instructor._forget_earlier_grading(course)
        instructor.build_course(course, source_dir, assignment=assignment, timeout=timeout, log=log)
        released_dir = course / "release" / assignment
        notebooks = [p.stem for p in sorted(released_dir.glob("*.ipynb"))]
        staged, notes = _stage(course, assignment, students, notebooks)
        limits = limits or _limits(released_dir, notebooks, timeout, _sandbox)
        results = _judge_all(staged, notes, students, notebooks, released_dir, assignment, timeout,
                             limits, sandboxed, jobs, log)
        for result in results:
            _copy, original, digest = staged.get((result.student, result.notebook),
                                                 (None, None, None))
            if original is not None and original.is_file() and _sha256(original) != digest:
                result.flags.append(Flag("file-changed",
                                         _("the handed-in file changed while it was graded")))
        _record_gradebook(course, assignment, results)
        _write_logs(logs_dir, course, assignment, results)
        _keep_submission_files(course, assignment, students)
    _write_csv(out_csv, results)
    if log is not None:
        flagged = sorted({r.student for r in results if r.flags})
        graded = sum(r.status != "missing" for r in results)
        summary = _messages.ngettext(
            "graded {notebooks} notebooks of {students} student: {csv} (logs and graded "
            "notebooks: {logs}/)",
            "graded {notebooks} notebooks of {students} students: {csv} (logs and graded "
            "notebooks: {logs}/)", len(students)).format(
            notebooks=graded, students=len(students), csv=out_csv, logs=logs_dir)
        if flagged:
            summary += _("; flagged for review: {students}").format(students=", ".join(flagged))
        log(summary)
    return out_csv


def _limits(released_dir: Path, notebooks: list[str], timeout: int, sandbox):
    import nbformat

    cells = max(sum(1 for c in nbformat.read(released_dir / f"{nb}.ipynb", as_version=4).cells
                    if c.cell_type == "code") for nb in notebooks)
    wall = cells * (timeout + 2) + 20
    # threads count as processes: a check with 30 clients has 30 handler threads too
    return sandbox.Limits(wall_seconds=float(wall), cpu_seconds=int(wall), processes=256)


def _stage(course: Path, assignment: str, students: dict, notebooks: list[str]) -> tuple[dict, dict]:
    """Copy each handed-in notebook read-only into ``submitted/``.

    Returns ``({(student, nb): (copy, original, sha256)}, {(student, nb): note})``.
    """
    staged, notes = {}, {}
    for student, folder in students.items():
        target = course / "submitted" / student / assignment
        target.mkdir(parents=True, exist_ok=True)
        for nb, (path, note) in match_notebooks(folder, notebooks).items():
            copy = target / f"{nb}.ipynb"
            shutil.copyfile(path, copy)
            copy.chmod(0o444)
            staged[(student, nb)] = (copy, path, _sha256(copy))
            if note:
                notes[(student, nb)] = note
    return staged, notes


def _judge_all(staged, notes, students, notebooks, released_dir, assignment, timeout, limits, sandboxed,
               jobs, log) -> list[NotebookResult]:
    import nbformat

    released = {nb: nbformat.read(released_dir / f"{nb}.ipynb", as_version=4) for nb in notebooks}
    max_points = {nb: sum(float(c.metadata.get("nbgrader", {}).get("points", 0))
                          for c in released[nb].cells if c.metadata.get("nbgrader", {}).get("grade"))
                  for nb in notebooks}
    rows = {(s, nb): NotebookResult(s, assignment, nb, 0.0, max_points[nb], "missing",
                                    [_("not handed in")]) for s in students for nb in notebooks}
    verdicts: dict = {}
    remaining = {s: sum(1 for nb in notebooks if (s, nb) in staged) for s in students}
    progress = _Progress(len(students), log)
    lock = threading.Lock()

    def finish_student(student: str) -> None:
        mine = [rows[(student, nb)] for nb in notebooks]
        flags = sorted({f.label if isinstance(f, Flag) else f for r in mine for f in r.flags})
        took = sum(verdicts[(student, nb)].seconds for nb in notebooks if (student, nb) in verdicts)
        line = _("{student}: {points}/{max_points} ({seconds} s)").format(
            student=student, points=_number(sum(r.points for r in mine)),
            max_points=_number(sum(r.max_points for r in mine)), seconds=f"{took:.1f}")
        if flags:
            line += _("  flags: {flags}").format(flags=_(", ").join(flags))
        progress.student_done(line)

    def one(student: str, nb: str) -> None:
        copy = staged[(student, nb)][0]
        row = rows[(student, nb)]
        row.status, row.feedback = "graded", []
        note = notes.get((student, nb))
        if note:
            row.flags.append(note)
        try:
            submitted = nbformat.read(copy, as_version=4)
        except Exception as exc:  # noqa: BLE001 -- any unreadable file is the student's problem
            row.status = "error"
            row.feedback.append(_("the file is not a readable notebook ({error}: "
                                  "{detail})").format(error=type(exc).__name__,
                                                      detail=str(exc)[:200]))
        else:
            program, oddities = _judge.build_program(released[nb], submitted, notebook=nb,
                                                     timeout=timeout)
            try:
                verdict = _judge.judge(program, limits=limits, sandboxed=sandboxed)
            except Exception as exc:  # noqa: BLE001 -- one notebook's failure is that row's
                row.status = "error"
                row.feedback.append(_("could not be graded: {error}: {detail}").format(
                    error=type(exc).__name__, detail=exc)[:500])
                row.flags.append(Flag("grader-error", _("grader error")))
            else:
                verdict.program = program
                with lock:
                    verdicts[(student, nb)] = verdict
                row.points = verdict.points
                row.feedback = oddities + verdict.feedback
                row.flags.extend(verdict.flags)
                if not any(r.get("type") == "cell" for r in verdict.cells):
                    row.status = "error"
        with lock:
            remaining[student] -= 1
            last = remaining[student] == 0
        if last:
            finish_student(student)

    for student in students:
        if remaining[student] == 0:
            finish_student(student)
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="netlesson-grade") as pool:
        futures = [pool.submit(one, s, nb) for s in students for nb in notebooks
                   if (s, nb) in staged]
        for future in futures:
            future.result()
    results = [rows[(s, nb)] for s in students for nb in notebooks]
    for result in results:
        result.verdict = verdicts.get((result.student, result.notebook))
    return results


def _record_gradebook(course: Path, assignment: str, results: list[NotebookResult]) -> None:
    """Every automatic score of this run into nbgrader's gradebook; manual scores stay."""
    import warnings

    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    with warnings.catch_warnings(), Gradebook(f"sqlite:///{course / 'gradebook.db'}", instructor.COURSE_ID) as gb:
        # nbgrader's own add_submission makes SQLAlchemy warn about its autoflush
        warnings.simplefilter("ignore", SAWarning)
        for student in sorted({r.student for r in results}):
            gb.update_or_create_student(student)
            gb.update_or_create_submission(assignment, student)
        for result in results:
            verdict = getattr(result, "verdict", None)
            scores = {t.grade_id: t.points for t in verdict.tests} if verdict else {}
            submission = gb.find_submission_notebook(result.notebook, assignment, result.student)
            for grade_row in submission.grades:
                grade_row.auto_score = scores.get(grade_row.name, 0.0)
                grade_row.needs_manual_grade = False
        gb.db.commit()


def _graded_notebook(released, verdict):
    """The released notebook with the student's answers and what each cell printed or raised."""
    import copy

    import nbformat

    nb = copy.deepcopy(released)
    answers = {c["grade_id"]: c["source"] for c in verdict.program["cells"] if c["kind"] == "answer"}
    records = {r["grade_id"]: r for r in verdict.cells}
    messages = {t.grade_id: t.message for t in verdict.tests if not t.passed}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type != "code" or gid is None:
            continue
        if gid in answers:
            cell.source = answers[gid]
        record = records.get(gid, {})
        outputs = []
        if record.get("output"):
            outputs.append(nbformat.v4.new_output("stream", name="stdout", text=record["output"]))
        error = messages.get(gid) or record.get("error")
        if error:
            ename, _colon, evalue = (error.partition(": ") if ":" in error[:40]
                                     else ("AssertionError", "", error))
            outputs.append(nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[error]))
        cell.outputs = outputs
    return nb


def _write_logs(logs_dir: Path, course: Path, assignment: str, results: list[NotebookResult]) -> None:
    import nbformat

    if logs_dir.is_dir():
        shutil.rmtree(logs_dir)
    for result in results:
        verdict = getattr(result, "verdict", None)
        folder = logs_dir / result.student
        folder.mkdir(parents=True, exist_ok=True)
        header = (_("{student} / {notebook}: {points} of {max_points} ({status})").format(
                      student=result.student, notebook=result.notebook,
                      points=_number(result.points), max_points=_number(result.max_points),
                      status=result.status) + "\n"
                  + (_("flags: {flags}").format(flags="; ".join(result.flags)) + "\n"
                     if result.flags else "")
                  + "".join(_("feedback: {line}").format(line=line) + "\n"
                            for line in result.feedback))
        (folder / f"{result.notebook}.log").write_text(
            header + (verdict.log if verdict else ""), encoding="utf-8")
        if verdict is not None:
            released = nbformat.read(course / "release" / assignment / f"{result.notebook}.ipynb",
                                     as_version=4)
            graded = _graded_notebook(released, verdict)
            nbformat.write(graded, folder / f"{result.notebook}.ipynb")
            autograded = course / "autograded" / result.student / assignment
            autograded.mkdir(parents=True, exist_ok=True)
            nbformat.write(graded, autograded / f"{result.notebook}.ipynb")


#: what nbgrader's ``collect`` leaves beside a submission's notebooks and its feedback
#: steps read beside the graded ones: ``generate_feedback`` copies the time, and
#: ``release_feedback`` names each feedback file after the submission's secret
SUBMISSION_FILES = ("timestamp.txt", "submission_secret.txt")


def _keep_submission_files(course: Path, assignment: str, students: dict) -> None:
    """Each submission's :data:`SUBMISSION_FILES` next to its graded notebooks in
    ``autograded/``, as nbgrader's own ``autograde`` leaves them, so that nbgrader's
    ``generate_feedback`` and ``release_feedback`` work on this course directory."""
    for student, folder in students.items():
        graded = course / "autograded" / student / assignment
        if not graded.is_dir():
            continue
        for name in SUBMISSION_FILES:
            if (Path(folder) / name).is_file():
                shutil.copyfile(Path(folder) / name, graded / name)


def _write_csv(path: Path, results: list[NotebookResult]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for result in results:
            writer.writerow(result.as_row())
