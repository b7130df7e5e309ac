"""Maintain netlesson's message catalogs (gettext, with Babel).

    python tools/messages.py update    extract the messages from the code and merge them
                                       into netlesson/locale/zh_CN/LC_MESSAGES/<domain>.po
                                       (new ones come in untranslated; gone ones are dropped)
    python tools/messages.py compile   write each .po's .mo (what netlesson reads)
    python tools/messages.py COMMAND --domain netlesson_checkers   (one domain only)
    python tools/messages.py check     exit 1, listing the problems, unless every message in
                                       the code is translated, no translation is fuzzy, the
                                       placeholders agree and every .mo matches its .po

Translators edit the .po files (any PO editor, or by hand), then run ``update``,
``compile`` and ``check``.  ``update`` writes the header with the project's own
values (version from pyproject.toml, where to report a wrong translation) and
keeps ``POT-Creation-Date`` unless the set of messages changed, so running it
again changes nothing; ``PO-Revision-Date`` is kept as the translator (or PO
editor) last set it, and set to now when ``update`` finds it unset.  The domains: ``netlesson_checkers`` holds the messages
of ``netlesson/exercises/``; ``netlesson`` holds those of the rest of the package.
Marked in the code are calls to ``_``, ``N_``, ``gettext`` and ``ngettext`` (see
``netlesson/i18n.py``); a ``# TRANSLATORS:`` comment just above a call is copied
into the catalog for the translator.  A call inside an f-string is not extracted
(Python 3.11 reads the f-string as one token), so ``check`` reports one.
"""

from __future__ import annotations

import ast
import datetime
import gettext
import io
import re
import sys
import tomllib
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "netlesson"
LOCALE = PACKAGE / "locale"
LANGUAGE = "zh_CN"
KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}
COMMENT_TAGS = ("TRANSLATORS:",)
REPOSITORY = "https://github.com/netlesson/netlesson"
HEADER_COMMENT = """\
# Simplified Chinese (zh_CN) messages of netlesson, gettext domain {domain}.
# Copyright (C) the netlesson authors.
# This file is distributed under the same license as netlesson (MIT).
#
# Edit the msgstr lines (keep every {{placeholder}} and %-format as it is), then run
#   python tools/messages.py compile && python tools/messages.py check
#"""
PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)(?:[!:][^{}]*)?\}(?!\})")


def domain_of(path: Path) -> str:
    return "netlesson_checkers" if "exercises" in path.relative_to(PACKAGE).parts[:1] else "netlesson"


def sources(domain: str) -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py")
                  if domain_of(p) == domain and "locale" not in p.parts and p.name != "i18n.py")


def extract(domain: str) -> Catalog:
    template = Catalog(project="netlesson", domain=domain, fuzzy=False)
    for path in sources(domain):
        for lineno, message, comments, context in extract_from_file(
                "python", str(path), keywords=KEYWORDS, comment_tags=COMMENT_TAGS,
                strip_comment_tags=True):
            template.add(message, None, [(str(path.relative_to(ROOT)), lineno)],
                         auto_comments=comments, context=context)
    return template


def po_path(domain: str) -> Path:
    return LOCALE / LANGUAGE / "LC_MESSAGES" / f"{domain}.po"


def read(domain: str) -> Catalog:
    path = po_path(domain)
    if not path.exists():
        return Catalog(locale=LANGUAGE, project="netlesson", domain=domain, fuzzy=False)
    with path.open("rb") as f:
        return read_po(f, locale=LANGUAGE, domain=domain)


def _version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)["project"]["version"]


def _header(catalog: Catalog, domain: str) -> None:
    """The header's fields with netlesson's values instead of Babel's placeholders."""
    catalog.project = "netlesson"
    catalog.version = _version()
    catalog.copyright_holder = "the netlesson authors"
    catalog.msgid_bugs_address = f"{REPOSITORY}/issues"
    catalog.last_translator = f"netlesson translators <{REPOSITORY}/issues>"
    catalog.language_team = f"Simplified Chinese <{REPOSITORY}/issues>"
    catalog.header_comment = HEADER_COMMENT.format(domain=domain)
    if not isinstance(catalog.revision_date, datetime.datetime):  # Babel's 'YEAR-MO-DA' placeholder
        catalog.revision_date = _now()


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)


def write(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, omit_header=False, sort_output=False, no_location=False,
             ignore_obsolete=True)
    path.write_bytes(buffer.getvalue())


DOMAINS = ("netlesson", "netlesson_checkers")


