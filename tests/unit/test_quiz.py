"""netlesson.quiz.reveal: the answer of a predict-then-check point waits for a real guess."""

from __future__ import annotations

import pytest

from netlesson.quiz import reveal

CHOICES = ["A", "B", "C"]


@pytest.fixture(autouse=True)
def chinese_messages(monkeypatch):
    """The lessons' language: these tests read the verdicts in Chinese (NETLESSON_LANG=zh_CN)."""
    monkeypatch.setenv("NETLESSON_LANG", "zh_CN")
EVIDENCE = "one recv(1024) returned 1024 of the 3000 bytes"


def _shown(capsys, guess, choices=CHOICES, answer="B", evidence=EVIDENCE) -> str:
    assert reveal(guess, choices, answer=answer, evidence=evidence) is None
    return capsys.readouterr().out


def test_not_yet_asks_for_a_guess_and_shows_nothing_else(capsys):
    out = _shown(capsys, "?")
    assert out.count("\n") == 1, out
    assert '"?"' in out and "'A' / 'B' / 'C'" in out
    assert EVIDENCE not in out
    assert "答案" not in out and "猜对" not in out and "不对" not in out


def test_a_wrong_guess_names_the_answer_then_shows_the_evidence(capsys):
    out = _shown(capsys, "A")
    verdict, evidence = out.splitlines()
    assert "不对" in verdict and "'A'" in verdict and "'B'" in verdict
    assert evidence == EVIDENCE


def test_a_right_guess_says_so_then_shows_the_evidence(capsys):
    out = _shown(capsys, "B")
    verdict, evidence = out.splitlines()
    assert "猜对了" in verdict and "'B'" in verdict
    assert "不对" not in out
    assert evidence == EVIDENCE


@pytest.mark.parametrize("guess", ["b", "D", "", None, "5"])
def test_a_guess_that_is_not_a_choice_is_treated_as_no_guess(capsys, guess):
    out = _shown(capsys, guess, choices=[1, 2, 3, 4, 5], answer=3, evidence="received 3 copies")
    assert out.count("\n") == 1, out
    assert repr(guess) in out and "1 / 2 / 3 / 4 / 5" in out
    assert "received 3 copies" not in out and "猜对" not in out and "不对" not in out


def test_numbers_are_choices_too(capsys):
    out = _shown(capsys, 3, choices=[1, 2, 3, 4, 5], answer=3, evidence="received 3 copies")
    assert out.splitlines() == ["猜对了！答案就是 3。", "received 3 copies"]


def test_the_verdicts_are_in_english_on_request(capsys, monkeypatch):
    monkeypatch.setenv("NETLESSON_LANG", "en")
    assert _shown(capsys, "?").startswith('Write down your prediction first: replace "?" with '
                                          "one of 'A' / 'B' / 'C'")
    assert _shown(capsys, "B").splitlines() == ["Right! The answer is 'B'.", EVIDENCE]
    assert _shown(capsys, "A").splitlines()[0] == "Not quite: you guessed 'A', the answer is 'B'."
