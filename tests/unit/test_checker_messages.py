"""The exercise checkers speak Simplified Chinese by default and English on request.

Every message a checker shows a student goes through the ``netlesson_checkers``
gettext domain (netlesson/i18n.py).  These tests guard three things:

* the catalog is complete: every message in ``netlesson/exercises/`` has a
  Chinese translation with the same placeholders, and the ``.mo`` the package
  reads matches the ``.po`` people edit (``tools/messages.py check``);
* a real checker of every exercise, run against a wrong answer on loopback,
  explains it in Chinese under ``NETLESSON_LANG=zh_CN`` and in English under
  ``NETLESSON_LANG=en`` -- the Chinese expected here is read from the compiled
  catalog, so the test fails if a message is left untranslated or its
  translation is not what the student sees;
* the language is looked up at each message, so changing the variable in a
  running kernel (``%env NETLESSON_LANG=en``) changes the next check's language.

conftest.py sets ``NETLESSON_LANG=en`` for every unit test; the tests here set
the language they want themselves.
"""

from __future__ import annotations

import gettext
import re
import socket
import socketserver
import threading
from pathlib import Path

import nbformat
import pytest
from exercise_solutions import EXERCISES, failure, load_solution

from netlesson import exercises, i18n

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "netlesson_checkers"
MO = ROOT / "netlesson" / "locale" / "zh_CN" / "LC_MESSAGES" / f"{DOMAIN}.mo"
PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
CJK = re.compile(r"[\u4e00-\u9fff]")




def chinese(msgid: str, plural: str | None = None) -> str:
    """The Chinese translation of *msgid* in the compiled catalog; it must exist."""
    with MO.open("rb") as f:
        catalog = gettext.GNUTranslations(f)
    text = catalog.ngettext(msgid, plural, 2) if plural else catalog.gettext(msgid)
    assert text != msgid and CJK.search(text), f"no Chinese translation of {msgid!r}"
    return text


def pieces(text: str, shortest: int = 2) -> list[str]:
    """The fixed text between the placeholders of *text*: what a formatted message must contain."""
    return [p for p in PLACEHOLDER.split(text) if len(p.strip()) >= shortest]


def assert_says(message: str, msgid: str, *, plural: str | None = None) -> None:
    """*message* is the Chinese of *msgid* (every fixed piece present, no English piece left)."""
    for piece in pieces(chinese(msgid, plural)):
        assert piece in message, f"{piece!r} (from the Chinese of {msgid!r}) not in:\n{message}"
    for piece in pieces(msgid, shortest=12):
        assert piece not in message, f"English {piece!r} in a Chinese message:\n{message}"


def assert_says_english(message: str, msgid: str) -> None:
    for piece in pieces(msgid, shortest=4):
        assert piece in message, f"{piece!r} (from {msgid!r}) not in:\n{message}"
    assert not CJK.search(message.replace("粘包", "")), f"Chinese in an English message:\n{message}"


# ---------------------------------------------------------------------------
# the catalog
# ---------------------------------------------------------------------------
def test_the_catalog_covers_the_checkers_messages_only(messages_tool):
    """The checkers' messages are extracted from netlesson/exercises/ into their own domain.
    (That the catalog is complete and compiled is checked for both domains in test_i18n.py.)"""
    tool = messages_tool
    sources = {p.relative_to(ROOT).as_posix() for p in tool.sources(DOMAIN)}
    assert "netlesson/exercises/_harness.py" in sources
    assert all(s.startswith("netlesson/exercises/") for s in sources), sources
    assert len([m for m in tool.extract(DOMAIN) if m.id]) > 200


def test_chinese_messages_use_chinese_punctuation(messages_tool):
    """After a Chinese character: ，。：；（）, not , . : ; ( -- code and reprs keep their own."""
    tool = messages_tool
    wrong = []
    for entry in tool.read(DOMAIN):
        if not entry.id:
            continue
        strings = entry.string if isinstance(entry.string, (list, tuple)) else [entry.string]
        for text in strings:
            if re.search(r"[\u4e00-\u9fff][,.:;(!?]", text) or '"' in text:
                wrong.append(text)
    assert not wrong, "\n".join(wrong)


