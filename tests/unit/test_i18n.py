"""netlesson speaks Simplified Chinese by default and English on request (NETLESSON_LANG).

What is checked, in both languages: the language chosen from the variable
(netlesson.i18n.language), the catalogs (every message in the code translated,
placeholders kept, each .mo compiled from its .po: tools/messages.py's check),
a switch in the middle of a process, a missing catalog's error, the command
line (real subprocesses: a port in use, a host that does not resolve,
``--help`` and argparse's own words), every error class's message, and the
grader's words (the CSV's flags and feedback, and the runner's sentence from
inside the grading process).  conftest.py sets NETLESSON_LANG=en for every
unit test; the tests here set the language they read.
"""

from __future__ import annotations

import argparse
import csv
import errno
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from netlesson import errors, i18n
from netlesson.i18n import core

ROOT = Path(__file__).resolve().parents[2]




# -- choosing the language ------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    ("en", "en"), ("EN", "en"), ("en_US.UTF-8", "en"), ("en-GB", "en"), ("en_US@euro", "en"),
    ("C", "en"), ("POSIX", "en"), ("C.UTF-8", "en"),
    ("zh", "zh_CN"), ("zh_CN", "zh_CN"), ("zh-Hans", "zh_CN"), ("zh_CN.UTF-8", "zh_CN"),
    ("zh_SG", "zh_CN"), ("  zh_CN  ", "zh_CN"),
    ("", "zh_CN"), ("   ", "zh_CN"),            # unset or empty: the course's language
    ("fr_FR.UTF-8", "zh_CN"), ("zh_TW", "zh_CN"), ("klingon", "zh_CN"),  # not spoken: Chinese
])
def test_the_language_is_read_from_the_variable(value, expected):
    assert i18n.language(value) == expected


def test_an_unset_variable_means_chinese(monkeypatch):
    monkeypatch.delenv("NETLESSON_LANG", raising=False)
    assert i18n.language() == "zh_CN"
    assert core.gettext("stopping") == "正在停止"


def test_the_language_can_change_in_the_middle_of_a_process(monkeypatch):
    monkeypatch.setenv("NETLESSON_LANG", "zh_CN")
    assert core.gettext("stopping") == "正在停止"
    assert core.ngettext("{count} byte", "{count} bytes", 3).format(count=3) == "3 字节"
    monkeypatch.setenv("NETLESSON_LANG", "en")
    assert core.gettext("stopping") == "stopping"
    assert core.ngettext("{count} byte", "{count} bytes", 1).format(count=1) == "1 byte"
    assert core.ngettext("{count} byte", "{count} bytes", 3).format(count=3) == "3 bytes"
    monkeypatch.setenv("NETLESSON_LANG", "zh-Hans")
    assert "Chinese" not in repr(core) and repr(core) == "<Messages netlesson in zh_CN>"
    assert core.gettext("stopping") == "正在停止"


def test_a_missing_catalog_is_a_clear_error_not_english(monkeypatch, tmp_path):
    monkeypatch.setenv("NETLESSON_LANG", "zh_CN")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n._translations.cache_clear()
    try:
        with pytest.raises(RuntimeError) as info:
            core.gettext("stopping")
    finally:
        i18n._translations.cache_clear()
    message = str(info.value)
    assert "netlesson.mo" in message and str(tmp_path) in message
    assert "python tools/messages.py compile" in message and "NETLESSON_LANG=en" in message
    monkeypatch.setenv("NETLESSON_LANG", "en")
    assert core.gettext("stopping") == "stopping"  # English needs no catalog


def test_an_unknown_domain_is_refused():
    with pytest.raises(ValueError, match="unknown message domain"):
        i18n.Messages("netlesson_nope")


# -- the catalogs -----------------------------------------------------------------------


@pytest.mark.parametrize("domain", i18n.DOMAINS)
def test_every_message_of_the_domain_is_translated_and_compiled(domain, messages_tool):
    """Like ``python tools/messages.py check``: translated, not fuzzy, placeholders kept, .mo current."""
    problems = messages_tool.problems((domain,))
    assert not problems, "\n".join(problems[:40])


