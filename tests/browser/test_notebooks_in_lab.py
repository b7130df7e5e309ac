"""Every course notebook, and its widgets, as a student meets them in JupyterLab.

For each ``notebooks/**/*.ipynb``: open it in JupyterLab (File > Open from
Path…), wait for an idle kernel, check what it shows before anything runs (it is
untrusted, as every notebook a student opens on a hub or Binder is: every stored
diagram must show as an image, every source excerpt as highlighted code), Run > Run All Cells, wait until every cell has
finished, File > Save, and fail on any exception in a cell, any cell left
unrun, any widget that failed to render, any traceback inside a widget and any
exception from a widget callback (see ``labpage.py`` for how each is seen).

Then the widgets are used the way the notebooks invite students to use them:
the echo console of ``02_tcp_echo`` and the MRO explorer of
``01_socketserver_classes``.

Last, the checker is tested itself: a generated notebook with planted failures
must be reported cell by cell, and its harmless stderr, expected exception and
working widget must not.
"""

from __future__ import annotations

import re
import secrets
import socketserver
import time

import pytest

from labcourse import course_notebooks, format_problems, notebooks_dir
from labpage import CELLS, NOTEBOOK, svg_nodes

pytestmark = pytest.mark.browser

NOTEBOOKS = course_notebooks()
ECHO_NOTEBOOK = "02_tcp_echo.ipynb"
MRO_NOTEBOOK = "01_socketserver_classes.ipynb"
#: Notebooks whose widget tests follow their own test and reuse its open tab.
WIDGET_NOTEBOOKS = {ECHO_NOTEBOOK, MRO_NOTEBOOK}

NOTEBOOK_PARAMS = NOTEBOOKS or [pytest.param(
    "(none)", marks=pytest.mark.skip(reason=f"no notebooks under {notebooks_dir()} yet"))]


def require(relpath: str) -> str:
    if relpath not in NOTEBOOKS:
        pytest.skip(f"{relpath} does not exist (yet) under {notebooks_dir()}")
    return relpath


