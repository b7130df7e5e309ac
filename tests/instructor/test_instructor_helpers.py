"""The parts of netlesson.instructor around nbgrader: layouts, feedback, CSV, command line.

These run no nbgrader command (test_nbgrader.py does); they pin down how
submissions are found and how an autograded notebook's errors become feedback.
"""

from __future__ import annotations

import csv

import nbformat
import pytest

from netlesson import cli, instructor

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


def graded_cell(source, grade_id, error=None, *, grade=True):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": grade, "solution": not grade, "locked": grade,
                                 "grade_id": grade_id, "schema_version": 3,
                                 **({"points": 2} if grade else {})}
    if error:
        ename, evalue = error
        cell.outputs = [nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[])]
    return cell


def test_feedback_quotes_failed_checks_and_explains_answer_cells(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        graded_cell("...", "ex-answer", ("NotImplementedError", ""), grade=False),
        graded_cell("...", "ex-loop", ("KeyboardInterrupt", ""), grade=False),
        graded_cell("check()", "ex-check-a", ("AssertionError", "your handler replied 1024 bytes")),
        graded_cell("check()", "ex-check-b"),
        nbformat.v4.new_code_cell("1/0"),  # not an nbgrader cell: not feedback
    ]
    nb.cells[1].outputs.append(nbformat.v4.new_output("error", ename="CellTimeoutError",
                                                      evalue="", traceback=[]))
    nb.cells[4].outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError",
                                                  evalue="division by zero", traceback=[])]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    assert instructor._feedback(path, timeout=7) == [
        "ex-answer: not answered (the cell still raises NotImplementedError)",
        "ex-loop: ran longer than 7 s and was interrupted (an endless loop, or a recv() "
        "without a timeout?)",
        "ex-check-a: AssertionError: your handler replied 1024 bytes",
    ]


def test_csv_rows_keep_multiline_feedback_and_whole_points(tmp_path):
    rows = [instructor.NotebookResult("alice", "exercises", "ex01", 2.0, 5.0, "graded",
                                      ["a: AssertionError: one", "b: AssertionError: two"]),
            instructor.NotebookResult("bob", "exercises", "ex01", 2.5, 5.0, "missing",
                                      ["not handed in"])]
    path = tmp_path / "out" / "grades.csv"
    instructor._write_csv(path, rows)
    with open(path, newline="", encoding="utf-8") as f:
        read = list(csv.DictReader(f))
    assert list(read[0]) == instructor.CSV_FIELDS
    assert (read[0]["points"], read[0]["max_points"]) == ("2", "5")
    assert read[0]["feedback"] == "a: AssertionError: one\nb: AssertionError: two"
    assert read[1]["points"] == "2.5"


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
    assert (args.submissions, args.timeout, args.csv) == ("subs", 9, "g.csv")


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
