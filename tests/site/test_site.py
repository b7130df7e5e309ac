"""The course website (``make site``): built once per session, then checked as files.

``site/build.py`` lays out the sources (site/pages + copies of the notebooks'
``.ipynb`` files), runs sphinx-build with ``-W`` (every warning an error) and
copies the HTML out.  These tests check what a visitor gets: a page per
notebook, every image and internal link present, no link to a notebook or
Markdown source, launch links (Binder, JupyterHub via nbgitpuller) with the
right notebook path and branch (``COURSE_BRANCH``: here a test value; by
default ``students``), diagrams as images, source excerpts highlighted, and the
licence statement.  Nothing is executed: the pages come from stored outputs.

Without Sphinx (the ``site`` extra) the tests skip -- except in CI (``CI`` set),
where that is a failure.
"""

from __future__ import annotations

import html
import importlib.util
import re
import os
import posixpath
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(str(p.relative_to(NOTEBOOK_DIR)).replace(os.sep, "/")
                   for p in NOTEBOOK_DIR.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
REPOSITORY = "github.com/example-org/netlesson"
HUB = "https://hub.example.edu"
BRANCH = "students-2026"
BUILD_TIMEOUT = 300

pytestmark = pytest.mark.site

_missing = [name for name in ("sphinx", "myst_nb", "sphinx_book_theme") if importlib.util.find_spec(name) is None]
if _missing:
    reason = f"the site extra is not installed (missing {', '.join(_missing)}): pip install -e '.[site]'"
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)


