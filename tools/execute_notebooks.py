"""Execute course notebooks in place, storing their outputs, and report the time each took.

    python tools/execute_notebooks.py                 # every notebook under notebooks/
    python tools/execute_notebooks.py notebooks/02_tcp_echo.ipynb

Outputs are never edited by hand: this script (or ``jupyter nbconvert --execute``)
is the only thing that writes them.  The kernel runs in the notebook's own folder,
as in JupyterLab, with the current interpreter.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def course_notebooks() -> list[Path]:
    return sorted(p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def execute(path: Path, timeout: int = 120) -> float:
    nb = nbformat.read(path, as_version=4)
    # record_timing=False: no per-cell timestamps, so re-running an unchanged
    # notebook does not change its file
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - t0
    nbformat.write(nb, path)
    return elapsed


def main(argv: list[str]) -> int:
    paths = [Path(a).resolve() for a in argv] or course_notebooks()
    total = 0.0
    for path in paths:
        elapsed = execute(path)
        total += elapsed
        print(f"{elapsed:6.1f} s  {path.relative_to(ROOT)}", flush=True)
    print(f"{total:6.1f} s  total ({len(paths)} notebooks)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
