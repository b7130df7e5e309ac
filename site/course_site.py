"""The course website's own Sphinx extension (site/conf.py loads it).

1. Launch links on every notebook page: Binder, and a JupyterHub through nbgitpuller.

Configured in conf.py (``course_repository``, ``course_hub_url``,
``course_branch``, ``course_notebooks_dir``); a page built from
``exercises/ex01_line_echo.ipynb`` links to

* ``https://mybinder.org/v2/gh/OWNER/netlesson/students?urlpath=lab/tree/notebooks/exercises/ex01_line_echo.ipynb``
* ``HUB/hub/user-redirect/git-pull?repo=https://github.com/OWNER/netlesson&urlpath=lab/tree/netlesson/notebooks/exercises/ex01_line_echo.ipynb&branch=students``
  (query values URL-encoded; only when ``course_hub_url`` is set).

Both open ``course_branch`` (default ``students``: the branch ``make
student-branch`` writes, the course without ``instructor/``).

2. Links to a folder, such as ``[exercises/](exercises/)`` in the lessons (in
   JupyterLab they open the file browser there), go to that folder's
   ``index`` page on the site.
"""

from __future__ import annotations

import html
import posixpath
from urllib.parse import quote, urlencode

from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform

BINDER = "https://mybinder.org"


def _repository(setting: str) -> tuple[str, str]:
    """(host/path, https URL) of COURSE_REPOSITORY, written with or without https:// and .git."""
    bare = setting.strip().removeprefix("https://").removeprefix("http://").rstrip("/").removesuffix(".git")
    return bare, f"https://{bare}"


def binder_url(repository: str, notebook: str, notebooks_dir: str = "notebooks",
               ref: str = "HEAD") -> str:
    bare, url = _repository(repository)
    host, _, path = bare.partition("/")
    ref = quote(ref, safe="")
    if host == "github.com":
        spec = f"gh/{path}/{ref}"
    elif host == "gitlab.com":
        spec = f"gl/{quote(path, safe='')}/{ref}"
    else:
        spec = f"git/{quote(url, safe='')}/{ref}"
    return f"{BINDER}/v2/{spec}?urlpath=lab/tree/{notebooks_dir}/{notebook}"


def nbgitpuller_url(hub: str, repository: str, notebook: str, branch: str = "students",
                    notebooks_dir: str = "notebooks") -> str:
    bare, url = _repository(repository)
    name = bare.rsplit("/", 1)[-1]  # nbgitpuller clones into a folder named after the repository
    query = urlencode({"repo": url, "urlpath": f"lab/tree/{name}/{notebooks_dir}/{notebook}",
                       "branch": branch})
    return f"{hub.rstrip('/')}/hub/user-redirect/git-pull?{query}"


def launch_html(config, notebook: str) -> str:
    links = [("netlesson-launch-binder", binder_url(config.course_repository, notebook,
                                                    config.course_notebooks_dir,
                                                    config.course_branch),
              "在 Binder 中运行")]
    if config.course_hub_url:
        links.append(("netlesson-launch-hub",
                      nbgitpuller_url(config.course_hub_url, config.course_repository, notebook,
                                      config.course_branch, config.course_notebooks_dir),
                      "在 JupyterHub 中运行"))
    anchors = " ".join(f'<a class="{cls} reference external" href="{html.escape(url)}">{label}</a>'
                       for cls, url, label in links)
    return (f'<p class="netlesson-launch">运行这个笔记本：{anchors}'
            f' <span class="netlesson-launch-path">（<code>notebooks/{html.escape(notebook)}</code>）</span></p>\n')


def add_launch_links(app, pagename, templatename, context, doctree):
    """html-page-context: put the links at the top of every page built from a notebook."""
    if doctree is None or "body" not in context:
        return
    source = app.env.doc2path(pagename, base=False)
    if str(source).endswith(".ipynb"):
        notebook = pagename + ".ipynb"
        context["body"] = launch_html(app.config, notebook) + context["body"]


class FolderLinks(SphinxPostTransform):
    """``[text](folder/)`` -> the page ``folder/index``, before MyST resolves links (priority 9)."""

    default_priority = 8

    def run(self, **kwargs) -> None:
        for node in self.document.findall(addnodes.pending_xref):
            target = node.get("reftarget", "")
            if node.get("reftype") != "myst" or node.get("refdomain") == "doc" or not target.endswith("/"):
                continue
            refdoc = node.get("refdoc", self.env.docname)
            docname = posixpath.normpath(posixpath.join(posixpath.dirname(refdoc), target, "index"))
            if docname in self.env.all_docs:
                node["refdomain"], node["reftarget"], node["reftargetid"] = "doc", docname, None


def setup(app):
    app.add_config_value("course_repository", "github.com/OWNER/netlesson", "html")
    app.add_config_value("course_hub_url", "", "html")
    app.add_config_value("course_branch", "students", "html")
    app.add_config_value("course_notebooks_dir", "notebooks", "html")
    app.connect("html-page-context", add_launch_links)
    app.add_post_transform(FolderLinks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