# ---------------------------------------------------------------------------
# one real checker per exercise, in both languages
# ---------------------------------------------------------------------------
class RecvLineHandler(socketserver.StreamRequestHandler):
    """ex01: numbers each recv() instead of each line."""

    def handle(self):
        number = 0
        while data := self.request.recv(1024):
            number += 1
            self.request.sendall(b"%d: %s\n" % (number, data.rstrip(b"\r\n").upper()))


def udp_request_as_text(address, data, timeout=0.5, retries=3):
    """ex02: decodes the reply instead of returning the bytes."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(data, address)
        return sock.recvfrom(1024)[0].decode()


def serve_not_written(listener, stop):
    """ex08: the released stub."""
    raise NotImplementedError


def _ex05_accepts_everyone():
    def always(self, request, client_address):
        return True

    base = load_solution("ex05_allow_list")["AllowListServer"]
    return (type("AllowListServer", (base,), {"verify_request": always}),)


def _ex06_unstripped_name():
    class NoStrip(socketserver.StreamRequestHandler):
        def handle(self):
            name = self.rfile.readline().decode("utf-8")
            with self.server.lock:
                self.server.count += 1
                number = self.server.count
            self.wfile.write(f"hello {name}, you are visitor #{number}\n".encode())

    return load_solution("ex06_visitor_counter")["VisitorServer"], NoStrip


def _ex07_unstripped_command():
    nb = nbformat.read(EXERCISES / "ex07_line_protocol.ipynb", as_version=4)
    source = next(c.source for c in nb.cells
                  if c.metadata.get("nbgrader", {}).get("grade_id") == "ex07-solution")
    old = 'command = line.rstrip(b"\\r\\n").decode("utf-8")'
    assert old in source
    namespace = {"socketserver": socketserver, "threading": threading}
    exec(compile(source.replace(old, 'command = line.decode("utf-8")'), "<variant>", "exec"),
         namespace)
    return namespace["KVServer"], namespace["KVHandler"]


def _ex03_wrong_answers():
    return ({"ThreadingTCPServer.__init__": "ThreadingTCPServer",
             "ThreadingTCPServer.process_request": "?"},)


#: exercise -> (checker, its arguments, the messages it must say: msgids of the catalog)
SCENARIOS = {
    "ex01": (exercises.check_line_handler, lambda: (RecvLineHandler,), [
        "for {context} {sent} the expected reply is {expected}, but your handler sent "
        "{received}{waited}: {hint}",
        "three lines sent in one piece",
        "several lines arrived in one piece (TCP does not keep message boundaries, the 粘包 "
        "effect) and your handler answered them as one. Reply to each line separately: "
        "readline() returns one line at a time"]),
    "ex02": (exercises.check_udp_request, lambda: (udp_request_as_text,), [
        "{call} should return {expected}; {problem}",
        "it returned the str {value}: return the reply as bytes, exactly as recvfrom() gave it"]),
    "ex03": (lambda answers: exercises.check_mro_answers(answers, only="ThreadingTCPServer"),
             _ex03_wrong_answers, [
        "{right} of {total} answers are right. Python looks an attribute up along the class's "
        "__mro__ and takes it from the first class whose own __dict__ (vars(cls)) has it:",
        "- {question}: {given} does not define {attribute} itself ({test} is False); lookup "
        "goes on along {chain}",
        "- {question}: not answered yet ({answer})"]),
    "ex04": (exercises.check_recvall, lambda: (lambda sock, n: sock.recv(n),), [
        "recvall(sock, 3000) returned {size} bytes: the 3000 bytes arrived in 3 pieces, and one "
        "recv() returns only what has arrived so far. Call recv() again until you have all n "
        "bytes"]),
    "ex05": (exercises.check_verify_request, _ex05_accepts_everyone, [
        "{call} returned {verdict}, but {host} is not in allowed_hosts {hosts}: return "
        "{allowed}. Decide from client_address[0], not from the socket: the check calls "
        "verify_request with a socket connected from 127.0.0.1 and a different client_address"]),
    "ex06": (exercises.check_visitor_greeting, _ex06_unstripped_name, [
        "visitor {number} sent {name} and should read {want}, got {got}: {hint}",
        "the name still ends with its line ending, which splits the greeting in two. Strip it "
        "(self.rfile.readline().strip()) and decode it"]),
    "ex07": (exercises.check_kv_protocol, _ex07_unstripped_command, [
        "{client}: for {context} {sent} the expected reply is {expected}, but your handler sent "
        "{received}{waited}: {hint}",
        "client A",
        "GET of a key that was SET",
        "your handler answered a correct command with an error. Strip the line ending first: "
        "readline() keeps it, so unstripped the key of b'GET name\\n' is 'name\\n' "
        "(line.rstrip(b'\\r\\n')). Then split the line once at the first space for the command "
        "name and, for SET, once more for the key: the value is the rest of the line, spaces "
        "and all (command.split(' ', 2))"]),
    "ex08": (exercises.check_selectors_echo, lambda: (serve_not_written,), [
        "serve(listener, stop) raised {error} {context}",
        "at once"]),
}


@pytest.mark.parametrize("exercise", sorted(SCENARIOS))
def test_a_checker_explains_a_wrong_answer_in_chinese_by_default(exercise, monkeypatch):
    check, arguments, said = SCENARIOS[exercise]
    monkeypatch.delenv(i18n.LANGUAGE_VARIABLE, raising=False)  # the course's default
    message = failure(check, *arguments())
    for msgid in said:
        assert_says(message, msgid)


@pytest.mark.parametrize("exercise", sorted(SCENARIOS))
def test_a_checker_explains_a_wrong_answer_in_english_on_request(exercise, monkeypatch):
    check, arguments, said = SCENARIOS[exercise]
    monkeypatch.setenv(i18n.LANGUAGE_VARIABLE, "en")
    message = failure(check, *arguments())
    for msgid in said:
        assert_says_english(message, msgid)


def test_zh_cn_asks_for_chinese_explicitly(monkeypatch):
    monkeypatch.setenv(i18n.LANGUAGE_VARIABLE, "zh_CN")
    message = failure(exercises.check_selectors_echo, serve_not_written)
    assert_says(message, "serve(listener, stop) raised {error} {context}")


def test_the_harness_names_the_students_line_in_chinese(monkeypatch):
    """The place of the student's exception (a harness message) is translated too."""
    monkeypatch.setenv(i18n.LANGUAGE_VARIABLE, "zh_CN")
    message = failure(exercises.check_selectors_echo, serve_not_written)
    assert_says(message, " ({file}, line {lineno}: {code})")
    assert "raise NotImplementedError" in message  # the student's code, as written


