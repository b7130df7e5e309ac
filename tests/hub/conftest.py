"""tests/hub/ drives a real JupyterHub: deploy/ and tests/instructor/ helpers are importable here."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for path in (HERE, ROOT / "deploy", ROOT / "tests" / "instructor"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
