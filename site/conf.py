"""Sphinx configuration of the course website.  Build it with ``make site``.

``site/build.py`` lays out the sources (site/pages/*.md and copies of
notebooks/**/*.ipynb: the lessons, and the exercises' student edition without
solutions; never instructor/) and runs sphinx-build with ``-c site``.  myst-nb
renders each notebook from its stored outputs; nothing is executed.

Settings (environment variables), rendered into each notebook's launch links:

COURSE_REPOSITORY  the course's public git repository, e.g. github.com/OWNER/netlesson
                   (default: the Repository URL in pyproject.toml's [project.urls])
COURSE_HUB_URL     a JupyterHub that has nbgitpuller, e.g. https://hub.example.edu
                   (default: unset, and the pages carry no JupyterHub link)
COURSE_BRANCH      the branch both links open (default: students, the branch
                   ``make student-branch`` writes: the course without instructor/)
"""

import os
import sys
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

project = "netlesson"
author = "netlesson developers"
copyright = "netlesson developers"
language = "zh_CN"

extensions = ["myst_nb", "course_site"]

root_doc = "index"
# The source folder holds only what build.py put there; this guards a hand-run
# sphinx-build pointed at notebooks/: never the .md halves of the jupytext pairs
# (text notebooks without outputs), never checkpoints.
exclude_patterns = ["**/.ipynb_checkpoints", "_build", "0*.md", "exercises/ex*.md"]

# myst-nb: the stored outputs, never executed
nb_execution_mode = "off"
nb_merge_streams = True
# A static page has no kernel: show a widget's text/plain summary, not an empty
# widget view.  Diagrams carry SVG and PNG: the SVG is chosen (an <img>), and
# the source excerpts' text/html is shown as HTML (the default priorities).
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type"]

html_theme = "sphinx_book_theme"
html_title = "netlesson：用 socketserver 学 Python 网络编程"
html_copy_source = False
html_show_sourcelink = False
html_show_sphinx = False
LICENCE_NOTE = (
    '课程正文与插图采用 <a href="https://creativecommons.org/licenses/by-sa/4.0/deed.zh-hans">'
    "CC BY-SA 4.0</a> 许可（lesson text: CC BY-SA 4.0）；代码采用 MIT 许可（code: MIT）。"
)
html_theme_options = {
    "use_download_button": False,
    "use_fullscreen_button": False,
    "extra_footer": f'<p class="netlesson-licence">{LICENCE_NOTE}</p>',
    "show_toc_level": 2,
}

# course_site.py reads these
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
course_repository = (os.environ.get("COURSE_REPOSITORY", "").strip()
                     or tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["urls"]["Repository"])
course_hub_url = os.environ.get("COURSE_HUB_URL", "").strip()
course_branch = os.environ.get("COURSE_BRANCH", "").strip() or "students"
course_notebooks_dir = "notebooks"
