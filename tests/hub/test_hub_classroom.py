"""A class on a real JupyterHub: 20 students and an instructor, the whole course and nbgrader loop.

The hub is the one ``make hub`` starts (deploy/hub.py, deploy/local/
jupyterhub_config.py): JupyterHub from PyPI, configurable-http-proxy from npm,
LocalProcessSpawner, each account a real system user with a private home.  The
test, as the class's browsers would:

1. creates an instructor and the students through the hub's REST API and
   starts all their servers at once;
1b. one student logs in through the hub's login page in Chromium and opens every
   lesson, untrusted and not run: the diagrams and source excerpts must show as
   shipped (the kernels JupyterLab started for them are shut down after);
2. the instructor releases the exercises through nbgrader's exchange
   (``netlesson-course release``, in a kernel of the instructor's own server);
3. every student, at the same time, runs every lesson notebook in their own
   server over the REST and kernel WebSocket API (the first kernels all start
   at the same moment), then fetches the exercises through nbgrader's
   assignment-list API, answers them -- honestly, partly or not at all, from the
   instructor's solutions (tests/instructor/exercise_submissions.py) -- and submits;
4. the instructor collects, grades with ``python -m netlesson grade`` (a
   bubblewrap sandbox per notebook) and releases feedback; each student fetches it;
5. each student tries to read another student's home, notebooks, nbgrader cache
   and the exchange's inbound folder.

Everything it creates -- accounts (``nltinst``, ``nltstu01``...), their
processes, the hub's state and exchange under /srv -- is removed at the end,
also on failure.  Spawn time, time for all lessons and peak memory per student
go to ``artifacts/hub/classroom.json`` (benchmarks/hub_bench.py keeps a copy).

Needs root, Node.js/npm, bubblewrap, Chromium with Playwright, and the network
to PyPI/npm for the first install.  Skipped with the reason otherwise; CI sets
NETLESSON_REQUIRE_HUB=1, and then a missing prerequisite fails.
NETLESSON_HUB_CLASS_SIZE changes the number of students (default 20).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import pytest

import hubdriver

pytestmark = pytest.mark.timeout(2400)

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = os.environ.get("NETLESSON_REQUIRE_HUB") == "1"
CLASS_SIZE = int(os.environ.get("NETLESSON_HUB_CLASS_SIZE", "20"))
LESSONS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
NOTEBOOKS = sorted(p.stem for p in (ROOT / "instructor" / "exercises").glob("*.ipynb"))
REPORT = ROOT / "artifacts" / "hub" / "classroom.json"


MISSING = hubdriver.missing()
if MISSING and not REQUIRED:
    pytest.skip("no JupyterHub classroom here: " + "; ".join(MISSING), allow_module_level=True)


@pytest.fixture(scope="module")
def classroom():
    if MISSING:
        pytest.fail("NETLESSON_REQUIRE_HUB=1 but: " + "; ".join(MISSING))
    workdir = Path(tempfile.mkdtemp(prefix="netlesson-hub-test-", dir="/srv"))
    lines = []
    t0 = time.monotonic()
    result = hubdriver.run_class(root=ROOT, students=CLASS_SIZE, lessons=LESSONS, workdir=workdir,
                                 log=lines.append, hub_log=REPORT.parent / "jupyterhub.log")
    result.phases["test total"] = time.monotonic() - t0
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    numbers = hubdriver.report(result)
    REPORT.write_text(json.dumps(numbers, indent=2) + "\n", encoding="utf-8")
    print("\n".join(lines))
    print(json.dumps(numbers, indent=2))
    return result


def test_the_class_ran_without_a_failure_outside_a_student(classroom):
    assert classroom.errors == [], classroom.errors


def test_every_server_started(classroom):
    assert len(classroom.students) == CLASS_SIZE
    for rec in classroom.students.values():
        assert rec.spawn_seconds > 0, (rec.name, rec.errors)


def test_a_student_first_sees_every_lesson_as_shipped(classroom):
    """Logged in through the hub's login page, before running anything: every stored
    diagram shows as an image and every source excerpt is highlighted (untrusted)."""
    assert sorted(classroom.as_opened) == LESSONS
    problems = {lesson: seen["problems"] for lesson, seen in classroom.as_opened.items()
                if seen["problems"]}
    assert problems == {}
    assert sum(seen["images"] for seen in classroom.as_opened.values()) > 0
    assert sum(seen["excerpts"] for seen in classroom.as_opened.values()) > 0


def test_a_students_first_screen_asks_nothing_about_jupyter_news(classroom):
    """JupyterLab asks every new user whether to fetch "official Jupyter news" unless
    told: deploy/hub.py's overrides answer for the class."""
    assert classroom.lab_notification is not None
    assert classroom.lab_notification["fetchNews"] == "false"
    assert classroom.lab_notification["checkForUpdates"] is False


