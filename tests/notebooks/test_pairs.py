"""Each lesson is a jupytext pair: the ``.md`` people edit and the ``.ipynb`` with outputs.

So is each exercise's source in ``instructor/exercises/`` (with its solutions, executed),
and each student edition in ``notebooks/exercises/`` (nbgrader's release, no outputs; its
``.md`` is written by jupytext).  These tests fail when the two files of a pair disagree
(someone edited one and did not sync), when a stored output no longer belongs to its
cell (the source changed but the notebook was not re-executed), and they pin down what the pairing
promises: a cell inserted in the ``.md`` gets a new id and no other cell's id
changes.  ``tools/notebooks.py`` is what ``make notebooks`` runs; these tests
use the same functions, on the real lessons and on scratch copies.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]

_spec = importlib.util.spec_from_file_location("notebooks_tool", ROOT / "tools" / "notebooks.py")
notebooks_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(notebooks_tool)

PAIRS = notebooks_tool.all_pairs()
IDS = [p.relative_to(ROOT).with_suffix("").as_posix() for p in PAIRS]
EXECUTED = notebooks_tool.executed_pairs()
EXECUTED_IDS = [p.relative_to(ROOT).with_suffix("").as_posix() for p in EXECUTED]

pytestmark = pytest.mark.notebooks


def _settings(config: Path) -> list[str]:
    return [line for line in config.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_every_notebook_has_a_text_source_and_no_builder_scripts_remain():
    assert len(PAIRS) >= 20
    for ipynb in PAIRS:
        assert ipynb.exists() and ipynb.with_suffix(".md").exists(), ipynb
    assert not list((ROOT / "tools").glob("build_*.py")), "lessons are edited in their .md, not generated"
    config = ROOT / "notebooks" / "jupytext.toml"
    assert 'formats = "ipynb,md:myst"' in _settings(config)
    # instructor/ has its own copy (JupyterLab's jupytext looks only inside the folder it serves)
    assert _settings(ROOT / "instructor" / "jupytext.toml") == _settings(config)


def test_the_exercises_are_paired_in_both_editions():
    students = {p.name for p in notebooks_tool.student_pairs()}
    sources = {p.name for p in notebooks_tool._pairs_in(notebooks_tool.INSTRUCTOR_EXERCISES)}
    assert len(sources) >= 6 and students == sources
    assert set(EXECUTED) == set(PAIRS) - set(notebooks_tool.student_pairs())


@pytest.mark.parametrize("ipynb", PAIRS, ids=IDS)
def test_notebook_and_its_text_file_have_the_same_cells(ipynb):
    problems = notebooks_tool.pair_problems(ipynb)
    assert not problems, "\n".join(problems + ["run: make notebooks (or tools/notebooks.py sync PATH)"])


@pytest.mark.parametrize("ipynb", EXECUTED, ids=EXECUTED_IDS)
def test_no_stored_output_is_stale_relative_to_its_source(ipynb):
    stale = notebooks_tool.stale_outputs(ipynb)
    assert not stale, "\n".join(stale + ["re-execute: make notebooks (or tools/notebooks.py execute PATH)"])


@pytest.mark.parametrize("ipynb", PAIRS, ids=IDS)
def test_cell_ids_are_unique(ipynb):
    ids = [cell.id for cell in nbformat.read(ipynb, as_version=4).cells]
    assert len(ids) == len(set(ids))


# --- the machinery itself, on a scratch copy of a real lesson ------------------------------

@pytest.fixture
def scratch(tmp_path):
    """A copy of lesson 00 (both files) under its own jupytext.toml, as a contributor has it."""
    shutil.copy(ROOT / "notebooks" / "jupytext.toml", tmp_path / "jupytext.toml")
    for suffix in (".md", ".ipynb"):
        shutil.copy((ROOT / "notebooks" / "00_index").with_suffix(suffix), tmp_path / f"lesson{suffix}")
    return tmp_path / "lesson.ipynb"


def _edit_md(ipynb: Path, edit) -> None:
    md = ipynb.with_suffix(".md")
    nb = jupytext.read(md)
    edit(nb)
    jupytext.write(nb, md, fmt="md:myst")
    # make the edit unambiguously the newer file, as an editor's save would
    stat = ipynb.stat()
    os.utime(md, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))


def test_inserting_a_cell_in_the_text_file_keeps_every_other_cell_id(scratch):
    before = [c.id for c in nbformat.read(scratch, as_version=4).cells]
    _edit_md(scratch, lambda nb: nb.cells.insert(1, nbformat.v4.new_markdown_cell("新插入的一段说明。")))
    notebooks_tool.sync(scratch)
    after = nbformat.read(scratch, as_version=4)
    ids = [c.id for c in after.cells]
    assert after.cells[1].source == "新插入的一段说明。"
    assert ids[:1] + ids[2:] == before, "inserting a cell changed other cells' ids"
    assert ids[1] not in before
    assert not notebooks_tool.pair_problems(scratch)


def test_an_edit_in_one_file_only_is_reported_until_synced(scratch):
    md = scratch.with_suffix(".md")
    text = md.read_text(encoding="utf-8")
    md.write_text(text.replace("预计用时", "预计需要的时间", 1), encoding="utf-8")
    problems = notebooks_tool.pair_problems(scratch)
    assert problems and "cell 0 differs in its source" in problems[0]
    notebooks_tool.sync(scratch)
    assert not notebooks_tool.pair_problems(scratch)
    assert "预计需要的时间" in nbformat.read(scratch, as_version=4).cells[0].source


def test_a_code_cell_changed_but_not_re_executed_is_reported_stale(scratch):
    assert not notebooks_tool.stale_outputs(scratch)
    nb = nbformat.read(scratch, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.outputs)
    outputs = nb.cells[index].outputs

    def change_code(text_nb):
        text_nb.cells[index].source += "\nprint('added later')"

    _edit_md(scratch, change_code)
    notebooks_tool.sync(scratch)
    synced = nbformat.read(scratch, as_version=4)
    assert synced.cells[index].outputs == outputs, "jupytext keeps the old outputs of an edited cell"
    stale = notebooks_tool.stale_outputs(scratch)
    assert len(stale) == 1 and f"cell {index} " in stale[0] and "changed after its outputs were stored" in stale[0]


def test_nbgrader_metadata_survives_the_text_round_trip():
    for md in (ROOT / "instructor" / "exercises" / "ex01_line_echo.md",
               ROOT / "notebooks" / "exercises" / "ex01_line_echo.md"):
        graded = [c for c in jupytext.read(md).cells if c.metadata.get("nbgrader", {}).get("grade")]
        assert graded and all(c.metadata["nbgrader"].get("points") for c in graded), md
        assert all(c.metadata["nbgrader"]["locked"] for c in graded), md


def test_the_student_edition_is_never_executed_or_synced_by_hand(capsys):
    student = ROOT / "notebooks" / "exercises" / "ex01_line_echo.md"
    for action in ("execute", "sync"):
        with pytest.raises(SystemExit) as info:
            notebooks_tool.main([action, str(student)])
        message = str(info.value)
        assert "instructor/exercises/ex01_line_echo.md" in message and "make exercises" in message
