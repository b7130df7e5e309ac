"""Keep each lesson's two files in step, execute them, and check them.

Every notebook is a jupytext pair (``jupytext.toml`` beside it)::

    notebooks/NN_name.md                the source people edit: prose and code (MyST Markdown)
    notebooks/NN_name.ipynb             the same cells with their executed outputs
    instructor/exercises/exNN_name.md   an exercise's source, with its solutions
    instructor/exercises/exNN_name.ipynb    the same, executed with the solutions
    notebooks/exercises/exNN_name.ipynb the student edition: nbgrader's release of the
                                        instructor's notebook (no solutions, no outputs)
    notebooks/exercises/exNN_name.md    its text file, written by jupytext from it

Usage (``make notebooks`` runs ``execute``, ``make exercises`` runs ``students``)::

    python tools/notebooks.py sync     [PATH ...]  # bring both files of each pair in step
    python tools/notebooks.py execute  [PATH ...]  # sync, run every cell, store the outputs
    python tools/notebooks.py check    [PATH ...]  # pairs agree and no output is stale
    python tools/notebooks.py students             # regenerate notebooks/exercises/ (needs nbgrader)

A PATH is either file of a pair (``notebooks/02_tcp_echo.md`` or
``instructor/exercises/ex04_framing.md``, or the ``.ipynb``); no PATH means every
lesson and every instructor exercise.  The student edition is never synced or
executed by hand: ``students`` writes it, with nbgrader's own
``generate_assignment`` (:func:`netlesson.instructor.release`), from the
instructor's executed notebooks.  ``sync`` is jupytext's own ``--sync``: the newer file of
the pair supplies the cells, the ``.ipynb`` keeps its outputs and cell ids (so a
cell inserted in the ``.md`` gets a new id and no other id changes).

``execute`` stores, in each code cell's ``execution`` metadata (which jupytext
keeps out of the ``.md``), a hash of the source that produced the outputs, so
``check`` can tell an output that no longer belongs to its cell.  Outputs are
never edited by hand: this script is the only thing that writes them.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
from jupytext.cli import jupytext as jupytext_cli
from jupytext.config import load_jupytext_config
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
#: the exercises' sources, with solutions, executed (instructors only)
INSTRUCTOR_EXERCISES = ROOT / "instructor" / "exercises"
#: the exercises as students get them: generated from INSTRUCTOR_EXERCISES by ``students``
STUDENT_EXERCISES = NOTEBOOKS / "exercises"

#: key in a code cell's ``execution`` metadata: sha256 of the source that was executed
SOURCE_HASH = "netlesson/source-sha256"


def source_hash(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def _pairs_in(folder: Path) -> list[Path]:
    """The ``.ipynb`` of every pair under *folder*, and any ``.md`` lesson without one."""
    stems = {p.with_suffix("") for p in folder.rglob("*.ipynb")} | {p.with_suffix("") for p in folder.rglob("*.md")}
    return sorted(s.with_suffix(".ipynb") for s in stems if ".ipynb_checkpoints" not in s.parts)


def is_student_edition(path: Path) -> bool:
    """Whether *path* is in notebooks/exercises/ (generated, never edited or executed)."""
    return STUDENT_EXERCISES in Path(path).resolve().parents


def executed_pairs() -> list[Path]:
    """The pairs whose ``.ipynb`` stores outputs: the lessons and the instructor's exercises."""
    return [p for p in _pairs_in(NOTEBOOKS) if not is_student_edition(p)] + _pairs_in(INSTRUCTOR_EXERCISES)


def student_pairs() -> list[Path]:
    """The student edition of the exercises (notebooks/exercises/)."""
    return _pairs_in(STUDENT_EXERCISES)


def all_pairs() -> list[Path]:
    """Every pair: the lessons, the student edition and the instructor's exercises."""
    return sorted(_pairs_in(NOTEBOOKS) + _pairs_in(INSTRUCTOR_EXERCISES))


