"""Grade one class -- honest, lazy, careless and malicious students -- in one run, for real.

Real nbgrader builds the course and the gradebook; every notebook is judged by
``netlesson.grading`` in a real bubblewrap sandbox (CI sets
NETLESSON_REQUIRE_SANDBOX=1, so a missing sandbox fails here instead of
skipping).  The submissions are built from the current notebooks
(``exercise_submissions.py``).  What must hold: the work decides the score,
every forgery scores 0 and is flagged, a victim's score and files are
untouched, nothing is left running, and the CSV, gradebook and logs agree.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import psutil
import pytest

pytest.importorskip("nbgrader")

from netlesson import grading, instructor  # noqa: E402

from exercise_submissions import submit  # noqa: E402

pytestmark = [pytest.mark.instructor, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "instructor" / "exercises"
RELEASED = ROOT / "notebooks" / "exercises"
NAMES = sorted(p.stem for p in SOURCE.glob("*.ipynb"))
TIMEOUT = 6
MARKER = "1234.875"  # the leftover process's sleep argument

if grading.sandbox_problem() is not None and os.environ.get("NETLESSON_REQUIRE_SANDBOX") != "1":
    pytest.skip(f"no sandbox here: {grading.sandbox_problem()}", allow_module_level=True)


def points_of(notebook: str) -> dict[str, float]:
    nb = nbformat.read(SOURCE / f"{notebook}.ipynb", as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"])
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}


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

#: One forgery per notebook of the student "forger"; each leaves the exercise unsolved.
FORGERIES = {
    "ex01_line_echo": {"ex01-solution": (
        "get_ipython().input_transformers_cleanup.append(\n"
        "    lambda lines: [l for l in lines if 'check' not in l])")},
    "ex02_udp_retry": {"ex02-solution": (
        "import sys\nsys.excepthook = lambda *a: None\n"
        "get_ipython().set_custom_exc((AssertionError,), lambda *a, **k: None)")},
    "ex03_mro_supplier": {"ex03-solution": (
        "answers = {}\nfrom netlesson import exercises as e\n"
        "e.check_mro_answers = lambda *a, **k: None\n"
        "import netlesson.exercises._harness as h\nh.fail = lambda *a, **k: None")},
    "ex04_framing": {"ex04-solution-recvall": (
        "import os\nprint('All checks passed!')\n"
        "os.write(3, b'0' * 64 + b' 0 {\"type\": \"test\", \"grade_id\": \"ex04-check-recvall\", "
        "\"passed\": true}\\n')"),
        "ex04-solution-messages": "from netlesson.framing import send_msg, recv_msg"},
    "ex05_allow_list": {"ex05-solution": (
        "import sys\nframe = sys._getframe()\nwhile frame.f_back: frame = frame.f_back\n"
        "frame.f_locals.clear()")},
}

#: What the saboteur's answer cell tries: every line is a harm to someone else.
SABOTAGE = """
import os, signal, socket, subprocess
found = []
for path in ({instructor!r}, {submissions!r}, {course!r}, {git!r}, {lessons!r}):
    found.append((path, os.path.exists(path)))
for path in ({victim_file!r}, {gradebook!r}):
    try:
        open(path, 'w').write('gone')
        found.append(('wrote', path))
    except OSError as exc:
        found.append(('could not write', path, type(exc).__name__))
for port in range(1024, 65536):     # connect to every loopback port: nobody else's is here
    s = socket.socket()
    s.settimeout(0.001)
    if s.connect_ex(('127.0.0.1', port)) == 0:
        s.sendall(b'garbage' * 100)
    s.close()
