"""The socket-state widget of 08_socket_states, used in JupyterLab as a student uses it.

After Run All the last cell has closed the lesson's widget, so the test runs the
cell that made it again, as a student scrolling back would: the table must list
the Jupyter kernel's own listening sockets with the system's state names, and
*Refresh* must show a socket that a cell run in between opened.
"""

from __future__ import annotations

import re

import pytest

from labcourse import format_problems
from labpage import CELLS
from test_notebooks_in_lab import require, require_visible

pytestmark = pytest.mark.browser

STATES_NOTEBOOK = "08_socket_states.ipynb"


@pytest.mark.timeout(300)
@pytest.mark.lab_notebook(STATES_NOTEBOOK)
def test_socket_states_widget_lists_kernel_sockets_and_refreshes(course):
    from playwright.sync_api import expect

    notebook = course.after_run_all(require(STATES_NOTEBOOK))
    page = notebook.page
    make = notebook.code_cell_index("states = socket_states()")
    assert make >= 0, f"{STATES_NOTEBOOK}: no cell with states = socket_states()"
    notebook.run_cell(make)  # the last cell closed the widget: make it again
    widget = page.locator(CELLS).nth(make).locator(".netlesson-states").first
    require_visible(notebook, widget.locator(".netlesson-states-refresh"),
                    "the socket-state widget's Refresh button")
    widget.scroll_into_view_if_needed()
    rows = widget.locator(".netlesson-states-row")
    # the Jupyter kernel listens for JupyterLab on loopback: those rows are LISTEN
    expect(widget.locator('.netlesson-states-row[data-state="LISTEN"]').first).to_be_visible(
        timeout=15_000)
    # the status line in the course's language (Chinese unless NETLESSON_LANG=en)
    expect(widget.locator(".netlesson-states-status")).to_contain_text(re.compile("read with|读取"))

    # a socket opened by a cell run after the widget shows up after Refresh
    listen = notebook.code_cell_index('listener = socket.create_server((own_loopback, 0), backlog=0)')
    assert listen > make, f"{STATES_NOTEBOOK}: no cell creating the listener after the widget"
    notebook.run_cell(listen)
    output = page.locator(CELLS).nth(listen)
    expect(output).to_contain_text("listener: LISTEN", timeout=15_000)
    text = output.inner_text()
    before = rows.count()
    status = widget.locator(".netlesson-states-status").inner_text()
    widget.locator(".netlesson-states-refresh").click()
    expect(widget.locator(".netlesson-states-status")).not_to_have_text(status, timeout=15_000)
    assert rows.count() >= before
    port = re.search(r"refresh (\d+)|第 (\d+) 次刷新",
                     widget.locator(".netlesson-states-status").inner_text())
    assert port, "the status line does not count the refreshes"
    # the watched port is drawn in bold: at least one bold LISTEN row besides the kernel's
    bold = widget.locator('.netlesson-states-row[data-state="LISTEN"][style*="bold"]')
    expect(bold.first).to_be_visible(timeout=15_000)
    assert "LISTEN" in text

    course.screenshot(notebook, "--socket-states", whole_notebook=False)
    if notebook.check():
        pytest.fail(format_problems(notebook), pytrace=False)
