"""Seconds per student: plain serial ``nbgrader autograde`` vs ``netlesson grade``, same class.

A measurement, not a test (see README.md).  Builds a class of N students from
the current notebooks -- a quarter fully solved, a quarter half solved, a
quarter untouched, a quarter with one typical mistake per notebook -- and
grades it twice, one run each:

1. plain nbgrader, as an instructor without this course's grader would:
   ``nbgrader autograde exercises`` in a course directory built by
   ``netlesson.instructor.build_course`` (every notebook in an ipykernel, one
   after another, no sandbox);
2. ``netlesson.grading.grade`` with its defaults (a sandbox per notebook,
   ``--jobs`` = the CPUs this process may use).

It checks that both runs give every student the same total (the forgery-free
class is scored the same by both), then prints a markdown table.  Run it on a
quiet machine; 100 students take about 20 minutes on two cores, most of it
the plain nbgrader run::

    .venv-instructor/bin/python benchmarks/grade_bench.py --students 100
    .venv-instructor/bin/python benchmarks/grade_bench.py --students 100 --write   # into README.md
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "instructor"))

from exercise_submissions import submit  # noqa: E402

from netlesson import grading, instructor  # noqa: E402

SOURCE = ROOT / "instructor" / "exercises"
RELEASED = ROOT / "notebooks" / "exercises"
MISTAKES = {  # one typical mistake per notebook (answer cell -> code)
    "ex01_line_echo": {"ex01-solution": "import socketserver\nclass LineUpperHandler(socketserver."
                                         "StreamRequestHandler):\n    def handle(self):\n"
                                         "        self.wfile.write(self.request.recv(1024).upper())\n"},
    "ex03_mro_supplier": {"ex03-solution": "from netlesson.exercises import MRO_QUESTIONS\n"
                                               "answers = {k: 'BaseServer' for k in MRO_QUESTIONS}"},
}


def build_class(folder: Path, students: int) -> None:
    names = sorted(p.stem for p in SOURCE.glob("*.ipynb"))
    for i in range(students):
        kind = i % 4
        plan = ({n: "solved" for n in names} if kind == 0 else
                {n: "solved" for n in names[: len(names) // 2]} if kind == 1 else
                {n: "untouched" for n in names} if kind == 2 else
                {n: MISTAKES.get(n, "solved") for n in names})
        submit(RELEASED, SOURCE, folder / f"s{i:03d}" / instructor.ASSIGNMENT, plan)


def plain_nbgrader(submissions: Path, work: Path, timeout: int) -> tuple[float, dict]:
    course = work / "plain-course"
    instructor.build_course(course, SOURCE, timeout=timeout)
    shutil.copytree(submissions, course / "submitted")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "nbgrader", "autograde", instructor.ASSIGNMENT,
                    f"--CourseDirectory.root={course}"], cwd=course, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.monotonic() - t0
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", instructor.COURSE_ID) as gb:
        totals = {s.id: gb.find_submission(instructor.ASSIGNMENT, s.id).score for s in gb.students}
    return seconds, totals


def netlesson_grade(submissions: Path, work: Path, timeout: int, jobs: int | None) -> tuple[float, dict]:
    t0 = time.monotonic()
    path = grading.grade(submissions, work / "grades.csv", source_dir=SOURCE,
                         course_dir=work / "netlesson-course", timeout=timeout, jobs=jobs)
    seconds = time.monotonic() - t0
    totals: dict[str, float] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            totals[row["student"]] = totals.get(row["student"], 0.0) + float(row["points"])
    return seconds, totals


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--timeout", type=int, default=instructor.DEFAULT_TIMEOUT)
    parser.add_argument("--jobs", type=int, default=None, help="netlesson grade --jobs (default: CPUs)")
    parser.add_argument("--write", action="store_true", help="write the table into benchmarks/README.md")
    args = parser.parse_args(argv)
    jobs = args.jobs or grading.default_jobs()
    with tempfile.TemporaryDirectory(prefix="netlesson-grade-bench-") as tmp:
        work = Path(tmp)
        build_class(work / "submitted", args.students)
        plain_s, plain_totals = plain_nbgrader(work / "submitted", work, args.timeout)
        ours_s, our_totals = netlesson_grade(work / "submitted", work, args.timeout, jobs)
    differ = {s: (plain_totals.get(s), our_totals.get(s)) for s in our_totals
              if abs((plain_totals.get(s) or 0) - our_totals[s]) > 1e-9}
    n = args.students
    table = "\n".join([
        f"Grading {n} students x {len(list(SOURCE.glob('*.ipynb')))} notebooks on "
        f"{platform.machine()} with {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}:",
        "",
        "| grader | wall time | seconds per student | speed-up |",
        "|---|---|---|---|",
        f"| plain `nbgrader autograde` (serial, no sandbox) | {plain_s:.0f} s | {plain_s / n:.2f} | 1.0x |",
        f"| `netlesson grade` (sandbox per notebook, {jobs} jobs) | {ours_s:.0f} s | "
        f"{ours_s / n:.2f} | {plain_s / ours_s:.1f}x |",
        "",
        ("Both graders gave every student the same total." if not differ else
         f"Totals differ for {len(differ)} students: {dict(list(differ.items())[:5])}"),
    ])
    print(table)
    if args.write:
        readme = ROOT / "benchmarks" / "README.md"
        text = readme.read_text(encoding="utf-8")
        block = f"<!-- grade_bench -->\n{table}\n<!-- /grade_bench -->"
        text = re.sub(r"<!-- grade_bench -->.*<!-- /grade_bench -->", lambda _: block, text,
                      flags=re.S) if "<!-- grade_bench -->" in text else text + "\n" + block + "\n"
        readme.write_text(text, encoding="utf-8")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
