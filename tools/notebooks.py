"""Keep each lesson's two files in step, execute them, and check them.

Every notebook under ``notebooks/`` is a jupytext pair (``jupytext.toml``)::

    notebooks/NN_name.md      the source people edit: prose and code (MyST Markdown)
    notebooks/NN_name.ipynb   the same cells with their executed outputs

Usage (``make notebooks`` runs ``execute`` on every pair)::

    python tools/notebooks.py sync    [PATH ...]   # bring both files of each pair in step
    python tools/notebooks.py execute [PATH ...]   # sync, run every cell, store the outputs
    python tools/notebooks.py check   [PATH ...]   # pairs agree and no output is stale

A PATH is either file of a pair (``notebooks/02_tcp_echo.md`` or ``.ipynb``); no
PATH means every pair.  ``sync`` is jupytext's own ``--sync``: the newer file of
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
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from jupytext.cli import jupytext as jupytext_cli
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

#: key in a code cell's ``execution`` metadata: sha256 of the source that was executed
SOURCE_HASH = "netlesson/source-sha256"


def source_hash(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def all_pairs(folder: Path = NOTEBOOKS) -> list[Path]:
    """The ``.ipynb`` of every pair under *folder*, and any ``.md`` lesson without one."""
    stems = {p.with_suffix("") for p in folder.rglob("*.ipynb")} | {p.with_suffix("") for p in folder.rglob("*.md")}
    return sorted(s.with_suffix(".ipynb") for s in stems if ".ipynb_checkpoints" not in s.parts)


def _pair_paths(args: list[str]) -> list[Path]:
    if not args:
        return all_pairs()
    paths = []
    for arg in args:
        path = Path(arg).resolve()
        if path.suffix not in (".md", ".ipynb"):
            raise SystemExit(f"{arg}: give a lesson's .md or .ipynb file")
        if not path.exists():
            raise SystemExit(f"{arg}: no such file")
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/notebooks.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["sync", "execute", "check"])
    parser.add_argument("paths", nargs="*", help="lessons (.md or .ipynb); default: every pair under notebooks/")
    args = parser.parse_args(argv)
    paths = _pair_paths(args.paths)
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
        return 0
    problems = [p for path in paths for p in pair_problems(path) + stale_outputs(path)]
    for problem in problems:
        print(problem)
    if problems:
        print("run `make notebooks` (or: python tools/notebooks.py execute PATH) and commit both files")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
