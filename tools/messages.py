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
``compile`` and ``check``.  The domains: ``netlesson_checkers`` holds the messages
of ``netlesson/exercises/``; ``netlesson`` holds those of the rest of the package.
Marked in the code are calls to ``_``, ``N_``, ``gettext`` and ``ngettext`` (see
``netlesson/i18n.py``); a ``# TRANSLATORS:`` comment just above a call is copied
into the catalog for the translator.
"""

from __future__ import annotations

import gettext
import io
import re
import sys
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
        catalog.update(extract(domain), no_fuzzy_matching=True)
        catalog.obsolete.clear()
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


def problems(domains=DOMAINS) -> list[str]:
    found = []
    for domain in domains:
        catalog = read(domain)
        where = po_path(domain).relative_to(ROOT)
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
