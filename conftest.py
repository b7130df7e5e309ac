"""Shared pytest set-up (at the root, so it also applies to ``pytest --nbval notebooks/X.ipynb``).

nbval compares stored and fresh outputs.  Diagrams (SVG, and the PNG beside it
for untrusted notebooks) and HTML renderings are checked by unit tests
(tests/unit/test_diagrams.py, test_source.py) and by the browser tests, and every
rich output in the course also carries a stable ``text/plain`` summary, so the
nbval comparison leaves those MIME types out.

The student edition of the exercises (``notebooks/exercises/``, written by
``make exercises``) is never collected: its answer cells hold nbgrader's stub,
which raises ``NotImplementedError``.  nbval runs the instructor's sources in
``instructor/exercises/`` instead, executed with their solutions; the tests in
``tests/notebooks/test_exercises_without_solutions.py`` check the student edition itself.
"""

from pathlib import Path

STUDENT_EXERCISES = Path(__file__).resolve().parent / "notebooks" / "exercises"


def pytest_ignore_collect(collection_path, config):
    if collection_path.suffix == ".ipynb" and STUDENT_EXERCISES in collection_path.resolve().parents:
        return True
    return None


def pytest_collectstart(collector):
    skip = getattr(collector, "skip_compare", None)
    if skip is not None:  # nbval's IPyNbFile
        collector.skip_compare = tuple(skip) + ("image/svg+xml", "image/png", "text/html")


def pytest_collection_modifyitems(session, config, items):
    """Run the browser tests last.

    They hold one Chromium and one JupyterLab for the whole session, and
    Playwright's synchronous API keeps an asyncio event loop registered as
    running in the main thread until the session ends -- any later test that
    calls ``asyncio.run()`` would fail with "cannot be called from a running
    event loop".  Last is also where the slowest tests belong.
    """
    items.sort(key=lambda item: "tests/browser/" in item.nodeid.replace("\\", "/"))
