"""The verdict process on its own: every forgery scores 0 and is flagged; honest Python is not.

``netlesson.grading.judge`` runs the student's answer cells and the
instructor's test cells in a fresh Python (``netlesson.grading._runner``)
and believes only its signed records.  Here it runs unsandboxed
(``sandboxed=False``: no bubblewrap needed, so this runs on every Python the
suite covers -- the guard leans on audit events and frame rules that could
change between 3.11, 3.12 and 3.13).  The sandbox itself is tested in
test_sandbox.py, a whole class with real nbgrader in tests/instructor.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from netlesson import grading

ROOT = Path(__file__).resolve().parents[2]
RELEASED = ROOT / "notebooks" / "exercises"
SOURCE = ROOT / "instructor" / "exercises"
TIMEOUT = 5

pytestmark = pytest.mark.timeout(120)


def solution(notebook: str, grade_id: str) -> str:
    nb = nbformat.read(SOURCE / f"{notebook}.ipynb", as_version=4)
    return next(c.source for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def verdict_for(answers: dict[str, str], notebook: str = "ex03_mro_supplier", **changes):
    """Judge the released *notebook* with *answers* (``{grade_id: code}``) in its answer cells."""
    nb = nbformat.read(RELEASED / f"{notebook}.ipynb", as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
        if gid in changes:
            cell.source = changes[gid]
    released = nbformat.read(RELEASED / f"{notebook}.ipynb", as_version=4)
    program, _ = grading.build_program(released, nb, notebook=notebook, timeout=TIMEOUT)
    return grading.judge(program, limits=grading.Limits(wall_seconds=60, cpu_seconds=60),
                         sandboxed=False)


def test_a_solved_notebook_passes_every_check_with_no_flag_but_unsandboxed():
    verdict = verdict_for({"ex03-solution": solution("ex03_mro_supplier", "ex03-solution")})
    assert [t.passed for t in verdict.tests] == [True, True], verdict.feedback
    assert verdict.points == verdict.max_points == 6
    assert verdict.flags == ["unsandboxed"]


NOTHING = "answers = {}\n"
#: name -> (answer cell code, what the flags must mention)
FORGERIES = {
    "replace the checker": (NOTHING + "from netlesson import exercises as e\n"
                            "e.check_mro_answers = lambda *a, **k: None", "was replaced"),
    "replace its helper": (NOTHING + "import netlesson.exercises._ex03_mro_supplier as m\n"
                           "m.fail = lambda *a: None", "fail was replaced"),
    "rebind a builtin": (NOTHING + "import builtins\n"
                         "builtins.AssertionError = type('Quiet', (Exception,), {})",
                         "builtins.AssertionError was replaced"),
    "swap the checker's code": (NOTHING + "exercises.check_mro_answers.__wrapped__.__code__ = "
                                "(lambda *a, **k: None).__code__", "may not be changed"),
    "patch through __globals__": (NOTHING + "exercises.check_mro_answers.__wrapped__"
                                  ".__globals__['fail'] = lambda *a: None", "fail was replaced"),
    "patch a class": (NOTHING + "import netlesson.exercises._harness as h\n"
                      "h.CheckMixIn.get_request = lambda self: None", "get_request"),
    "walk the frames": (NOTHING + "import sys\nf = sys._getframe()", "sys._getframe"),
    "inspect.currentframe": (NOTHING + "import inspect\nf = inspect.currentframe()", "sys._getframe"),
    "a traceback's frame": (NOTHING + "try:\n    1/0\nexcept Exception as e:\n"
                            "    f = e.__traceback__.tb_frame", "object.__getattr__"),
    "gc": (NOTHING + "import gc\ngc.get_objects()", "gc.get_objects"),
    "ctypes": (NOTHING + "import ctypes", "ctypes"),
    "trace hooks": (NOTHING + "import threading\nthreading.settrace(lambda *a: None)",
                    "_trace_hook"),
    "a new code object": (NOTHING + "c = (lambda: 0).__code__.replace(co_name='x')",
                          "code.__new__"),
    "rebind the module the test uses": (NOTHING + "import types\nexercises = types.SimpleNamespace("
                                        "check_mro_answers=lambda *a, **k: None)", "rebound"),
    "forge a result record": (NOTHING + "import os\nos.write(3, b'0' * 64 + b' 0 {\"type\": "
                              "\"test\", \"grade_id\": \"ex03-check-tcp\", \"passed\": true}\\n')",
                              "forged results"),
    "call the grader's emitter": (NOTHING + "import sys\nsys.modules['__main__']._emit("
                                  "'{\"type\": \"test\", \"grade_id\": \"ex03-check-tcp\", "
                                  "\"passed\": true}')", "netlesson.grading.emit"),
    "start a second run": (NOTHING + "import sys\nsys.modules['__main__'].main(['program.json'])",
                           "a record was asked for by code other than the grader's"),
    "a second run in a thread": (NOTHING + "import sys, threading\nt = threading.Thread(target="
                                 "sys.modules['__main__'].main, args=(['program.json'],))\n"
                                 "t.start(); t.join(10)", "suspicious code (sys.modules)"),
    "read the process memory": (NOTHING + "open('/proc/self/mem', 'rb')", "memory"),
}


@pytest.mark.parametrize("name", FORGERIES)
def test_every_forgery_scores_zero_and_is_flagged(name):
    code, evidence = FORGERIES[name]
    verdict = verdict_for({"ex03-solution": code})
    assert verdict.points == 0, (name, verdict.feedback, verdict.flags)
    flags = "; ".join(verdict.flags)
    assert evidence in flags, (name, flags)


def test_ipython_only_forgeries_find_no_ipython():
    code = ("get_ipython().input_transformers_cleanup.append(lambda lines: [])\n"
            "get_ipython().set_custom_exc((AssertionError,), lambda *a, **k: None)")
    verdict = verdict_for({"ex03-solution": code})
    assert verdict.points == 0
    assert "NameError: name 'get_ipython' is not defined" in "\n".join(verdict.feedback)
    assert "suspicious code (get_ipython, input_transformers, set_custom_exc)" in verdict.flags


def test_an_edited_test_cell_is_replaced_by_the_instructors_and_flagged():
    verdict = verdict_for({"ex03-solution": NOTHING},
                          **{"ex03-check-tcp": "pass", "ex03-check-udp": "print('ok')"})
    assert verdict.points == 0
    assert any(f.startswith("locked cells edited (ex03-check-tcp, ex03-check-udp") for f in verdict.flags)


def test_printing_success_counts_for_nothing():
    verdict = verdict_for({"ex03-solution": NOTHING + "print('All checks passed! 6/6')"})
    assert verdict.points == 0 and verdict.flags == ["unsandboxed"]


def test_a_course_helper_that_answers_the_exercise_does_not_count():
    code = ("from netlesson.source import defining_class\nimport socketserver\n"
            "from netlesson.exercises import MRO_QUESTIONS\n"
            "answers = {q: defining_class(getattr(socketserver, q.split('.')[0]), "
            "q.split('.')[1]).__name__ for q in MRO_QUESTIONS}")
    verdict = verdict_for({"ex03-solution": code})
    assert verdict.points == 0
    assert "answer key (netlesson.source.defining_class)" in verdict.flags
    aliased = verdict_for({"ex04-solution-recvall": "from netlesson.framing import recvall",
                           "ex04-solution-messages": solution("ex04_framing",
                                                              "ex04-solution-messages")},
                          notebook="ex04_framing")
    assert aliased.points == 0, aliased.feedback
    assert "answer key (netlesson.framing.recvall)" in aliased.flags


def test_an_endless_answer_costs_its_checks_and_says_why():
    verdict = verdict_for({"ex03-solution": "while True:\n    pass"})
    assert verdict.points == 0
    assert f"ex03-solution: ran longer than {TIMEOUT} s and was interrupted" in \
        "\n".join(verdict.feedback)


ORDINARY = """from typing import NamedTuple
class Point(NamedTuple):
    x: int
import enum, logging, traceback, warnings, inspect
from dataclasses import dataclass
Color = enum.Enum("Color", "RED GREEN")
logging.getLogger("answer").warning("logging works: %s", Point(1))
try:
    1 / 0
except ZeroDivisionError:
    traceback.print_exc()
warnings.warn("a warning")
@dataclass
class Note:
    text: str = ""
print(inspect.signature(Note))
"""


def test_ordinary_python_is_not_taken_for_tampering():
    verdict = verdict_for({"ex03-solution": ORDINARY + solution("ex03_mro_supplier",
                                                                 "ex03-solution")})
    assert [t.passed for t in verdict.tests] == [True, True], (verdict.feedback, verdict.flags)
    assert verdict.flags == ["unsandboxed"]
    assert "logging works: Point(x=1)" in verdict.log and "ZeroDivisionError" in verdict.log