def update(domains=DOMAINS) -> None:
    for domain in domains:
        catalog = read(domain)
        created = catalog.creation_date
        ids = {(m.id if isinstance(m.id, str) else tuple(m.id), m.context) for m in catalog if m.id}
        catalog.update(extract(domain), no_fuzzy_matching=True)
        catalog.obsolete.clear()
        new_ids = {(m.id if isinstance(m.id, str) else tuple(m.id), m.context)
                   for m in catalog if m.id}
        # the template's date only when the messages changed: no churn from a re-run
        catalog.creation_date = created if new_ids == ids and po_path(domain).exists() else _now()
        _header(catalog, domain)
        write(catalog, po_path(domain))
        untranslated = sum(1 for m in catalog if m.id and not _translated(m))
        print(f"{po_path(domain).relative_to(ROOT)}: {len([m for m in catalog if m.id])} messages, "
              f"{untranslated} untranslated")


def compile_(domains=DOMAINS) -> None:
    for domain in domains:
        catalog = read(domain)
        buffer = io.BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)
        po_path(domain).with_suffix(".mo").write_bytes(buffer.getvalue())
        print(f"compiled {po_path(domain).with_suffix('.mo').relative_to(ROOT)}")


def _translated(message) -> bool:
    strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
    return all(s for s in strings) and not message.fuzzy


def _ids(message) -> list[str]:
    return list(message.id) if isinstance(message.id, (list, tuple)) else [message.id]


def _strings(message) -> list[str]:
    return list(message.string) if isinstance(message.string, (list, tuple)) else [message.string]


_MARKERS = {"_", "N_", "gettext", "ngettext"}


def _is_marked_call(node) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return ((isinstance(func, ast.Name) and func.id in _MARKERS)
            or (isinstance(func, ast.Attribute) and func.attr in ("gettext", "ngettext")))


def _hidden_in_f_strings(path: Path) -> list[str]:
    """Marked calls written inside an f-string: Babel does not see them (so they go untranslated).

    Read from the syntax tree, so it is the same on every Python (3.12 tokenizes
    f-strings into parts, 3.11 as one string token)."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) and any(
                _is_marked_call(inner) for value in node.values for inner in ast.walk(value)):
            found.append(f"{shown}:{node.lineno}: a message inside an f-string is not "
                         f"extracted; call _() outside it")
    return found


def problems(domains=DOMAINS) -> list[str]:
    found = []
    for domain in domains:
        catalog = read(domain)
        where = po_path(domain).relative_to(ROOT)
        for path in sources(domain):
            found.extend(_hidden_in_f_strings(path))
        for message in extract(domain):
            if not message.id:
                continue
            entry = catalog.get(message.id, message.context)
            first = message.locations[0] if message.locations else ("?", 0)
            if entry is None:
                found.append(f"{where}: missing (from {first[0]}:{first[1]}): {_ids(message)[0]!r}")
            elif not _translated(entry):
                found.append(f"{where}: {'fuzzy' if entry.fuzzy else 'untranslated'}: "
                             f"{_ids(message)[0]!r}")
        for entry in catalog:
            if not entry.id or not _translated(entry):
                continue
            wanted = set(PLACEHOLDER.findall(" ".join(_ids(entry))))
            for string in _strings(entry):
                got = set(PLACEHOLDER.findall(string))
                if got != wanted:
                    found.append(f"{where}: placeholders {sorted(got)} differ from {sorted(wanted)} "
                                 f"in the translation of {_ids(entry)[0]!r}")
        mo = po_path(domain).with_suffix(".mo")
        if not mo.exists():
            found.append(f"{mo.relative_to(ROOT)} is missing: python tools/messages.py compile")
            continue
        with mo.open("rb") as f:
            compiled = gettext.GNUTranslations(f)._catalog
        expected = {}
        for entry in catalog:
            if not entry.id or not _translated(entry):
                continue
            if isinstance(entry.id, (list, tuple)):
                for i, string in enumerate(entry.string):
                    expected[(entry.id[0], i)] = string
            else:
                expected[entry.id] = entry.string
        compiled = {k: v for k, v in compiled.items() if k != ""}
        if compiled != expected:
            found.append(f"{mo.relative_to(ROOT)} does not match its .po: python tools/messages.py compile")
    return found


def main(argv: list[str]) -> int:
    domains = DOMAINS
    if "--domain" in argv:
        at = argv.index("--domain")
        domains = (argv[at + 1],)
        if domains[0] not in DOMAINS:
            print(f"unknown domain {domains[0]!r}; one of: {', '.join(DOMAINS)}")
            return 2
        del argv[at:at + 2]
    command = argv[1] if len(argv) > 1 else "check"
    if command == "update":
        update(domains)
    elif command == "compile":
        compile_(domains)
    elif command == "check":
        found = problems(domains)
        for line in found:
            print(line)
        print(f"{len(found)} problem(s)" if found else "catalogs complete")
        return 1 if found else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
