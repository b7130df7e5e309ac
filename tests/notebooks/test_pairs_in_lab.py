"""JupyterLab, served the way ``make lab`` serves it, keeps each lesson's pair in step.

A fix made in JupyterLab (the natural place) must land in the ``.md`` too, and a
fix made in the ``.md`` must show when the notebook is opened.  This drives a real
``jupyter lab`` server (a throw-away copy of ``notebooks/`` as its root, like the
browser tests) through its contents REST API, which is what JupyterLab's editor
calls when it opens and saves a notebook.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
import urllib.request
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[2]

_spec = importlib.util.spec_from_file_location("labserver", ROOT / "tests" / "browser" / "labserver.py")
labserver = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(labserver)

pytestmark = pytest.mark.notebooks

LESSON = "02_tcp_echo"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    server = labserver.LabServer.start(ROOT / "notebooks", tmp_path_factory.mktemp("lab"))
    try:
        yield server
    finally:
        server.stop()


def _api(lab, method: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(lab.api_url(f"contents/{path}"), data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def test_saving_the_notebook_in_jupyterlab_updates_its_text_file(lab):
    model = _api(lab, "GET", f"{LESSON}.ipynb")
    nb = model["content"]
    first = nb["cells"][0]
    first["source"] = first["source"].replace("TCP 大写回显", "TCP 大写回显（课上修订）", 1)
    assert "课上修订" in first["source"]
    _api(lab, "PUT", f"{LESSON}.ipynb", {"type": "notebook", "format": "json", "content": nb})
    md = (lab.root / f"{LESSON}.md").read_text(encoding="utf-8")
    assert "TCP 大写回显（课上修订）" in md
    # the outputs stay in the .ipynb, and only there
    stored = json.loads((lab.root / f"{LESSON}.ipynb").read_text(encoding="utf-8"))
    assert any(c.get("outputs") for c in stored["cells"] if c["cell_type"] == "code")
    assert '"outputs"' not in md


def test_an_edit_of_the_text_file_shows_when_the_notebook_is_opened(lab):
    md_path = lab.root / f"{LESSON}.md"
    text = jupytext.read(md_path)
    code = next(c for c in text.cells if c.cell_type == "code")
    code.source = "# edited in a text editor\n" + code.source
    jupytext.write(text, md_path, fmt="md:myst")
    later = time.time() + 5  # unambiguously newer than the .ipynb, as a real save would be
    os.utime(md_path, (later, later))
    nb = _api(lab, "GET", f"{LESSON}.ipynb")["content"]
    sources = [c["source"] for c in nb["cells"] if c["cell_type"] == "code"]
    assert sources[0].startswith("# edited in a text editor\n")
