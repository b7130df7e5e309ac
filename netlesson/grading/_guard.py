"""The verdict process's defences: what student code may not touch, and the signed result channel.

The grader runs a student's answer cells and the instructor's test cells in a
fresh Python process (:mod:`._runner`), inside the sandbox.  Student code runs
in that process too -- it has to, a checker calls the student's handler -- so
the process defends the verdict itself.  This module holds the defences; each
is set up *before* the first line of student code runs:

* **Integrity snapshot** (:class:`Snapshot`): the dictionaries of every
  ``netlesson`` module and class, of ``builtins`` and of the standard modules
  the checkers stand on (``socket``, ``socketserver``, ``threading`` ...).
  After the answer cells and after every test cell the runner compares: a
  function, class or module that was replaced or removed is tampering.
* **An audit hook** (:pep:`578`; it cannot be removed once added) that refuses,
  while student code is running, the ways of reaching the runner's own state
  or the checkers' code: ``ctypes``, the ``gc`` object walkers, frame
  introspection (``sys._getframe``, ``sys._current_frames``, a traceback's or
  generator's frame) unless the code asking is trusted and keeps the frames to
  itself (the checkers, ``traceback``'s summaries, ``logging``), trace and
  profile hooks, new code objects, changing a trusted function's code or a
  trusted class, and opening ``/proc/*/mem``.  Each refusal raises
  ``RuntimeError`` in the student's code *and* is reported on the result
  channel as tampering.
* **The result channel**: file descriptor 3.  Records are signed with an HMAC
  whose key arrives on standard input before student code runs and lives only
  in the audit hook's closure (no Python reference to the hook exists; the
  ``gc`` walkers are refused).  A record is signed only when the runner's own
  emitting function asks for it, called by the runner's main function, from
  the very frame that started the run, on the main thread -- a student calling
  the emitter, or starting a second run, gets nothing signed.  The judge
  (:mod:`._judge`) discards the run when an unsigned or out-of-order line shows
  up on the channel.

What this does not claim: :pep:`578` says audit hooks are not a sandbox, and
this is not one -- the sandbox is :mod:`._sandbox` (nothing outside the
notebook's own copy is reachable whatever the student does).  These defences
make the *verdict* hard to forge from inside: every route the tests try
(monkeypatching a checker or its helpers, rebinding builtins, faking the
result channel, frames, ``gc``, ``ctypes``, trace hooks, code replacement)
is stopped and reported.  A route nobody thought of would still have to get
past the snapshot, which is compared before every verdict.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sys
import threading
import types

__all__ = ["Snapshot", "trusted_code", "install", "guarded", "CallResult", "Refused",
           "SNAPSHOT_MODULES"]

#: Standard modules whose dictionaries are part of the snapshot: the checkers,
#: and the runner's own way of writing results, stand on them.
SNAPSHOT_MODULES = ("builtins", "socket", "socketserver", "selectors", "threading", "struct",
                    "time", "traceback", "json", "json.encoder", "json.decoder", "os", "signal",
                    "hmac", "functools", "contextlib", "inspect", "io", "_signal")

#: Standard functions that hand frame objects to whoever calls them: trusted
#: only when the code calling them is trusted too.
_FRAME_PASSERS = (("traceback", "walk_tb"), ("traceback", "walk_stack"),
                  ("traceback", "_walk_tb_with_full_positions"), ("logging", "currentframe"))
#: Modules never trusted to introspect frames: their job is handing frames out.
_UNTRUSTED_MODULES = ("inspect", "pdb", "bdb", "cgitb", "faulthandler")
#: Attribute reads that yield a frame (audited as ``object.__getattr__``).
_FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back"})
#: Refused outright while student code runs.
_REFUSED_EVENTS = frozenset({"gc.get_objects", "gc.get_referrers", "gc.get_referents",
                             "sys.settrace", "sys.setprofile", "code.__new__",
                             "sys._current_frames", "sys.remote_exec"})
_FRAME_EVENTS = frozenset({"sys._getframe", "sys._getframemodulename"})


def _code_objects(obj, found: dict, depth: int = 0) -> None:
    """Add every code object reachable from function/class *obj* to *found* (id -> code)."""
    if depth > 8:
        return
    if isinstance(obj, (classmethod, staticmethod)):
        obj = obj.__func__
    if isinstance(obj, property):
        for f in (obj.fget, obj.fset, obj.fdel):
            if f is not None:
                _code_objects(f, found, depth + 1)
        return
    if isinstance(obj, types.FunctionType):
        code = obj.__code__
        stack = [code]
        while stack:
            c = stack.pop()
            if id(c) in found:
                continue
            found[id(c)] = c
            stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
        inner = [getattr(obj, "__wrapped__", None)]  # decorated: the function underneath
        for cell in obj.__closure__ or ():
            try:
                inner.append(cell.cell_contents)
            except ValueError:
                pass
        for value in inner:
            if isinstance(value, (types.FunctionType, type)):
                _code_objects(value, found, depth + 1)
    elif isinstance(obj, type):
        for value in list(vars(obj).values()):
            if value is not obj:
                _code_objects(value, found, depth + 1)


def trusted_code(module_names) -> tuple[dict, dict]:
    """``(trusted, passers)``: code objects (by id) of the modules named, and of the frame passers.

    *trusted* holds everything defined in those modules except the frame
    passers and the modules of :data:`_UNTRUSTED_MODULES`; the dictionaries
    keep the code objects alive, so their ids stay theirs.
    """
    trusted: dict[int, types.CodeType] = {}
    for name in module_names:
        module = sys.modules.get(name)
        if module is None or name.split(".")[0] in _UNTRUSTED_MODULES:
            continue
        for value in list(vars(module).values()):  # imported names too: all loaded before
            if isinstance(value, (types.FunctionType, type)):
                _code_objects(value, trusted)
    passers: dict[int, types.CodeType] = {}
    for module_name, attr in _FRAME_PASSERS:
        func = getattr(sys.modules.get(module_name), attr, None)
        if isinstance(func, types.FunctionType):
            passers[id(func.__code__)] = func.__code__
            trusted.pop(id(func.__code__), None)
    return trusted, passers


class Snapshot:
    """Identity of every entry of the watched module and class dictionaries, taken now."""

    def __init__(self, module_names):
        self._modules = []
        self._classes = []
        for name in module_names:
            module = sys.modules.get(name)
            if module is None:
                continue
            self._modules.append((name, module, dict(vars(module))))
            if name == "builtins":
                continue
            for value in list(vars(module).values()):
                if isinstance(value, type) and getattr(value, "__module__", None) == name:
                    self._classes.append((f"{name}.{value.__qualname__}", value, dict(vars(value))))

    @staticmethod
    def _matters(value) -> bool:
        return callable(value) or isinstance(value, (types.ModuleType, property,
                                                     classmethod, staticmethod))

    def changes(self) -> list[str]:
        """What was replaced or removed since the snapshot (functions, classes, modules, builtins)."""
        found = []
        for name, module, before in self._modules:
            now = vars(module)
            strict = name == "builtins"
            for key, value in before.items():
                if key in ("__builtins__", "__loader__", "__spec__"):
                    continue
                current = now.get(key, _MISSING)
                if current is value:
                    continue
                if strict or self._matters(value) or self._matters(current):
                    found.append(f"{name}.{key} was {'removed' if current is _MISSING else 'replaced'}")
        for qualname, cls, before in self._classes:
            now = vars(cls)
            for key, value in before.items():
                current = now.get(key, _MISSING)
                if current is not value and (self._matters(value) or self._matters(current)):
                    found.append(f"{qualname}.{key} was {'removed' if current is _MISSING else 'replaced'}")
            for key in now.keys() - before.keys():
                if self._matters(now[key]) and not key.startswith("_abc_"):
                    found.append(f"{qualname}.{key} was added")
        return found


_MISSING = object()


class CallResult(BaseException):
    """How the audit hook hands a guarded function's result back to its wrapper."""

    def __init__(self, value):
        super().__init__()
        self.value = value


