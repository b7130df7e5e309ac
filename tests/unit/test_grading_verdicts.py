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

import sys
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
                           "tampering"),
    "a second run in a thread": (NOTHING + "import sys, threading\nt = threading.Thread(target="
                                 "sys.modules['__main__'].main, args=(['program.json'],))\n"
                                 "t.start(); t.join(10)", "suspicious code (sys.modules)"),
    "read the process memory": (NOTHING + "open('/proc/self/mem', 'rb')", "memory"),
    "... through a symlink": (NOTHING + "import os, tempfile\nlink = os.path.join("
                              "tempfile.mkdtemp(), 'm')\nos.symlink('/proc/self/mem', link)\n"
                              "open(link, 'rb')", "memory"),
    "reopen the result pipe": (NOTHING + "open('/proc/self/fd/3', 'rb')", "descriptors"),
    # found by a red-team review (each got full marks before the guard was changed)
    "run code inside the audit hook": (NOTHING + """import sys, json, os
g = {}
class P(str):
    def startswith(self, *a):
        g.update(getattr(sys, "_get" + "frame")(1).f_locals)
        return False
sys.audit("open", P("x"))
emit = g["sign_and_write"]
for gid in ("ex03-check-tcp", "ex03-check-udp"):
    emit(json.dumps({"type": "test", "grade_id": gid, "passed": True, "message": None}))
emit(json.dumps({"type": "end"}))
getattr(os, "_ex" + "it")(0)""", "suspicious code"),
    "a second audit hook": (NOTHING + """import sys
def mine(event, args):
    pass
sys.addaudithook(mine)""", "sys.addaudithook"),
    "a signal handler's frame": (NOTHING + """import signal
got = []
signal.signal(signal.SIGUSR1, lambda s, frame: got.append(frame))
signal.raise_signal(signal.SIGUSR1)
for cell in got[0].f_back.f_back.f_locals["cells"]:
    if cell["kind"] == "test":
        cell["source"] = "pass"
""", "signal.signal"),
    "... through _signal": (NOTHING + "import _signal\n_signal.signal(10, lambda s, f: None)",
                            "_signal.signal"),
    "reload the checker": (NOTHING + "import importlib, netlesson.exercises._ex03_mro_supplier as m\n"
                           "importlib.reload(m)", "the course's own code"),
    "a private copy of a helper": (NOTHING + """import importlib.util, netlesson.source as s
spec = importlib.util.spec_from_file_location("copy", s.__file__)
copy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(copy)""", "the course's own code"),
    # a second red-team round
    "a finalizer run inside the audit hook": (NOTHING + """import sys, os, json, traceback
got = {}
G = getattr
class Bomb:
    def __init__(self):
        self.me = self
    def __del__(self):
        if got:
            return
        if any(fs.name == "hook" for fs in traceback.extract_stack()):
            f = G(sys, "_get" + "frame")(1)
            while f is not None and f.f_code.co_name != "hook":
                f = G(f, "f_" + "back")
            got.update(G(f, "f_" + "locals"))
        else:
            Bomb()
Bomb()
keep = []
deep = "/usr/lib/../lib" * 40 + "/nonexistent/x"
for i in range(20000):
    if got:
        break
    keep.append([])
    try:
        open(deep)
    except OSError:
        pass
emit = got["sign_and_write"]
for gid in ("ex03-check-tcp", "ex03-check-udp"):
    emit(json.dumps({"type": "test", "grade_id": gid, "passed": True, "message": None}))
emit(json.dumps({"type": "end"}))
G(os, "_ex" + "it")(0)""", None),  # with the collector off it finds nothing to steal
    "switch the collector back on": (NOTHING + "import gc\ngc.enable()\nopen('/dev/null').close()",
                                     "garbage collection was switched back on"),
    "the checker's own start_call relays the answer key": ("""from netlesson.exercises._harness import start_call
from netlesson import source
answers = {}
for q in exercises.MRO_QUESTIONS:
    c, a = q.split(".", 1)
    call = start_call(source.defining_class, getattr(socketserver, c), a)
    call.wait(3)
    answers[q] = call.value.__name__ if call.value else repr(call.error)""",
                                                            "answer key (netlesson.source.defining_class)"),
    "a thread and map() relay the answer key": ("""import threading
from netlesson import source
qs = [q.split(".", 1) for q in exercises.MRO_QUESTIONS]
out = []
t = threading.Thread(target=out.extend, args=(map(source.defining_class,
        [getattr(socketserver, c) for c, a in qs], [a for c, a in qs]),))
t.start(); t.join()
answers = {q: k.__name__ for q, k in zip(exercises.MRO_QUESTIONS, out)}""",
                                                 "answer key (netlesson.source.defining_class)"),
    "compile the helper's source under another name": ("""import netlesson.source as s
src = open(s.__file__, encoding="utf-8").read()
ns = {"__name__": "copy", "__package__": "netlesson"}
exec(compile(src, "<copy>", "exec"), ns)
answers = {q: ns["defining_class"](getattr(socketserver, q.split(".")[0]),
                                   q.split(".", 1)[1]).__name__ for q in exercises.MRO_QUESTIONS}""",
                                                        "the course's own code"),
}


