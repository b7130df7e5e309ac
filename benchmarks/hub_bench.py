"""A class on a real JupyterHub: spawn time, time for all lessons, peak memory per student.

A measurement, not a test (see README.md).  Runs the same class as
tests/hub/test_hub_classroom.py (tests/hub/hubdriver.py: the ``make hub`` hub,
N students and an instructor, every lesson notebook in every student's server
at the same time, the nbgrader loop, a course update) and prints a markdown
table; ``--json`` keeps the numbers.  Needs what the test needs: root, Linux,
Node.js/npm, bubblewrap.  ``--from`` formats a report the test wrote instead
of running a class (the test writes artifacts/hub/classroom.json)::

    sudo .venv/bin/python benchmarks/hub_bench.py --students 20 --json benchmarks/hub_classroom.json
    .venv/bin/python benchmarks/hub_bench.py --from artifacts/hub/classroom.json

The numbers depend on what else the machine does: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "tests" / "hub", ROOT / "deploy", ROOT / "tests" / "instructor"):
    sys.path.insert(0, str(path))


def measure(students: int) -> dict:
    import hubdriver

    lessons = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    workdir = Path(tempfile.mkdtemp(prefix="netlesson-hub-bench-", dir="/srv"))
    t0 = time.monotonic()
    result = hubdriver.run_class(root=ROOT, students=students, lessons=lessons, workdir=workdir,
                                 log=lambda line: print(line, file=sys.stderr, flush=True))
    numbers = hubdriver.report(result)
    numbers["wall_seconds"] = round(time.monotonic() - t0, 1)
    numbers["errors"] = result.errors + [f"{r.name}: {e}" for r in result.students.values()
                                         for e in r.errors]
    return numbers


def table(numbers: dict) -> str:
    def span(summary, unit):
        if not summary:
            return "-"
        return f"{summary['median']} {unit} (min {summary['min']}, max {summary['max']})"

    phases = numbers["phases_seconds"]
    lines = [
        f"{numbers['students']} students and an instructor on one hub; "
        f"{len(numbers['lessons'])} lesson notebooks each, all students at once; "
        f"{numbers['notebook_runs']} notebook runs, {numbers['notebook_runs_with_errors']} with an error.",
        "",
        "| measure | median (min, max) |",
        "| --- | --- |",
        f"| spawn: POST to ready, all servers at once | {span(numbers['spawn_seconds'], 's')} |",
        f"| all lessons, one student (sequential, while the class runs) | "
        f"{span(numbers['all_lessons_seconds_per_student'], 's')} |",
        f"| peak memory of a student's processes (server, kernels, what the lessons start) | "
        f"{span(numbers['peak_memory_mib_per_student'], 'MiB')} |",
        f"| instructor's peak memory (grading included) | {numbers['instructor_peak_memory_mib']} MiB |",
        "",
        "| phase | seconds |",
        "| --- | --- |",
    ]
    lines += [f"| {name} | {seconds} |" for name, seconds in phases.items()]
    lines += ["", "| lesson | median seconds per student |", "| --- | --- |"]
    lines += [f"| {name} | {s} |" for name, s in numbers["lesson_seconds_median"].items()]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--json", help="write the numbers here")
    parser.add_argument("--from", dest="source", help="format this report instead of measuring")
    args = parser.parse_args(argv)
    if args.source:
        numbers = json.loads(Path(args.source).read_text(encoding="utf-8"))
    else:
        if os.geteuid() != 0:
            sys.exit("run as root: every student is a system user (see docs/instructors.md)")
        numbers = measure(args.students)
        numbers["machine"] = (f"{platform.system()} {platform.machine()}, nproc {os.cpu_count()}, "
                              f"Python {platform.python_version()}, load average at the end "
                              + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    if args.json:
        Path(args.json).write_text(json.dumps(numbers, indent=2) + "\n", encoding="utf-8")
    print(table(numbers))
    return 1 if numbers.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
