"""Build the course website (``make site``) from the notebooks' stored outputs.

Sphinx reads one source folder, and the course's sources live in two places:
the landing pages here in ``site/`` and the executed notebooks in
``notebooks/``.  So this script lays out a fresh source folder (by default
``build/site/src/``, ignored by git) with

* ``index.md`` and ``exercises/index.md`` from ``site/pages/``,
* a copy of every ``notebooks/**/*.ipynb`` -- only the ``.ipynb`` files, the
  halves of the jupytext pairs that hold the outputs; the ``.md`` halves would
  be read as text notebooks without outputs, and ``.ipynb_checkpoints`` stay out;
  in the copies, every nbgrader answer cell has its solution replaced by the
  stub students get (:func:`without_solutions`), so the public site shows the
  exercises as released, never their answers,

then runs ``sphinx-build`` with the configuration in ``site/conf.py``
(myst-nb with execution off: nothing is executed) and copies the HTML to
``_site/``.  Everything else stays in the work folder (``build/site/``: the
sources in ``src/``, Sphinx's doctrees, and the ``jupyter_execute/`` folder that
myst-nb always writes beside Sphinx's output folder).

    python site/build.py [--out _site] [--work build/site] [--strict] [-q]

The launch links read ``COURSE_REPOSITORY`` and ``COURSE_HUB_URL`` (see conf.py).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

SITE = Path(__file__).resolve().parent
ROOT = SITE.parent
NOTEBOOKS = ROOT / "notebooks"
PAGES = SITE / "pages"


def notebook_sources() -> list[Path]:
    """Every lesson and exercise notebook, relative to notebooks/."""
    return sorted(path.relative_to(NOTEBOOKS) for path in NOTEBOOKS.rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in path.parts)


#: a solution region of an nbgrader source notebook, as ``nbgrader generate_assignment`` finds it
SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\b.*?^[ \t]*### END SOLUTION[^\n]*\n?",
                      re.MULTILINE | re.DOTALL)
STUB = "{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError()\n"


def without_solutions(notebook: dict) -> dict:
    """*notebook* (JSON) as students get it from ``nbgrader generate_assignment``: each
    solution region replaced by the stub, and -- in a notebook that had any -- every
    code cell's outputs cleared (they were produced by the solution)."""
    cells = notebook.get("cells", [])
    if not any("### BEGIN SOLUTION" in "".join(c.get("source", "")) for c in cells):
        return notebook
    for cell in cells:
        source = "".join(cell.get("source", ""))
        cell["source"] = SOLUTION.sub(lambda m: STUB.format(indent=m.group(1)), source)
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return notebook


def prepare_sources(src: Path) -> Path:
    """Lay out Sphinx's source folder: the site's own pages plus copies of the notebooks."""
    if src.exists():
        shutil.rmtree(src)
    for page in PAGES.rglob("*.md"):
        target = src / page.relative_to(PAGES)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(page, target)
    for notebook in notebook_sources():
        target = src / notebook
        target.parent.mkdir(parents=True, exist_ok=True)
        content = json.loads((NOTEBOOKS / notebook).read_text(encoding="utf-8"))
        target.write_text(json.dumps(without_solutions(content), ensure_ascii=False, indent=1),
                          encoding="utf-8")
    return src


def build(out: Path, work: Path, strict: bool = False, quiet: bool = False) -> int:
    """Build the site into ``out`` (replaced whole); Sphinx's return code."""
    src = prepare_sources(work / "src")
    html = work / "html"
    for stale in (html, work / "doctrees", work / "jupyter_execute"):
        if stale.exists():
            shutil.rmtree(stale)  # a full build every time: no stale pages
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-c", str(SITE),
               "-d", str(work / "doctrees"), "-j", "auto"]
    if strict:
        command += ["-W", "--keep-going"]
    if quiet:
        command += ["-q"]
    status = subprocess.call(command + [str(src), str(html)])
    if status == 0:
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(html, out, ignore=shutil.ignore_patterns(".buildinfo", "_sources"))
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_site", help="output folder (default _site)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "site",
                        help="work folder: sources, doctrees, intermediate files (default build/site)")
    parser.add_argument("--strict", action="store_true", help="turn Sphinx warnings into errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    args = parser.parse_args(argv)
    status = build(args.out.resolve(), args.work.resolve(), strict=args.strict, quiet=args.quiet)
    if status == 0:
        print(f"course website: {args.out / 'index.html'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
