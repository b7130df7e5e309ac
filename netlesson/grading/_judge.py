"""One student notebook: build the verdict program, run it in the sandbox, believe only signed records.

The judge runs outside the sandbox, with the instructor's rights; it never
runs student code itself.  :func:`build_program` takes the *released*
notebook (nbgrader's student version, whose locked cells are the
instructor's) and the student's submission, and keeps from the submission
only the answer cells, matched by ``grade_id``: the test cells, the imports
and every other locked cell come from the release, whatever the student did
to them.  :func:`judge` runs :mod:`._runner` on that program in
:mod:`._sandbox` with a fresh HMAC key and turns its signed records into a
:class:`Verdict`: points per test cell, the checkers' feedback, and flags.

A run's records are all or nothing: one line on the result channel that is not
signed with this run's key, or out of sequence, means someone other than the
runner wrote there -- the notebook scores 0 and is flagged.  So does any
tampering the runner reports.  Test cells the run never reached (it was
stopped, or crashed) score 0 with the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field

from ..i18n import N_
from ..i18n import core as _messages

_ = _messages.gettext

__all__ = ["Verdict", "TestResult", "Flag", "FLAG_CODES", "build_program", "judge", "ANSWER_KEYS"]

#: Every flag's stable code (the CSV's ``flag_codes`` column, for filtering a
#: spreadsheet) and its short label (the progress lines), in the order of
#: importance.  A flag's full text (:class:`Flag`) is in the grader's language;
#: its code is the same in every language and every release.
FLAG_CODES = {
    "tampering": N_("tampering"),
    "answer-key": N_("answer key"),
    "locked-cells-edited": N_("locked cells edited"),
    "suspicious-code": N_("suspicious code"),
    "time-limit": N_("time limit"),
    "cpu-limit": N_("CPU limit"),
    "output-cut": N_("output cut"),
    "processes-left": N_("processes left behind"),
    "ended-early": N_("run ended early"),
    "unsandboxed": N_("unsandboxed"),
    "grader-error": N_("grader error"),
    "renamed-file": N_("renamed file"),
    "file-changed": N_("file changed while graded"),
}


class Flag(str):
    """Something the instructor should look at: the text (a ``str``) and its stable ``.code``.

    The text is worded in the language of the grader when the flag was raised
    (``NETLESSON_LANG``); ``.code`` is one of :data:`FLAG_CODES`, whatever the language.
    """

    code: str

    def __new__(cls, code: str, text: str):
        if code not in FLAG_CODES:
            raise ValueError(f"unknown flag code {code!r}; one of: {', '.join(FLAG_CODES)}")
        flag = super().__new__(cls, text)
        flag.code = code
        return flag

    @property
    def label(self) -> str:
        """The flag's short name in the current language (``time limit``)."""
        return _(FLAG_CODES[self.code])

#: Course helpers that answer an exercise, per notebook: ``{name: [grade_ids it answers]}``.
#: An answer that calls one (or is one) fails those checks and is flagged.
ANSWER_KEYS = {
    "ex03_mro_supplier": {"netlesson.source.defining_class": ["ex03-check-tcp", "ex03-check-udp"]},
    "ex04_framing": {
        "netlesson.framing.recvall": ["ex04-check-recvall", "ex04-check-messages"],
        "netlesson.framing.send_msg": ["ex04-check-messages"],
        "netlesson.framing.recv_msg": ["ex04-check-messages"],
    },
}


@dataclass
class TestResult:
    grade_id: str
    points: float
    max_points: float
    passed: bool
    message: str | None = None


@dataclass
class Verdict:
    """What one notebook earned, why, and what the instructor should look at."""

    notebook: str
    tests: list[TestResult] = field(default_factory=list)
    feedback: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    cells: list[dict] = field(default_factory=list)  #: the runner's cell records (for the log)
    log: str = ""
    status: str = "graded"  #: graded | error
    seconds: float = 0.0

    @property
    def points(self) -> float:
        return sum(t.points for t in self.tests)

    @property
    def max_points(self) -> float:
        return sum(t.max_points for t in self.tests)


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def build_program(released, submitted, *, notebook: str, timeout: float) -> tuple[dict, list[str]]:
    """``(program, notes)`` for :mod:`._runner` from the released and the submitted notebook.

    Both are nbformat notebooks (or plain dicts).  *notes* say what was odd
    about the submission (an answer cell missing or duplicated).
    """
    answers: dict[str, str] = {}
    notes: list[str] = []
    for cell in submitted.get("cells", []):
        meta = _meta(cell)
        if cell.get("cell_type") == "code" and meta.get("solution") and meta.get("grade_id"):
            gid = meta["grade_id"]
            if gid in answers:
                notes.append(_("{grade_id}: the notebook has this answer cell twice; the first "
                               "one counts").format(grade_id=gid))
                continue
            answers[gid] = _source(cell)
    cells = []
    for cell in released.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        meta = _meta(cell)
        gid = meta.get("grade_id")
        if meta.get("solution") and gid:
            if gid not in answers:
                notes.append(_("{grade_id}: the answer cell is missing from the notebook "
                               "(deleted?); graded as not answered").format(grade_id=gid))
            cells.append({"grade_id": gid, "kind": "answer", "source": answers.get(gid, _source(cell))})
        elif meta.get("grade") and gid:
            cells.append({"grade_id": gid, "kind": "test", "source": _source(cell),
                          "points": float(meta.get("points", 0))})
        elif meta.get("locked") and gid:
            cells.append({"grade_id": gid, "kind": "setup", "source": _source(cell)})
    edited = [gid for gid, source in _locked_sources(released).items()
              if gid in (submitted_locked := _locked_sources(submitted))
              and submitted_locked[gid].strip() != source.strip()]
    suspicious = sorted({m.group(0) for c in cells if c["kind"] == "answer"
                         for m in _SUSPICIOUS.finditer(c["source"])})
    program = {"notebook": notebook, "cell_timeout": timeout, "cells": cells,
               "answer_keys": ANSWER_KEYS.get(notebook, {}),
               "edited_locked": edited, "suspicious": suspicious}
    return program, notes