#: ex04 answers that hand the course's own framing functions to the checker in disguise
FRAMING_IN_DISGUISE = {
    "a callable object": """import netlesson.framing as _f
class _K:
    __call__ = staticmethod(_f.recvall)
recvall = _K()""",
    "functools.partial(operator.call, ...)": """import functools, operator
import netlesson.framing as _f
recvall = functools.partial(operator.call, _f.recvall)""",
}


@pytest.mark.parametrize("name", FRAMING_IN_DISGUISE)
def test_the_answer_key_in_disguise_does_not_count(name):
    verdict = verdict_for({"ex04-solution-recvall": FRAMING_IN_DISGUISE[name],
                           "ex04-solution-messages": solution("ex04_framing",
                                                              "ex04-solution-messages")},
                          notebook="ex04_framing")
    passed = {t.grade_id: t.passed for t in verdict.tests}
    assert passed["ex04-check-recvall"] is False, verdict.feedback
    assert "answer key (netlesson.framing.recvall)" in verdict.flags, verdict.flags


@pytest.mark.parametrize("name", FORGERIES)
def test_every_forgery_scores_zero_and_is_flagged(name):
    code, evidence = FORGERIES[name]
    verdict = verdict_for({"ex03-solution": code})
    assert verdict.points == 0, (name, verdict.feedback, verdict.flags)
    flags = "; ".join(verdict.flags)
    if evidence is not None:  # None: the attempt fails without leaving anything to flag
        assert evidence in flags, (name, flags)


#: Answers that make the checker's comparison lie (no tampering to flag: they must score 0).
TRICKS = {
    "a str that equals everything": """class Yes(str):
    def strip(self): return self
    def rsplit(self, *a): return [self]
    def __eq__(self, o): return True
    __hash__ = str.__hash__
answers = {q: Yes() for q in exercises.MRO_QUESTIONS}""",
    "an object that claims to be a class": """class Yes:
    def __eq__(self, o): return True
    __hash__ = object.__hash__
class Fake:
    __class__ = property(lambda self: type)
    __name__ = Yes()
answers = {q: Fake() for q in exercises.MRO_QUESTIONS}""",
    "a dict that answers every key": """class Echo(dict):
    def __contains__(self, q): return True
    def __getitem__(self, q): return Yes()
class Yes(str):
    def __eq__(self, o): return True
    __hash__ = str.__hash__
answers = Echo()""",
}


@pytest.mark.parametrize("name", TRICKS)
def test_answers_that_lie_to_the_comparison_score_zero(name):
    verdict = verdict_for({"ex03-solution": TRICKS[name]})
    assert verdict.points == 0, (name, verdict.feedback)


def test_the_answer_key_cannot_be_unwrapped():
    code = ("import netlesson.source\nf = netlesson.source.defining_class\n"
            "inside = [getattr(f, '__wrapped__', None)] + [c.cell_contents for c in "
            "(f.__closure__ or ())]\nprint('reachable:', [type(x).__name__ for x in inside])")
    verdict = verdict_for({"ex03-solution": code})
    # neither __wrapped__ nor a closure cell holds the original function
    assert "reachable: ['NoneType', 'str']" in verdict.log, verdict.log
    assert verdict.points == 0


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring is new in 3.12")
def test_sys_monitoring_cannot_watch_the_checker():
    code = """import sys
M = sys.monitoring
M.use_tool_id(3, "x")
last = []
M.register_callback(3, M.events.PY_RETURN, lambda code, offset, value: last.append(value))
M.set_events(3, M.events.PY_RETURN)
answers = {}"""
    verdict = verdict_for({"ex03-solution": code})
    assert verdict.points == 0
    assert any("sys.monitoring" in f for f in verdict.flags), verdict.flags


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
