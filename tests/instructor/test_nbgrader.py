"""Release and grade the exercises with the real nbgrader, as an instructor would.

Every test here runs nbgrader itself (``python -m nbgrader``): the source
notebooks must validate, the released notebooks must fail every check until a
student works on them, and grading four prepared submissions -- fully solved,
half solved (one answer typically wrong), untouched, and one that hangs and
crashes its kernel -- must give the right points with the checkers' feedback
in the CSV.  The submissions are built from the current notebooks
(``exercise_submissions.py``), never committed.

Runtime: about three minutes on two cores, most of it nbgrader starting
kernels (see the report in the issue).
"""

from __future__ import annotations

import csv
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

from exercise_submissions import submit  # noqa: E402

# nbgrader starts a kernel per notebook; on two busy cores grading takes minutes
pytestmark = [pytest.mark.instructor, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "notebooks" / "exercises"
NAMES = sorted(p.stem for p in SOURCE.glob("*.ipynb"))
TIMEOUT = 8  # seconds per cell while grading: the hanging cell costs this


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


# ---------------------------------------------------------------------------
# grading
# ---------------------------------------------------------------------------
ALWAYS_ALLOW = '''
class AllowListServer(socketserver.ThreadingTCPServer):
    allowed_hosts = {"127.0.0.1"}
    daemon_threads = True

    def __init__(self, server_address, RequestHandlerClass):
        super().__init__(server_address, RequestHandlerClass)
        self.rejected = []

    def verify_request(self, request, client_address):
        return True
'''


@pytest.fixture(scope="module")
def graded(released, tmp_path_factory):
    base = tmp_path_factory.mktemp("grade")
    subs = base / "submitted"
    folder = lambda student: subs / student / instructor.ASSIGNMENT  # noqa: E731
    submit(released.dir, SOURCE, folder("alice"), {n: "solved" for n in NAMES})
    submit(released.dir, SOURCE, folder("bob"), {
        "ex01_line_echo": "solved",
        "ex02_udp_retry": "solved",
        "ex03_mro_supplier": "solved",
        "ex04_framing": {"ex04-solution-recvall": "solved"},  # part 2 left as released
        "ex05_allow_list": {"ex05-solution": ALWAYS_ALLOW},   # a typical mistake
        "ex06_visitor_counter": "untouched",
    })
    submit(released.dir, SOURCE, folder("carol"), {n: "untouched" for n in NAMES})
    submit(released.dir, SOURCE, folder("dave"), {
        "ex01_line_echo": {"ex01-solution": "while True:\n    pass\n"},        # hangs
        "ex02_udp_retry": {"ex02-solution": "import os\nos._exit(1)\n"},       # kills its kernel
        "ex03_mro_supplier": "solved",
    })
    course = base / "course"
    path = instructor.grade(subs, base / "grades.csv", source_dir=SOURCE, course_dir=course,
                            timeout=TIMEOUT)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return SimpleNamespace(path=path, rows=rows, course=course,
                           by={(r["student"], r["notebook"]): r for r in rows})


def total(graded, student):
    rows = [r for r in graded.rows if r["student"] == student]
    return sum(float(r["points"]) for r in rows), sum(float(r["max_points"]) for r in rows)


def test_grades_csv_has_one_row_per_student_and_notebook(graded):
    with open(graded.path, newline="", encoding="utf-8") as f:
        assert next(csv.reader(f)) == instructor.CSV_FIELDS
    assert sorted(graded.by) == sorted((s, n) for s in ("alice", "bob", "carol", "dave")
                                       for n in NAMES)
    for row in graded.rows:
        assert float(row["max_points"]) == sum(points_of(row["notebook"]).values())


def test_fully_solved_submission_gets_full_points(graded):
    for name in NAMES:
        row = graded.by[("alice", name)]
        assert (row["status"], row["points"], row["feedback"]) == ("graded", row["max_points"], "")
    points, maximum = total(graded, "alice")
    assert points == maximum > 0


def test_half_solved_submission_gets_partial_points_and_the_checkers_feedback(graded):
    for name in ("ex01_line_echo", "ex02_udp_retry", "ex03_mro_supplier"):
        assert graded.by[("bob", name)]["points"] == graded.by[("bob", name)]["max_points"]
    framing = graded.by[("bob", "ex04_framing")]
    assert float(framing["points"]) == points_of("ex04_framing")["ex04-check-recvall"]
    assert "ex04-check-messages: AssertionError: send_msg(sock, b'hello') raised " \
           "NotImplementedError" in framing["feedback"]
    allow = graded.by[("bob", "ex05_allow_list")]
    assert float(allow["points"]) == 0
    assert "ex05-check-verify: AssertionError: verify_request(request, ('192.0.2.7', 50001)) " \
           "returned True, but 192.0.2.7 is not in allowed_hosts" in allow["feedback"]
    assert "ex05-check-server: AssertionError: with allowed_hosts = {'192.0.2.1'} a client from " \
           "127.0.0.1 was still served" in allow["feedback"]
    visitors = graded.by[("bob", "ex06_visitor_counter")]
    assert float(visitors["points"]) == 0
    assert "ex06-check-greeting: AssertionError: could not create the server for VisitorServer: " \
           "NotImplementedError" in visitors["feedback"]
    points, maximum = total(graded, "bob")
    assert 0 < points < maximum


def test_untouched_submission_gets_zero_with_a_reason_per_check(graded):
    assert total(graded, "carol")[0] == 0
    for name in NAMES:
        row = graded.by[("carol", name)]
        assert row["status"] == "graded"
        for grade_id in points_of(name):
            assert f"{grade_id}: AssertionError: " in row["feedback"]
    assert "your handler raised NotImplementedError" in graded.by[("carol", "ex01_line_echo")]["feedback"]


def test_a_hanging_or_crashing_notebook_costs_only_that_notebook(graded):
    hung = graded.by[("dave", "ex01_line_echo")]
    assert (hung["status"], float(hung["points"])) == ("graded", 0)
    assert f"ex01-solution: ran longer than {TIMEOUT} s and was interrupted" in hung["feedback"]
    crashed = graded.by[("dave", "ex02_udp_retry")]
    assert (crashed["status"], float(crashed["points"])) == ("error", 0)
    assert "the kernel died" in crashed["feedback"]
    mro = graded.by[("dave", "ex03_mro_supplier")]
    assert mro["status"] == "graded" and mro["points"] == mro["max_points"]
    for name in NAMES[3:]:
        assert graded.by[("dave", name)]["status"] == "missing"
    # and nobody else paid for it
    assert total(graded, "alice")[0] == total(graded, "alice")[1]


def test_a_reused_course_dir_never_passes_off_an_earlier_runs_results(graded, released,
                                                                      tmp_path, monkeypatch):
    """The second run's nbgrader never reaches a student (stopped, or crashed first).

    The first run (``graded``) left alice's autograded ex03 with full points
    and dave's ex02 log saying his kernel died; neither may show up now, in
    the CSV or in the gradebook.
    nbgrader's autograde is replaced by a run that fails before grading
    anyone, so the test costs one ``generate_assignment``, not a grading run.
    """
    import shutil

    from nbgrader.api import Gradebook

    course = tmp_path / "course"
    shutil.copytree(graded.course, course, symlinks=True)
    assert (course / "autograded" / "alice" / "exercises" / "ex03_mro_supplier.ipynb").is_file()
    old_log = (course / "logs" / "autograde-dave-ex02_udp_retry.log").read_text()
    assert "DeadKernelError" in old_log or "Kernel died" in old_log
    subs = tmp_path / "submitted"
    submit(released.dir, SOURCE, subs / "alice" / instructor.ASSIGNMENT,
           {"ex03_mro_supplier": "solved"})
    submit(released.dir, SOURCE, subs / "dave" / instructor.ASSIGNMENT,
           {"ex02_udp_retry": "solved"})

    real_nbgrader = instructor._nbgrader

    def autograde_reaches_nobody(course_dir, args, **kwargs):
        if args[0] != "autograde":
            return real_nbgrader(course_dir, args, **kwargs)
        return subprocess.CompletedProcess(args, returncode=1)

    monkeypatch.setattr(instructor, "_nbgrader", autograde_reaches_nobody)
    path = instructor.grade(subs, tmp_path / "grades.csv", source_dir=SOURCE, course_dir=course,
                            timeout=TIMEOUT)
    with open(path, newline="", encoding="utf-8") as f:
        rows = {(r["student"], r["notebook"]): r for r in csv.DictReader(f)}
    for key in (("alice", "ex03_mro_supplier"), ("dave", "ex02_udp_retry")):
        row = rows[key]
        assert (row["status"], float(row["points"])) == ("error", 0), key
        assert row["feedback"] == ("nbgrader could not grade this notebook; see the autograde "
                                   "log in the course directory"), key
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", instructor.COURSE_ID) as gb:
        for student, notebook in (("alice", "ex03_mro_supplier"), ("dave", "ex02_udp_retry"),
                                  ("alice", "ex01_line_echo")):  # not handed in this time
            assert gb.find_submission_notebook(notebook, "exercises", student).score == 0
        # students this run did not grade keep what the first run gave them
        assert gb.find_submission_notebook("ex01_line_echo", "exercises", "bob").score == \
            float(graded.by[("bob", "ex01_line_echo")]["max_points"]) > 0


def test_grading_keeps_nbgraders_own_records_in_the_course_dir(graded):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded.course / 'gradebook.db'}", instructor.COURSE_ID) as gb:
        assert sorted(s.id for s in gb.students) == ["alice", "bob", "carol", "dave"]
        assert gb.find_submission("exercises", "alice").score == total(graded, "alice")[1]
    assert (graded.course / "autograded" / "bob" / "exercises" / "ex05_allow_list.ipynb").is_file()
