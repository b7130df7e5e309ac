"""What the notebook builder scripts share: cells written as text, notebooks written as files.

``tools/build_nb_0003.py``, ``build_nb_0405.py`` and ``build_nb_0607.py`` keep each
notebook's cells as plain strings (so a change to the course is a reviewable diff of a
Python file, not of notebook JSON) and call :func:`main` with a ``{name: cells}``
mapping.  The notebooks are written *without outputs*; execute them afterwards so
the stored outputs come from a real run::

    .venv/bin/python tools/build_nb_0003.py [NAME ...]
    .venv/bin/python tools/execute_notebooks.py notebooks/NAME.ipynb

Cell ids come from the notebook's number and the cell's position, so rebuilding an
unchanged notebook gives identical ids and re-running a builder is safe.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

#: cell tag for outputs that legitimately differ between runs (timings, plots)
IGNORE_OUTPUT = "nbval-ignore-output"

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def md(text: str) -> tuple:
    """A markdown cell (surrounding blank lines removed)."""
    return ("markdown", text.strip("\n"), ())


def code(text: str, *tags: str) -> tuple:
    """A code cell, optionally tagged (e.g. ``IGNORE_OUTPUT``)."""
    return ("code", text.strip("\n"), tags)


def build(name: str, cells: list[tuple]) -> nbformat.NotebookNode:
    """A validated notebook from ``md``/``code`` tuples; ids like ``nb02-007``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    prefix = name.split("_", 1)[0]
    for index, (kind, text, tags) in enumerate(cells):
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(text)
        else:
            cell = nbformat.v4.new_code_cell(text)
        cell.id = f"nb{prefix}-{index:03d}"
        if tags:
            cell.metadata["tags"] = list(tags)
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def main(specs: dict[str, list[tuple]], argv: list[str]) -> int:
    """Write the notebooks named in *argv* (default: all of *specs*) to ``notebooks/``."""
    unknown = [name for name in argv if name not in specs]
    if unknown:
        raise SystemExit(f"unknown notebook(s) {unknown}; choose from {sorted(specs)}")
    for name in argv or list(specs):
        path = NOTEBOOKS / f"{name}.ipynb"
        nbformat.write(build(name, specs[name]), path)
        print(path.relative_to(ROOT))
    return 0