def test_a_message_hidden_in_an_f_string_is_reported(tmp_path, messages_tool):
    """Babel reads an f-string as one token: a _() inside it would silently stay English."""
    source = tmp_path / "module.py"
    source.write_text('x = f"<b>{_(\'Send\')}</b>"\ny = _("fine") + f"{n} items"\n'
                      'z = f"{core.gettext(\'hidden\')}"\n', encoding="utf-8")
    found = messages_tool._hidden_in_f_strings(source)
    assert [line.split(": ", 1)[0] for line in found] == [f"{source}:1", f"{source}:3"], found


def test_the_catalog_header_has_the_projects_values_not_babels_placeholders():
    text = (i18n.LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "netlesson.po").read_text(encoding="utf-8")
    header = text.split("\n\n", 1)[0]
    for placeholder in ("ORGANIZATION", "FIRST AUTHOR", "EMAIL@ADDRESS", "FULL NAME", "YEAR-MO-DA",
                        "LL@li.org", "VERSION"):
        assert placeholder not in header, placeholder
    assert '"Language: zh_CN\\n"' in header and "Plural-Forms: nplurals=1; plural=0;" in header


def test_percent_placeholders_of_argparse_texts_are_kept():
    """argparse formats its texts with %; the check only knows {names}, so look here."""
    import re

    from babel.messages.pofile import read_po

    with open(i18n.LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "netlesson.po", "rb") as f:
        catalog = read_po(f)
    percent = re.compile(r"%(?:\([a-z_]+\))?[srd]")
    for message in catalog:
        if message.id and isinstance(message.id, str) and percent.search(message.id):
            assert sorted(percent.findall(message.string)) == sorted(percent.findall(message.id)), \
                message.id


# -- the command line, in two languages -------------------------------------------------


def _netlesson(lang: str, *args, stdin: bytes = b"", timeout: float = 30):
    env = {**os.environ, "NETLESSON_LANG": lang, "PYTHONIOENCODING": "utf-8"}
    env.pop("NETLESSON_PORT", None)
    return subprocess.run([sys.executable, "-m", "netlesson", *args], input=stdin,
                          capture_output=True, env=env, cwd=ROOT, timeout=timeout)