#: Names in an answer cell that no answer to these exercises needs, and that
#: forging a grade does: flagged for the instructor (they do not change a score).
_SUSPICIOUS = re.compile(r"get_ipython|input_transformers|set_custom_exc|excepthook|"
                         r"__code__|__globals__|__builtins__|\bbuiltins\b|sys\.modules|ctypes|"
                         r"\bgc\.|_getframe|settrace|setprofile|os\.write\(\s*3|os\._exit|"
                         r"os\.kill|killpg|sys\.audit|addaudithook|f_locals|f_back|__closure__|"
                         r"__wrapped__|cell_contents|__subclasses__|sys\.monitoring|_signal|"
                         r"importlib")


def _locked_sources(nb) -> dict[str, str]:
    """``{grade_id: source}`` of the locked code cells (imports, tests) of *nb*."""
    return {_meta(c)["grade_id"]: _source(c) for c in nb.get("cells", [])
            if c.get("cell_type") == "code" and _meta(c).get("locked") and _meta(c).get("grade_id") and not _meta(c).get("solution")}


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def read_records(data: bytes, key: bytes) -> tuple[list[dict], str | None]:
    """The signed records in *data*, in order, and what was wrong with the channel (or ``None``)."""
    records = []
    for expected, line in enumerate(data.decode("utf-8", "replace").splitlines()):
        mac, _space, body = line.partition(" ")
        seq, _space, text = body.partition(" ")
        good = hmac.new(key, body.encode("utf-8"), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, good):
            return records, _("line {line} of the result channel is not the grader's").format(
                line=expected + 1)
        if seq != str(expected):
            return records, _("the result channel's records are out of order at line "
                              "{line}").format(line=expected + 1)
        try:
            records.append(json.loads(text))
        except ValueError:
            return records, _("line {line} of the result channel is not a record").format(
                line=expected + 1)
    return records, None


def _run_problem(outcome, limits) -> str:
    if outcome.wall_timeout:
        return _("the notebook ran longer than {seconds} s and was stopped").format(
            seconds=f"{limits.wall_seconds:g}")
    if outcome.cpu_exceeded:
        return _("the notebook used more than {seconds} s of CPU time and was stopped").format(
            seconds=limits.cpu_seconds)
    if outcome.returncode not in (0, None):
        tail = outcome.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        if tail:
            return _("the grading process ended early (exit status {status}): {output}").format(
                status=outcome.returncode, output=" / ".join(tail))
        return _("the grading process ended early (exit status {status})").format(
            status=outcome.returncode)
    return _("the grading process ended before the end of the notebook")


