"""Release the exercises with the real nbgrader, as an instructor would.

Every test here runs nbgrader itself (``python -m nbgrader``): the instructor's
source notebooks must validate, and the released notebooks must fail every
check until a student works on them, with stubs, no outputs and the same
locked checks.  Grading a class is ``test_grading_class.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

pytest.importorskip("nbgrader")

from netlesson import instructor  # noqa: E402


# nbgrader starts a kernel per notebook; on two busy cores grading takes minutes
pytestmark = [pytest.mark.instructor, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "instructor" / "exercises"
NAMES = sorted(p.stem for p in SOURCE.glob("*.ipynb"))


def nbgrader(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``python -m nbgrader ARGS`` and keep its two streams apart.

    nbgrader writes its reports ("Success! ...") to stdout and its log to
    stderr -- and so do the kernels it starts, whose shutdown can log a
    harmless traceback (a CI run once put ``zmq.error.ZMQError: Socket
    operation on non-socket`` there, between a notebook's name and its
    verdict).  Reports are read from stdout only; stderr is shown when a test
    fails.
    """
    env = dict(os.environ, PYTHONUNBUFFERED="1",
               PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)


_VALIDATING = re.compile(r"Validating '.*/([^/]+)\.ipynb'")
# nbgrader's Validator starts each notebook's report with one of these
_REPORT_START = re.compile(r"^(Success! |VALIDATION FAILED ON |NOTEBOOK PASSED ON "
                           r"|THE TYPES OF |THE CONTENTS OF )")


def validation_results(stdout: str, stderr: str) -> dict[str, str]:
    """``{notebook: nbgrader's report on it}`` from ``nbgrader validate``.

    The notebooks' names are in the log (stderr), in the order they were
    validated; the reports are in stdout, in the same order, each starting
    with a line ``_REPORT_START`` matches ("Success! ..." when all is well).
    Only stdout is read for reports, so a traceback that lands in stderr
    cannot be taken for one.
    """
    names = _VALIDATING.findall(stderr)
    reports: list[list[str]] = []
    for line in stdout.splitlines():
        if _REPORT_START.match(line):
            reports.append([])
        if reports:
            reports[-1].append(line)
    if len(reports) != len(names):
        raise AssertionError(f"nbgrader validated {names} but wrote {len(reports)} report(s):\n"
                             f"--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}")
    return {name: "\n".join(lines).strip() for name, lines in zip(names, reports)}


def validate(*args: str, cwd: Path) -> dict[str, str]:
    proc = nbgrader("validate", *args, cwd=cwd)
    verdicts = validation_results(proc.stdout, proc.stderr)
    assert proc.returncode == 0, f"nbgrader validate exited {proc.returncode}:\n{proc.stderr}"
    return verdicts


def test_validation_results_reads_reports_from_stdout_not_from_stray_tracebacks():
    """Pins the CI failure: a kernel's shutdown traceback in the log is not a verdict.

    The reports are written by nbgrader's own ``Validator`` printing methods,
    so the test follows nbgrader's real format.
    """
    import io

    from nbgrader.validator import Validator

    out = io.StringIO()
    printer = Validator()
    printer.stream = out
    printer._print_num_failed(0)
    printer._print_num_failed(1)
    printer._print_error("check_answer()", "AssertionError: your handler replied 3 bytes")
    printer._print_num_failed(0)
    log = "\n".join([
        "[ValidateApp | INFO] Validating '/x/ex01.ipynb'",
        "[ValidateApp | INFO] Validating '/x/ex02.ipynb'",
        "Traceback (most recent call last):",
        "zmq.error.ZMQError: Socket operation on non-socket",
        "[ValidateApp | INFO] Validating '/x/ex03.ipynb'",
    ])
    reports = validation_results(out.getvalue(), log)
    assert list(reports) == ["ex01", "ex02", "ex03"]
    assert reports["ex01"] == reports["ex03"] == "Success! Your notebook passes all the tests."
    assert reports["ex02"].startswith("VALIDATION FAILED ON 1 CELL(S)!")
    assert "your handler replied 3 bytes" in reports["ex02"]
    with pytest.raises(AssertionError, match="wrote 3 report"):
        validation_results(out.getvalue(), log + "\n[ValidateApp | INFO] Validating '/x/ex04.ipynb'")


def points_of(notebook: str) -> dict[str, float]:
    nb = nbformat.read(SOURCE / f"{notebook}.ipynb", as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}


def test_there_are_at_least_five_exercises():
    assert len(NAMES) >= 5
    for name in NAMES:
        assert points_of(name), f"{name} has no autograded test cell"


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    base = tmp_path_factory.mktemp("release")
    course = base / "course"
    target = instructor.release(base / "out", SOURCE, course_dir=course)
    return SimpleNamespace(dir=target, course=course, base=base)


def test_source_notebooks_pass_nbgrader_validate(tmp_path):
    verdicts = validate(*(str(SOURCE / f"{n}.ipynb") for n in NAMES), cwd=tmp_path)
    assert verdicts == {n: "Success! Your notebook passes all the tests." for n in NAMES}


def test_release_writes_one_student_notebook_per_exercise(released):
    assert released.dir == released.base / "out" / instructor.ASSIGNMENT
    assert sorted(p.stem for p in released.dir.glob("*.ipynb")) == NAMES


def test_released_notebooks_fail_every_check_before_a_student_works(released):
    verdicts = validate("--invert", *(str(released.dir / f"{n}.ipynb") for n in NAMES),
                        cwd=released.base)
    assert verdicts == {n: "Success! The notebook does not pass any tests." for n in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_released_notebook_has_stubs_no_outputs_and_the_same_locked_checks(released, name):
    source = nbformat.read(SOURCE / f"{name}.ipynb", as_version=4)
    student = nbformat.read(released.dir / f"{name}.ipynb", as_version=4)
    text = "\n".join(c.source for c in student.cells)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in student.cells}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            released_cell = by_id[meta["grade_id"]]
            assert released_cell.source == cell.source
            assert released_cell.metadata["nbgrader"]["locked"] is True
            assert released_cell.metadata["nbgrader"]["points"] == meta["points"]
        elif meta.get("solution"):
            stub = by_id[meta["grade_id"]].source
            assert "raise NotImplementedError()" in stub
            hidden = cell.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
            for line in filter(None, (l.strip() for l in hidden.splitlines())):
                if not line.startswith(("#", ")", "}", "})")) and len(line) > 12:
                    assert line not in stub, f"{name}: solution line {line!r} was released"
