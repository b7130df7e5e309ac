"""Build the course website (``make site``) from the notebooks' stored outputs.

Sphinx reads one source folder, and the course's sources live in two places:
the landing pages here in ``site/`` and the executed notebooks in
``notebooks/``.  So this script lays out a fresh source folder (by default
``build/site/src/``, ignored by git) with

* ``index.md`` and ``exercises/index.md`` from ``site/pages/``,
* a copy of every ``notebooks/**/*.ipynb`` -- only the ``.ipynb`` files, the
  halves of the jupytext pairs that hold the outputs; the ``.md`` halves would
  be read as text notebooks without outputs, and ``.ipynb_checkpoints`` stay out.
  The exercises in ``notebooks/exercises/`` are the student edition that
  ``make exercises`` writes with nbgrader (solutions replaced by the stub,
  outputs cleared), so the public site shows them as released; the sources with
  the solutions live in ``instructor/``, which the site never reads.  A notebook
  that still carries a solution marker stops the build (:func:`check_no_solutions`),

then runs ``sphinx-build`` with the configuration in ``site/conf.py``
(myst-nb with execution off: nothing is executed) and copies the HTML to
``_site/``.  Everything else stays in the work folder (``build/site/``: the
sources in ``src/``, Sphinx's doctrees, and the ``jupyter_execute/`` folder that
myst-nb always writes beside Sphinx's output folder).

    python site/build.py [--out _site] [--work build/site] [--strict] [-q]

The launch links read ``COURSE_REPOSITORY``, ``COURSE_HUB_URL`` and ``COURSE_BRANCH``
(default ``students``, the branch ``make student-branch`` writes; see conf.py).
"""

from __future__ import annotations

import argparse
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


#: nbgrader's solution markers: never on a public page
SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION")


def check_no_solutions(notebooks: list[Path]) -> None:
    """Stop before publishing a notebook that carries a solution (relative to notebooks/)."""
    leaking = [str(nb) for nb in notebooks
               if any(m in (NOTEBOOKS / nb).read_text(encoding="utf-8") for m in SOLUTION_MARKERS)]
    if leaking:
        raise SystemExit(f"not publishing solutions: {', '.join(leaking)} in notebooks/ carry "
                         f"nbgrader solution markers; exercise sources belong in instructor/exercises/, "
                         f"and notebooks/exercises/ is written by  make exercises")


def prepare_sources(src: Path) -> Path:
    """Lay out Sphinx's source folder: the site's own pages plus copies of the notebooks."""
    if src.exists():
        shutil.rmtree(src)
    for page in PAGES.rglob("*.md"):
        target = src / page.relative_to(PAGES)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(page, target)
    notebooks = notebook_sources()
    check_no_solutions(notebooks)
    for notebook in notebooks:
        target = src / notebook
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(NOTEBOOKS / notebook, target)
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