class Page(HTMLParser):
    """The links, images, ids and launch links of one HTML page."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.srcs: list[str] = []
        self.images: list[str] = []
        self.ids: set[str] = set()
        self.launch: dict[str, str] = {}
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        if tag in ("a", "link") and attrs.get("href") is not None:
            self.hrefs.append(attrs["href"])
        if tag in ("img", "script", "source") and attrs.get("src"):
            self.srcs.append(attrs["src"])
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])
        for cls in (attrs.get("class") or "").split():
            if cls.startswith("netlesson-launch-") and tag == "a":
                self.launch[cls.removeprefix("netlesson-launch-")] = attrs["href"]


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("site")
    out = work / "out"
    env = dict(os.environ, COURSE_REPOSITORY=REPOSITORY, COURSE_HUB_URL=HUB, COURSE_BRANCH=BRANCH)
    result = subprocess.run([sys.executable, str(ROOT / "site" / "build.py"), "--strict", "-q",
                             "--out", str(out), "--work", str(work / "work")],
                            capture_output=True, text=True, timeout=BUILD_TIMEOUT, env=env, cwd=ROOT)
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    assert not (ROOT / "jupyter_execute").exists(), "myst-nb wrote into the repository"
    return out


@pytest.fixture(scope="session")
def pages(site) -> dict[str, Page]:
    """Every HTML page of the site, by its path relative to the site (posix)."""
    return {str(p.relative_to(site)).replace(os.sep, "/"): Page(p.read_text(encoding="utf-8"))
            for p in site.rglob("*.html") if "_static" not in p.relative_to(site).parts}


def _html(name: str) -> str:
    return name.removesuffix(".ipynb") + ".html"


def _local(url: str) -> bool:
    parsed = urlparse(url)
    return not parsed.scheme and not parsed.netloc and not url.startswith(("#", "mailto:", "data:"))


def test_the_course_has_nineteen_notebooks():
    """11 lessons and 8 exercises: a notebook added or lost must be a deliberate change here."""
    assert len(NOTEBOOKS) == 19, NOTEBOOKS


def test_one_page_per_notebook_and_a_landing_page(site):
    missing = [nb for nb in NOTEBOOKS if not (site / _html(nb)).is_file()]
    assert not missing
    assert (site / "index.html").is_file()
    assert (site / "exercises" / "index.html").is_file()
    # only the .ipynb halves were read: no page came from a paired .md, nothing was executed
    assert not list(site.rglob("*.ipynb")) and not list(site.rglob("*.md"))


def test_every_image_exists(site, pages):
    broken = [(name, src) for name, page in pages.items() for src in page.srcs
              if _local(src) and not (site / posixpath.dirname(name) / urlparse(src).path).resolve().is_file()]
    assert not broken


def test_every_internal_link_resolves_to_a_file_and_anchor(site, pages):
    broken = []
    for name, page in pages.items():
        for href in page.hrefs:
            if not _local(href):
                continue
            parsed = urlparse(href)
            target = posixpath.normpath(posixpath.join(posixpath.dirname(name), parsed.path))
            if not (site / target).exists():
                broken.append((name, href, "no such file"))
            elif parsed.fragment and target in pages and parsed.fragment not in pages[target].ids:
                broken.append((name, href, "no such anchor"))
    assert not broken


def test_no_link_points_at_a_notebook_or_markdown_source(pages):
    sources = [(name, href) for name, page in pages.items() for href in page.hrefs
               if _local(href) and urlparse(href).path.endswith((".ipynb", ".md"))]
    assert not sources


def test_links_between_notebooks_point_at_pages(pages):
    # written as (02_tcp_echo.ipynb), (../02_tcp_echo.ipynb), (exercises/ex01_line_echo.ipynb), (exercises/)
    assert "02_tcp_echo.html" in pages["01_socketserver_classes.html"].hrefs
    assert "../06_pitfalls.html" in pages["exercises/ex01_line_echo.html"].hrefs
    assert "exercises/ex01_line_echo.html" in pages["exercises/index.html"].hrefs or \
        "ex01_line_echo.html" in pages["exercises/index.html"].hrefs
    assert "exercises/index.html" in pages["00_index.html"].hrefs  # the folder link [exercises/](exercises/)
    assert "02_tcp_echo.html" in pages["index.html"].hrefs


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_each_page_has_binder_and_jupyterhub_launch_links(pages, notebook):
    launch = pages[_html(notebook)].launch
    binder = urlparse(launch["binder"])
    assert (binder.scheme, binder.netloc, binder.path) == \
        ("https", "mybinder.org", f"/v2/gh/example-org/netlesson/{BRANCH}")
    assert parse_qs(binder.query) == {"urlpath": [f"lab/tree/notebooks/{notebook}"]}
    hub = urlparse(launch["hub"])
    assert (hub.scheme, hub.netloc, hub.path) == ("https", "hub.example.edu", "/hub/user-redirect/git-pull")
    assert parse_qs(hub.query) == {"repo": [f"https://{REPOSITORY}"],
                                   "urlpath": [f"lab/tree/netlesson/notebooks/{notebook}"],
                                   "branch": [BRANCH]}


def test_the_landing_pages_have_no_launch_links(pages):
    assert not pages["index.html"].launch and not pages["exercises/index.html"].launch


def test_diagrams_are_images_not_their_text_fallback(site, pages):
    page = pages["01_socketserver_classes.html"]
    diagrams = [src for src in page.images if src.endswith((".svg", ".png"))]
    # the class diagrams; the MRO diagrams at the predict points appear only after a guess
    assert len(diagrams) >= 3, page.images
    text = (site / "01_socketserver_classes.html").read_text(encoding="utf-8")
    assert "base classes listed first" not in text  # the diagrams' text/plain summary
    assert any(src.endswith(".png") for src in pages["07_concurrency.html"].images)  # the plot


def test_source_excerpts_are_html_with_their_highlighting(site):
    text = (site / "04_tcp_walkthrough.html").read_text(encoding="utf-8")
    start = text.index('<div class="netlesson-source">')
    assert "&lt;div class=&quot;netlesson-source" not in text  # not shown as escaped text
    excerpts = text[start:]
    assert '<span style="color: #008000; font-weight: bold">class</span>' in excerpts  # syntax colours
    assert "border-left:3px solid #" in excerpts  # a highlighted line's bar


def test_widgets_show_their_text_summary(site):
    text = (site / "01_socketserver_classes.html").read_text(encoding="utf-8")
    assert "MroExplorer" in text and "application/vnd.jupyter.widget-view+json" not in text


def test_licence_statement_on_every_page(site, pages):
    for name in pages:
        if name in ("genindex.html", "search.html"):
            continue
        text = (site / name).read_text(encoding="utf-8")
        assert "CC BY-SA 4.0" in text and "MIT" in text, name
    assert "https://creativecommons.org/licenses/by-sa/4.0/" in (site / "index.html").read_text(encoding="utf-8")


def test_launch_links_for_other_hosts_and_without_a_hub():
    sys.path.insert(0, str(ROOT / "site"))
    try:
        import course_site
    finally:
        sys.path.remove(str(ROOT / "site"))
    assert course_site.binder_url("https://github.com/a/b.git", "00_index.ipynb") == \
        "https://mybinder.org/v2/gh/a/b/HEAD?urlpath=lab/tree/notebooks/00_index.ipynb"
    assert course_site.binder_url("github.com/a/b", "00_index.ipynb", "notebooks", "students") == \
        "https://mybinder.org/v2/gh/a/b/students?urlpath=lab/tree/notebooks/00_index.ipynb"
    assert course_site.binder_url("github.com/a/b", "x.ipynb", "notebooks", "term/2026").startswith(
        "https://mybinder.org/v2/gh/a/b/term%2F2026?")
    assert course_site.binder_url("gitlab.com/g/sub/p", "x.ipynb").startswith(
        "https://mybinder.org/v2/gl/g%2Fsub%2Fp/HEAD?")
    assert course_site.binder_url("git.example.edu/course/netlesson", "x.ipynb").startswith(
        "https://mybinder.org/v2/git/https%3A%2F%2Fgit.example.edu%2Fcourse%2Fnetlesson/HEAD?")

    class Config:
        course_repository = REPOSITORY
        course_hub_url = ""
        course_branch = "students"
        course_notebooks_dir = "notebooks"

    assert "netlesson-launch-hub" not in course_site.launch_html(Config, "00_index.ipynb")
    assert 'href="https://mybinder.org/v2/gh/example-org/netlesson/students?' in \
        course_site.launch_html(Config, "00_index.ipynb")
    Config.course_hub_url = HUB + "/"
    assert f'href="{HUB}/hub/user-redirect/git-pull?' in course_site.launch_html(Config, "00_index.ipynb")
    assert "branch=students" in course_site.launch_html(Config, "00_index.ipynb")


def test_the_launch_branch_defaults_to_the_students_branch(monkeypatch):
    """site/conf.py: COURSE_BRANCH, else ``students`` (what make student-branch writes)."""
    import runpy

    monkeypatch.setattr(sys, "path", list(sys.path))  # conf.py puts site/ on it
    monkeypatch.delenv("COURSE_BRANCH", raising=False)
    assert runpy.run_path(str(ROOT / "site" / "conf.py"))["course_branch"] == "students"
    monkeypatch.setenv("COURSE_BRANCH", " term-2 ")
    assert runpy.run_path(str(ROOT / "site" / "conf.py"))["course_branch"] == "term-2"


@pytest.mark.parametrize("notebook", [n for n in NOTEBOOKS if n.startswith("exercises/")])
def test_exercise_pages_show_the_released_version_without_solutions(site, notebook):
    """The public site must not hand out answers: it shows the student edition, whose
    solutions are nbgrader's stub; no line of the instructor's solution is on the page."""
    import json

    source = json.loads((ROOT / "instructor" / notebook).read_text(encoding="utf-8"))
    solutions = [line.strip() for cell in source["cells"]
                 for region in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION",
                                          "".join(cell["source"]), re.DOTALL)
                 for line in region.splitlines() if len(line.strip()) > 12]
    assert solutions, f"{notebook} has no solution region to hide"
    # a line the task text itself quotes (a hint such as `sel.unregister(conn)`) is not a leak
    student = json.loads((ROOT / "notebooks" / notebook).read_text(encoding="utf-8"))
    task_text = "".join("".join(c["source"]) for c in student["cells"] if c["cell_type"] == "markdown")
    solutions = [line for line in solutions if line not in task_text]
    text = html.unescape((site / _html(notebook)).read_text(encoding="utf-8"))
    assert "BEGIN SOLUTION" not in text
    assert "NotImplementedError" in text
    leaked = [line for line in solutions if line in text]
    assert not leaked, f"solution lines on the public page: {leaked[:3]}"


def test_the_build_refuses_a_notebook_with_a_solution(tmp_path, monkeypatch):
    """A source notebook copied into notebooks/ by mistake stops the build, before Sphinx."""
    spec = importlib.util.spec_from_file_location("site_build", ROOT / "site" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    (tmp_path / "exercises").mkdir()
    source = ROOT / "instructor" / "exercises" / "ex01_line_echo.ipynb"
    (tmp_path / "exercises" / source.name).write_bytes(source.read_bytes())
    monkeypatch.setattr(build, "NOTEBOOKS", tmp_path)
    with pytest.raises(SystemExit, match="not publishing solutions: exercises/ex01_line_echo.ipynb"):
        build.prepare_sources(tmp_path / "src")
    assert not list((tmp_path / "src").rglob("*.ipynb"))


def test_readme_launch_links_point_at_the_repository_in_pyproject():
    """The README's Binder badge and nbgitpuller link, and the site's default, are one address."""
    import tomllib

    repository = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["urls"]["Repository"]
    sys.path.insert(0, str(ROOT / "site"))
    try:
        import course_site
    finally:
        sys.path.remove(str(ROOT / "site"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    badge = course_site.binder_url(repository, "00_index.ipynb", "notebooks", "students")
    assert f"[![Binder](https://mybinder.org/badge_logo.svg)]({badge})" in readme.split("## ")[0], \
        "the Binder badge belongs on the README's first screen, pointing at pyproject's Repository"
    hub_link = course_site.nbgitpuller_url("https://hub.example.edu", repository, "00_index.ipynb")
    assert f"]({hub_link})" in readme
    # the site's default is the same address (COURSE_REPOSITORY unset)
    env = {k: v for k, v in os.environ.items() if k != "COURSE_REPOSITORY"}
    out = subprocess.run([sys.executable, "-c", "import runpy; print(runpy.run_path('site/conf.py')['course_repository'])"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == repository
