"""Grade students' exercise notebooks: a sandbox per notebook, verdicts students cannot forge.

``python -m netlesson grade SUBMISSIONS`` (:func:`grade`) judges every handed-in
notebook in a fresh Python process inside its own sandbox, several at once,
and records the scores -- outside every sandbox -- in nbgrader's gradebook, a
CSV with a ``flags`` column (and ``flag_codes``, the same flags by stable codes),
and a log plus a graded notebook per student.  What it writes for people (the
feedback, the flags, the progress lines) is in the grader's language,
``NETLESSON_LANG`` (Simplified Chinese unless ``en``), which is passed into
every sandbox, so the checkers' messages in the graded notebooks agree.

* :mod:`._sandbox` -- bubblewrap: the notebook's program and a read-only
  Python with ``netlesson``, nothing else of the machine; loopback-only
  network; limits on wall time, CPU, memory, processes and output; nothing
  left running.
* :mod:`._runner` -- the verdict process: the instructor's locked cells, the
  student's answer cells and the instructor's test cells, no IPython.
* :mod:`._guard` -- what the verdict process defends: the checkers, builtins
  and the standard modules they stand on (snapshot), frames, ``gc``,
  ``ctypes`` and trace hooks (audit hook), the signed result channel.
* :mod:`._judge` -- one notebook: the program built from the release and the
  answers, run, signed records believed and nothing else, flags.
* :mod:`._grade` -- the class: matching file names, read-only copies and
  hashes, parallel judging with progress, gradebook, CSV, logs.
"""

from ._grade import CSV_FIELDS, NotebookResult, SandboxRefused, default_jobs, grade, match_notebooks
from ._judge import ANSWER_KEYS, FLAG_CODES, Flag, TestResult, Verdict, build_program, judge
from ._sandbox import Limits, Outcome, SandboxUnavailable, sandbox_problem

__all__ = [
    "grade",
    "match_notebooks",
    "default_jobs",
    "NotebookResult",
    "CSV_FIELDS",
    "Flag",
    "FLAG_CODES",
    "SandboxRefused",
    "ANSWER_KEYS",
    "Verdict",
    "TestResult",
    "build_program",
    "judge",
    "Limits",
    "Outcome",
    "SandboxUnavailable",
    "sandbox_problem",
]
