"""Exercise 3: which class in the MRO supplies an attribute?

The truth is computed from the running Python with
:func:`netlesson.source.defining_class` -- the rule attribute lookup follows --
so the answers are right for whichever Python runs the notebook.
"""

from __future__ import annotations

import inspect
import socketserver

from ..i18n import checkers
from ..source import defining_class
from ._harness import checker, fail

_ = checkers.gettext

__all__ = ["MRO_QUESTIONS", "check_mro_answers"]

#: The questions of exercise 3: ``"Class.attribute"`` -> which class in the MRO supplies it.
#: Every one has an answer on Python 3.11-3.13 (tests/unit pins that down).
MRO_QUESTIONS = (
    "ThreadingTCPServer.__init__",
    "ThreadingTCPServer.process_request",
    "ThreadingTCPServer.serve_forever",
    "ThreadingTCPServer.server_close",
    "ThreadingTCPServer.get_request",
    "ThreadingUDPServer.__init__",
    "ThreadingUDPServer.server_activate",
    "ThreadingUDPServer.get_request",
    "ThreadingUDPServer.finish_request",
    "ThreadingUDPServer.max_packet_size",
)


def _answer_name(answer) -> str | None:
    """The class name an answer gives, read without running any method of the answer.

    Only a class or text counts, told by ``type()`` (which an object cannot fake,
    unlike ``isinstance``), and read with the built-in types' own methods, so
    an answer object cannot claim to equal every class name.
    """
    kind = type(answer)
    if issubclass(kind, type):
        return type.__dict__["__name__"].__get__(answer)
    if issubclass(kind, str):
        return str.__str__(answer).strip().rsplit(".", 1)[-1]
    return None


def _plain_answers(answers) -> dict:
    """*answers* as a plain ``{str: answer}`` dict, read with ``dict``'s own methods."""
    return {str.__str__(k): v for k, v in dict.items(answers) if issubclass(type(k), str)}


@checker
def check_mro_answers(answers, only: str | None = None) -> None:
    """Exercise 3: ``answers["ThreadingTCPServer.__init__"]`` names the supplying class.

    The truth is computed from the running Python (``__mro__`` and ``vars``).
    *only* restricts the check to questions about one class.  Every wrong
    answer is listed with a hint, without giving the answer away.
    """
    __tracebackhide__ = True  # noqa: F841
    if not issubclass(type(answers), dict):
        fail(_("answers should be a dict like {example}; it is {kind}").format(
            example="{'ThreadingTCPServer.__init__': 'TCPServer', ...}",
            kind=type(answers).__name__))
    answers = _plain_answers(answers)
    questions = [q for q in MRO_QUESTIONS if only is None or q.startswith(f"{only}.")]
    problems = []
    for question in questions:
        cls_name, attribute = question.split(".", 1)
        cls = getattr(socketserver, cls_name)
        truth = defining_class(cls, attribute)
        if question not in answers:
            problems.append(_("- {question}: no answer (add the key {key} to answers)").format(
                question=question, key=repr(question)))
            continue
        given = _answer_name(answers[question])
        if given == truth.__name__:
            continue
        if given in ("", "?"):
            problems.append(_("- {question}: not answered yet ({answer})").format(
                question=question, answer=repr(answers[question])))
            continue
        chain = " → ".join(k.__name__ for k in cls.__mro__)
        if given is None:
            problems.append(_("- {question}: answer with a class name (a str), not "
                              "{answer}").format(question=question,
                                                 answer=repr(answers[question])))
            continue
        # look the name up in the MRO itself: 'object' is not a socketserver name
        candidate = next((k for k in cls.__mro__ if k.__name__ == given), None)
        if candidate is None:
            same_but_case = [k.__name__ for k in cls.__mro__ if k.__name__.lower() == given.lower()]
            if same_but_case:
                problems.append(_("- {question}: {given} is not in {mro} ({chain}); class names "
                                  "are case-sensitive: did you mean {suggestion}?").format(
                                      question=question, given=repr(given),
                                      mro=f"{cls_name}.__mro__", chain=chain,
                                      suggestion=repr(same_but_case[0])))
            else:
                problems.append(_("- {question}: {given} is not in {mro} ({chain})").format(
                    question=question, given=repr(given), mro=f"{cls_name}.__mro__",
                    chain=chain))
        elif attribute not in vars(candidate):
            where = "object" if candidate is object else f"socketserver.{given}"
            problems.append(_("- {question}: {given} does not define {attribute} itself "
                              "({test} is False); lookup goes on along {chain}").format(
                                  question=question, given=given, attribute=attribute,
                                  test=f"{attribute!r} in vars({where})", chain=chain))
        else:
            problems.append(_("- {question}: {given} does define {attribute}, but a class "
                              "earlier in {chain} defines it too, and lookup stops at the "
                              "first").format(question=question, given=given,
                                              attribute=attribute, chain=chain))
    if problems:
        right = len(questions) - len(problems)
        fail(_("{right} of {total} answers are right. Python looks an attribute up along the "
               "class's __mro__ and takes it from the first class whose own __dict__ (vars(cls)) "
               "has it:").format(right=right, total=len(questions))
             + "\n" + "\n".join(problems))


