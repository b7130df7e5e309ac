"""Tests for netlesson.source: real source, right lines, no machine paths."""

from __future__ import annotations

import doctest
import functools
import html.parser
import inspect
import io
import os
import platform
import re
import socketserver
import sys
import textwrap
import warnings

import pytest

import netlesson.source as source_mod
from netlesson.source import (
    HighlightWarning,
    defining_class,
    display_filename,
    show_source,
    where,
)


def machine_paths() -> list[str]:
    """Directories that must never appear in notebook output."""
    candidates = {
        os.path.dirname(socketserver.__file__),
        os.path.realpath(os.path.dirname(socketserver.__file__)),
        sys.prefix,
        sys.base_prefix,
        os.path.dirname(os.path.dirname(os.path.abspath(source_mod.__file__))),
        os.path.expanduser("~"),
    }
    return sorted(p for p in candidates if len(p) > 1)


def assert_no_machine_paths(text: str) -> None:
    for path in machine_paths():
        assert path not in text, f"output leaks the machine path {path!r}"


# ---------------------------------------------------------------------------
# show_source basics
# ---------------------------------------------------------------------------


def test_header_names_the_library_file_and_real_line_numbers():
    lines, first = inspect.getsourcelines(socketserver.TCPServer.server_bind)
    excerpt = show_source(socketserver.TCPServer.server_bind)
    assert excerpt.filename == "socketserver.py"
    assert excerpt.start == first
    assert excerpt.end == first + len(lines) - 1
    assert excerpt.python_version == platform.python_version()
    assert str(excerpt).splitlines()[0] == (
        f"socketserver.py, lines {first}-{excerpt.end} (TCPServer.server_bind), "
        f"Python {platform.python_version()}"
    )
    assert [line.text for line in excerpt.lines] == [t.rstrip("\n") for t in lines]
    assert [line.lineno for line in excerpt.lines] == list(range(first, first + len(lines)))
    assert excerpt.lines[0].text.lstrip().startswith("def server_bind(self)")


def test_substring_highlight_marks_exactly_the_matching_lines():
    excerpt = show_source(socketserver.TCPServer.server_bind, "getsockname")
    expected = [line.lineno for line in excerpt.lines if "getsockname" in line.text]
    assert len(expected) == 1
    assert excerpt.highlighted == expected
    marked = [row for row in str(excerpt).splitlines()[1:] if row.startswith(">")]
    assert len(marked) == 1 and "self.server_address = self.socket.getsockname()" in marked[0]
    assert f"> {expected[0]} |" in marked[0]


def test_line_number_highlight_uses_file_line_numbers():
    first = inspect.getsourcelines(socketserver.TCPServer.server_activate)[1]
    excerpt = show_source(socketserver.TCPServer.server_activate, [first, first + 1])
    assert excerpt.highlighted == [first, first + 1]
    assert excerpt.lines[0].highlighted and excerpt.lines[1].highlighted
    assert not any(line.highlighted for line in excerpt.lines[2:])


def test_regex_and_mixed_highlights():
    excerpt = show_source(socketserver.TCPServer.server_activate, re.compile(r"\.listen\("))
    assert [line.text.strip() for line in excerpt.lines if line.highlighted] == [
        "self.socket.listen(self.request_queue_size)"
    ]
    first = excerpt.start
    mixed = show_source(socketserver.TCPServer.server_activate, [first, "listen", re.compile("^$")])
    texts = {line.lineno: line.text for line in mixed.lines}
    for lineno in mixed.highlighted:
        text = texts[lineno]
        assert lineno == first or "listen" in text or text == ""
    assert first in mixed.highlighted


def test_unmatched_highlight_warns_and_still_shows_the_source():
    with pytest.warns(HighlightWarning, match=r"no_such_text.*socketserver\.py"):
        excerpt = show_source(socketserver.TCPServer.server_activate, "no_such_text")
    assert excerpt.highlighted == []
    assert len(excerpt.lines) > 1
    with pytest.warns(HighlightWarning):
        show_source(socketserver.TCPServer.server_activate, 1)  # line 1 is the module docstring


def test_matching_highlight_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        show_source(socketserver.TCPServer.server_activate, "listen")


@pytest.mark.parametrize("bad", [True, 1.5, {"a": 1}.items(), [["nested"]], object()])
def test_invalid_highlight_is_a_type_error(bad):
    with pytest.raises(TypeError):
        show_source(socketserver.TCPServer.server_activate, bad)


@pytest.mark.parametrize("bad", [-1, 1.0, True])
def test_invalid_context_is_rejected(bad):
    with pytest.raises(ValueError):
        show_source(socketserver.TCPServer.server_activate, "listen", context=bad)