def test_every_student_ran_every_lesson_without_an_error(classroom):
    failures = {(rec.name, run.notebook): run.errors
                for rec in classroom.students.values() for run in rec.runs if run.errors}
    for rec in classroom.students.values():
        for run in rec.runs:
            for traceback in run.tracebacks:
                print(f"--- {rec.name} {run.notebook}\n{traceback}")
    assert failures == {}
    for rec in classroom.students.values():
        assert [run.notebook.rsplit("/", 1)[-1] for run in rec.runs] == \
            [f"{lesson}.ipynb" for lesson in LESSONS], rec.name
        assert all(run.cells > 0 for run in rec.runs)


def test_students_went_through_nbgrader_without_an_error(classroom):
    assert {rec.name: rec.errors for rec in classroom.students.values() if rec.errors} == {}


def test_every_score_is_what_the_answers_deserve(classroom):
    got = {(row["student"], row["notebook"]): float(row["points"]) for row in classroom.grades}
    wanted = {(name, nb): points for name, per_nb in classroom.expected.items()
              for nb, points in per_nb.items()}
    assert got == wanted
    kinds = {rec.kind for rec in classroom.students.values()}
    assert kinds == {"honest", "partial", "empty"}
    for rec in classroom.students.values():
        total = sum(classroom.expected[rec.name].values())
        assert (total > 0) == (rec.kind != "empty")


def test_nobody_is_flagged_and_every_notebook_was_graded(classroom):
    for row in classroom.grades:
        assert row["status"] == "graded", row
        assert row["flags"] == "", row


def test_every_student_fetched_feedback_for_every_notebook(classroom):
    for rec in classroom.students.values():
        assert sorted(rec.feedback) == [f"{nb}.html" for nb in NOTEBOOKS], rec.name


def test_students_cannot_read_each_others_homes_or_find_their_submissions(classroom):
    for rec in classroom.students.values():
        probe = rec.probe
        assert probe["user"] == rec.name
        assert probe["other_submission_exists"], rec.name
        assert (probe["other_home"], probe["other_notebook"], probe["other_cache"],
                probe["inbound"]) == ("denied",) * 4, (rec.name, probe)


def test_kernels_use_ipc_and_each_student_has_a_course_port_of_their_own(classroom):
    ports = [int(rec.probe["port"]) for rec in classroom.students.values()]
    assert len(set(ports)) == len(ports)
    hub_ports = set(classroom.hub_ports.values())
    assert not ({8081} | hub_ports) & set(ports)
    assert 8081 not in hub_ports
    assert {rec.probe["transport"] for rec in classroom.students.values()} == {"ipc"}


def test_stopping_the_hub_stopped_every_server_and_kernel(classroom):
    assert classroom.left_running == []


def test_a_course_update_reaches_students_without_touching_their_work(classroom):
    assert len(classroom.updates) == 2
    for name, what in classroom.updates.items():
        assert what == {"own_edit_kept": True, "instructor_change_arrived": True,
                        "new_file_arrived": True}, name