@pytest.fixture
def busy_port():
    """A loopback TCP port that something (this test) is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_cli_port_in_use_in_chinese(busy_port):
    result = _netlesson("zh_CN", "tcp-server", "--port", str(busy_port))
    err = result.stderr.decode("utf-8")
    assert result.returncode == 1
    assert err.startswith(f"错误：127.0.0.1:{busy_port} 已被当前这个进程") or \
        err.startswith(f"错误：127.0.0.1:{busy_port} 已被"), err
    assert "用 --port 0 让操作系统挑一个空闲端口" in err and "Traceback" not in err


def test_cli_port_in_use_in_english(busy_port):
    result = _netlesson("en", "tcp-server", "--port", str(busy_port))
    err = result.stderr.decode("utf-8")
    assert result.returncode == 1
    assert err.startswith(f"error: 127.0.0.1:{busy_port} is in use"), err
    assert "pass --port 0 to let the system pick a free port" in err


@pytest.mark.parametrize("lang, expected", [
    ("zh_CN", "错误：无法解析主机 'no-such-host.invalid'（"),
    ("en", "error: cannot resolve host 'no-such-host.invalid' ("),
])
def test_cli_unresolvable_host_in_both_languages(lang, expected):
    result = _netlesson(lang, "tcp-client", "--host", "no-such-host.invalid", "--port", "9")
    err = result.stderr.decode("utf-8")
    assert result.returncode == 1 and err.startswith(expected), err


@pytest.mark.parametrize("lang, expected", [
    ("zh_CN", ["用法：netlesson tcp-server", "多线程的 TCP 大写回显服务器", "选项",
               "显示本帮助信息并退出", "监听队列长度（backlog）"]),
    ("en", ["usage: netlesson tcp-server", "threaded TCP upper-case echo server", "options:",
            "show this help message and exit", "listen queue length"]),
])
def test_cli_help_in_both_languages(lang, expected):
    result = _netlesson(lang, "tcp-server", "--help")
    out = result.stdout.decode("utf-8")
    assert result.returncode == 0
    for text in expected:
        assert text in out, (text, out)


@pytest.mark.parametrize("lang, expected", [
    ("zh_CN", "netlesson tcp-client：错误：参数 --port：'eighty' 不是端口号"),
    ("en", "netlesson tcp-client: error: argument --port: 'eighty' is not a port number"),
])
def test_cli_usage_errors_in_both_languages(lang, expected):
    result = _netlesson(lang, "tcp-client", "--port", "eighty")
    assert result.returncode == 2 and expected in result.stderr.decode("utf-8"), result.stderr


def test_cli_client_to_a_closed_port_in_chinese():
    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        result = _netlesson("zh_CN", "tcp-client", "--port", str(port), stdin=b"hi\n")
    err = result.stderr.decode("utf-8")
    assert result.returncode == 1
    assert err.startswith(f"错误：127.0.0.1:{port} 上没有程序在监听——请先启动服务器"), err


def test_argparse_gets_its_own_words_back_after_main(monkeypatch):
    from netlesson import cli

    before = argparse._
    monkeypatch.setenv("NETLESSON_LANG", "zh_CN")
    with pytest.raises(SystemExit):
        cli.main(["--bogus"])
    assert argparse._ is before and argparse._("usage: ") == "usage: "


# -- errors, in two languages -----------------------------------------------------------

ADDRESS = ("127.0.0.1", 8081)


def _decode_error() -> errors.ReplyDecodeError:
    raw = b"ok \xff"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as cause:
        return errors.ReplyDecodeError(raw, "utf-8", cause)
    raise AssertionError("b'\\xff' decoded")


ERRORS = {
    "PortInUseError": lambda: errors.PortInUseError(ADDRESS),
    "PortNotAllowed": lambda: errors.PortNotAllowed(("127.0.0.1", 80)),
    "AddressNotAvailable": lambda: errors.AddressNotAvailable(("192.0.2.1", 0)),
    "ServerUnavailable": lambda: errors.ServerUnavailable(ADDRESS, "refused"),
    "ReplyTimeout": lambda: errors.ReplyTimeout(ADDRESS, 10, b"AB", 2.5),
    "ConnectionClosed": lambda: errors.ConnectionClosed(ADDRESS, 10, b"AB"),
    "ConnectionClosed(reset)": lambda: errors.ConnectionClosed(ADDRESS, 10, b"", reset=True),
    "ReplyTooLong": lambda: errors.ReplyTooLong(ADDRESS, 5, b"HELLO", b"!!"),
    "ReplyTooLong(unsent)": lambda: errors.ReplyTooLong(ADDRESS, 5, b"HELLO", b"", unsent=7),
    "ReplyTooLong(first)": lambda: errors.ReplyTooLong(ADDRESS, None, b"", b"hi"),
    "ReplyDecodeError": _decode_error,
    "ServerNotResponding": lambda: errors.ServerNotResponding(ADDRESS, 4, 7.0),
    "DatagramTooLong": lambda: errors.DatagramTooLong(9000, 8192),
    "DatagramTooLong(protocol)": lambda: errors.DatagramTooLong(70000, 65507, protocol_limit=True),
    "TruncatedReply": lambda: errors.TruncatedReply(9000, b"x" * 8192),
}

#: what each message says, in each language (a distinctive part of it)
SAYS = {
    "PortInUseError": ("127.0.0.1:8081 已被占用——请停止另一个服务器（在笔记本里：netlesson.background.stop_all()）",
                       "127.0.0.1:8081 is in use — stop the other server"),
    "PortNotAllowed": ("无权绑定 127.0.0.1:80：1024 以下的端口需要管理员权限",
                       "not allowed to bind 127.0.0.1:80: ports below 1024"),
    "AddressNotAvailable": ("无法绑定 192.0.2.1:0：本机没有这个地址",
                            "cannot bind 192.0.2.1:0: this machine has no such address"),
    "ServerUnavailable": ("127.0.0.1:8081 上没有程序在监听——请先启动服务器（例如 python -m netlesson "
                          "tcp-server --port 8081），或者检查主机和端口（refused）",
                          "nothing is listening on 127.0.0.1:8081 — start the server first (e.g. "
                          "python -m netlesson tcp-server --port 8081) or check host and port (refused)"),
    "ReplyTimeout": ("127.0.0.1:8081 发来了预期 10 字节回复中的 2 字节，之后 2.5 秒再没有数据",
                     "127.0.0.1:8081 sent 2 of the 10 reply bytes expected, then nothing for 2.5 s"),
    "ConnectionClosed": ("127.0.0.1:8081 在发来 10 字节回复中的 2 字节后关闭了连接；已经到达的字节在 .partial 里",
                         "127.0.0.1:8081 closed the connection after 2 of 10 reply bytes"),
    "ConnectionClosed(reset)": ("127.0.0.1:8081 在发来 10 字节回复中的 0 字节后重置了连接",
                                "127.0.0.1:8081 reset the connection after 0 of 10 reply bytes"),
    "ReplyTooLong": ("127.0.0.1:8081 在 5 字节的回复之外多发了 2 字节：大写回显服务器回复的字节数与收到的完全相同",
                     "127.0.0.1:8081 sent 2 byte(s) more than the 5-byte reply: an upper-case echo"),
    "ReplyTooLong(unsent)": ("请求还有 7 字节没有发出，127.0.0.1:8081 就已经发来了完整的 5 字节回复",
                             "127.0.0.1:8081 sent a complete 5-byte reply while 7 bytes of the "
                             "request were still unsent"),
    "ReplyTooLong(first)": ("还没有向 127.0.0.1:8081 发送任何数据，它就发来了 2 字节",
                            "127.0.0.1:8081 sent 2 byte(s) before it was sent anything"),
    "ReplyDecodeError": ("回复不是有效的 utf-8：偏移 3 处的字节 b'\\xff'（invalid start byte）",
                         "the reply is not valid utf-8: byte(s) b'\\xff' at offset 3 (invalid start byte)"),
    "ServerNotResponding": ("尝试 4 次、历时 7.0 秒，127.0.0.1:8081 都没有回复——那个端口上有 UDP 服务器在运行吗？",
                            "no reply from 127.0.0.1:8081 after 4 tries over 7.0 s — is a UDP server"),
    "DatagramTooLong": ("这个数据报有 9000 字节，但 socketserver.UDPServer 每个数据报最多只读 8192 字节",
                        "this datagram is 9000 bytes, but socketserver.UDPServer reads at most 8192"),
    "DatagramTooLong(protocol)": ("这个数据报有 70000 字节，但 IPv4 上一个 UDP 数据报最多只能装 65507 字节",
                                  "this datagram is 70000 bytes, but one UDP datagram over IPv4 "
                                  "carries at most 65507 bytes"),
    "TruncatedReply": ("发送了 9000 字节的数据报，回复却只有 8192 字节：服务器只保留了前 8192 字节",
                       "sent a 9000-byte datagram but the reply has only 8192 bytes"),
}


@pytest.mark.parametrize("name", list(ERRORS))
@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_every_error_speaks_the_chosen_language(monkeypatch, name, lang):
    monkeypatch.setenv("NETLESSON_LANG", lang)
    exc = ERRORS[name]()
    text = str(exc)
    chinese, english = SAYS[name]
    assert (chinese if lang == "zh_CN" else english) in text, text
    assert not text.startswith("[Errno"), text  # the explanation alone, in every language
    if lang == "zh_CN":
        assert not any(word in text for word in ("the ", " is ", " and ")), text


def test_the_bind_errors_keep_their_errno_and_built_in_types():
    in_use, refused, absent = (ERRORS[n]() for n in ("PortInUseError", "PortNotAllowed",
                                                     "AddressNotAvailable"))
    assert (in_use.errno, refused.errno, absent.errno) == (errno.EADDRINUSE, errno.EACCES,
                                                           errno.EADDRNOTAVAIL)
    assert isinstance(refused, PermissionError)
    assert all(isinstance(e, OSError) and isinstance(e, errors.NetlessonError)
               for e in (in_use, refused, absent))
    assert all(e.address and str(e) == e.strerror for e in (in_use, refused, absent))


# -- the grader's words, in two languages -------------------------------------------------


def _judge_small_program():
    """A two-cell program: an answer that never ends, a test that fails; run unsandboxed."""
    from netlesson import grading

    program = {"notebook": "demo", "cell_timeout": 1,
               "cells": [{"grade_id": "demo-answer", "kind": "answer", "source": "while True:\n    pass\n"},
                         {"grade_id": "demo-check", "kind": "test", "points": 2.0,
                          "source": "assert False, 'the answer is missing'"}],
               "answer_keys": {}, "edited_locked": ["demo-check"], "suspicious": ["get_ipython"]}
    return grading.judge(program, limits=grading.Limits(wall_seconds=60, cpu_seconds=60),
                         sandboxed=False)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_the_graders_flags_and_feedback_speak_the_chosen_language(monkeypatch, tmp_path, lang):
    from netlesson.grading import FLAG_CODES, NotebookResult
    from netlesson.grading._grade import _write_csv

    monkeypatch.setenv("NETLESSON_LANG", lang)
    verdict = _judge_small_program()
    assert verdict.points == 0
    codes = [flag.code for flag in verdict.flags]
    assert codes == ["locked-cells-edited", "suspicious-code", "unsandboxed"], verdict.flags
    assert set(codes) <= set(FLAG_CODES)
    result = NotebookResult("ann", "exercises", "demo", verdict.points, verdict.max_points,
                            "graded", verdict.feedback, verdict.flags)
    _write_csv(tmp_path / "grades.csv", [result])
    with open(tmp_path / "grades.csv", newline="", encoding="utf-8") as f:
        row = next(csv.DictReader(f))
    assert row["flag_codes"] == "locked-cells-edited suspicious-code unsandboxed"  # any language
    if lang == "zh_CN":
        assert row["flags"] == ("改动了锁定单元格（demo-check；运行的是教师的版本）; "
                                "可疑代码（get_ipython）; 未使用沙箱")
        # worded inside the grading process: NETLESSON_LANG was passed to it
        assert "demo-answer: 运行超过 1 秒，被中断了（是死循环，还是没有设超时的 recv()？）" \
            in row["feedback"], row["feedback"]
        assert [flag.label for flag in verdict.flags] == ["改动了锁定单元格", "可疑代码", "未使用沙箱"]
    else:
        assert row["flags"] == ("locked cells edited (demo-check; the instructor's versions were "
                                "run); suspicious code (get_ipython); unsandboxed")
        assert "demo-answer: ran longer than 1 s and was interrupted (an endless loop, or a recv() " \
               "without a timeout?)" in row["feedback"], row["feedback"]
        assert [flag.label for flag in verdict.flags] == ["locked cells edited", "suspicious code",
                                                          "unsandboxed"]
    assert "demo-check: AssertionError: the answer is missing" in row["feedback"]


@pytest.mark.parametrize("lang, expected", [
    ("zh_CN", ["交上来的文件名是 'EX01 (1).ipynb'", "renamed-file"]),
    ("en", ["handed in as 'EX01 (1).ipynb'", "renamed-file"]),
])
def test_a_renamed_notebook_is_flagged_in_the_chosen_language(monkeypatch, tmp_path, lang, expected):
    from netlesson.grading import match_notebooks

    monkeypatch.setenv("NETLESSON_LANG", lang)
    (tmp_path / "EX01 (1).ipynb").write_text("{}")
    path, note = match_notebooks(tmp_path, ["ex01"])["ex01"]
    assert path.name == "EX01 (1).ipynb" and [note, note.code] == expected
