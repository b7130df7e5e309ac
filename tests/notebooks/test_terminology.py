"""The course speaks one vocabulary: the glossary in 00_index, used the same way everywhere.

Issue 13 (defect 10) found the lessons drifting between 套接字 and socket, handler and
处理器, and using 内核 for both the Jupyter kernel and the operating system's kernel, with
ASCII and Chinese quotation marks mixed.  These tests read the prose of every lesson
(``notebooks/NN_*.md``) and of every exercise, both the instructor's source
(``instructor/exercises/ex*.md``) and the student edition generated from it
(``notebooks/exercises/ex*.md``) -- markdown cells only; code cells, fenced blocks and
inline code are left out, because identifiers and code stay in English -- and fail with
``file:line`` and what to write instead when:

- a word the glossary replaces appears (处理器, a bare English "socket");
- the first "handler" of a lesson or exercise is not introduced as 请求处理器（handler）;
- 内核 is not said to be the Jupyter kernel or the operating system's kernel;
- ASCII double quotes appear in prose (Chinese text uses “…”);

and, for the lessons only:

- 00_index has no glossary (术语表) naming the course's choices;
- a lesson does not open with what the student will be able to do (学完本节你能……);
- a lesson that an exercise names in its "先读" line does not link to that exercise.

The glossary's choices, which these rules enforce:

=================  ==================================================================
term               how the prose says it
=================  ==================================================================
socket             套接字 (``socket`` only as code: the module, ``socket.socket``)
request handler    请求处理器（handler） at its first mention in a lesson, then handler
kernel             Jupyter 内核 or 操作系统内核 (Linux 内核 where Linux is meant)
quotation marks    “…” (ASCII quotes only inside code)
=================  ==================================================================
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
LESSONS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.md"))
LESSON_IDS = [p.name for p in LESSONS]
# an exercise's prose follows the same rules; a student reads the generated copy, so both
# are checked (a fix goes into the instructor's source, then `make exercises`)
EXERCISES = (sorted((ROOT / "instructor" / "exercises").glob("ex*.md"))
             + sorted((NOTEBOOKS / "exercises").glob("ex*.md")))
PROSE = LESSONS + EXERCISES
PROSE_IDS = [p.relative_to(ROOT).as_posix() for p in PROSE]

pytestmark = pytest.mark.notebooks

FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
LINK_TARGET = re.compile(r"\]\([^)]*\)")
HTML_TAG = re.compile(r"<[^>\n]*>")

# the only place 处理器 may appear: the term introduced with its English name
HANDLER_INTRO = "请求处理器（handler）"
KERNEL_QUALIFIERS = ("Jupyter", "操作系统", "Linux")
BARE_SOCKET = re.compile(r"(?<![A-Za-z0-9_.\-/])socket(?![A-Za-z0-9_\-])", re.IGNORECASE)
BARE_ENGLISH = re.compile(r"(?<![A-Za-z0-9_.\-/])(server|client)s?(?![A-Za-z0-9_\-])")
HANDLER_WORD = re.compile(r"(?<![A-Za-z0-9_.\-/])handlers?(?![A-Za-z0-9_\-])")

GLOSSARY_TERMS = ("套接字", "socket", HANDLER_INTRO, "服务器", "客户端", "Jupyter 内核",
                  "操作系统内核", "backlog", "数据报", "端口", "回环地址", "线程", "MRO")


def prose_lines(path: Path):
    """Yield (line number, text) for the prose of a MyST lesson: markdown only, code removed.

    Skipped: the YAML header, code cells and every other fenced block, ``+++`` cell
    markers with their metadata.  Inside a line, inline code, link targets and HTML
    tags are blanked out, so ``socket`` in backticks or a file name in a link never counts.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    number, fence = 0, None
    if lines and lines[0].strip() == "---":  # the jupytext YAML header
        number = 1
        while number < len(lines) and lines[number].strip() != "---":
            number += 1
        number += 1
    for index in range(number, len(lines)):
        line = lines[index]
        opening = FENCE.match(line)
        if fence is not None:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = None
            continue
        if opening:
            fence = opening.group(1)
            continue
        if line.startswith("+++"):
            continue
        text = INLINE_CODE.sub(" ", line)
        text = LINK_TARGET.sub("]", text)
        yield index + 1, HTML_TAG.sub(" ", text)


def _where(path: Path, number: int) -> str:
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    return f"{shown}:{number}"


