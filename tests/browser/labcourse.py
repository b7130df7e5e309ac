"""Shared pieces of the browser tests: where things are, what was run, the runner.

Kept out of ``conftest.py`` so the test module can import them by name
(several ``conftest`` modules exist in this repository; importing "conftest"
would be ambiguous).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from labpage import NotebookPage, Problem, StudentBrowser
from labserver import LabServer

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "browser"

#: What the browser is started with: no sandbox (CI containers run as root),
#: no GPU, /tmp instead of a small /dev/shm, and nothing that phones home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

INSTALL_CHROMIUM = ("Chromium not found (looked for `chromium` on PATH and NETLESSON_CHROMIUM): "
                    "install it with `sudo apt-get install chromium` (Debian/Ubuntu), or set "
                    "NETLESSON_CHROMIUM=/path/to/chromium; the browser tests do not use "
                    "Playwright's browser download")
#: Set to 1 (e.g. in CI, which installs Chromium) to fail instead of skipping
#: when a requirement is missing.
REQUIRE_ENV = "NETLESSON_REQUIRE_BROWSER"

INSTALL_PLAYWRIGHT = ("Playwright for Python is not installed: run `pip install -e '.[test]'` "
                      "(Chromium itself comes from apt: `sudo apt-get install chromium`)")


def notebooks_dir() -> Path:
    """The folder whose copy JupyterLab serves (the course, unless overridden)."""
    override = os.environ.get("NETLESSON_BROWSER_NOTEBOOKS")
    return Path(override).resolve() if override else REPO / "notebooks"


def course_notebooks() -> list[str]:
    """Every notebook under the served folder, as paths relative to it, with "/"."""
    root = notebooks_dir()
    if not root.is_dir():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts)


def missing_requirement() -> str | None:
    """Why the browser tests cannot run here, or ``None``."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return INSTALL_PLAYWRIGHT
    if not chromium_path():
        return INSTALL_CHROMIUM
    return None


def chromium_path() -> str | None:
    explicit = os.environ.get("NETLESSON_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return shutil.which("chromium")


# ---------------------------------------------------------------------------
# Session record (for the terminal summary)
# ---------------------------------------------------------------------------

@dataclass
class NotebookRecord:
    relpath: str
    seconds: float
    open_seconds: float
    run_seconds: float
    problems: int
    screenshot: Path | None


@dataclass
class BrowserReport:
    started: float | None = None
    finished: float | None = None
    server_seconds: float = 0.0
    skipped_because: str | None = None
    notebooks: list[NotebookRecord] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)
    lab_loads: int = 0
    #: notebooks in the order the selected tests will run them (set after collection)
    planned: list[str] = field(default_factory=list)


REPORT = BrowserReport()


class Course:
    """Runs notebooks in the student's tab, records timings and screenshots.

    ``run(relpath)`` opens a notebook, runs all cells, saves, checks and takes
    a screenshot of the whole notebook.  With ``keep=True`` the tab stays on
    that notebook (see ``pytest_collection_modifyitems``), and
    ``after_run_all(relpath)`` hands it to the next test, or runs it again if
    it is not the one open.
    """

    def __init__(self, server: LabServer, student: StudentBrowser, artifacts: Path):
        self.server = server
        self.student = student
        self.artifacts = artifacts
        self.kept: NotebookPage | None = None

    def screenshot(self, notebook: NotebookPage, suffix: str = "", **kwargs) -> list[Path]:
        """Screenshots are evidence, not the verdict: failing to take one fails nothing."""
        try:
            paths = notebook.screenshot(screenshot_path(notebook.relpath, suffix, self.artifacts),
                                        **kwargs)
        except Exception:  # noqa: BLE001
            return []
        REPORT.screenshots.extend(paths)
        return paths

    def release(self) -> None:
        if self.kept is not None:
            kept, self.kept = self.kept, None
            self.student.done(kept)

    def run(self, relpath: str, *, keep: bool = False) -> NotebookPage:
        """Open, Run All, screenshot, save and check *relpath*; see the class docstring."""
        self.release()
        t0 = time.monotonic()
        notebook = None
        shots: list[Path] = []
        try:
            notebook = self.student.open(relpath, timeout=90)
            # as a student first sees it: untrusted, nothing run yet
            as_opened = notebook.as_opened()
            notebook.run_all(timeout=150)
            self.prestart_next(relpath)
            # Before check(): checking may open the log console, which takes
            # half the window.
            shots = self.screenshot(notebook)
            notebook.check()
            notebook.problems[:0] = as_opened
        except BaseException:
            if notebook is not None:
                self.screenshot(notebook, "--failed")
                self.student.recycle(notebook)
            raise
        finally:
            REPORT.lab_loads = self.student.loads
            timing = notebook.timing if notebook is not None else None
            REPORT.notebooks.append(NotebookRecord(
                relpath, time.monotonic() - t0, timing.open if timing else 0.0,
                timing.run if timing else 0.0,
                len(notebook.problems) if notebook is not None else -1,
                shots[0] if shots else None))
        if keep:
            self.kept = notebook
        else:
            self.student.done(notebook)
        return notebook

    def prestart_next(self, relpath: str) -> None:
        """Start the kernel of the notebook planned after *relpath* (see LabServer.start_session).

        Called once *relpath* has finished running, so the new kernel starts
        while this notebook is photographed, saved and checked -- never while
        its cells (some of which measure time) run.
        """
        plan = REPORT.planned
        if relpath in plan and plan.index(relpath) + 1 < len(plan):
            try:
                self.server.start_session(plan[plan.index(relpath) + 1])
            except OSError:
                pass  # an optimisation only: the notebook then starts its own kernel

    def after_run_all(self, relpath: str) -> NotebookPage:
        """The notebook *relpath* with every cell run, open in the tab (kept after this)."""
        if self.kept is not None and self.kept.relpath == relpath:
            return self.kept
        return self.run(relpath, keep=True)

    def close(self) -> None:
        try:
            self.release()
        finally:
            self.student.close()


def screenshot_path(relpath: str, suffix: str = "", folder: Path = ARTIFACTS) -> Path:
    """``exercises/ex01.ipynb`` -> ``artifacts/browser/exercises__ex01<suffix>.png``."""
    stem = relpath.removesuffix(".ipynb").replace("/", "__")
    return folder / f"{stem}{suffix}.png"


def format_problems(notebook: NotebookPage, problems: list[Problem] | None = None) -> str:
    """Failure message listing *problems* and where the screenshots are."""
    return (notebook.report(problems)
            + f"\n  screenshot: {screenshot_path(notebook.relpath)} (and others in {ARTIFACTS}/)")