def test_plural_messages_have_their_chinese_form(monkeypatch):
    monkeypatch.setenv(i18n.LANGUAGE_VARIABLE, "zh_CN")
    singular = "read {what} {reads} time"
    text = i18n.checkers.ngettext(singular, "read {what} {reads} times", 5)
    assert text == chinese(singular, "read {what} {reads} times")
    assert text.format(what="server.count", reads=5) == "读取了 5 次 server.count"


# ---------------------------------------------------------------------------
# switching in a running process
# ---------------------------------------------------------------------------
def test_changing_the_variable_switches_the_next_checks_language(monkeypatch):
    answers = _ex03_wrong_answers()[0]
    heading = ("{right} of {total} answers are right. Python looks an attribute up along the "
               "class's __mro__ and takes it from the first class whose own __dict__ "
               "(vars(cls)) has it:")
    seen = []
    for language in ("zh_CN", "en", "zh_CN", "C"):
        monkeypatch.setenv(i18n.LANGUAGE_VARIABLE, language)
        seen.append(failure(exercises.check_mro_answers, answers, only="ThreadingTCPServer"))
    zh_first, en, zh_again, c_locale = seen
    assert_says(zh_first, heading)
    assert_says_english(en, heading)
    assert zh_again == zh_first
    assert c_locale == en


def test_changing_the_variable_switches_a_socket_checker_too(monkeypatch):
    monkeypatch.setenv(i18n.LANGUAGE_VARIABLE, "en")
    english = failure(exercises.check_selectors_echo, serve_not_written)
    monkeypatch.setenv(i18n.LANGUAGE_VARIABLE, "zh")
    chinese_text = failure(exercises.check_selectors_echo, serve_not_written)
    assert english.startswith("serve(listener, stop) raised NotImplementedError")
    assert "at once" in english and chinese("at once") not in english
    assert chinese("at once") in chinese_text and "at once" not in chinese_text
