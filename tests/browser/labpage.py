"""Drive one notebook in JupyterLab the way a student does, and say what went wrong.

:class:`StudentBrowser` is one JupyterLab tab.  For each notebook it does
what a student does: File > Open from Path…, wait until the kernel is idle,
Run > Run All Cells, wait until every cell has finished, File > Save; the
:class:`NotebookPage` then collects :class:`Problem` objects:

* **error** -- a code cell whose saved outputs contain an ``error`` output (an
  exception), unless the cell is tagged ``raises-exception`` (JupyterLab, like
  nbval, lets such a cell raise and goes on).  The verdict comes from the
  saved ``.ipynb``, not from the page: JupyterLab renders an exception and a
  plain ``print(..., file=sys.stderr)`` with the same DOM
  (``data-mime-type="application/vnd.jupyter.stderr"``), and only the file
  says which is which.  Stderr that is not an exception is never a problem.
* **not run** -- a non-empty code cell without an execution count after Run
  All (Run All stops at the first unexpected exception; the rest stay ``[ ]``).
* **widget** -- an ipywidgets view that failed: the ``jupyter-widgets-error-widget``
  element (its model or view class could not be loaded), the text ``Error
  displaying widget...`` or a ``Loading widget...`` that never went away.
* **traceback in widget** -- an exception traceback shown inside an ipywidgets
  ``Output`` (for example from a ``with out:`` block, which swallows the
  exception so the cell itself looks fine).
* **log console** -- an error-level entry with a traceback in JupyterLab's log
  console: that is where an exception raised in a widget callback (a button
  click) goes.

Waiting ends early, with a :class:`LabTimeout` that says what is on screen,
when JupyterLab shows a dialog (the kernel died, no kernelspec) or a cell waits
for ``input()``: a student would be stuck there too.

Selectors (JupyterLab 4.x, ipywidgets 8; checked against the live DOM):

=====================================================  ==========================================
``.jp-NotebookPanel``                                  the open notebook (one at a time)
``.jp-Notebook .jp-Cell``                              every cell, in order (windowing is off,
                                                       so all cells are in the DOM)
``.jp-InputPrompt``                                    ``[ ]:``, ``[*]:`` (queued or running),
                                                       ``[3]:``; clicking it selects the cell
``.jp-InputArea-editor``                               a cell's code editor (its ``innerText`` is
                                                       the code, one line per line)
``.jp-Notebook-ExecutionIndicator[data-status]``       toolbar kernel status: ``idle``, ``busy``,
                                                       ``connecting``, ``unknown``... It reads
                                                       ``idle`` for a moment *before* the kernel
                                                       exists, so readiness also asks the server
                                                       (``/api/sessions``: kernel idle, a websocket
                                                       connected).
``.lm-MenuBar-item`` labelled ``Run`` / ``File``      a menu; its items carry ``data-command``:
``[data-command="runmenu:run-all"]``                   Run > Run All Cells
``[data-command="runmenu:run"]``                       Run > Run Selected Cell
``[data-command="docmanager:save"]``                   File > Save Notebook
``[data-command="filebrowser:open-path"]``             File > Open from Path… (a dialog with
                                                       one ``input``)
``[data-command="application:close"]``                 File > Close Tab
``.jp-Stdin``                                          an ``input()`` box
``.jp-Dialog``                                         a modal dialog
``.jp-LogConsoleStatusItem``                           status-bar log count (hidden while empty)
``.jp-LogConsolePanel [data-log-level]``               one log console entry and its level
=====================================================  ==========================================
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

NOTEBOOK = ".jp-NotebookPanel"
CELLS = f"{NOTEBOOK} .jp-Notebook .jp-Cell"
RUN_MENU = ".lm-MenuBar-item:has(> .lm-MenuBar-itemLabel:text-is('Run'))"
FILE_MENU = ".lm-MenuBar-item:has(> .lm-MenuBar-itemLabel:text-is('File'))"
RUN_ALL_ITEM = ".lm-Menu-item[data-command='runmenu:run-all']"
RUN_CELL_ITEM = ".lm-Menu-item[data-command='runmenu:run']"
SAVE_ITEM = ".lm-Menu-item[data-command='docmanager:save']"
OPEN_PATH_ITEM = ".lm-Menu-item[data-command='filebrowser:open-path']"
CLOSE_TAB_ITEM = ".lm-Menu-item[data-command='application:close']"
LOG_STATUS = ".jp-LogConsoleStatusItem"

#: How IPython starts every rendered exception, and Python a printed one.
TRACEBACK_MARK = "Traceback (most recent call last)"

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# One round trip that reads everything the waiting loops need.
_STATE_JS = """
() => {
  const panel = document.querySelector('.jp-NotebookPanel');
  const dlg = document.querySelector('.jp-Dialog');
  const dialog = dlg && dlg.getClientRects().length ? dlg : null;
  if (!panel) return {panel: false, dialog: dialog ? dialog.innerText : null};
  const ind = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  const cells = [...panel.querySelectorAll('.jp-Notebook .jp-Cell')];
  return {
    panel: true,
    status: ind ? ind.dataset.status : null,
    cells: cells.length,
    prompts: cells.map(c => {
      const p = c.querySelector(':scope .jp-InputArea .jp-InputPrompt');
      return p ? p.textContent.trim() : null;
    }),
    stdin: !!panel.querySelector('.jp-Stdin'),
    dialog: dialog ? dialog.innerText : null,
    dirty: !!document.querySelector('.lm-TabBar-tab.jp-mod-current.jp-mod-dirty'),
  };
}
"""

# Widget failures, per cell (see the module docstring for what each means).
_WIDGET_PROBLEMS_JS = """
(mark) => {
  const cells = [...document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell')];
  return cells.map(cell => {
    const found = [];
    cell.querySelectorAll('.jupyter-widgets-error-widget').forEach(() =>
      found.push(['widget', 'ipywidgets shows its error widget: the model or view class '
                 + 'could not be loaded in the browser']));
    cell.querySelectorAll('.jp-OutputArea-output:not([data-mime-type])').forEach(o => {
      const t = (o.textContent || '').trim();
      if (t.startsWith('Error displaying widget')) found.push(['widget', t]);
      else if (t === 'Loading widget...') found.push(['widget', 'still "Loading widget..."']);
    });
    cell.querySelectorAll('.widget-output [data-mime-type="application/vnd.jupyter.stderr"]')
      .forEach(o => {
        const t = o.innerText || '';
        if (t.includes(mark)) found.push(['traceback in widget', t]);
      });
    return found;
  });
}
"""

_LOG_ENTRIES_JS = """
() => [...document.querySelectorAll('.jp-LogConsolePanel .jp-OutputArea-child')].map(e => {
  const p = e.querySelector('[data-log-level]');
  const o = e.querySelector('.jp-OutputArea-output');
  return {level: p ? p.dataset.logLevel : null, text: o ? o.innerText : e.innerText};
})
"""


_AS_OPENED_JS = """
() => [...document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell')].map(cell => ({
  images: [...cell.querySelectorAll('.jp-OutputArea-output img')].map(img => img.src.slice(0, 30)),
  excerpts: [...cell.querySelectorAll('.jp-OutputArea-output .netlesson-source')].map(e => ({
    coloured: e.querySelectorAll('span[style*="color"]').length,
    marked: e.querySelectorAll('span[style*="background"]').length,
  })),
}))
"""


_MARKED_SPAN = re.compile(r"<span\b[^>]*style=\"[^\"]*background", re.IGNORECASE)


def _stored_pictures(cell: dict) -> tuple[int, list[int]]:
    """(diagrams, per source excerpt its number of marked lines) among a cell's stored outputs."""
    diagrams, excerpts = 0, []
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if "image/svg+xml" in data or "image/png" in data:
            diagrams += 1
        html = data.get("text/html", "")
        html = "".join(html) if isinstance(html, list) else html
        if 'class="netlesson-source"' in html:
            excerpts.append(len(_MARKED_SPAN.findall(html)))
    return diagrams, excerpts


