"""The verdict process: a student's answer cells and the instructor's test cells, in a fresh Python.

Run by the grader inside the sandbox as ``python -m netlesson.grading._runner
program.json``; never in a Jupyter kernel, never where the student ran their
notebook.  ``program.json`` (written by :mod:`._judge`) lists, in notebook
order, the instructor's locked code cells (``setup``), the student's answer
cells (``answer``) and the instructor's test cells (``test``) -- nothing else
of the student's notebook runs: no added cells, no IPython, so no input
transformers, no custom exception handlers, no edited test cells, and printed
"success" means nothing.

The HMAC key arrives as one hex line on standard input, before any student
code; results leave as signed JSON records on file descriptor 3 (see
:mod:`._guard` for the defences and the signing):

* ``{"type": "cell", "grade_id", "kind", "error", "timed_out", "output", "output_cut"}`` per
  cell (``error`` worded in the grader's language, ``NETLESSON_LANG``, which the sandbox passes on)
* ``{"type": "test", "grade_id", "passed", "message"}`` per test cell
* ``{"type": "tamper", "event", "detail"}`` whenever a defence caught something
* ``{"type": "answer_key", "name", "grade_ids"}`` when an answer used a course
  helper that answers the exercise (or is one)
* ``{"type": "end"}`` last; a run without it did not finish.

Each cell runs under a timer (``cell_timeout`` seconds): a cell that runs
longer is interrupted (``CellTimeout``, which the student's code should not
catch; if it does, the sandbox's wall-time limit ends the run and the judge
scores what was not reached as 0).
"""

from __future__ import annotations

import ast
import functools
import gc
import hashlib
import importlib
import io
import json
import linecache
import os
import pkgutil
import signal
import sys
import threading
import types

from ..i18n import core as _messages
from . import _guard

__all__: list[str] = []

#: Characters of output kept per cell (the rest is counted, and flagged).
OUTPUT_KEEP = 20_000
#: Characters of a failure message kept.
MESSAGE_KEEP = 4_000
#: File name of cell *n*'s code: the checkers' messages call such a file "your cell".
CELL_FILE = "/tmp/ipykernel_grading/{grade_id}.py"
RESULT_FD = 3


class CellTimeout(BaseException):
    """Raised in the main thread when a cell runs past its time."""