def test_context_shows_only_lines_around_highlights_with_gap_marker():
    full = show_source(socketserver.BaseServer.serve_forever)
    excerpt = show_source(
        socketserver.BaseServer.serve_forever,
        ["selector.register", "self._handle_request_noblock()"],
        context=1,
    )
    shown = [line.lineno for line in excerpt.lines]
    for lineno in shown:
        assert any(abs(lineno - h) <= 1 for h in excerpt.highlighted)
    for h in excerpt.highlighted:
        assert {h - 1, h, h + 1} & set(range(full.start, full.end + 1)) <= set(shown)
    assert len(shown) < len(full.lines)
    # Two separate regions: exactly one gap marker in the text, one in the HTML.
    rows = str(excerpt).splitlines()[1:]
    assert sum(1 for row in rows if re.fullmatch(r"\s+\.+ \|", row)) == 1
    assert excerpt._repr_html_().count("&#8942;") == 1
    assert excerpt.start == shown[0] and excerpt.end == shown[-1]


def test_context_without_highlight_shows_everything():
    assert show_source(socketserver.TCPServer.server_activate, context=0).lines == (
        show_source(socketserver.TCPServer.server_activate).lines
    )


# ---------------------------------------------------------------------------
# Kinds of objects
# ---------------------------------------------------------------------------


def test_class_source_and_attribute_line():
    lines, first = inspect.getsourcelines(socketserver.UDPServer)
    excerpt = show_source(socketserver.UDPServer, "max_packet_size =")
    assert excerpt.start == first and excerpt.end == first + len(lines) - 1
    assert excerpt.qualname == "UDPServer"
    assert [line.text.strip() for line in excerpt.lines if line.highlighted] == ["max_packet_size = 8192"]


def test_inherited_method_shows_the_defining_class_source():
    excerpt = show_source(socketserver.ThreadingTCPServer.server_bind)
    assert excerpt.qualname == "TCPServer.server_bind"
    assert excerpt.start == inspect.getsourcelines(socketserver.TCPServer.server_bind)[1]


def test_bound_method_of_a_live_server():
    server = socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler, bind_and_activate=False)
    try:
        excerpt = show_source(server.server_activate, "listen")
    finally:
        server.server_close()
    assert excerpt.qualname == "TCPServer.server_activate"
    assert excerpt.filename == "socketserver.py"