def as_opened_problems(stored: dict, shown: list[dict]) -> list[Problem]:
    """What an untrusted notebook, opened and not run, fails to show of its stored outputs.

    *stored* is the notebook file as JSON; *shown* is, per cell, what the page
    shows (``_AS_OPENED_JS``).  Every stored diagram must be an image -- a PNG,
    since JupyterLab renders no stored SVG from an untrusted notebook -- and
    every stored source excerpt must be highlighted code: coloured tokens, and
    as many marked lines as were stored.  A page that shows fewer cells than the
    notebook has (still loading, or JupyterLab's windowing left some out) is a
    problem too: the cells it does not show were not checked.
    """
    cells = stored.get("cells", [])
    problems = []
    if len(shown) < len(cells):
        problems.append(Problem(None, "cells not shown", f"the page shows {len(shown)} of the "
                                f"notebook's {len(cells)} cells; the others were not checked"))
    for index, (cell, page) in enumerate(zip(cells, shown), start=1):
        diagrams, excerpts = _stored_pictures(cell)
        code = first_line(cell_source(cell))
        if any(src.startswith("data:image/svg") for src in page["images"]):
            problems.append(Problem(index, "trusted", "an SVG is shown: this notebook was opened "
                                    "trusted, so the untrusted view was not checked", code))
        if len(page["images"]) < diagrams:
            problems.append(Problem(index, "diagram not shown", f"{diagrams} stored, "
                                    f"{len(page['images'])} shown as an image before running", code))
        got = page["excerpts"]
        if len(got) < len(excerpts) or any(
                not e["coloured"] or e["marked"] < want for e, want in zip(got, excerpts)):
            problems.append(Problem(index, "excerpt not highlighted", f"stored: {len(excerpts)} "
                                    f"excerpt(s) with {excerpts} marked lines; shown before running: "
                                    f"{[(e['coloured'], e['marked']) for e in got]} (coloured tokens, "
                                    f"marked lines)", code))
    return problems