class _Output(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` while cells run: the first characters of each cell's output."""

    def __init__(self):
        self.parts: list[str] = []
        self.kept = 0
        self.cut = 0
        self._lock = threading.Lock()

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        with self._lock:
            room = OUTPUT_KEEP - self.kept
            if room > 0:
                self.parts.append(text[:room])
                self.kept += min(room, len(text))
            self.cut += max(0, len(text) - max(room, 0))
        return len(text)

    def take(self) -> tuple[str, int]:
        with self._lock:
            text, cut = "".join(self.parts), self.cut
            self.parts, self.kept, self.cut = [], 0, 0
        return text, cut


#: Functions student code may not call while grading, besides the answer keys: a
#: signal handler is handed the current frame, which would reach the runner's state.
GUARDED = ("signal.signal", "_signal.signal")


def _defined_in(module_names) -> dict:
    """Code objects (by id) of the functions and classes *defined* in these modules' files."""
    found: dict = {}
    for name in module_names:
        module = sys.modules.get(name)
        filename = getattr(module, "__file__", None)
        if module is None or not filename:
            continue
        codes: dict = {}
        for value in list(vars(module).values()):
            if isinstance(value, (types.FunctionType, type)):
                _guard._code_objects(value, codes)
        found.update((k, c) for k, c in codes.items() if c.co_filename == filename)
    return found


def _allowed_callers(answer_keys, module_names) -> dict:
    """``{guarded name: {id: code}}``: the code that may call each guarded function.

    An answer key may be called by the exercise checkers (not the harness that
    runs student code) and by its own module; ``signal.signal`` by this runner
    and by ``signal``'s own wrapper.  Nothing that merely relays a call.
    """
    checkers = [n for n in module_names if n.startswith("netlesson.exercises._ex")]
    callers = {}
    for name in answer_keys:
        callers[name] = _defined_in(checkers + [name.rpartition(".")[0]])
    runner = _defined_in([__name__, "signal"])
    for name in GUARDED:
        callers[name] = runner
    return callers


def _source_digests(files) -> frozenset:
    """SHA-256 of the text of each loaded course module (compiling one again is refused)."""
    digests = set()
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                digests.add(hashlib.sha256(f.read().encode("utf-8", "surrogatepass")).hexdigest())
        except OSError:
            pass
    return frozenset(digests)


def _install_stand_ins(names) -> tuple[dict, dict, dict]:
    """Replace each guarded function everywhere it is referenced by a stand-in.

    Returns ``(originals, stand_ins, by_id)``: ``{name: original}`` (for the
    audit hook only), ``{name: stand-in code}``, ``{id(stand-in): (stand-in, name)}``.
    """
    originals, codes, by_id = {}, {}, {}
    for name in names:
        module_name, _, attr = name.rpartition(".")
        original = getattr(importlib.import_module(module_name), attr)
        stand_in = _guard.guarded(name)
        originals[name], codes[name] = original, stand_in.__code__
        by_id[id(stand_in)] = (stand_in, name)
        for mod_name, module in list(sys.modules.items()):
            if module is None or not (mod_name.split(".")[0] == "netlesson" or mod_name == module_name):
                continue
            for key, value in list(vars(module).items()):
                if value is original:
                    setattr(module, key, stand_in)
    return originals, codes, by_id


def _is_answer_key(value, wrappers: dict, depth: int = 0):
    """The answer-key name *value* is, wraps or closes over (``None`` if none)."""
    if depth > 3:
        return None
    hit = wrappers.get(id(value))
    if hit is not None and hit[0] is value:
        return hit[1]
    inner = []
    if isinstance(value, functools.partial):
        inner.append(value.func)
    if isinstance(value, types.MethodType):
        inner.append(value.__func__)
    if isinstance(value, types.FunctionType):
        inner.extend(c.cell_contents for c in (value.__closure__ or ()) if _has_contents(c))
        inner.extend(value.__defaults__ or ())
    wrapped = getattr(value, "__wrapped__", None) if not isinstance(value, type) else None
    if wrapped is not None:
        inner.append(wrapped)
    for item in inner:
        found = _is_answer_key(item, wrappers, depth + 1)
        if found:
            return found
    return None


def _has_contents(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


#: Standard modules imported before any student code, so their code is trusted: some
#: look at their caller's frame (typing.NamedTuple, enum's functional API, logging,
#: namedtuple, traceback) and would be refused if a student imported them first.
_STANDARD = ("logging", "traceback", "typing", "enum", "dataclasses", "collections", "warnings",
             "queue", "selectors", "socketserver", "struct", "random", "string", "datetime",
             "itertools", "contextlib", "abc", "textwrap", "codecs", "errno", "select")


def _import_everything() -> None:
    """Import netlesson's exercise checkers (and what they use) before any student code."""
    for name in _STANDARD:
        importlib.import_module(name)
    import netlesson.exercises as exercises

    for info in pkgutil.iter_modules(exercises.__path__, exercises.__name__ + "."):
        importlib.import_module(info.name)
    for name in ("netlesson.framing", "netlesson.source", "netlesson.classroom",
                 "netlesson.background", "netlesson.serverlog"):
        importlib.import_module(name)


def _compile(cell: dict):
    filename = CELL_FILE.format(grade_id=cell["grade_id"])
    source = cell["source"]
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return compile(source, filename, "exec", dont_inherit=True)


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, CellTimeout):
        return _messages.gettext("ran longer than {seconds} s and was interrupted (an endless "
                                 "loop, or a recv() without a timeout?)").format(
            seconds=f"{timeout:g}")
    try:
        text = str(exc)
    except BaseException:  # a student's exception whose __str__ fails
        text = ""
    name = type(exc).__name__
    return f"{name}: {text}"[:MESSAGE_KEEP] if text else name


def _run(code, namespace: dict, timeout: float):
    """Execute *code* in *namespace* under the timer; the exception it ended with, or ``None``."""

    def alarm(signum, frame):
        raise CellTimeout()

    signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        exec(code, namespace)  # noqa: S102 -- running the student's cell is the point
    except BaseException as exc:  # noqa: BLE001 -- every way a cell can end is a result
        return exc
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return None


def _names_used(source: str) -> set:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _emit(text: str) -> None:
    """Ask the audit hook to sign *text* and write it to the result channel (main only)."""
    sys.audit("netlesson.grading.emit", text)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    key = bytes.fromhex(sys.stdin.readline().strip())
    sys.stdin = io.StringIO("")
    with open(argv[0], encoding="utf-8") as f:
        program = json.load(f)
    timeout = float(program.get("cell_timeout", 30))
    cells = program["cells"]
    key_grade_ids = program.get("answer_keys", {})

    _import_everything()
    _describe(CellTimeout(), timeout)  # reads the message catalog now, before any student code
    namespace = {"__name__": "__main__", "__builtins__": __import__("builtins")}
    dumps = json.dumps
    first_answer = next((i for i, c in enumerate(cells) if c["kind"] == "answer"), len(cells))
    records = []
    for cell in cells[:first_answer]:  # the instructor's imports, before any student code
        error = _run(_compile(cell), namespace, timeout)
        records.append((cell, error, "", 0))

    module_names = [name for name in sys.modules if name.split(".")[0] == "netlesson"]
    loaded_files = frozenset(getattr(sys.modules[name], "__file__", None) or "" for name in module_names)
    trusted, passers = _guard.trusted_code(list(sys.modules))
    callers = _allowed_callers(list(key_grade_ids), module_names)
    loaded_sources = _source_digests(loaded_files)
    originals, stand_ins, wrappers = _install_stand_ins(list(key_grade_ids) + list(GUARDED))
    frame = sys._getframe()
    while frame is not None:  # this function and what started it (runpy, the module)
        trusted[id(frame.f_code)] = frame.f_code
        frame = frame.f_back
    used: list = []
    snapshot = _guard.Snapshot(list(_guard.SNAPSHOT_MODULES) + module_names)
    trusted_classes = {cls for _, cls, _ in snapshot._classes}
    test_names = set()
    for cell in cells:
        if cell["kind"] == "test":
            test_names |= _names_used(cell["source"])
    protected = {name: value for name, value in namespace.items()
                 if name in test_names and isinstance(value, types.ModuleType)}
    builtins_module = namespace["__builtins__"]
    output = _Output()
    sys.stdout = sys.stderr = output
    gc.disable()  # see _guard.install: no finalizer may run inside the audit hook
    _guard.install(key=key, result_fd=RESULT_FD, emit_code=_emit.__code__,
                   main_code=main.__code__, trusted=trusted, passers=passers,
                   trusted_classes=trusted_classes, originals=originals, stand_ins=stand_ins,
                   callers=callers, answer_keys=key_grade_ids, loaded_files=loaded_files,
                   loaded_sources=loaded_sources)
    del key, originals
    tests = {}
    for cell in cells[first_answer:]:  # the instructor's test cells: compiled now, trusted
        if cell["kind"] == "test":
            tests[cell["grade_id"]] = code = _compile(cell)
            trusted[id(code)] = code
    cells = tuple((c["kind"], c["grade_id"], c["source"]) for c in cells[first_answer:])
    sys.audit("netlesson.grading.start")

    for cell, error, text, cut in records:
        _emit(dumps({"type": "cell", "grade_id": cell["grade_id"], "kind": cell["kind"],
                     "error": _describe(error, timeout) if error else None,
                     "output": text, "output_cut": cut}))
    reported_keys = set()
    for kind, grade_id, source in cells:
        if kind == "test":
            for name, value in protected.items():
                if namespace.get(name) is not value:
                    _emit(dumps({"type": "tamper", "event": "rebinding",
                                 "detail": f"an answer cell rebound {name!r}, which the test cell uses"}))
                    namespace[name] = value
            if namespace.get("__builtins__") is not builtins_module:
                _emit(dumps({"type": "tamper", "event": "rebinding",
                             "detail": "an answer cell replaced __builtins__"}))
                namespace["__builtins__"] = builtins_module
            for name, value in list(namespace.items()):
                try:
                    found = _is_answer_key(value, wrappers)
                except Exception:  # noqa: BLE001 -- a student object that fights inspection
                    found = None
                if found in key_grade_ids and found not in used:
                    used.append(found)
        try:
            code = tests[grade_id] if kind == "test" else _compile(
                {"grade_id": grade_id, "source": source})
        except SyntaxError as exc:
            code, error = None, exc
        if code is not None:
            error = _run(code, namespace, timeout)
        text, cut = output.take()
        message = _describe(error, timeout) if error is not None else None
        _emit(dumps({"type": "cell", "grade_id": grade_id, "kind": kind,
                     "error": message, "timed_out": isinstance(error, CellTimeout),
                     "output": text, "output_cut": cut}))
        changes = snapshot.changes()
        if changes:
            _emit(dumps({"type": "tamper", "event": "monkeypatching", "detail": "; ".join(changes[:10])}))
            snapshot = _guard.Snapshot(list(_guard.SNAPSHOT_MODULES) + module_names)
        for name in used:
            if name not in reported_keys:
                reported_keys.add(name)
                _emit(dumps({"type": "answer_key", "name": name,
                             "grade_ids": key_grade_ids.get(name, [])}))
        if kind == "test":
            _emit(dumps({"type": "test", "grade_id": grade_id,
                         "passed": error is None and not changes, "message": message}))
    _emit(dumps({"type": "end"}))
    return 0


if __name__ == "__main__":
    code = main()
    try:
        sys.__stdout__.flush()
    finally:
        os._exit(code)