def _pair_paths(args: list[str], action: str) -> list[Path]:
    if not args:
        return all_pairs() if action == "check" else executed_pairs()
    paths = []
    for arg in args:
        path = Path(arg).resolve()
        if path.suffix not in (".md", ".ipynb"):
            raise SystemExit(f"{arg}: give a lesson's .md or .ipynb file")
        if not path.exists():
            raise SystemExit(f"{arg}: no such file")
        if action != "check" and is_student_edition(path):
            source = INSTRUCTOR_EXERCISES / path.with_suffix(".md").name
            raise SystemExit(f"{arg} is the student edition, generated from "
                             f"{_shown(source)}: edit that, then  make notebooks NB={_shown(source)}"
                             f"  and  make exercises")
        paths.append(path.with_suffix(".ipynb"))
    return paths


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def sync(ipynb: Path, quiet: bool = True) -> None:
    """jupytext ``--sync`` of one pair (creates the ``.ipynb`` from a new ``.md``)."""
    md = ipynb.with_suffix(".md")
    target = md if md.exists() else ipynb
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        status = jupytext_cli(["--sync", str(target)])
    if status:
        raise RuntimeError(f"jupytext --sync {_shown(target)} failed:\n{out.getvalue()}")
    if not quiet:
        for line in out.getvalue().splitlines():
            if "Updating" in line and "timestamp" not in line:
                print(line)


def execute(ipynb: Path, timeout: int = 120) -> float:
    """Sync, execute every cell in the notebook's folder, store outputs and source hashes."""
    sync(ipynb, quiet=False)
    nb = nbformat.read(ipynb, as_version=4)
    # record_timing=False: no per-cell timestamps, so re-running an unchanged
    # notebook does not change its file
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(ipynb.parent)}})
    t0 = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - t0
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.metadata.setdefault("execution", {})[SOURCE_HASH] = source_hash(cell.source)
    nbformat.write(nb, ipynb)
    # The .md (unchanged) must not look older than the .ipynb: jupytext in
    # JupyterLab warns about, and refuses to open, a pair whose text file
    # seems outdated.  Touch it, as jupytext --sync does.
    os.utime(ipynb.with_suffix(".md"))
    return elapsed


def _cells(nb) -> list[tuple[str, str, dict]]:
    return [(c.cell_type, c.source, {k: v for k, v in c.metadata.items() if k != "execution"})
            for c in nb.cells]


def pair_problems(ipynb: Path) -> list[str]:
    """How the ``.md`` and the ``.ipynb`` of a pair disagree (empty: they agree)."""
    md = ipynb.with_suffix(".md")
    missing = [p.name for p in (md, ipynb) if not p.exists()]
    if missing:
        return [f"{_shown(ipynb.with_suffix(''))}: {' and '.join(missing)} missing"]
    text, stored = _cells(jupytext.read(md)), _cells(nbformat.read(ipynb, as_version=4))
    problems = []
    if len(text) != len(stored):
        problems.append(f"{_shown(md)} has {len(text)} cells, {ipynb.name} has {len(stored)}")
    for index, (a, b) in enumerate(zip(text, stored)):
        for what, x, y in (("type", a[0], b[0]), ("source", a[1], b[1]), ("metadata", a[2], b[2])):
            if x != y:
                problems.append(f"{_shown(md)}: cell {index} differs in its {what} from {ipynb.name}")
                break
    return problems


def stale_outputs(ipynb: Path) -> list[str]:
    """Code cells whose stored outputs were not produced by their current source."""
    nb = nbformat.read(ipynb, as_version=4)
    stale = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        recorded = cell.metadata.get("execution", {}).get(SOURCE_HASH)
        if recorded is None:
            stale.append(f"{_shown(ipynb)}: cell {index} ({cell.id}) has no record of being executed")
        elif recorded != source_hash(cell.source):
            stale.append(f"{_shown(ipynb)}: cell {index} ({cell.id}) changed after its outputs were stored")
    return stale