class LabTimeout(AssertionError):
    """JupyterLab did not reach the expected state in time (what it showed is in the message)."""


@dataclass
class Problem:
    """One thing a student would see go wrong."""

    cell: int | None   # 1-based position in the notebook; None: not tied to a cell
    kind: str
    detail: str
    source: str = ""   # first line of the cell's code, to find it

    def __str__(self) -> str:
        where = f"cell {self.cell}" if self.cell is not None else "page"
        code = f" `{self.source}`" if self.source else ""
        return f"{where}{code}: {self.kind}: {self.detail}"


@dataclass
class Timing:
    open: float = 0.0   # File > Open from Path… until the kernel is idle
    run: float = 0.0    # Run > Run All Cells until every cell has finished


def cell_source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def first_line(text: str, width: int = 70) -> str:
    for line in text.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= width else line[: width - 1] + "…"
    return ""


def tail(text: str, lines: int = 6) -> str:
    """The last non-empty lines of a traceback, ANSI colours removed."""
    kept = [ln.rstrip() for ln in ANSI.sub("", text).splitlines() if ln.strip()]
    return "\n      ".join(kept[-lines:])


def saved_notebook_problems(nb: dict) -> list[Problem]:
    """Errors and unexecuted cells, read from a notebook saved after Run All.

    Exact by construction: an exception is an output of type ``error``; a
    stream on stderr is a ``stream`` output and is never reported.
    """
    problems: list[Problem] = []
    not_run: list[int] = []
    sources = {}
    for number, cell in enumerate(nb.get("cells", []), start=1):
        if cell.get("cell_type") != "code":
            continue
        source = cell_source(cell)
        if not source.strip():
            continue  # JupyterLab does not send an empty cell to the kernel
        sources[number] = first_line(source)
        tags = cell.get("metadata", {}).get("tags", [])
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and "raises-exception" not in tags:
                headline = f"{out.get('ename')}: {out.get('evalue')}"
                text = "\n".join(out.get("traceback", [])) or headline
                problems.append(Problem(
                    number, "error",
                    f"{headline}\n      {tail(text)}",
                    sources[number]))
        if cell.get("execution_count") is None:
            not_run.append(number)
    if not_run:
        first = not_run[0]
        more = f" (and {len(not_run) - 1} later code cells)" if len(not_run) > 1 else ""
        problems.append(Problem(
            first, "not run",
            f"no execution count after Run All{more}; Run All stops at the first exception",
            sources[first]))
    return problems


@dataclass
class SvgNode:
    """One Graphviz node as drawn: its fill colour and all its text."""

    fill: str
    text: str