def judge(program: dict, *, limits=None, sandboxed: bool = True) -> Verdict:
    """Run *program* in the sandbox; the :class:`Verdict` its signed records support."""
    from . import _sandbox

    limits = limits or _sandbox.Limits()
    key = secrets.token_bytes(32)
    outcome = _sandbox.run(["python", "-m", "netlesson.grading._runner", "program.json"],
                           inputs={"program.json": json.dumps(program).encode("utf-8")},
                           stdin=key.hex().encode("ascii") + b"\n", limits=limits,
                           sandboxed=sandboxed)
    records, channel_problem = read_records(outcome.result, key)
    verdict = Verdict(notebook=program["notebook"], seconds=outcome.seconds)
    tests = {c["grade_id"]: c for c in program["cells"] if c["kind"] == "test"}
    passed: dict[str, tuple[bool, str | None]] = {}
    tampering: list[str] = []
    keys_used: dict[str, list[str]] = {}
    finished = False
    for record in records:
        kind = record.get("type")
        if kind == "cell":
            verdict.cells.append(record)
        elif kind == "test" and record.get("grade_id") in tests:
            passed[record["grade_id"]] = (bool(record.get("passed")), record.get("message"))
        elif kind == "tamper":
            tampering.append(f"{record.get('event')}: {record.get('detail')}")
        elif kind == "answer_key":
            keys_used[record.get("name", "?")] = list(record.get("grade_ids") or [])
        elif kind == "end":
            finished = True
    if channel_problem:
        tampering.append(_("forged results: {problem}").format(problem=channel_problem))
    not_reached = None if finished else _run_problem(outcome, limits)
    for gid, cell in tests.items():
        ok, message = passed.get(gid, (False, None))
        keys = [name for name, gids in keys_used.items() if gid in gids or not gids]
        if tampering:
            ok, message = False, _("not scored: the notebook tampered with the grader (see "
                                   "flags)")
        elif keys:
            ok, message = False, _("uses {names}, the course's own answer to this exercise; "
                                   "the answer must be your own").format(names=", ".join(keys))
        elif gid not in passed:
            message = _("not reached: {reason}").format(reason=not_reached)
        result = TestResult(gid, cell["points"] if ok else 0.0, cell["points"], ok, message)
        verdict.tests.append(result)
        if not ok and message:
            verdict.feedback.append(f"{gid}: {message}")
    for record in verdict.cells:
        if record.get("kind") == "answer" and record.get("error"):
            err, gid = record["error"], record["grade_id"]
            if err.startswith("NotImplementedError"):
                note = _("{grade_id}: not answered (the cell still raises "
                         "NotImplementedError)").format(grade_id=gid)
            elif record.get("timed_out"):
                note = f"{gid}: {err}"  # the runner's sentence: ran longer than ...
            else:
                note = _("{grade_id}: the answer cell raised {error}").format(grade_id=gid,
                                                                              error=err)
            verdict.feedback.append(note)
    flags = verdict.flags
    if tampering:
        flags.extend(Flag("tampering", _("tampering ({detail})").format(detail=t))
                     for t in tampering)
    flags.extend(Flag("answer-key", _("answer key ({name})").format(name=name))
                 for name in keys_used)
    if program.get("edited_locked"):
        flags.append(Flag("locked-cells-edited",
                          _("locked cells edited ({cells}; the instructor's versions were "
                            "run)").format(cells=", ".join(program["edited_locked"]))))
    if program.get("suspicious"):
        flags.append(Flag("suspicious-code", _("suspicious code ({names})").format(
            names=", ".join(program["suspicious"]))))
    if outcome.wall_timeout:
        flags.append(Flag("time-limit", _("time limit ({seconds} s)").format(
            seconds=f"{limits.wall_seconds:g}")))
    if outcome.cpu_exceeded:
        flags.append(Flag("cpu-limit", _("CPU limit ({seconds} s)").format(
            seconds=limits.cpu_seconds)))
    cut = sum(int(r.get("output_cut") or 0) for r in verdict.cells)
    if cut:
        flags.append(Flag("output-cut", _messages.ngettext(
            "output cut ({count} character not kept)", "output cut ({count} characters not kept)",
            cut).format(count=cut)))
    elif outcome.output_cut:
        flags.append(Flag("output-cut", _("output cut")))
    if outcome.leftover_processes:
        shown = ", ".join(p[:60] for p in outcome.leftover_processes[:3])
        flags.append(Flag("processes-left", _("processes left behind ({count}, killed: "
                                              "{processes})").format(
            count=len(outcome.leftover_processes), processes=shown)))
    if not finished and not tampering and not outcome.wall_timeout and not outcome.cpu_exceeded:
        flags.append(Flag("ended-early", _("run ended early")))
    if not outcome.sandboxed:
        flags.append(Flag("unsandboxed", _("unsandboxed")))
    verdict.log = _log_text(program, outcome, records, channel_problem)
    return verdict


def _log_text(program, outcome, records, channel_problem) -> str:
    lines = [f"notebook {program['notebook']}: {len(program['cells'])} cells run "
             f"({'sandboxed' if outcome.sandboxed else 'UNSANDBOXED'}), {outcome.seconds:.1f} s, "
             f"exit status {outcome.returncode}"]
    for record in records:
        if record.get("type") == "cell":
            lines.append(f"--- {record.get('kind')} cell {record.get('grade_id')}"
                         + (f": {record['error']}" if record.get("error") else ": ok"))
            if record.get("output"):
                lines.append(record["output"].rstrip())
        elif record.get("type") != "end":
            lines.append(f"--- {json.dumps(record, ensure_ascii=False)}")
    if channel_problem:
        lines.append(f"--- result channel: {channel_problem}")
    for name, data in (("stdout", outcome.stdout), ("stderr", outcome.stderr)):
        text = data.decode("utf-8", "replace").strip()
        if text:
            lines.append(f"--- {name} of the grading process (first {len(text)} characters):")
            lines.append(text[:20_000])
    if outcome.leftover_processes:
        lines.append("--- processes left behind (killed): " + "; ".join(outcome.leftover_processes))
    return "\n".join(lines) + "\n"