subprocess.Popen(['sleep', '{marker}'], start_new_session=True)
os.write(1, (repr(found) + "\\n").encode())  # to stdout at once: kill(-1) may end the run first
os.kill(-1, signal.SIGKILL)          # every process it can see
"""


def stray_prober(stop: threading.Event) -> None:
    """Another user on the host: connect to whatever listens on loopback, send garbage."""
    while not stop.is_set():
        for conn in psutil.net_connections("tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.ip in ("127.0.0.1", "0.0.0.0"):
                try:
                    with socket.create_connection(("127.0.0.1", conn.laddr.port), timeout=0.2) as s:
                        s.sendall(b"stray\n")
                except OSError:
                    pass
        stop.wait(0.05)


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("class")
    subs = base / "submitted"
    course = base / "course"

    def folder(student):
        return subs / student / instructor.ASSIGNMENT

    submit(RELEASED, SOURCE, folder("alice"), {n: "solved" for n in NAMES})
    # what nbgrader's collect leaves beside a submission
    (folder("alice") / "timestamp.txt").write_text("2026-11-30 09:15:02.123456 UTC")
    (folder("alice") / "submission_secret.txt").write_text("5f0c0e4b9d2a4c7e")
    submit(RELEASED, SOURCE, folder("bob"), {
        "ex01_line_echo": "solved",
        "ex03_mro_supplier": "solved",
        "ex04_framing": {"ex04-solution-recvall": "solved"},     # part 2 left as released
        "ex05_allow_list": {"ex05-solution": ALWAYS_ALLOW},      # a typical mistake
    })
    submit(RELEASED, SOURCE, folder("carol"), {n: "untouched" for n in NAMES})
    submit(RELEASED, SOURCE, folder("dave"), {
        "ex01_line_echo": {"ex01-solution": "while True:\n    pass\n"},      # hangs
        "ex02_udp_retry": {"ex02-solution": "import os\nos._exit(1)\n"},     # crashes
        "ex03_mro_supplier": "solved",
    })
    submit(RELEASED, SOURCE, folder("forger"), FORGERIES)
    # the forger also edits a test cell of ex06 to pass, and answers nothing
    nb = nbformat.read(RELEASED / "ex06_visitor_counter.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = "pass"
    nbformat.write(nb, folder("forger") / "ex06_visitor_counter.ipynb")
    submit(RELEASED, SOURCE, folder("saboteur"), {"ex05_allow_list": {"ex05-solution": SABOTAGE.format(
        instructor=str(SOURCE), submissions=str(subs), course=str(course),
        victim_file=str(folder("alice") / "ex01_line_echo.ipynb"),
        gradebook=str(course / "gradebook.db"), marker=MARKER,
        git=str(ROOT / ".git"), lessons=str(ROOT / "notebooks"))}})
    # careless: a renamed copy, and a cell that prints 300 MB
    submit(RELEASED, SOURCE, folder("frank"), {"ex03_mro_supplier": "solved",
                                              "ex01_line_echo": "solved"})
    (folder("frank") / "ex03_mro_supplier.ipynb").rename(
        folder("frank") / "EX03_MRO_Supplier (1).ipynb")
    nb = nbformat.read(folder("frank") / "ex01_line_echo.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "ex01-solution":
            cell.source = "import sys\nfor _ in range(300):\n    sys.stdout.write('x' * (1 << 20))\n" \
                + cell.source
    nbformat.write(nb, folder("frank") / "ex01_line_echo.ipynb")

    before = tree_digest(subs)
    lines: list[str] = []
    stop = threading.Event()
    prober = threading.Thread(target=stray_prober, args=(stop,), daemon=True)
    prober.start()
    t0 = time.monotonic()
    try:
        path = grading.grade(subs, base / "grades.csv", source_dir=SOURCE, course_dir=course,
                             timeout=TIMEOUT, jobs=2, log=lines.append)
    finally:
        stop.set()
        prober.join(5)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return SimpleNamespace(path=path, rows=rows, course=course, subs=subs, before=before,
                           lines=lines, seconds=time.monotonic() - t0,
                           by={(r["student"], r["notebook"]): r for r in rows})


def total(graded, student):
    rows = [r for r in graded.rows if r["student"] == student]
    return sum(float(r["points"]) for r in rows), sum(float(r["max_points"]) for r in rows)


STUDENTS = ("alice", "bob", "carol", "dave", "forger", "saboteur", "frank")


def test_one_row_per_student_and_notebook_with_a_flags_column(graded):
    with open(graded.path, newline="", encoding="utf-8") as f:
        assert next(csv.reader(f)) == grading.CSV_FIELDS
    assert sorted(graded.by) == sorted((s, n) for s in STUDENTS for n in NAMES)
    for row in graded.rows:
        assert float(row["max_points"]) == sum(points_of(row["notebook"]).values())


def test_the_honest_student_gets_every_point_and_no_flag(graded):
    for name in NAMES:
        row = graded.by[("alice", name)]
        assert (row["status"], row["points"], row["feedback"], row["flags"]) == \
            ("graded", row["max_points"], "", ""), row
    assert total(graded, "alice")[0] == total(graded, "alice")[1] > 0


def test_partial_work_gets_partial_points_and_the_checkers_feedback(graded):
    for name in ("ex01_line_echo", "ex03_mro_supplier"):
        assert graded.by[("bob", name)]["points"] == graded.by[("bob", name)]["max_points"]
    framing = graded.by[("bob", "ex04_framing")]
    assert float(framing["points"]) == points_of("ex04_framing")["ex04-check-recvall"]
    assert "ex04-check-messages: AssertionError: send_msg(sock, b'hello') raised " \
           "NotImplementedError" in framing["feedback"]
    allow = graded.by[("bob", "ex05_allow_list")]
    assert float(allow["points"]) == 0
    assert "ex05-check-verify: AssertionError: verify_request(request, ('192.0.2.7', 50001)) " \
           "returned True, but 192.0.2.7 is not in allowed_hosts" in allow["feedback"]
    assert graded.by[("bob", "ex02_udp_retry")]["status"] == "missing"
    assert all(not graded.by[("bob", n)]["flags"] for n in NAMES)


def test_untouched_notebooks_score_zero_with_a_reason_per_check(graded):
    assert total(graded, "carol")[0] == 0
    for name in NAMES:
        row = graded.by[("carol", name)]
        assert row["status"] == "graded" and not row["flags"], row
        for grade_id in points_of(name):
            assert f"{grade_id}: AssertionError: " in row["feedback"]


def test_a_hanging_or_crashing_notebook_costs_only_its_own_points(graded):
    hung = graded.by[("dave", "ex01_line_echo")]
    assert float(hung["points"]) == 0
    assert f"ex01-solution: ran longer than {TIMEOUT} s and was interrupted" in hung["feedback"]
    crashed = graded.by[("dave", "ex02_udp_retry")]
    assert float(crashed["points"]) == 0
    assert "not reached: the grading process ended early (exit status 1)" in crashed["feedback"]
    assert "run ended early" in crashed["flags"]
    mro = graded.by[("dave", "ex03_mro_supplier")]
    assert mro["status"] == "graded" and mro["points"] == mro["max_points"]


@pytest.mark.parametrize("name", sorted(FORGERIES) + ["ex06_visitor_counter"])
def test_every_forgery_scores_zero_and_is_flagged(graded, name):
    row = graded.by[("forger", name)]
    assert float(row["points"]) == 0, row
    assert row["flags"], f"{name}: a forgery without a flag: {row}"


def test_forgeries_are_named_for_the_instructor(graded):
    flags = {n: graded.by[("forger", n)]["flags"] for n in NAMES}
    assert "suspicious code (get_ipython, input_transformers)" in flags["ex01_line_echo"]
    assert "set_custom_exc" in flags["ex02_udp_retry"] and "excepthook" in flags["ex02_udp_retry"]
    assert "tampering (monkeypatching: " in flags["ex03_mro_supplier"]
    assert "netlesson.exercises.check_mro_answers was replaced" in flags["ex03_mro_supplier"]
    assert "forged results" in flags["ex04_framing"]
    assert "sys._getframe" in flags["ex05_allow_list"]
    assert "locked cells edited (ex06-check-greeting, ex06-check-counter" \
        in flags["ex06_visitor_counter"]


def test_a_course_helper_that_answers_the_exercise_is_not_the_students_answer(graded, tmp_path):
    """Without the forged channel, ex04's part 2 from netlesson.framing still scores 0."""
    released = nbformat.read(RELEASED / "ex04_framing.ipynb", as_version=4)
    solved = {c.metadata["nbgrader"]["grade_id"]: c.source
              for c in nbformat.read(SOURCE / "ex04_framing.ipynb", as_version=4).cells
              if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in released.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "ex04-solution-recvall":
            cell.source = solved[gid]
        elif gid == "ex04-solution-messages":
            cell.source = "from netlesson.framing import send_msg, recv_msg"
    program, _ = grading.build_program(released, released, notebook="ex04_framing", timeout=TIMEOUT)
    verdict = grading.judge(program)
    scores = {t.grade_id: (t.passed, t.message) for t in verdict.tests}
    assert scores["ex04-check-recvall"][0] is True
    assert scores["ex04-check-messages"][0] is False
    assert "the course's own answer" in scores["ex04-check-messages"][1]
    assert any(f.startswith("answer key (netlesson.framing.send_msg") for f in verdict.flags)


def test_the_saboteur_harms_nobody_and_is_flagged(graded):
    row = graded.by[("saboteur", "ex05_allow_list")]
    assert float(row["points"]) == 0
    # kill(-1) ends the sandbox's other processes (its supervisor too) but not the caller,
    # so which of these shows depends on timing; some flag always does
    assert any(f in row["flags"] for f in ("processes left behind", "run ended early",
                                           "suspicious code (os.kill)")), row
    log = (graded.path.with_name("grades-logs") / "saboteur" / "ex05_allow_list.log").read_text()
    for path in (str(SOURCE), str(graded.subs), str(graded.course), str(ROOT / ".git"),
                 str(ROOT / "notebooks")):
        assert f"('{path}', False)" in log, f"the sandbox showed {path}:\n{log[:3000]}"
    assert "('wrote'" not in log
    # the victim's files are as they were, and so is her score
    assert tree_digest(graded.subs) == graded.before
    assert total(graded, "alice")[0] == total(graded, "alice")[1]
    # nothing left running on the host
    left = [p.info for p in psutil.process_iter(["pid", "cmdline"])
            if MARKER in " ".join(p.info["cmdline"] or [])]
    assert not left, left


def test_careless_hand_ins_are_matched_and_huge_output_is_cut(graded):
    renamed = graded.by[("frank", "ex03_mro_supplier")]
    assert renamed["points"] == renamed["max_points"]
    assert "handed in as 'EX03_MRO_Supplier (1).ipynb'" in renamed["flags"]
    loud = graded.by[("frank", "ex01_line_echo")]
    assert loud["points"] == loud["max_points"], loud
    assert "output cut" in loud["flags"]
    log = graded.path.with_name("grades-logs") / "frank" / "ex01_line_echo.log"
    assert log.stat().st_size < 2_000_000


def test_gradebook_logs_and_graded_notebooks_agree_with_the_csv(graded):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded.course / 'gradebook.db'}", instructor.COURSE_ID) as gb:
        assert sorted(s.id for s in gb.students) == sorted(STUDENTS)
        for row in graded.rows:
            score = gb.find_submission_notebook(row["notebook"], "exercises", row["student"]).score
            assert score == float(row["points"]), row
    logs = graded.path.with_name("grades-logs")
    for row in graded.rows:
        log = logs / row["student"] / f"{row['notebook']}.log"
        assert log.is_file()
        assert log.read_text().startswith(f"{row['student']} / {row['notebook']}: ")
    graded_nb = nbformat.read(logs / "bob" / "ex04_framing.ipynb", as_version=4)
    errors = [o for c in graded_nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert any("send_msg(sock, b'hello')" in o.evalue for o in errors)


def test_nbgrader_makes_feedback_from_the_graded_course(graded):
    """The grader leaves a submission's timestamp and secret beside its graded notebooks,
    as nbgrader's autograde does, and nbgrader's generate_feedback works on the result."""
    import subprocess
    import sys

    autograded = graded.course / "autograded" / "alice" / instructor.ASSIGNMENT
    for name in ("timestamp.txt", "submission_secret.txt"):
        assert (autograded / name).read_text() == \
            (graded.subs / "alice" / instructor.ASSIGNMENT / name).read_text()
    assert not (graded.course / "autograded" / "bob" / instructor.ASSIGNMENT
                / "submission_secret.txt").exists()  # bob's submission had none
    done = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback",
                           instructor.ASSIGNMENT, "--student", "alice", "--force"],
                          cwd=graded.course, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    feedback = graded.course / "feedback" / "alice" / instructor.ASSIGNMENT
    assert sorted(p.stem for p in feedback.glob("*.html")) == sorted(NAMES)
    assert (feedback / "timestamp.txt").read_text() == "2026-11-30 09:15:02.123456 UTC"