def svg_nodes(img_src: str) -> dict[str, SvgNode]:
    """``{node title: SvgNode}`` of a Graphviz SVG shown as ``<img src="data:...">``.

    JupyterLab 4 renders ``image/svg+xml`` as an ``<img>`` with a data URI (so
    the SVG cannot run script or leak styles); the drawing is read back from it.
    """
    prefix, _, payload = img_src.partition(",")
    if not prefix.startswith("data:image/svg+xml"):
        raise ValueError(f"not an SVG data URI: {img_src[:60]!r}")
    if prefix.endswith(";base64"):
        import base64
        text = base64.b64decode(payload).decode("utf-8")
    else:
        text = urllib.parse.unquote(payload)
    svg = "{http://www.w3.org/2000/svg}"
    nodes = {}
    for g in ET.fromstring(text).iter(f"{svg}g"):
        if "node" not in (g.get("class") or "").split():
            continue
        title = g.find(f"{svg}title")
        shape = next((g.find(f".//{svg}{tag}") for tag in ("path", "polygon", "ellipse", "rect")
                      if g.find(f".//{svg}{tag}") is not None), None)
        if title is not None and shape is not None:
            words = " ".join("".join(t.itertext()) for t in g.iter(f"{svg}text"))
            nodes[title.text or ""] = SvgNode((shape.get("fill") or "").lower(),
                                              " ".join(words.split()))
    return nodes


