"""The parts of release and grading around nbgrader: layouts, names, CSV, channel, command line.

These run no nbgrader command and no sandbox (test_nbgrader.py and
test_grading_class.py do); they pin down how submissions are found and
matched, which result records are believed, and what the command line says.
"""

from __future__ import annotations

import csv
import os
import time

import nbformat
import pytest

from netlesson import cli, grading, instructor

pytestmark = pytest.mark.instructor


def write_notebook(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(), path)


def test_find_submissions_accepts_the_nbgrader_layout_and_a_flat_one(tmp_path):
    write_notebook(tmp_path / "alice" / "exercises" / "ex01_line_echo.ipynb")
    write_notebook(tmp_path / "bob" / "ex01_line_echo.ipynb")
    (tmp_path / "carol").mkdir()  # nothing handed in: not a submission
    (tmp_path / ".ipynb_checkpoints").mkdir()
    found = instructor.find_submissions(tmp_path)
    assert found == {"alice": tmp_path / "alice" / "exercises", "bob": tmp_path / "bob"}


def test_find_submissions_explains_the_expected_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"<student_id>/exercises/<notebook>\.ipynb"):
        instructor.find_submissions(tmp_path)
    with pytest.raises(FileNotFoundError, match="no submissions directory"):
        instructor.find_submissions(tmp_path / "absent")


def test_handed_in_names_are_matched_with_a_note(tmp_path):
    for name in ("ex01_line_echo.ipynb", "EX03_MRO_supplier (1).ipynb", "ex04_framing-copy.ipynb",
                 "ex04_Framing.ipynb", "notes.ipynb", "ex05_allow_list.txt"):
        write_notebook(tmp_path / name)
    newest = tmp_path / "ex04_Framing.ipynb"
    os.utime(newest, (time.time() + 60, time.time() + 60))
    found = grading.match_notebooks(tmp_path, ["ex01_line_echo", "ex03_mro_supplier",
                                               "ex04_framing", "ex05_allow_list"])
    assert found["ex01_line_echo"] == (tmp_path / "ex01_line_echo.ipynb", None)
    assert found["ex03_mro_supplier"] == (tmp_path / "EX03_MRO_supplier (1).ipynb",
                                          "handed in as 'EX03_MRO_supplier (1).ipynb'")
    path, note = found["ex04_framing"]
    assert path == newest and "newest of" in note and "'ex04_framing-copy.ipynb'" in note
    assert "ex05_allow_list" not in found


def test_result_channel_accepts_only_this_runs_signed_records_in_order():
    import hashlib
    import hmac

    from netlesson.grading._judge import read_records

    key = b"k" * 32

    def line(seq, text, k=key):
        body = f"{seq} {text}"
        return f"{hmac.new(k, body.encode(), hashlib.sha256).hexdigest()} {body}\n"

    good = line(0, '{"type": "cell"}') + line(1, '{"type": "end"}')
    assert read_records(good.encode(), key) == ([{"type": "cell"}, {"type": "end"}], None)
    forged = line(0, '{"type": "cell"}') + line(1, '{"type": "end"}', k=b"x" * 32)
    assert read_records(forged.encode(), key)[1] == "line 2 of the result channel is not the grader's"
    replayed = line(0, '{"type": "cell"}') + line(0, '{"type": "cell"}')
    assert "out of order" in read_records(replayed.encode(), key)[1]


def test_csv_rows_keep_multiline_feedback_whole_points_and_flags(tmp_path):
    from netlesson.grading._grade import _write_csv

    rows = [grading.NotebookResult("alice", "exercises", "ex01", 2.0, 5.0, "graded",
                                   ["a: AssertionError: one", "b: AssertionError: two"],
                                   ["output cut", "time limit (60 s)"]),
            grading.NotebookResult("bob", "exercises", "ex01", 2.5, 5.0, "missing",
                                   ["not handed in"])]
    path = tmp_path / "out" / "grades.csv"
    _write_csv(path, rows)
    with open(path, newline="", encoding="utf-8") as f:
        read = list(csv.DictReader(f))
    assert list(read[0]) == grading.CSV_FIELDS
    assert (read[0]["points"], read[0]["max_points"]) == ("2", "5")
    assert read[0]["feedback"] == "a: AssertionError: one\nb: AssertionError: two"
    assert read[0]["flags"] == "output cut; time limit (60 s)"
    assert (read[1]["points"], read[1]["flags"]) == ("2.5", "")


def test_grading_refuses_without_a_sandbox_unless_told(tmp_path, monkeypatch, capsys):
    from netlesson.grading import _sandbox

    monkeypatch.setattr(_sandbox, "sandbox_problem", lambda: "bwrap is not installed")
    write_notebook(tmp_path / "alice" / "ex01_line_echo.ipynb")
    assert cli.main(["grade", str(tmp_path), "--csv", str(tmp_path / "g.csv")]) == 1
    err = capsys.readouterr().err
    assert "cannot grade safely: bwrap is not installed" in err
    assert "--allow-unsandboxed" in err and "apt-get install bubblewrap" in err
    assert not (tmp_path / "g.csv").exists()


def test_generated_config_names_the_course_and_its_root(tmp_path):
    text = instructor._config_text(tmp_path, timeout=12)
    config = {}

    class C(dict):
        def __getattr__(self, name):
            return self.setdefault(name, C())

        def __setattr__(self, name, value):
            self[name] = value

    exec(text, {"get_config": lambda: config.setdefault("c", C())})
    c = config["c"]
    assert c.CourseDirectory.course_id == instructor.COURSE_ID
    assert c.CourseDirectory.root == str(tmp_path)
    assert c.Execute.timeout == 12 and c.Execute.interrupt_on_timeout is True


def test_command_line_arguments():
    parser = cli.build_parser()
    args = parser.parse_args(["release", "--out", "rel"])
    assert (args.out, args.assignment, args.source, args.course_dir) == \
        ("rel", "exercises", None, None)
    args = parser.parse_args(["grade", "subs", "--timeout", "9", "--csv", "g.csv"])
    assert (args.submissions, args.timeout, args.csv, args.jobs, args.allow_unsandboxed) == \
        ("subs", 9, "g.csv", None, False)
    args = parser.parse_args(["grade", "subs", "--jobs", "6", "--allow-unsandboxed"])
    assert (args.jobs, args.allow_unsandboxed) == (6, True)


def test_grade_reports_a_missing_submissions_folder(tmp_path, capsys):
    argv = ["grade", str(tmp_path / "none"), "--csv", str(tmp_path / "g.csv"), "--timeout", "5"]
    assert cli.main(argv) == 1
    assert "no submissions directory" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["release", "grade"])
def test_a_missing_nbgrader_is_reported_with_the_install_command(tmp_path, monkeypatch, capsys,
                                                                 command):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "nbgrader" else real_find_spec(name, *a))
    (tmp_path / "alice").mkdir()
    write_notebook(tmp_path / "alice" / "ex01_line_echo.ipynb")
    argv = ["release", "--out", str(tmp_path / "out")] if command == "release" \
        else ["grade", str(tmp_path)]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "nbgrader is not installed" in err
    assert "pip install -e '.[instructor]'" in err
    assert not (tmp_path / "out").exists()
