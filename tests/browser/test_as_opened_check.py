"""labpage.as_opened_problems on its own, without a browser: what a page must show."""

from labpage import as_opened_problems

DIAGRAM = {"output_type": "display_data", "metadata": {},
           "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Digraph>"}}


def _notebook(cells: int, diagram_at: int) -> dict:
    return {"cells": [{"cell_type": "code", "source": f"cell_{i}()", "metadata": {},
                       "outputs": [DIAGRAM] if i == diagram_at else []}
                      for i in range(cells)]}


def _page(cells: int, image_at: int | None) -> list[dict]:
    return [{"images": ["data:image/png;base64,iVBO"] if i == image_at else [], "excerpts": []}
            for i in range(cells)]


def test_a_page_that_shows_every_cell_and_diagram_has_no_problem():
    assert as_opened_problems(_notebook(5, diagram_at=4), _page(5, image_at=4)) == []


def test_cells_the_page_does_not_show_are_a_problem_not_a_pass():
    """The hub's first look once stopped waiting while JupyterLab had attached only the
    first cells of a lesson: the check compared those and found nothing, so a diagram
    further down was never looked at."""
    problems = as_opened_problems(_notebook(5, diagram_at=4), _page(3, image_at=None))
    assert [(p.cell, p.kind) for p in problems] == [(None, "cells not shown")]
    assert "3 of the notebook's 5 cells" in problems[0].detail


def test_a_missing_diagram_is_named_with_its_cell():
    problems = as_opened_problems(_notebook(5, diagram_at=4), _page(5, image_at=None))
    assert [(p.cell, p.kind) for p in problems] == [(5, "diagram not shown")]