class NotebookPage:
    """One notebook opened in the student's JupyterLab tab (see :class:`StudentBrowser`)."""

    def __init__(self, page, server, relpath: str, console_errors: list[str],
                 viewport: dict):
        self.page = page
        self.server = server          # labserver.LabServer
        self.relpath = relpath        # relative to the served root, with "/"
        self.viewport = viewport
        self.problems: list[Problem] = []
        self.timing = Timing()
        self._console_errors = console_errors
        self._console_start = len(console_errors)
        self._saved = False

    @property
    def console_errors(self) -> list[str]:
        """Browser console errors logged since this notebook was opened (context for reports)."""
        return self._console_errors[self._console_start:]

    @property
    def path(self) -> Path:
        return self.server.root / self.relpath

    def as_opened(self) -> list[Problem]:
        """:func:`as_opened_problems` for this notebook, as it is shown now (call before running)."""
        stored = json.loads(self.path.read_text(encoding="utf-8"))
        return as_opened_problems(stored, self.page.evaluate(_AS_OPENED_JS))

    # -- state ---------------------------------------------------------------
    def state(self) -> dict:
        return self.page.evaluate(_STATE_JS)

    def _kernel_state(self) -> tuple[str | None, int]:
        """(execution_state, websocket connections) of this notebook's kernel, per the server."""
        for session in self.server.sessions():
            if session.get("path") == self.relpath and session.get("kernel"):
                kernel = session["kernel"]
                return kernel.get("execution_state"), int(kernel.get("connections", 0))
        return None, 0

    def _describe(self, state: dict) -> str:
        kernel, conns = self._kernel_state()
        running = [i + 1 for i, p in enumerate(state.get("prompts") or []) if p == "[*]:"]
        parts = [f"toolbar kernel status {state.get('status')!r}",
                 f"server kernel state {kernel!r} ({conns} websocket(s))"]
        if running:
            parts.append(f"cells still queued or running: {running}")
        if state.get("stdin"):
            parts.append("a cell waits for input()")
        if state.get("dialog"):
            parts.append(f"dialog: {state['dialog']!r}")
        return "; ".join(parts)

    def _wait(self, ready, timeout: float, what: str, poll: float = 0.15, settle: int = 2) -> dict:
        """Poll until ``ready(state)`` holds *settle* times in a row.

        A dialog or an ``input()`` box ends the wait at once: nothing would
        change without someone clicking, and the message says what is shown.
        """
        deadline = time.monotonic() + timeout
        streak = 0
        state: dict = {}
        while True:
            state = self.state()
            if state.get("dialog"):
                raise LabTimeout(f"{self.relpath}: JupyterLab shows a dialog while {what}: "
                                 f"{state['dialog']!r}")
            if state.get("stdin"):
                raise LabTimeout(f"{self.relpath}: a cell waits for input() while {what}")
            streak = streak + 1 if ready(state) else 0
            if streak >= settle:
                return state
            if time.monotonic() > deadline:
                raise LabTimeout(f"{self.relpath}: not done {what} after {timeout:.0f} s: "
                                 f"{self._describe(state)}")
            time.sleep(poll)

    def _kernel_ready(self, state: dict) -> bool:
        if not state.get("panel") or not state.get("cells") or state.get("status") != "idle":
            return False
        kernel, conns = self._kernel_state()
        return kernel == "idle" and conns > 0

    # -- actions -------------------------------------------------------------
    def open(self, timeout: float = 60.0) -> None:
        """File > Open from Path…, then wait until the notebook's kernel is idle."""
        t0 = time.monotonic()
        self.server.wait_ended(self.relpath)
        self.menu(FILE_MENU, OPEN_PATH_ITEM)
        dialog = self.page.locator(".jp-Dialog")
        dialog.locator("input").fill(self.relpath)
        dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
        dialog.wait_for(state="detached", timeout=10_000)
        self._wait(self._kernel_ready, timeout, "opening the notebook and starting its kernel")
        self.timing.open = time.monotonic() - t0

    def menu(self, menu: str, item: str) -> None:
        """Click a menu bar entry, then one of its items (as a student would).

        A menu left open (by an earlier failed step) is closed first: clicking
        its menu bar entry again would close it instead of opening it.
        """
        if self.page.locator(".lm-Menu:visible").count():
            self.page.keyboard.press("Escape")
        self.page.locator(menu).click()
        self.page.locator(item).click()

    def run_all(self, timeout: float = 90.0) -> None:
        """Run > Run All Cells, then wait until every cell has finished."""
        t0 = time.monotonic()
        self.menu(RUN_MENU, RUN_ALL_ITEM)
        self.wait_until_finished(timeout, "running all cells")
        self.wait_for_widgets()
        self.timing.run = time.monotonic() - t0

    def run_cell(self, index: int, timeout: float = 60.0) -> None:
        """Run cell *index* (0-based) alone: click its prompt, then Run > Run Selected Cell."""
        prompt = self.page.locator(CELLS).nth(index).locator(".jp-InputArea-prompt")
        prompt.click()
        self.menu(RUN_MENU, RUN_CELL_ITEM)
        self.wait_until_finished(timeout, f"running cell {index + 1}")
        self.wait_for_widgets()

    def cell_index(self, selector: str) -> int:
        """0-based index of the first cell that contains *selector* (in its outputs), or -1."""
        return self.page.evaluate(
            "(sel) => [...document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell')]"
            ".findIndex(c => c.querySelector(sel) !== null)", selector)

    def code_cell_index(self, code: str) -> int:
        """0-based index of the first cell whose code, as shown in its editor, contains *code*."""
        return self.page.evaluate(
            "(code) => [...document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell')]"
            ".findIndex(c => { const e = c.querySelector('.jp-InputArea-editor');"
            " return e !== null && e.innerText.includes(code); })", code)

    def wait_until_finished(self, timeout: float, what: str) -> None:
        """Wait until no cell is queued or running and the kernel is idle.

        JupyterLab marks every queued cell ``[*]`` as soon as the command
        runs, so "no ``[*]``, toolbar idle, server says idle" in three polls
        in a row is the end -- not a gap between two queued cells.
        """
        def finished(state: dict) -> bool:
            if state.get("status") != "idle" or "[*]:" in (state.get("prompts") or []):
                return False
            kernel, _ = self._kernel_state()
            return kernel == "idle"

        self._wait(finished, timeout, what, settle=3)

    def wait_for_widgets(self, timeout: float = 10.0) -> None:
        """Give widget views that are still "Loading widget..." a moment to appear."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            loading = self.page.evaluate(
                "() => [...document.querySelectorAll('.jp-NotebookPanel "
                ".jp-OutputArea-output:not([data-mime-type])')]"
                ".some(o => (o.textContent || '').trim() === 'Loading widget...')")
            if not loading:
                return
            time.sleep(0.2)

    def save(self, timeout: float = 30.0, retry_after: float = 5.0) -> dict:
        """File > Save Notebook; return the notebook as written to disk.

        Saved means: the server rewrote the file and the tab is no longer
        marked dirty.  If neither happened after *retry_after* seconds (a click
        that JupyterLab did not act on, seen rarely on a loaded machine), the
        menu is used again.  A notebook that is not dirty and that this page
        saved before is read from disk as it is: the file is what the page holds.
        """
        if self._saved and not self.state().get("dirty"):
            return json.loads(self.path.read_text(encoding="utf-8"))
        before = self.path.stat().st_mtime_ns
        self.menu(FILE_MENU, SAVE_ITEM)
        clicked = time.monotonic()
        deadline = clicked + timeout
        while True:
            state = self.state()
            if state.get("dialog"):
                raise LabTimeout(f"{self.relpath}: saving shows a dialog: {state['dialog']!r}")
            written = self.path.stat().st_mtime_ns != before
            if written and not state.get("dirty"):
                try:
                    nb = json.loads(self.path.read_text(encoding="utf-8"))
                except ValueError:
                    pass  # caught the file half-written; read again
                else:
                    self._saved = True
                    return nb
            now = time.monotonic()
            if now > deadline:
                raise LabTimeout(f"{self.relpath}: File > Save Notebook did not write the file "
                                 f"within {timeout:.0f} s (file rewritten: {written}, tab still "
                                 f"marked unsaved: {state.get('dirty')})")
            if not written and now - clicked > retry_after:
                self.menu(FILE_MENU, SAVE_ITEM)
                clicked = now
            time.sleep(0.1)

    # -- checks --------------------------------------------------------------
    def widget_problems(self, nb: dict) -> list[Problem]:
        cells = nb.get("cells", [])
        found = []
        for number, items in enumerate(self.page.evaluate(_WIDGET_PROBLEMS_JS, TRACEBACK_MARK), 1):
            source = first_line(cell_source(cells[number - 1])) if number <= len(cells) else ""
            for kind, detail in items:
                detail = tail(detail) if kind == "traceback in widget" else detail
                found.append(Problem(number, kind, detail, source))
        return found

    def log_console_problems(self) -> list[Problem]:
        """Exceptions from widget callbacks, read from JupyterLab's log console.

        The console is opened only when its status-bar item shows entries.
        Error-level entries with a traceback are problems; other entries (a
        callback's stdout, warnings) are not.
        """
        status = self.page.locator(LOG_STATUS)
        if status.count() == 0 or "lm-mod-hidden" in (status.get_attribute("class") or ""):
            return []
        status.click()
        self.page.locator(".jp-LogConsolePanel").wait_for(state="visible", timeout=10_000)
        self.page.wait_for_timeout(300)
        found = []
        for entry in self.page.evaluate(_LOG_ENTRIES_JS):
            if entry["level"] in ("error", "critical") and TRACEBACK_MARK in entry["text"]:
                found.append(Problem(None, "log console", tail(entry["text"])))
        return found

    def check(self) -> list[Problem]:
        """Save, then collect every problem (see the module docstring)."""
        nb = self.save()
        self.problems = (saved_notebook_problems(nb) + self.widget_problems(nb)
                         + self.log_console_problems())
        return self.problems

    def report(self, problems: list[Problem] | None = None) -> str:
        problems = self.problems if problems is None else problems
        lines = [f"{self.relpath}: {len(problems)} problem(s) in JupyterLab:"]
        lines += [f"  - {p}" for p in problems]
        if self.console_errors:
            lines.append("  browser console errors (context):")
            lines += [f"    {first_line(e, 200)}" for e in self.console_errors[:5]]
        return "\n".join(lines)

    # -- pictures ------------------------------------------------------------
    def screenshot(self, path: Path, *, whole_notebook: bool = True,
                   page_height: int = 12_000, max_pages: int = 8) -> list[Path]:
        """Save PNGs of what the student sees; return their paths.

        JupyterLab scrolls the notebook inside its own panel, so a browser
        "full page" screenshot would show one screen only.  With
        *whole_notebook* the window is stretched to the notebook's height; a
        notebook taller than *page_height* pixels is captured in several parts
        (``name.png``, ``name-2.png``, ...), scrolling between them.  The window
        size is restored afterwards.  Without *whole_notebook*: the current view.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        if not whole_notebook:
            self.page.screenshot(path=str(path))
            return [path]
        sizes = self.page.evaluate("""() => {
            const outer = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer');
            const inner = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-viewport');
            if (!outer || !inner) return null;
            return {chrome: window.innerHeight - outer.clientHeight, content: inner.scrollHeight};
        }""")
        if not sizes:
            self.page.screenshot(path=str(path))
            return [path]
        needed = sizes["chrome"] + sizes["content"] + 60
        height = int(min(max(needed, self.viewport["height"]), page_height))
        visible = height - sizes["chrome"]
        paths = []
        try:
            self.page.set_viewport_size({"width": self.viewport["width"], "height": height})
            self.page.wait_for_timeout(400)  # let JupyterLab lay the panels out again
            for part in range(max_pages):
                top = part * (visible - 40)  # 40 px overlap between parts
                if part and top >= sizes["content"]:
                    break
                self.page.evaluate("(top) => { document.querySelector('.jp-NotebookPanel "
                                   ".jp-WindowedPanel-outer').scrollTop = top; }", top)
                self.page.wait_for_timeout(150)
                target = (path if part == 0
                          else path.with_name(f"{path.stem}-{part + 1}{path.suffix}"))
                self.page.screenshot(path=str(target))
                paths.append(target)
        finally:
            self.page.set_viewport_size(self.viewport)
        return paths

    def close(self, timeout: float = 15.0) -> None:
        """File > Close Tab, then end the notebook's session (its kernel and servers stop).

        The kernel is shut down over REST in the background (it takes a
        second, and nothing on the page waits for it); :meth:`LabServer.stop`
        waits for it.  Raises :class:`LabTimeout` if the tab does not close;
        the caller then throws the whole browser tab away.
        """
        from playwright.sync_api import Error as PlaywrightError

        try:
            if self.page.locator(NOTEBOOK).count():
                self.menu(FILE_MENU, CLOSE_TAB_ITEM)
                deadline = time.monotonic() + timeout
                while self.page.locator(NOTEBOOK).count():
                    # Only an unsaved notebook asks ("Save your work?"): save it.
                    accept = self.page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept")
                    if accept.count():
                        try:
                            accept.first.click(timeout=2_000)
                        except PlaywrightError:
                            pass  # the dialog went away between count() and click()
                    if time.monotonic() > deadline:
                        raise LabTimeout(f"{self.relpath}: the notebook tab did not close")
                    time.sleep(0.1)
        finally:
            self.server.end_sessions(self.relpath, wait=False)


class StudentBrowser:
    """One JupyterLab browser tab that opens the notebooks one after another.

    Loading JupyterLab costs seconds (dozens of bundles, settings, themes), so
    the tab is reused the way a student reuses it: open a notebook, run it,
    close it, open the next.  After anything unusual -- a problem, a timeout,
    the log console opened -- the tab is thrown away and the next notebook gets
    a freshly loaded JupyterLab (new browser context, new cookies), so one
    broken notebook cannot spoil the next one's result.
    """

    def __init__(self, server, browser, viewport: dict | None = None):
        self.server = server
        self.browser = browser
        self.viewport = viewport or {"width": 1400, "height": 1000}
        self.context = None
        self.page = None
        self.console_errors: list[str] = []
        self.loads = 0

    def _on_console(self, msg) -> None:
        if msg.type == "error" and len(self.console_errors) < 500:
            self.console_errors.append(msg.text[:500])

    def _load(self, timeout: float = 90.0) -> None:
        self.context = self.browser.new_context(viewport=self.viewport)
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda exc: self.console_errors.append(f"page error: {exc}"))
        self.page.goto(self.server.lab_url(), wait_until="domcontentloaded",
                       timeout=timeout * 1000)
        # The menu bar and the file listing are there once the app has started.
        self.page.locator(FILE_MENU).wait_for(timeout=timeout * 1000)
        self.page.locator(".jp-DirListing-item").first.wait_for(timeout=timeout * 1000)
        self.loads += 1

    def open(self, relpath: str, timeout: float = 60.0) -> NotebookPage:
        """Open *relpath* in the tab (loading JupyterLab first if needed)."""
        if self.page is None:
            self._load()
        notebook = NotebookPage(self.page, self.server, relpath, self.console_errors,
                                self.viewport)
        try:
            notebook.open(timeout)
        except BaseException:
            self.recycle(notebook)
            raise
        return notebook

    def done(self, notebook: NotebookPage) -> None:
        """Close *notebook*; keep the tab unless the log console was opened in it."""
        if self.page is None or self.page.locator(".jp-LogConsolePanel").count():
            self.recycle(notebook)
            return
        try:
            notebook.close()
        except Exception:  # noqa: BLE001 - a tab that will not close is discarded
            self.recycle(notebook)

    def recycle(self, notebook: NotebookPage | None = None) -> None:
        """Throw the tab away (its kernel is shut down over REST)."""
        if self.context is not None:
            try:
                self.context.close()
            except Exception:  # noqa: BLE001 - the browser may already be gone
                pass
        self.context = self.page = None
        if notebook is not None:
            self.server.end_sessions(notebook.relpath, wait=False)

    def close(self) -> None:
        self.recycle()
