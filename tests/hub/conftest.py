"""tests/hub/ drives a real JupyterHub: deploy/, tests/instructor/ and tests/browser/ helpers are importable here."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for path in (HERE, ROOT / "deploy", ROOT / "tests" / "instructor", ROOT / "tests" / "browser"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
