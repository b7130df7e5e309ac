"""Instructor tests read netlesson's messages in English (NETLESSON_LANG=en), the source language.

The course's default is Simplified Chinese (netlesson/i18n.py).  These tests
build module-scoped fixtures (a whole class graded once, nbgrader runs) whose
subprocesses -- nbgrader's kernels, the grading sandbox -- take the language
from the environment, so it is set in ``os.environ`` for the whole session,
before any fixture, and put back afterwards.  A test that checks the Chinese
output sets NETLESSON_LANG=zh_CN itself (monkeypatch).
"""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def english_messages():
    saved = os.environ.get("NETLESSON_LANG")
    os.environ["NETLESSON_LANG"] = "en"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("NETLESSON_LANG", None)
        else:
            os.environ["NETLESSON_LANG"] = saved
