#!/usr/bin/env python3
"""The instructor's nbgrader loop on a hub: release, collect, grade, feedback.

Run in a terminal of the instructor's own hub server, from the instructor's
checkout (the folder that holds ``instructor/exercises/``); deploy/hub.py
installs this file as ``netlesson-course`` in the hub environment::

    netlesson-course release     # build the course, put the exercises in the exchange
    # ... students fetch, work, submit (JupyterLab: Nbgrader > Assignment List)
    netlesson-course collect     # the newest submission of every student -> ~/course/submitted
    netlesson-course grade       # python -m netlesson grade (a sandbox per notebook) -> ~/grades.csv
    netlesson-course feedback    # HTML feedback into the exchange; students fetch it

Two nbgrader course directories, both in the instructor's home:

``~/course``   release and collect (nbgrader's own ``release_assignment``,
               ``collect``): the exchange's counterpart.
``~/grading``  ``python -m netlesson grade`` builds it afresh from the sources
               on every run (gradebook, ``autograded/``); ``generate_feedback`` and
               ``release_feedback`` run in it.  It must not be ``~/course``:
               grading clears its course directory's ``submitted/`` first.

nbgrader names each feedback file after the secret a submission carries
(``submission_secret.txt``, with ``timestamp.txt``); ``netlesson grade`` puts both
next to the graded notebooks in ``autograded/``, as nbgrader's own autograde does.

The exchange's location and the course id come from the environment's
nbgrader_config.py (deploy/local/singleuser/).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ASSIGNMENT = "exercises"
HOME = Path.home()
COURSE = HOME / "course"
GRADING = HOME / "grading"
CSV = HOME / "grades.csv"


def run(cmd: list[str], cwd: Path) -> None:
    print("$", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=cwd)
    if proc.returncode != 0:
        sys.exit(f"failed (exit status {proc.returncode}): {' '.join(cmd)}")


def nbgrader(*args: str, cwd: Path) -> None:
    run([sys.executable, "-m", "nbgrader", *args], cwd)


def release(source: Path) -> None:
    """Build ~/course from the sources (nbgrader generate_assignment) and release it to the exchange."""
    run([sys.executable, "-m", "netlesson", "release", "--source", str(source),
         "--out", str(COURSE / "handout"), "--course-dir", str(COURSE)], HOME)
    nbgrader("release_assignment", ASSIGNMENT, "--force", cwd=COURSE)


def collect() -> None:
    """Every student's newest submission from the exchange into ~/course/submitted/."""
    nbgrader("collect", ASSIGNMENT, "--update", cwd=COURSE)


def grade(source: Path, jobs: int | None) -> None:
    """``python -m netlesson grade`` on the collected submissions, course directory ~/grading."""
    cmd = [sys.executable, "-m", "netlesson", "grade", str(COURSE / "submitted"),
           "--source", str(source), "--course-dir", str(GRADING), "--csv", str(CSV)]
    if jobs:
        cmd += ["--jobs", str(jobs)]
    run(cmd, HOME)


def feedback() -> None:
    """nbgrader's HTML feedback from ~/grading, released to the exchange."""
    nbgrader("generate_feedback", ASSIGNMENT, "--force", cwd=GRADING)
    nbgrader("release_feedback", ASSIGNMENT, cwd=GRADING)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=["release", "collect", "grade", "feedback"])
    parser.add_argument("--source", default="instructor/exercises",
                        help="the exercise sources with solutions (default instructor/exercises)")
    parser.add_argument("--jobs", type=int, default=None, help="notebooks graded at once")
    args = parser.parse_args(argv)
    source = Path(args.source).resolve()
    if args.step == "release":
        release(source)
    elif args.step == "collect":
        collect()
    elif args.step == "grade":
        grade(source, args.jobs)
    else:
        feedback()
    return 0


if __name__ == "__main__":
    sys.exit(main())
