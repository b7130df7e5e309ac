"""Predict, then check: a lesson's answer appears only after the student has guessed.

A predict-then-check point in a lesson asks a question with a few choices, then a
code cell runs the experiment and ends with::

    guess = "?"  # your prediction: "A", "B" or "C"
    ...          # the experiment
    reveal(guess, ["A", "B", "C"], answer=..., evidence=f"...")

``"?"`` means "not yet": while the cell still holds it, :func:`reveal` prints only a
request to guess, so running the cell shows neither the result nor the answer.  The
experiment runs every time; its outcome is printed once the student has committed.
"""

from __future__ import annotations

from collections.abc import Sequence

from .i18n import core as _messages

_ = _messages.gettext

__all__ = ["reveal"]

#: the placeholder a predict-then-check cell starts with
_NOT_YET = "?"


def reveal(guess: object, choices: Sequence[object], answer: object, evidence: object) -> None:
    """Print the verdict on *guess*, then the *evidence*, but only after a real guess.

    *guess* is what the student wrote in the cell; ``"?"`` means they have not guessed
    yet.  *choices* are the answers the question offers (``["A", "B", "C"]``, or numbers
    such as ``[1, 2, 3]``), *answer* is the right one, worked out from the experiment the
    cell has just run, and *evidence* is what that experiment showed (printed as is).

    - *guess* is ``"?"`` or not one of *choices* (a typo, ``"5"`` for ``5``): one line
      asks for a guess among the choices; nothing else is printed, so neither the answer
      nor the evidence can be seen before the student commits.
    - *guess* is one of *choices*: a line says whether it is right (and, if not, which
      choice is), then the evidence follows.  The explanation stays in the lesson, in a
      collapsed block under the cell.

    Returns ``None``: everything is printed, so the cell shows no extra value.
    """
    options = " / ".join(repr(choice) for choice in choices)
    if guess not in choices:
        if guess == _NOT_YET:
            print(_('Write down your prediction first: replace "?" with one of {options}, '
                    'then run this cell again').format(options=options))
        else:
            print(_("{guess} is not one of the answers: replace it with one of {options}, then "
                    "run this cell again").format(guess=repr(guess), options=options))
        return
    if guess == answer:
        print(_("Right! The answer is {answer}.").format(answer=repr(answer)))
    else:
        print(_("Not quite: you guessed {guess}, the answer is {answer}.").format(
            guess=repr(guess), answer=repr(answer)))
    print(evidence)
