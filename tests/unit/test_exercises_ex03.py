"""Exercise 3 (which class supplies an attribute): the checker accepts the solution and
explains wrong answers.

The wrong answers below are mistakes students really make; every test asserts
that the checker says *why* it is wrong, not merely that it fails.
"""

from __future__ import annotations

import socketserver

import pytest
from exercise_solutions import failure, load_solution

from netlesson import exercises
from netlesson.source import defining_class


@pytest.fixture(scope="module")
def ex03():
    return load_solution("ex03_mro_supplier")


def test_mro_checker_accepts_the_notebook_solution(ex03):
    exercises.check_mro_answers(ex03["answers"])
    exercises.check_mro_answers(ex03["answers"], only="ThreadingTCPServer")
    exercises.check_mro_answers(ex03["answers"], only="ThreadingUDPServer")


def test_mro_checker_accepts_classes_and_qualified_names(ex03):
    answers = {q: getattr(socketserver, v) for q, v in ex03["answers"].items()}
    answers["ThreadingTCPServer.__init__"] = "socketserver.TCPServer"
    exercises.check_mro_answers(answers)


def test_every_question_has_an_answer_on_the_running_python():
    # the checker's truth is source.defining_class on the running Python; no question may lack one
    for question in exercises.MRO_QUESTIONS:
        cls_name, attribute = question.split(".", 1)
        assert defining_class(getattr(socketserver, cls_name), attribute) is not None, question
    assert defining_class(socketserver.ThreadingUDPServer, "__init__") is socketserver.TCPServer


def test_mro_checker_explains_a_class_that_does_not_define_the_attribute(ex03):
    answers = dict(ex03["answers"], **{"ThreadingUDPServer.__init__": "UDPServer"})
    message = failure(exercises.check_mro_answers, answers)
    assert "9 of 10 answers are right" in message
    assert "UDPServer does not define __init__ itself" in message
    assert "TCPServer" not in message.split("UDPServer does not define")[1].split("lookup goes")[0]


def test_mro_checker_explains_an_overridden_definition(ex03):
    answers = dict(ex03["answers"], **{"ThreadingTCPServer.server_close": "BaseServer"})
    message = failure(exercises.check_mro_answers, answers, only="ThreadingTCPServer")
    assert "BaseServer does define server_close, but a class earlier" in message


def test_mro_checker_lists_every_problem(ex03):
    answers = dict(ex03["answers"])
    del answers["ThreadingUDPServer.get_request"]
    answers["ThreadingUDPServer.server_activate"] = "StreamRequestHandler"
    answers["ThreadingUDPServer.max_packet_size"] = 8192
    message = failure(exercises.check_mro_answers, answers, only="ThreadingUDPServer")
    assert "2 of 5 answers are right" in message
    assert "no answer (add the key 'ThreadingUDPServer.get_request'" in message
    assert "'StreamRequestHandler' is not in ThreadingUDPServer.__mro__" in message
    assert "answer with a class name (a str), not 8192" in message


def test_mro_checker_knows_object_and_hints_at_case(ex03):
    answers = dict(ex03["answers"], **{"ThreadingTCPServer.get_request": "object",
                                        "ThreadingTCPServer.serve_forever": "baseserver"})
    message = failure(exercises.check_mro_answers, answers, only="ThreadingTCPServer")
    assert "'object' is not in" not in message  # object is the last class of every MRO
    assert "object does not define get_request itself ('get_request' in vars(object) is False)" \
        in message
    assert "'baseserver' is not in ThreadingTCPServer.__mro__" in message
    assert "case-sensitive: did you mean 'BaseServer'?" in message


def test_mro_checker_checks_only_the_asked_class(ex03):
    answers = dict(ex03["answers"], **{"ThreadingUDPServer.__init__": "UDPServer"})
    exercises.check_mro_answers(answers, only="ThreadingTCPServer")


def test_mro_checker_rejects_the_untouched_template():
    template = {q: "?" for q in exercises.MRO_QUESTIONS}
    message = failure(exercises.check_mro_answers, template)
    assert "0 of 10 answers are right" in message
    assert "- ThreadingTCPServer.__init__: not answered yet ('?')" in message


def test_mro_checker_wants_a_dict():
    assert "answers should be a dict" in failure(exercises.check_mro_answers, ["TCPServer"])