class Refused(RuntimeError):
    """A guarded function was called by student code."""


def guarded(name: str):
    """A stand-in for the guarded function *name*: the original lives only in the audit hook.

    The stand-in asks the hook (``netlesson.grading.call``); the hook calls the
    original only when the stand-in was called by trusted code, and otherwise
    refuses (:class:`Refused`).  No reference to the original is reachable
    from Python: not a closure cell, not ``__wrapped__``.
    """

    def stand_in(*args, **kwargs):
        try:
            sys.audit("netlesson.grading.call", name, args, kwargs)
        except CallResult as result:
            return result.value
        raise Refused(f"netlesson grading: {name} is not available to student code while grading")

    stand_in.__name__ = stand_in.__qualname__ = name.rpartition(".")[2]
    return stand_in


#: Events refused from untrusted code once grading starts (besides ``ctypes.*``).
_REFUSED_EVENTS = _REFUSED_EVENTS | frozenset({
    "sys.addaudithook", "sys._current_exceptions", "sys.monitoring.register_callback",
    "sys.monitoring.use_tool_id", "sys.monitoring.set_events", "sys.monitoring.set_local_events"})


def _plain_str(value) -> str | None:
    """*value* as an exact ``str`` without running any of its methods (``None`` if not text)."""
    kind = type(value)
    if kind is str:
        return value
    if kind is bytes:
        return bytes.decode(value, "utf-8", "replace")
    if issubclass(kind, str):
        return str.__str__(value)
    if issubclass(kind, bytes):
        return bytes.decode(bytes.__bytes__(value), "utf-8", "replace")
    return None