def test_progress_has_a_line_per_student(graded):
    finished = [line for line in graded.lines if line.startswith("[")]
    assert len(finished) == len(STUDENTS)
    assert any(line.endswith(f"] alice: {int(total(graded, 'alice')[1])}/"
                             f"{int(total(graded, 'alice')[1])}") or " alice: " in line
               for line in finished)
    assert finished[-1].startswith(f"[{len(STUDENTS)}/{len(STUDENTS)}]")


def test_a_sandbox_that_fails_costs_only_that_notebook(tmp_path, monkeypatch):
    """The sandbox failing to start for one notebook makes that row an error, nothing more."""
    from netlesson.grading import _grade

    subs = tmp_path / "submitted"
    for student in ("ann", "ben"):
        submit(RELEASED, SOURCE, subs / student / instructor.ASSIGNMENT,
               {"ex03_mro_supplier": "solved"})
    real_judge = _grade._judge.judge
    calls = []

    def flaky_judge(program, **kwargs):
        calls.append(program["notebook"])
        if len(calls) == 1:
            raise grading.SandboxUnavailable("the sandbox did not start: bwrap: out of memory")
        return real_judge(program, **kwargs)

    monkeypatch.setattr(_grade._judge, "judge", flaky_judge)
    path = grading.grade(subs, tmp_path / "grades.csv", source_dir=SOURCE, timeout=TIMEOUT, jobs=1)
    with open(path, newline="", encoding="utf-8") as f:
        rows = {r["student"]: r for r in csv.DictReader(f) if r["notebook"] == "ex03_mro_supplier"}
    failed, graded_row = rows["ann"], rows["ben"]
    assert (failed["status"], failed["points"], failed["flags"]) == ("error", "0", "grader error")
    assert "the sandbox did not start: bwrap: out of memory" in failed["feedback"]
    assert graded_row["points"] == graded_row["max_points"] != "0"