def wording_problems(path: Path) -> list[str]:
    """Every place where the prose of *path* breaks the glossary's wording rules."""
    problems, in_glossary = [], False
    for number, text in prose_lines(path):
        where = _where(path, number)
        if text.startswith("#"):
            in_glossary = text.lstrip("#").strip() == "术语表"
        if in_glossary:  # the glossary names the words themselves, in every form
            continue
        for match in re.finditer("处理器", text):
            start = match.start() - len("请求")
            if text[start:start + len(HANDLER_INTRO)] != HANDLER_INTRO:
                problems.append(
                    f"{where}: '处理器' -- the course says handler (introduced once per lesson "
                    f"as '{HANDLER_INTRO}'); write handler, or the full '{HANDLER_INTRO}' at "
                    f"the first mention")
        for match in re.finditer("内核", text):
            before = text[:match.start()].rstrip()
            if not before.endswith(KERNEL_QUALIFIERS):
                problems.append(
                    f"{where}: bare '内核' in ...{text[max(0, match.start() - 12):match.end() + 6]}... "
                    f"-- say which one: 'Jupyter 内核' (the process running the notebook) or "
                    f"'操作系统内核' (the OS: handshakes, queues, buffers; 'Linux 内核' is fine too)")
        for match in BARE_SOCKET.finditer(text):
            problems.append(
                f"{where}: English 'socket' in prose -- write 套接字, or put the identifier in "
                f"backticks (`socket`, `socket.socket`) if the code is meant")
        for match in BARE_ENGLISH.finditer(text):
            chinese = {"server": "服务器", "client": "客户端"}[match.group(1)]
            problems.append(
                f"{where}: English '{match.group(1)}' in prose -- write {chinese} "
                f"(服务器类 for the server classes); identifiers go in backticks")
        if '"' in text:
            problems.append(
                f"{where}: ASCII double quotes in prose -- use Chinese quotation marks “…” "
                f"(ASCII quotes belong only inside code: `\"nb02-tcp\"`)")
    return problems


def first_handler_problem(path: Path) -> str | None:
    """The first 'handler' in a lesson's or exercise's prose must introduce it: 请求处理器（handler）."""
    for number, text in prose_lines(path):
        match = HANDLER_WORD.search(text)
        if match:
            start = match.start() - len("请求处理器（")
            if text[start:start + len(HANDLER_INTRO)] == HANDLER_INTRO:
                return None
            return (f"{_where(path, number)}: the first 'handler' is not introduced -- "
                    f"write '{HANDLER_INTRO}' here (a student may open this notebook first), "
                    f"and plain handler afterwards")
    return None


@pytest.mark.parametrize("path", PROSE, ids=PROSE_IDS)
def test_prose_uses_the_glossary_wording(path):
    problems = wording_problems(path)
    introduced = first_handler_problem(path)
    problems += [introduced] if introduced else []
    if problems and path.is_relative_to(NOTEBOOKS / "exercises"):
        problems.append("notebooks/exercises is generated: fix the prose in instructor/exercises/"
                        f"{path.name}, re-execute it, then run `make exercises`")
    assert not problems, "\n".join(
        problems + ["the glossary (术语表) in notebooks/00_index.md lists the course's words"])


def test_the_exercises_are_checked_too():
    """Both copies of the exercises are read (a moved folder must not silently drop them)."""
    student = sorted(p.name for p in EXERCISES if p.is_relative_to(NOTEBOOKS / "exercises"))
    assert student, "notebooks/exercises/ex*.md: no exercise text files found"
    instructor = sorted(p.name for p in EXERCISES if p.is_relative_to(ROOT / "instructor"))
    if (ROOT / "instructor" / "exercises").is_dir():
        assert instructor == student, (instructor, student)


def test_index_has_a_glossary_with_the_course_terms():
    text = (NOTEBOOKS / "00_index.md").read_text(encoding="utf-8")
    heading = re.search(r"^##+ 术语表", text, re.MULTILINE)
    assert heading, ("notebooks/00_index.md: no '## 术语表' section -- add the glossary: each term "
                     "with the Chinese word the course uses, the English name or identifier, "
                     "and one line saying what it means")
    following = re.search(r"^## ", text[heading.end():], re.MULTILINE)
    section = text[heading.end():heading.end() + following.start() if following else None]
    missing = [term for term in GLOSSARY_TERMS if term not in section]
    assert not missing, f"notebooks/00_index.md: the 术语表 does not mention {missing}"