def _proc_path_refused(text: str) -> bool:
    parts = [p for p in text.split("/") if p]
    return (len(parts) >= 2 and parts[0] == "proc"
            and (parts[-1] in ("mem", "environ", "maps", "pagemap", "smaps", "syscall")
                 or "fd" in parts[2:] or "map_files" in parts[2:]))


def install(*, key: bytes, result_fd: int, emit_code, main_code, trusted: dict, passers: dict,
            trusted_classes: set, originals: dict, stand_ins: dict, callers: dict,
            answer_keys: dict, loaded_files: frozenset, loaded_sources: frozenset) -> None:
    """Add the audit hook: it refuses the routes above and signs the runner's records.

    After this returns, ``sys.audit("netlesson.grading.start")`` from the
    runner's main function marks that frame as the only one whose emitter may
    sign, and starts refusing; ``sys.audit("netlesson.grading.emit", text)``
    from the runner's emitter writes ``<hmac> <seq> <text>`` to *result_fd*.
    Refusals are written to the channel as ``tamper`` records, signed too.
    *key* is not kept anywhere else.

    *originals* (``{name: function}``) are the guarded functions, reachable
    from now on only through this hook; *stand_ins* maps each name to the code
    object of its :func:`guarded` stand-in, *callers* to the code objects (by
    id) that may call it; *answer_keys* (``{name:
    [grade_ids]}``) are the guarded functions a student's call to which is an
    answer-key record rather than tampering; the modules loaded from
    *loaded_files* may not be executed again (a reload, or a private copy), nor
    may their source text (*loaded_sources*: SHA-256 digests) be compiled
    under another name.

    Automatic garbage collection must be off (the runner turns it off): a
    finalizer run by the collector while this hook is working would run
    unaudited, next to the hook's own variables.  Switching it back on is
    refused the next time any audited event happens.
    """
    originals = dict(originals)
    callers = {name: dict(codes) for name, codes in callers.items()}
    loaded_files = frozenset(loaded_files)
    loaded_sources = frozenset(loaded_sources)
    sha256 = hashlib.sha256
    gc_module = __import__("gc")
    gc_isenabled, gc_disable = gc_module.isenabled, gc_module.disable
    stand_ins = dict(stand_ins)
    answer_keys = {k: list(v) for k, v in answer_keys.items()}
    class_names = {id(c): (c, f"{c.__module__}.{c.__qualname__}") for c in trusted_classes}
    function_type = types.FunctionType
    realpath = os.path.realpath
    signer = hmac.new(key, digestmod=hashlib.sha256)
    write = os.write
    getframe = sys._getframe
    get_ident = threading.get_ident
    main_ident = threading.main_thread().ident
    lock = threading.Lock()
    state = {"seq": 0, "start": None, "busy": set()}
    code_type = types.CodeType
    dumps = __import__("json").dumps

    def sign_and_write(text: str) -> None:
        with lock:
            seq = state["seq"]
            state["seq"] = seq + 1
            body = f"{seq} {text}"
            mac = signer.copy()
            mac.update(body.encode("utf-8"))
            data = f"{mac.hexdigest()} {body}\n".encode("utf-8")
            view = memoryview(data)
            while view:
                try:
                    n = write(result_fd, view)
                except OSError:
                    return
                view = view[n:]

    def refuse(event: str, detail: str):
        sign_and_write(dumps({"type": "tamper", "event": event, "detail": detail}))
        raise RuntimeError(f"netlesson grading: {event} is not allowed while grading ({detail})")

    def caller_trusted(frame) -> bool:
        code = frame.f_code
        if id(code) in trusted and trusted[id(code)] is code:
            return True
        if id(code) in passers and passers[id(code)] is code:
            back = frame.f_back
            return back is not None and trusted.get(id(back.f_code)) is back.f_code
        return False

    def hook(event, args):
        # Never call a method of an argument here: student objects would run inside the hook.
        ident = get_ident()
        if ident in state["busy"]:
            return
        if state["start"] is not None and gc_isenabled():
            gc_disable()
            refuse("gc.enable", "automatic garbage collection was switched back on")
        if event == "netlesson.grading.start":
            if state["start"] is None:
                state["busy"].add(ident)
                try:
                    state["start"] = getframe(1)
                finally:
                    state["busy"].discard(ident)
            return
        if event == "netlesson.grading.emit":
            state["busy"].add(ident)
            try:
                f1 = getframe(1)
                f2 = f1.f_back
                ok = (ident == main_ident and f1.f_code is emit_code and f2 is not None
                      and f2 is state["start"] and f2.f_code is main_code
                      and type(args[0]) is str)
            finally:
                state["busy"].discard(ident)
            if not ok:
                refuse(event, "a record was asked for by code other than the grader's")
            sign_and_write(args[0])
            return
        if event == "netlesson.grading.call":
            name = args[0] if type(args[0]) is str else None
            state["busy"].add(ident)
            try:
                f1 = getframe(1)
                stand_in = stand_ins.get(name)
                caller = f1.f_back.f_code if f1.f_back is not None else None
                # the caller must be one the function is meant for, named in advance: a
                # relay (a thread's run(), a C call such as map() leaves no frame) is not
                allowed = (stand_in is not None and f1.f_code is stand_in and caller is not None
                           and callers.get(name, {}).get(id(caller)) is caller)
            finally:
                state["busy"].discard(ident)
            if name not in originals:
                refuse(event, "no such guarded function")
            if not allowed:
                if name in answer_keys:
                    sign_and_write(dumps({"type": "answer_key", "name": name,
                                          "grade_ids": answer_keys[name]}))
                    raise Refused(f"{name} is the course's own answer to this exercise: the "
                                  f"grader does not count an answer that uses it. Write your own.")
                refuse(name, "student code may not call it while grading")
            raise CallResult(originals[name](*args[1], **args[2]))
        if state["start"] is None:
            return
        state["busy"].add(ident)
        try:
            problem = None
            if event in _REFUSED_EVENTS or event.startswith("ctypes."):
                if not caller_trusted(getframe(1)):
                    problem = "student code may not use it"
            elif event in _FRAME_EVENTS:
                if not caller_trusted(getframe(1)):
                    problem = "frames are not handed to student code"
            elif event == "object.__getattr__":
                if (len(args) > 1 and type(args[1]) is str and args[1] in _FRAME_ATTRIBUTES
                        and not caller_trusted(getframe(1))):
                    problem = "frames are not handed to student code"
            elif event in ("object.__setattr__", "object.__delattr__"):
                target = args[0]
                if type(target) is function_type:
                    code = target.__code__
                    if trusted.get(id(code)) is code and not caller_trusted(getframe(1)):
                        problem = "a function of the grader may not be changed"
                elif class_names.get(id(target), (None,))[0] is target and not caller_trusted(
                        getframe(1)):
                    problem = f"the class {class_names[id(target)][1]} may not be changed"
            elif event in ("open", "os.open"):
                text = _plain_str(args[0])
                if text is None and type(args[0]) is not int:
                    if not caller_trusted(getframe(1)):
                        problem = "open() takes a str or bytes path while grading"
                elif text is not None and (_proc_path_refused(text) or _proc_path_refused(
                        realpath(text))):
                    problem = "another process's memory and descriptors are off limits"
            elif event == "exec" and type(args[0]) is code_type:
                if args[0].co_filename in loaded_files:  # reload(), or a private copy
                    problem = "a second copy of the course's code may not be loaded while grading"
            elif event == "compile":
                text = _plain_str(args[0]) if args else None
                if text is not None and sha256(text.encode("utf-8", "surrogatepass")).hexdigest() \
                        in loaded_sources:
                    problem = "the course's own code may not be compiled again while grading"
            if problem is not None:
                refuse(event, problem)
        finally:
            state["busy"].discard(ident)

    sys.addaudithook(hook)
    del hook