def test_a_class_graded_in_chinese_gets_chinese_feedback_flags_and_progress(tmp_path, monkeypatch):
    """NETLESSON_LANG=zh_CN: the CSV, the progress lines and the graded notebooks speak Chinese.

    The timeout sentence is worded by the runner inside the sandbox, so it shows
    that the grader's language reaches the sandbox; the flag codes stay English.
    """
    monkeypatch.setenv("NETLESSON_LANG", "zh_CN")
    subs = tmp_path / "submitted"
    submit(RELEASED, SOURCE, subs / "ann" / instructor.ASSIGNMENT,
           {"ex03_mro_supplier": {"ex03-solution": "while True:\n    pass\n"}})
    (subs / "ann" / instructor.ASSIGNMENT / "ex03_mro_supplier.ipynb").rename(
        subs / "ann" / instructor.ASSIGNMENT / "ex03_MRO_supplier (1).ipynb")
    lines: list[str] = []
    path = grading.grade(subs, tmp_path / "grades.csv", source_dir=SOURCE, timeout=2, jobs=1,
                         log=lines.append)
    with open(path, newline="", encoding="utf-8") as f:
        rows = {r["notebook"]: r for r in csv.DictReader(f)}
    missing = rows["ex01_line_echo"]
    assert (missing["status"], missing["feedback"], missing["flag_codes"]) == ("missing", "未提交", "")
    row = rows["ex03_mro_supplier"]
    assert row["points"] == "0"
    assert row["flags"] == "交上来的文件名是 'ex03_MRO_supplier (1).ipynb'", row
    assert row["flag_codes"] == "renamed-file"
    # the grade id before each line, as in English: ": " (a prefix a spreadsheet can split on)
    assert "ex03-solution: 运行超过 2 秒，被中断了（是死循环，还是没有设超时的 recv()？）" \
        in row["feedback"], row["feedback"]
    progress = [line for line in lines if line.startswith("[")]
    assert len(progress) == 1 and re.fullmatch(r"\[1/1\] ann：0/\d+（\d+\.\d 秒）  标记：文件名不符",
                                               progress[0]), progress
    assert lines[-1].startswith("已批改 1 名学生的 1 个笔记本："), lines[-1]
    log = (tmp_path / "grades-logs" / "ann" / "ex03_mro_supplier.log").read_text(encoding="utf-8")
    assert log.startswith("ann / ex03_mro_supplier：0 分，满分 ")