def _write_text_pair(ipynb: Path, config_dir: Path) -> Path:
    """Write the ``.md`` of *ipynb* with jupytext, under the ``jupytext.toml`` of *config_dir*."""
    md = ipynb.with_suffix(".md")
    config = load_jupytext_config(str(config_dir / ipynb.name))
    # written after the .ipynb: jupytext in JupyterLab refuses a text file older than its notebook
    jupytext.write(nbformat.read(ipynb, as_version=4), md, fmt="md:myst", config=config)
    return md


def release_students(out_dir: Path, source_dir: Path = INSTRUCTOR_EXERCISES) -> list[Path]:
    """Write the student edition of the exercises in *source_dir* into *out_dir*.

    Each ``.ipynb`` is exactly what nbgrader's ``generate_assignment`` released
    (solutions replaced by the stub, outputs cleared, nbgrader's metadata kept);
    beside it goes its ``.md``, written by jupytext with notebooks/jupytext.toml.
    Needs nbgrader (the instructor environment).  Returns the ``.ipynb`` files.
    """
    from netlesson import instructor  # nbgrader: only the instructor environment has it

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="netlesson-students-") as tmp:
        released = instructor.release(Path(tmp), source_dir=Path(source_dir))
        for notebook in sorted(Path(released).glob("*.ipynb")):
            target = out_dir / notebook.name
            shutil.copyfile(notebook, target)
            _write_text_pair(target, STUDENT_EXERCISES)
            written.append(target)
    return written


def students() -> int:
    """Regenerate notebooks/exercises/ from instructor/exercises/ (``make exercises``)."""
    sources = _pairs_in(INSTRUCTOR_EXERCISES)
    problems = [p for path in sources for p in pair_problems(path) + stale_outputs(path)]
    if problems:
        print("\n".join(problems))
        print("the instructor's exercises are not executed as they stand: run  make notebooks "
              "NB=instructor/exercises/exNN_name.md  first")
        return 1
    written = release_students(STUDENT_EXERCISES)
    keep = {p.name for p in written} | {p.with_suffix(".md").name for p in written}
    for old in sorted(STUDENT_EXERCISES.glob("*.ipynb")) + sorted(STUDENT_EXERCISES.glob("*.md")):
        if old.name not in keep:  # its instructor source is gone
            old.unlink()
            print(f"removed  {_shown(old)}")
    for path in written:
        print(f"released {_shown(path)} (+ .md)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/notebooks.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["sync", "execute", "check", "students"])
    parser.add_argument("paths", nargs="*",
                        help="lessons or instructor exercises (.md or .ipynb); default: every "
                             "lesson and instructor exercise (check: the student edition too)")
    args = parser.parse_args(argv)
    if args.action == "students":
        if args.paths:
            parser.error("students takes no PATH: it releases every instructor exercise")
        return students()
    paths = _pair_paths(args.paths, args.action)
    if args.action == "sync":
        for path in paths:
            sync(path, quiet=False)
        return 0
    if args.action == "execute":
        total = 0.0
        for path in paths:
            elapsed = execute(path)
            total += elapsed
            print(f"{elapsed:6.1f} s  {_shown(path)}", flush=True)
        print(f"{total:6.1f} s  total ({len(paths)} notebooks)")
        if any(INSTRUCTOR_EXERCISES in path.parents for path in paths):
            print("instructor exercises executed: now  make exercises  (the student edition)")
        return 0
    problems = [p for path in paths for p in pair_problems(path)
                + ([] if is_student_edition(path) else stale_outputs(path))]
    for problem in problems:
        print(problem)
    if problems:
        print("run `make notebooks` (or: python tools/notebooks.py execute PATH) and commit both files;"
              " for notebooks/exercises/: `make exercises`")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
