"""The course notebooks as files: complete, linked, re-runnable.

nbval (``--nbval`` in pytest's options) executes each notebook once and compares
every output with the stored one.  These tests add what nbval does not check:
each notebook runs twice in one kernel without error (a student re-running
everything), every link and image points at a file that exists, stored outputs
are present and carry no machine paths, and each notebook opens with what it
teaches and ends with what to read next.

The exercises come in two editions: the student edition in ``notebooks/exercises/``
(nbgrader's release: no solutions, no outputs; its answer cells raise
``NotImplementedError``) and the instructor's sources in ``instructor/exercises/``,
executed with their solutions.  Links are checked where students follow them (the
student edition); stored outputs and running twice, on the instructor's sources.
``test_exercises_without_solutions.py`` checks the student edition itself.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts)
COURSE = [p for p in NOTEBOOKS if p.parent.name == "notebooks"]
IDS = [str(p.relative_to(ROOT / "notebooks")) for p in NOTEBOOKS]
#: notebooks with stored outputs: the lessons and the instructor's exercises (with solutions)
INSTRUCTOR_EXERCISES = sorted((ROOT / "instructor" / "exercises").glob("*.ipynb"))
EXECUTED = COURSE + INSTRUCTOR_EXERCISES
EXECUTED_IDS = [p.relative_to(ROOT).as_posix() for p in EXECUTED]

pytestmark = pytest.mark.notebooks

MD_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_REF = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


def _links(cell_source: str):
    yield from MD_LINK.findall(cell_source)
    yield from HTML_REF.findall(cell_source)


def test_there_are_course_notebooks():
    names = {p.stem for p in COURSE}
    expected = {"00_index", "01_socketserver_classes", "02_tcp_echo", "03_udp_echo",
                "04_tcp_walkthrough", "05_udp_walkthrough", "06_pitfalls", "07_concurrency"}
    assert expected <= names, f"missing: {sorted(expected - names)}"
    assert len([p for p in NOTEBOOKS if p.parent.name == "exercises"]) >= 5
    assert len(INSTRUCTOR_EXERCISES) >= 5


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_link_and_image_points_at_a_file_that_exists(path):
    nb = nbformat.read(path, as_version=4)
    broken = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for target in _links(cell.source):
            parsed = urlparse(target)
            if parsed.scheme in ("http", "https", "mailto") or target.startswith("#"):
                continue
            if parsed.scheme:
                broken.append((i, target, "unexpected scheme"))
                continue
            file_part = unquote(parsed.path)
            if not file_part:
                continue
            if not (path.parent / file_part).exists():
                broken.append((i, target))
    assert not broken, f"{path.name}: links to missing files {broken}"


@pytest.mark.parametrize("path", EXECUTED, ids=EXECUTED_IDS)
def test_outputs_are_stored(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    assert code, "no code cells"
    unexecuted = [i for i, c in enumerate(code) if c.get("execution_count") is None]
    assert not unexecuted, f"code cells without stored outputs (execute the notebook): {unexecuted}"


@pytest.mark.parametrize("path", NOTEBOOKS + INSTRUCTOR_EXERCISES,
                         ids=IDS + [p.relative_to(ROOT).as_posix() for p in INSTRUCTOR_EXERCISES])
def test_notebooks_carry_no_machine_paths(path):
    text = path.read_text(encoding="utf-8")
    for needle in (str(ROOT), "/root/", "/home/", "/tmp/", "site-packages"):
        assert needle not in text, f"{path.name} contains the machine path {needle!r}"


@pytest.mark.parametrize("path", COURSE, ids=[p.name for p in COURSE])
def test_notebook_opens_with_goals_and_time_and_ends_with_what_next(path):
    nb = nbformat.read(path, as_version=4)
    first, last = nb.cells[0], nb.cells[-1]
    assert first.cell_type == "markdown" and first.source.lstrip().startswith("#")
    assert "预计用时" in first.source or "用时" in first.source, "first cell must say how long it takes"
    assert last.cell_type == "markdown"
    assert re.search(r"\]\([^)]+\)", last.source), "last cell must link to what to read next"


def _run_twice(path: Path) -> float:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    with client.setup_kernel():
        for _ in range(2):
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
    return time.perf_counter() - t0


@pytest.mark.parametrize("path", EXECUTED, ids=EXECUTED_IDS)
def test_notebook_runs_twice_in_one_kernel_without_error(path):
    elapsed = _run_twice(path)
    print(f"{path.name}: two runs in {elapsed:.1f} s", file=sys.stderr)
