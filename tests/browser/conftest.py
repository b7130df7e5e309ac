"""Fixtures for the browser tests: a private JupyterLab, headless Chromium, a student's tab.

nbval executes notebooks without a front end, so it cannot see what students
see: widgets that fail to render in JupyterLab, exceptions raised by a button
click, a kernel that never becomes idle.  These tests open every notebook in
a real JupyterLab 4 in Debian's Chromium, driven by Playwright.

Requirements, checked once per session (the tests are skipped, with a reason
shown by ``-ra``, when one is missing -- never silently):

* Chromium: ``shutil.which("chromium")`` or the path in ``NETLESSON_CHROMIUM``.
  Install it with ``sudo apt-get install chromium``.  Playwright's own browser
  download is not used.
* Playwright for Python: ``pip install -e '.[test]'``.

Optional environment:

* ``NETLESSON_REQUIRE_BROWSER=1`` turns that skip into a failure -- for CI,
  where Chromium is installed on purpose and a skip would hide a broken set-up.
* ``NETLESSON_BROWSER_NOTEBOOKS=DIR`` serves (a copy of) *DIR* instead of the
  repository's ``notebooks/`` -- e.g. a copy with a deliberately broken cell, or
  an nbgrader release folder.

Screenshots go to ``artifacts/browser/`` (ignored by git; emptied of old
``*.png`` at the start of a run); the terminal summary says where they are and
how long the notebooks took.
"""

from __future__ import annotations

import os
import time

import pytest

from labcourse import (ARTIFACTS, CHROMIUM_ARGS, REPORT, REQUIRE_ENV, Course, chromium_path,
                       missing_requirement, notebooks_dir)
from labpage import StudentBrowser
from labserver import LabServer


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "lab_notebook(relpath): a browser test that uses RELPATH after Run All; it is "
                   "run right after that notebook's own test so the open tab can be reused")


def pytest_collection_modifyitems(config, items):
    """Move each ``lab_notebook`` test right after the test that ran its notebook.

    The notebook's tab is then still open with every cell run, and the widget
    test does not pay for opening and running the notebook a second time.
    """
    by_notebook = {}
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "relpath" in callspec.params and \
                item.get_closest_marker("browser"):
            by_notebook[callspec.params["relpath"]] = item
    for item in list(items):
        marker = item.get_closest_marker("lab_notebook")
        if marker is None:
            continue
        anchor = by_notebook.get(marker.args[0])
        if anchor is None:
            continue
        items.remove(item)
        items.insert(items.index(anchor) + 1, item)
        by_notebook[marker.args[0]] = item  # a second widget test goes after the first


def pytest_collection_finish(session):
    """Remember the order in which the selected tests will run the notebooks."""
    REPORT.planned = [item.callspec.params["relpath"] for item in session.items
                      if getattr(item, "callspec", None) is not None
                      and "relpath" in item.callspec.params
                      and item.get_closest_marker("browser")]


def pytest_terminal_summary(terminalreporter):
    report = REPORT
    if report.started is None and report.skipped_because is None:
        return  # no browser test was run in this session
    tr = terminalreporter
    tr.section("browser tests (JupyterLab in headless Chromium)")
    if report.skipped_because:
        tr.write_line(f"skipped: {report.skipped_because}")
        return
    if report.notebooks:
        total = sum(r.seconds for r in report.notebooks)
        tr.write_line(f"{len(report.notebooks)} notebook run(s) in {total:.1f} s "
                      f"(open = load notebook + start kernel; run = Run All Cells until idle):")
        for r in report.notebooks:
            flag = ("  did not finish" if r.problems < 0
                    else f"  {r.problems} problem(s)" if r.problems else "")
            tr.write_line(f"  {r.seconds:6.1f} s  (open {r.open_seconds:5.1f}, run "
                          f"{r.run_seconds:5.1f})  {r.relpath}{flag}")
    if report.started is not None and report.finished is not None:
        tr.write_line(f"whole browser session: {report.finished - report.started:.1f} s "
                      f"(JupyterLab server start {report.server_seconds:.1f} s, "
                      f"{report.lab_loads} JupyterLab page load(s))")
    if report.screenshots:
        tr.write_line(f"{len(report.screenshots)} screenshot(s) in {ARTIFACTS}/")


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser_requirements():
    reason = missing_requirement()
    if reason:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}", pytrace=False)
        REPORT.skipped_because = reason
        pytest.skip(reason)
    return chromium_path()


@pytest.fixture(scope="session")
def lab_server(browser_requirements, tmp_path_factory):
    """JupyterLab serving a throw-away copy of the notebooks; always stopped."""
    if REPORT.started is None:
        REPORT.started = time.monotonic()
    t0 = time.monotonic()
    server = LabServer.start(notebooks_dir(), tmp_path_factory.mktemp("lab"))
    REPORT.server_seconds = time.monotonic() - t0
    try:
        yield server
    finally:
        server.stop()
        REPORT.finished = time.monotonic()


@pytest.fixture(scope="session")
def chromium(browser_requirements):
    """Headless Chromium (Debian's), driven by Playwright; closed at the end."""
    from playwright.sync_api import sync_playwright

    manager = sync_playwright().start()
    try:
        browser = manager.chromium.launch(executable_path=browser_requirements,
                                          args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        manager.stop()


@pytest.fixture(scope="session")
def artifacts_dir():
    """``artifacts/browser/``, emptied of the screenshots of an earlier run."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    return ARTIFACTS


@pytest.fixture(scope="session")
def course(lab_server, chromium, artifacts_dir):
    """The student's JupyterLab tab, shared by every browser test of the session."""
    student = StudentBrowser(lab_server, chromium)
    runner = Course(lab_server, student, artifacts_dir)
    try:
        yield runner
    finally:
        runner.close()
        REPORT.lab_loads = student.loads