def test_decorators_classmethod_staticmethod_property_are_looked_through():
    def deco(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            return func(*args, **kwargs)

        return wrapper

    class Sample:
        @deco
        def wrapped(self):
            return "inner body"

        @classmethod
        def cm(cls):
            return "classmethod body"

        @staticmethod
        def sm():
            return "staticmethod body"

        @property
        def prop(self):
            return "property body"

    assert "inner body" in show_source(Sample.wrapped).code
    assert "return func" not in show_source(Sample.wrapped).code
    assert "classmethod body" in show_source(vars(Sample)["cm"]).code
    assert "classmethod body" in show_source(Sample.cm).code
    assert "staticmethod body" in show_source(vars(Sample)["sm"]).code
    assert "property body" in show_source(vars(Sample)["prop"]).code
    assert "property body" in show_source(functools.partial(Sample.prop.fget)).code


def test_a_netlesson_function_is_named_relative_to_the_package():
    excerpt = show_source(show_source, "def show_source")
    assert excerpt.filename == "netlesson/source.py"
    assert excerpt.start == inspect.getsourcelines(show_source)[1]
    assert excerpt.highlighted == [excerpt.start]
    assert_no_machine_paths(str(excerpt) + excerpt._repr_html_())


def test_a_package_module_outside_the_stdlib(tmp_path, monkeypatch):
    package = tmp_path / "lessonpkg_for_test"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(
        textwrap.dedent(
            """\
            # a comment line


            def answer():
                value = 42
                return value
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    mod = importlib.import_module("lessonpkg_for_test.mod")
    try:
        excerpt = show_source(mod.answer, "value = 42")
        assert excerpt.filename == "lessonpkg_for_test/mod.py"
        assert (excerpt.start, excerpt.end) == (4, 6)
        assert excerpt.highlighted == [5]
        assert where(mod.answer) == "lessonpkg_for_test/mod.py:4"
        assert display_filename(package / "__init__.py") == "lessonpkg_for_test/__init__.py"
        assert str(tmp_path) not in str(excerpt) + excerpt._repr_html_()
    finally:
        sys.modules.pop("lessonpkg_for_test.mod", None)
        sys.modules.pop("lessonpkg_for_test", None)


def test_module_source_starts_at_line_one():
    excerpt = show_source(socketserver, 1, context=0)
    assert excerpt.start == 1 and excerpt.highlighted == [1]
    assert excerpt.filename == "socketserver.py"


def test_builtins_have_no_source_and_say_so():
    with pytest.raises(TypeError, match="cannot show the source"):
        show_source(len)
    with pytest.raises(TypeError, match="cannot show the source"):
        show_source(socketserver.UDPServer.max_packet_size)


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------


class _TagBalance(html.parser.HTMLParser):
    VOID = {"br", "hr", "img", "meta", "input", "wbr"}

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack}")
        else:
            self.stack.pop()


def _balanced(markup: str) -> bool:
    parser = _TagBalance()
    parser.feed(markup)
    parser.close()
    return not parser.errors and not parser.stack


def test_html_has_line_numbers_highlight_and_colours():
    excerpt = show_source(socketserver.TCPServer.server_bind, "getsockname")
    page = excerpt._repr_html_()
    assert _balanced(page)
    assert "<code>socketserver.py</code>" in page
    assert f"Python {platform.python_version()}" in page
    assert page.count(source_mod._HIGHLIGHT_BG) == len(excerpt.highlighted) == 1
    for line in excerpt.lines:
        assert f">{line.lineno}</span>" in page
    pytest.importorskip("pygments")
    assert "color: #008000; font-weight: bold" in page  # the `def` keyword, coloured by pygments
    assert_no_machine_paths(page)


def test_html_without_pygments_is_escaped_plain_code(monkeypatch):
    monkeypatch.setitem(sys.modules, "pygments", None)
    excerpt = show_source(socketserver.BaseServer.verify_request)
    page = excerpt._repr_html_()
    assert _balanced(page)
    assert "font-weight: bold" not in page
    assert "def verify_request(self, request, client_address):" in page


def test_html_escapes_source_text():
    # This test's own source contains markup-like text; it must come out escaped.
    excerpt = show_source(test_html_escapes_source_text, "'<b>&amp;</b>'")
    page = excerpt._repr_html_()
    assert "<b>&amp;</b>" not in page
    assert _balanced(page)


def test_plain_text_rendering_is_stable_and_marks_highlights():
    excerpt = show_source(socketserver.TCPServer.server_activate, "listen")
    text = str(excerpt)
    assert text == repr(excerpt)
    assert text == str(show_source(socketserver.TCPServer.server_activate, "listen"))
    rows = text.splitlines()[1:]
    assert len(rows) == len(excerpt.lines)
    for row, line in zip(rows, excerpt.lines):
        assert row.startswith(">" if line.highlighted else " ")
        assert re.match(rf"^[> ] +{line.lineno} \|", row)
    assert_no_machine_paths(text)


def test_ipython_pretty_printer_uses_the_plain_text():
    pretty = pytest.importorskip("IPython.lib.pretty")
    excerpt = show_source(socketserver.TCPServer.server_activate)
    assert pretty.pretty(excerpt) == str(excerpt)


# ---------------------------------------------------------------------------
# where, display_filename, defining_class
# ---------------------------------------------------------------------------


def test_where_gives_library_file_and_first_line():
    first = inspect.getsourcelines(socketserver.BaseServer.serve_forever)[1]
    assert where(socketserver.BaseServer.serve_forever) == f"socketserver.py:{first}"
    assert where(socketserver.TCPServer) == f"socketserver.py:{inspect.getsourcelines(socketserver.TCPServer)[1]}"


def test_where_and_show_source_name_a_doctest_pseudo_file_the_same_way():
    """Code defined in a doctest: getsourcefile() is None, but the lines are found.

    doctest serves the example's lines through a patched ``linecache.getlines``; the
    pseudo file ``<doctest lesson[0]>`` is in no cache and on no disk, so only
    ``inspect.getfile`` names it.  ``where`` once said ``<unknown>:1`` here.
    """
    text = textwrap.dedent(
        """\
        >>> def answer():
        ...     return 42
        >>> where(answer)
        '<doctest lesson[0]>:1'
        >>> show_source(answer).location
        '<doctest lesson[0]>:1'
        >>> show_source(answer).code
        'def answer():\\n    return 42'
        """
    )
    globs = {"where": where, "show_source": show_source, "__name__": "lesson_not_an_imported_module"}
    test = doctest.DocTestParser().get_doctest(text, globs, "lesson", None, 0)
    report = io.StringIO()
    runner = doctest.DocTestRunner(verbose=False)
    runner.run(test, out=report.write)
    assert runner.failures == 0, report.getvalue()
    assert runner.tries == 4


def test_display_filename_cases(tmp_path):
    import http.server

    assert display_filename(socketserver.__file__) == "socketserver.py"
    assert display_filename(http.server.__file__) == "http/server.py"
    assert display_filename("<frozen os>") == "<frozen os>"
    assert display_filename(None) == "<unknown>"
    kernel_dir = tmp_path / "ipykernel_12345"
    kernel_dir.mkdir()
    assert display_filename(kernel_dir / "3470218913.py") == "notebook cell"
    stray = tmp_path / "somewhere" / "script.py"
    assert display_filename(stray) == "script.py"


def test_defining_class_follows_python_lookup():
    T = socketserver.ThreadingTCPServer
    assert defining_class(T, "__init__") is socketserver.TCPServer
    assert defining_class(T, "process_request") is socketserver.ThreadingMixIn
    assert defining_class(socketserver.ThreadingUDPServer, "server_activate") is socketserver.UDPServer
    assert defining_class(T, "server_address") is None
    with pytest.raises(TypeError, match="type\\(obj\\)"):
        defining_class(object(), "x")