def require_visible(notebook, locator, what: str, timeout: float = 15.0) -> None:
    """Wait for a part of a widget; if it never shows, fail with what the page shows instead."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        locator.first.wait_for(state="visible", timeout=timeout * 1000)
    except PlaywrightTimeout:
        problems = notebook.check()
        pytest.fail(f"{notebook.relpath}: {what} is not shown after {timeout:.0f} s\n"
                    f"{format_problems(notebook, problems)}")


@pytest.mark.timeout(300)
@pytest.mark.parametrize("relpath", NOTEBOOK_PARAMS)
def test_notebook_runs_clean_in_jupyterlab(course, relpath):
    """Run All in JupyterLab: no exception, no unrun cell, every widget rendered.

    The exercises are the student edition (nbgrader's release: every answer is a stub
    that raises ``NotImplementedError``).  As a student meets one, Run All must stop at
    the first cell that meets a stub -- the answer cell itself, or the first cell that
    calls what it defines (a demonstration, or a check whose message names the
    ``NotImplementedError``) -- with every cell before it run cleanly and nothing else wrong.
    """
    notebook = course.run(relpath, keep=relpath in WIDGET_NOTEBOOKS)
    problems = notebook.problems
    if relpath.startswith("exercises/"):
        errors = [p for p in problems if p.kind == "error"]
        assert errors and "NotImplementedError" in errors[0].detail, (
            f"{relpath}: Run All should stop where the first stub is met, with "
            f"NotImplementedError\n{format_problems(notebook)}")
        stop = errors[0]
        problems = [p for p in problems if p is not stop
                    and not (p.kind == "not run" and p.cell is not None and p.cell > stop.cell)]
    if problems:
        pytest.fail(format_problems(notebook, problems), pytrace=False)


# ---------------------------------------------------------------------------
# The echo console (02_tcp_echo)
# ---------------------------------------------------------------------------

#: Messages typed key by key and sent with a click on Send, and as many with Enter.
#: Without the console's wait for its front end, 3 in 4 clicked and 9 in 10
#: entered messages arrived cut short (measured): 8 each way cannot all pass.
FAST_MESSAGES = 8


def _typed_fast(index: int, how: str) -> str:
    return f"{how} {index} {secrets.token_hex(3)}"


def _send_fast(notebook, console, message: str, how: str) -> None:
    """Type *message* key by key at machine speed, then send it at once, with *how*.

    ``press_sequentially`` types with no delay between keys.  "enter" types
    the Enter key as part of the same sequence; "click" presses the mouse on
    the Send button the moment the last key is typed (the pointer was put
    there before, as a student's hand already is) -- ``locator.click()``
    would first wait for the button to be "actionable", time in which the
    last keystrokes usually reach the kernel and the race stays hidden.
    """
    box = console.locator(".netlesson-echo-text input")  # press_sequentially focuses it
    if how == "enter":
        box.press_sequentially(message + "\n")
        return
    target = console.locator(".netlesson-echo-send").bounding_box()
    box.press_sequentially(message)
    notebook.page.mouse.click(target["x"] + target["width"] / 2,
                              target["y"] + target["height"] / 2)


@pytest.mark.timeout(300)
@pytest.mark.lab_notebook(ECHO_NOTEBOOK)
def test_echo_console_sends_fast_typed_messages_whole_and_survives_run_all(course):
    """Typed key by key, sent by Send or Enter: every reply is exactly the message upper-cased.

    ipywidgets' front end holds back a text box's value update while an
    earlier one is unanswered, but sends a click (and Enter) at once, so the
    kernel can see the click before the last keystrokes; Enter even comes
    before the box's value.  Before the console waited for its front end's
    confirmation, most of these messages arrived cut short.

    First what a student meets after Run All: the last cell stopped the
    server, so the console says which cell to run again; after running it,
    Send (the text is still in the box) reaches the restarted server.
    """
    from playwright.sync_api import expect

    notebook = course.after_run_all(require(ECHO_NOTEBOOK))
    page = notebook.page
    index = notebook.cell_index(".netlesson-echo")
    assert index >= 0, (f"{ECHO_NOTEBOOK}: no echo console (.netlesson-echo) on the page after "
                        f"Run All\n{format_problems(notebook)}")
    console = page.locator(CELLS).nth(index).locator(".netlesson-echo").first
    box = console.locator(".netlesson-echo-text input")
    send = console.locator(".netlesson-echo-send")
    reply = console.locator(".netlesson-echo-reply")
    log = console.locator(".netlesson-echo-log")
    require_visible(notebook, box, "the echo console's message box")
    console.scroll_into_view_if_needed()

    # After Run All the server is stopped: the console says what to do.
    start_code = 'background.start_tcp("nb02-tcp")'
    first = f"hello after run all {secrets.token_hex(3)}"
    _send_fast(notebook, console, first, "click")
    # in the course's language (Chinese unless NETLESSON_LANG=en in the lab's environment)
    expect(reply).to_contain_text(re.compile(
        re.escape(f"error: '{first}' was not echoed: server 'nb02-tcp' is stopped") + "|"
        + re.escape(f"错误：'{first}' 没有得到回显：服务器 'nb02-tcp' 已经停止")), timeout=15_000)
    expect(reply).to_contain_text(re.compile(
        re.escape("run the cell with background.start_tcp('nb02-tcp') again, then send again")
        + "|" + re.escape("请重新运行含有 background.start_tcp('nb02-tcp') 的单元格，然后再发送")))
    expect(reply).to_have_class(re.compile(r"netlesson-echo-error"))
    expect(box).to_have_value(first)  # a message that failed stays in the box
    start = notebook.code_cell_index(start_code)
    assert 0 <= start < index, f"{ECHO_NOTEBOOK}: no cell with {start_code} above the console"
    notebook.run_cell(start)
    console.scroll_into_view_if_needed()
    send.click()  # the same text again: no value update comes, the confirmation does
    expect(reply).to_have_text(first.upper(), timeout=15_000)
    expect(reply).not_to_have_class(re.compile(r"netlesson-echo-error"))
    # The server logs what it received -- the message as typed, not upper-cased.
    expect(log).to_contain_text(f"received b'{first}'", timeout=10_000)

    wrong = []
    sent = []
    before = first.upper()
    reply_element = reply.element_handle()
    for how in ("click", "enter"):
        for number in range(FAST_MESSAGES):
            message = _typed_fast(number, how)
            _send_fast(notebook, console, message, how)
            # Polled every 20 ms: expect() backs off to 0.25-1 s between checks,
            # which would make the waiting, not the typing, the cost of the test.
            got, css = page.wait_for_function(
                "([el, before]) => el.innerText !== before && [el.innerText, el.className]",
                arg=[reply_element, before], polling=20, timeout=15_000).json_value()
            before = got
            if got != message.upper():
                wrong.append(f"{how}: typed {message!r}, reply {got!r}")
                box.fill("")  # start the next message in an empty box
            else:
                expect(box).to_have_value("", timeout=5_000)  # emptied after a reply
            if "netlesson-echo-unconfirmed" in css:
                # right by luck: the console gave up waiting for its front end
                wrong.append(f"{how}: {message!r} was sent without the front end's confirmation")
            sent.append(message)
    assert not wrong, (f"{len(wrong)} problem(s) with {len(sent)} fast-typed messages:\n  "
                       + "\n  ".join(wrong))
    server_log = log.inner_text()
    missing = [m for m in sent if f"received b'{m}'" not in server_log]
    assert not missing, f"the server log does not show these messages arriving: {missing}"

    course.screenshot(notebook, "--echo-console", whole_notebook=False)
    if notebook.check():
        pytest.fail(format_problems(notebook), pytrace=False)


# ---------------------------------------------------------------------------
# The MRO explorer (01_socketserver_classes)
# ---------------------------------------------------------------------------

def _supplier(cls: type, attribute: str) -> str:
    """Python's own answer, computed here (not by the code under test)."""
    return next(k.__name__ for k in cls.__mro__ if attribute in vars(k))


def _diagram(explorer) -> dict:
    """The explorer's diagram as ``{class name: SvgNode}`` (empty while there is none)."""
    img = explorer.locator(".netlesson-mro-diagram img")
    if img.count() == 0:
        return {}
    return svg_nodes(img.first.get_attribute("src") or "")


def _highlight_problem(nodes: dict, cls: type, attribute: str, supplier: str,
                       highlight_fill: str | None) -> str | None:
    """What is wrong with the drawing of this choice, or ``None`` if it is right.

    Right means: the nodes are exactly ``cls.__mro__``; the supplier's node
    names the attribute (so this is the drawing for this choice, not the one
    before) and is the only node in its colour -- the same colour as the
    supplier had for the earlier choices.
    """
    names = {k.__name__ for k in cls.__mro__}
    if set(nodes) != names:
        return f"the diagram shows {sorted(nodes)}, not the lookup chain {sorted(names)}"
    node = nodes[supplier]
    if attribute not in node.text:
        return f"{supplier}'s node does not mention {attribute!r}: {node.text!r}"
    alike = sorted(name for name, other in nodes.items()
                   if name != supplier and other.fill == node.fill)
    if alike:
        return f"{supplier} is drawn in the same colour ({node.fill}) as {alike}"
    if highlight_fill is not None and node.fill != highlight_fill:
        return f"{supplier} is drawn in {node.fill}, the earlier suppliers in {highlight_fill}"
    return None


def _choose(explorer, class_name: str, attribute: str) -> None:
    """Pick a class in the dropdown, type an attribute, press Enter: what a student does."""
    explorer.locator(".netlesson-mro-class select").select_option(label=class_name)
    box = explorer.locator(".netlesson-mro-attr input")
    # Pasted in one go: the explorer redraws for every value the box sends,
    # so typing key by key would only draw each prefix on the way.
    box.fill(attribute)
    box.press("Enter")


@pytest.mark.timeout(300)
@pytest.mark.lab_notebook(MRO_NOTEBOOK)
def test_mro_explorer_highlights_the_class_that_supplies_an_attribute(course):
    """Pick a class and an attribute: the supplier is named and is the one node highlighted."""
    from playwright.sync_api import expect

    notebook = course.after_run_all(require(MRO_NOTEBOOK))
    page = notebook.page
    explorer = page.locator(f"{NOTEBOOK} .netlesson-mro").first
    assert explorer.count(), (f"{MRO_NOTEBOOK}: no MRO explorer (.netlesson-mro) on the page "
                              f"after Run All\n{format_problems(notebook)}")
    require_visible(notebook, explorer.locator(".netlesson-mro-class select"),
                    "the MRO explorer's class list")
    explorer.scroll_into_view_if_needed()

    choices = [
        (socketserver.ThreadingTCPServer, "process_request"),   # a mixin wins
        (socketserver.ThreadingTCPServer, "serve_forever"),     # the base of everything
        (socketserver.ThreadingUDPServer, "get_request"),       # UDP overrides TCP's
    ]
    highlight_fill = None
    for cls, attribute in choices:
        expected = _supplier(cls, attribute)
        _choose(explorer, cls.__name__, attribute)
        expect(explorer.locator(".netlesson-mro-supplier")).to_have_text(expected, timeout=15_000)
        expect(explorer.locator(".netlesson-mro-result")).to_contain_text(attribute)

        # The diagram is redrawn after the text: wait for this choice's drawing.
        deadline = time.monotonic() + 15
        while (problem := _highlight_problem(_diagram(explorer), cls, attribute, expected,
                                             highlight_fill)) is not None:
            if time.monotonic() > deadline:
                pytest.fail(f"{MRO_NOTEBOOK}: choosing {cls.__name__} and {attribute!r} in the "
                            f"MRO explorer: {problem}", pytrace=False)
            time.sleep(0.2)
        highlight_fill = _diagram(explorer)[expected].fill
        course.screenshot(notebook, f"--mro-{cls.__name__}-{attribute}", whole_notebook=False)

    if notebook.check():
        pytest.fail(format_problems(notebook), pytrace=False)


# ---------------------------------------------------------------------------
# The checker, tested: planted failures must be reported, harmless output not
# ---------------------------------------------------------------------------

PLANTED = [
    # (cell source, tags, expected problem kind or None)
    ("import sys\nprint('to stdout')\nprint('a warning, not an error', file=sys.stderr)",
     [], None),
    ("raise ValueError('this cell is expected to raise')", ["raises-exception"], None),
    ("import ipywidgets as w\n"
     "boom = w.Button(description='boom')\n"
     "boom.add_class('selftest-boom')\n"
     "def explode(_):\n"
     "    raise RuntimeError('raised in a button callback')\n"
     "boom.on_click(explode)\n"
     "boom", [], None),
    ("import ipywidgets as w\n"
     "from traitlets import Unicode\n"
     "class Broken(w.DOMWidget):\n"
     "    _model_name = Unicode('NoSuchModel').tag(sync=True)\n"
     "    _model_module = Unicode('no-such-widget-module').tag(sync=True)\n"
     "    _view_name = Unicode('NoSuchView').tag(sync=True)\n"
     "    _view_module = Unicode('no-such-widget-module').tag(sync=True)\n"
     "Broken()", [], "widget"),
    ("from IPython.display import display\n"
     "display({'application/vnd.jupyter.widget-view+json':\n"
     "         {'model_id': '0123456789abcdef', 'version_major': 2, 'version_minor': 0},\n"
     "         'text/plain': 'a widget whose model does not exist'}, raw=True)", [], "widget"),
    ("import ipywidgets as w\n"
     "out = w.Output()\n"
     "display(out)\n"
     "with out:\n"
     "    raise KeyError('shown inside an Output widget')", [], "traceback in widget"),
    ("1 / 0", [], "error"),
    ("print('never reached')", [], "not run"),
]


KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def _open_generated(course, relpath: str, nb):
    """Write the generated notebook *nb* into the lab's root as *relpath* and open it."""
    import nbformat

    course.release()
    target = course.server.root / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return course.student.open(relpath, timeout=90)


def _planted_notebook():
    """A markdown title (cell 1), then the PLANTED cells (cells 2, 3, ...)."""
    import nbformat

    cells = [nbformat.v4.new_markdown_cell("# planted failures (generated by the browser tests)")]
    for source, tags, _ in PLANTED:
        cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": tags} if tags else {}))
    return nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": dict(KERNELSPEC)})


def test_saved_notebook_verdict_separates_exceptions_from_stderr():
    """The file-based verdict alone (no browser needed): exact about what is an error."""
    from labpage import saved_notebook_problems

    def code(source, outputs, count, tags=()):
        return {"cell_type": "code", "source": source, "execution_count": count,
                "metadata": {"tags": list(tags)}, "outputs": outputs}

    stderr = {"output_type": "stream", "name": "stderr",
              "text": "Traceback (most recent call last):\n  ...\nOSError: printed, not raised\n"}
    error = {"output_type": "error", "ename": "ZeroDivisionError", "evalue": "division by zero",
             "traceback": ["\x1b[0;31mZeroDivisionError\x1b[0m: division by zero"]}
    nb = {"cells": [
        {"cell_type": "markdown", "source": "# title", "metadata": {}},
        code("print('x', file=sys.stderr)", [stderr], 1),
        code("raise ValueError()", [dict(error, ename="ValueError")], 2, ["raises-exception"]),
        code("", [], None),                     # empty: JupyterLab never runs it
        code("1 / 0", [error], 3),
        code("print('after')", [], None),
        code("print('also after')", [], None),
    ]}
    problems = saved_notebook_problems(nb)
    assert [(p.cell, p.kind) for p in problems] == [(5, "error"), (6, "not run")]
    assert problems[0].detail.startswith("ZeroDivisionError: division by zero")
    assert "\x1b" not in problems[0].detail
    assert "1 later code cells" in problems[1].detail


@pytest.mark.timeout(300)
def test_checker_reports_planted_failures_and_nothing_else(course):
    """The suite can fail: a raising cell, broken widgets and a raising callback are caught."""
    notebook = _open_generated(course, "_selftest/planted_failures.ipynb", _planted_notebook())
    try:
        notebook.run_all(timeout=120)
        boom = notebook.page.locator(".selftest-boom")
        boom.click()
        # The callback's traceback goes to JupyterLab's log console; its status
        # item appears once the entry has arrived.
        notebook.page.locator(".jp-LogConsoleStatusItem:not(.lm-mod-hidden)").wait_for(
            timeout=15_000)
        course.screenshot(notebook)
        problems = notebook.check()
    finally:
        course.student.recycle(notebook)

    expected = {(position + 2, kind) for position, (_, _, kind) in enumerate(PLANTED) if kind}
    expected.add((None, "log console"))
    found = [(p.cell, p.kind) for p in problems]
    report = "\n".join(f"  - {p}" for p in problems)
    assert sorted(found, key=str) == sorted(expected, key=str), (
        f"the checker reported\n{report}\nexpected (cell, kind), each once: "
        f"{sorted(expected, key=str)}")
    by_kind = {p.kind: p for p in problems}
    assert "ZeroDivisionError" in by_kind["error"].detail
    assert "KeyError" in by_kind["traceback in widget"].detail
    assert "raised in a button callback" in by_kind["log console"].detail


def _as_opened_notebook():
    """Stored outputs only: an SVG-only diagram (cell 2), the course's own SVG+PNG
    diagram (cell 3), a highlighted source excerpt (cell 4) and the same excerpt as
    plain text only (cell 5, not a problem: nothing highlighted was stored)."""
    import nbformat

    from netlesson import diagrams, source

    bundle = diagrams.server_classes()._repr_mimebundle_()
    excerpt = source.show_source(socketserver.BaseServer.serve_forever, highlight=["_handle_request_noblock"])

    def shown(data):
        return [nbformat.v4.new_output("display_data", data=data)]

    cells = [nbformat.v4.new_markdown_cell("# stored outputs, as opened (generated by the browser tests)")]
    for outputs in (shown({"image/svg+xml": bundle["image/svg+xml"], "text/plain": bundle["text/plain"]}),
                    shown(bundle),
                    shown({"text/html": excerpt._repr_html_(), "text/plain": str(excerpt)}),
                    shown({"text/plain": str(excerpt)})):
        cells.append(nbformat.v4.new_code_cell("pass", execution_count=1, outputs=outputs))
    return nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": dict(KERNELSPEC)})


@pytest.mark.timeout(300)
def test_as_opened_check_reports_a_diagram_an_untrusted_notebook_cannot_show(course):
    """The check can fail: a stored SVG without a PNG is invisible until the cell runs."""
    notebook = _open_generated(course, "_selftest/as_opened.ipynb", _as_opened_notebook())
    try:
        problems = notebook.as_opened()
        course.screenshot(notebook, "--as-opened")
    finally:
        course.student.recycle(notebook)
    assert [(p.cell, p.kind) for p in problems] == [(2, "diagram not shown")], (
        "\n".join(f"  - {p}" for p in problems))