def _first_markdown_cell(path: Path) -> tuple[int, str]:
    """(line number, text) of a MyST lesson's first cell: after the header, up to the next cell."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = 0
    if lines and lines[0].strip() == "---":
        start = lines.index("---", 1) + 1
    while start < len(lines) and not lines[start].strip():
        start += 1
    end = start
    while end < len(lines) and not lines[end].startswith(("```{code-cell}", "+++")):
        end += 1
    return start + 1, "\n".join(lines[start:end])


@pytest.mark.parametrize("path", LESSONS, ids=LESSON_IDS)
def test_lesson_opens_with_learning_outcomes(path):
    start, first = _first_markdown_cell(path)
    where = _where(path, start)
    assert "学完本节你能" in first, (
        f"{where}: the first cell has no '学完本节你能……' list -- open the lesson with what the "
        f"student will be able to do afterwards (verbs: 说出, 解释, 写出, 判断 ...), only what "
        f"the lesson really teaches")
    after = first.split("学完本节你能", 1)[1]
    items = re.findall(r"^\s*(?:[-*]|\d+\.)\s+\S", after, re.MULTILINE)
    assert len(items) >= 2, f"{where}: '学完本节你能……' must be followed by a list of outcomes"


def _exercise_sources() -> list[Path]:
    """The exercise notebooks' text files, wherever they live now (student or instructor copy)."""
    for folder in (ROOT / "instructor" / "exercises", NOTEBOOKS / "exercises"):
        found = sorted(folder.glob("ex*.md"))
        if found:
            return found
    return []


def exercises_by_lesson() -> dict[str, list[str]]:
    """Lesson stem -> exercise stems whose '先读' line names that lesson."""
    wanted: dict[str, list[str]] = {}
    for exercise in _exercise_sources():
        for line in exercise.read_text(encoding="utf-8").splitlines():
            if "先读" in line:
                for lesson in re.findall(r"\((?:\.\./)+(?:notebooks/)?(0\d_\w+)\.ipynb\)", line):
                    wanted.setdefault(lesson, []).append(exercise.stem)
    return wanted


@pytest.mark.parametrize("path", LESSONS, ids=LESSON_IDS)
def test_lesson_links_to_its_exercises(path):
    wanted = exercises_by_lesson().get(path.stem, [])
    if not _exercise_sources():
        pytest.skip("no exercise sources found (notebooks/exercises or instructor/exercises)")
    text = path.read_text(encoding="utf-8")
    missing = [stem for stem in wanted if f"](exercises/{stem}.ipynb)" not in text]
    assert not missing, (
        f"{path.relative_to(ROOT)}: these exercises name the lesson in their '先读' line but the "
        f"lesson does not link to them: {missing} -- add e.g. [{missing[0]}](exercises/{missing[0]}.ipynb) "
        f"to its first cell (the student version, relative to notebooks/)")


PREDICT_LESSONS = ("01_socketserver_classes", "02_tcp_echo", "03_udp_echo", "06_pitfalls")


@pytest.mark.parametrize("stem", PREDICT_LESSONS)
def test_lesson_has_a_predict_then_check_point_that_waits_for_a_guess(stem):
    text = (NOTEBOOKS / f"{stem}.md").read_text(encoding="utf-8")
    assert "先预测" in text, f"notebooks/{stem}.md: no '先预测' question"
    assert re.search(r'^(?:guess\s*=\s*"\?"|check\("\?")', text, re.MULTILINE), (
        f"notebooks/{stem}.md: no code cell that waits for a guess (guess = \"?\" or "
        f"check(\"?\", ...)): the answer must stay hidden until the student writes a guess")


def test_the_rules_catch_what_they_should(tmp_path):
    """The checker itself: each rule fires on a bad line and stays quiet on code and good prose."""
    lesson = tmp_path / "09_sample.md"
    lesson.write_text(
        "---\njupytext:\n  x: 1\n---\n\n"
        "# 09 · sample\n\n"
        "处理器把数据发回去。\n"                         # 8: banned word
        "请求处理器（handler）是 handler 的全称。\n"     # 9: allowed
        "中断内核，或者让内核丢掉 SYN。\n"               # 10: two bare 内核
        "Jupyter 内核和操作系统内核，Linux 内核。\n"     # 11: all qualified
        "一个 TCP socket，`socket.socket`，`socketserver`。\n"  # 12: one bare socket
        '他说"大写回显"。\n'                             # 13: ASCII quotes
        "他说“大写回显”，代码 `\"nb02\"`。\n"            # 14: fine
        "server 类，`tcp-server`，ThreadingTCPServer。\n"  # 15: one English server
        "```{code-cell} ipython3\nprint(\"处理器 内核 socket\")\n```\n",
        encoding="utf-8")
    found = [line.split(": ", 1)[0].rsplit(":", 1)[1] for line in wording_problems(lesson)]
    assert found == ["8", "10", "10", "12", "13", "15"], wording_problems(lesson)
