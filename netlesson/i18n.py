"""Messages in the course's language: Simplified Chinese by default, English on request.

The lessons are written in Simplified Chinese, so everything netlesson says to
a person -- a checker's feedback, the grader's CSV and feedback, the command
line's errors and hints -- is Simplified Chinese unless the user asks for
English.  The source strings in the code are English (gettext's convention:
the message id is the text in the source language); the Chinese lives in
standard gettext catalogs, one per *domain*:

* ``netlesson``          -- the command line, the errors in :mod:`netlesson.errors`,
  the launchers and the grader (:data:`CORE`);
* ``netlesson_checkers`` -- the exercise checkers' feedback (:data:`CHECKERS`).

Two domains, so the checkers' many messages and the tools' messages can be
translated and reviewed separately.  The catalogs are
``netlesson/locale/zh_CN/LC_MESSAGES/<domain>.po`` (edited by people) and the
``.mo`` beside each (compiled; ``python tools/messages.py`` extracts, updates,
compiles and checks them with Babel, and a test fails when a message in the
code has no translation or a ``.mo`` is older than its ``.po``).

Choosing the language
---------------------
The environment variable :data:`LANGUAGE_VARIABLE` (``NETLESSON_LANG``) picks
it: ``en`` (also ``en_US``, ``en_GB.UTF-8``, ``C``...) for English, ``zh_CN``
(also ``zh``, ``zh-Hans``, ``zh_CN.UTF-8``) for Chinese; unset or empty means
Chinese.  The system locale (``LANG``) is *not* consulted: most machines and
hubs run with ``LANG=en_US.UTF-8`` or ``C.UTF-8`` whatever their users read,
and a course in Chinese would then answer in English to every student.  The
language is looked up on every message, so setting the variable in a running
notebook (``%env NETLESSON_LANG=en``) takes effect at once.

Using it in code::

    from netlesson.i18n import core as _m      # or: checkers
    _ = _m.gettext
    raise ValueError(_("{address} is in use").format(address=...))

Placeholders are named (``{address}``), never positional, so a translation can
put them in its own order; a test checks every translation keeps the same set.
Texts kept at import time (tables of flags, hints) are marked with
:func:`N_` and translated where they are shown.
"""

from __future__ import annotations

import gettext as _gettext
import os
from functools import lru_cache
from pathlib import Path

__all__ = ["LANGUAGE_VARIABLE", "DEFAULT_LANGUAGE", "LANGUAGES", "LOCALE_DIR", "DOMAINS",
           "language", "Messages", "core", "checkers", "N_"]

#: the environment variable that chooses the language of netlesson's messages
LANGUAGE_VARIABLE = "NETLESSON_LANG"
#: the course's language, used when the variable is unset, empty or not understood
DEFAULT_LANGUAGE = "zh_CN"
#: the languages netlesson speaks: the catalogs' language and the source language
LANGUAGES = ("zh_CN", "en")
#: where the catalogs live (inside the package, so an installed netlesson has them)
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
#: the catalogs' domains
DOMAINS = ("netlesson", "netlesson_checkers")

_ENGLISH = ("en", "c", "posix")
_CHINESE = ("zh", "zh_cn", "zh_hans", "zh_sg")


def language(value: str | None = None) -> str:
    """The language messages are shown in now: ``"zh_CN"`` or ``"en"``.

    *value* defaults to the environment variable ``NETLESSON_LANG``.  A value
    netlesson does not speak (``fr``, ``zh_TW``...) falls back to the course's
    language, Chinese.
    """
    if value is None:
        value = os.environ.get(LANGUAGE_VARIABLE, "")
    tag = value.strip().split(".")[0].split("@")[0].replace("-", "_").lower()
    if tag in _CHINESE:
        return "zh_CN"
    if tag in _ENGLISH or tag.startswith("en_"):
        return "en"
    return DEFAULT_LANGUAGE


@lru_cache(maxsize=None)
def _translations(domain: str, lang: str) -> _gettext.NullTranslations:
    if lang == "en":
        return _gettext.NullTranslations()
    try:
        return _gettext.translation(domain, LOCALE_DIR, languages=[lang])
    except OSError as exc:  # a missing .mo is an installation fault: say which file
        raise RuntimeError(
            f"netlesson's {lang} message catalog {domain}.mo is missing from {LOCALE_DIR} "
            f"(reinstall netlesson, or compile it: python tools/messages.py compile); "
            f"set {LANGUAGE_VARIABLE}=en to use English meanwhile") from exc


class Messages:
    """The messages of one domain, in the language :func:`language` gives at each call."""

    __slots__ = ("domain",)

    def __init__(self, domain: str):
        if domain not in DOMAINS:
            raise ValueError(f"unknown message domain {domain!r}; one of: {', '.join(DOMAINS)}")
        self.domain = domain

    def gettext(self, message: str) -> str:
        """*message* (English, as written in the code) in the current language."""
        return _translations(self.domain, language()).gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """*singular* or *plural* by *n*, in the current language (Chinese has one form)."""
        return _translations(self.domain, language()).ngettext(singular, plural, n)

    def __repr__(self) -> str:
        return f"<Messages {self.domain} in {language()}>"


#: the command line, errors, launchers and grader
core = Messages("netlesson")
#: the exercise checkers' feedback
checkers = Messages("netlesson_checkers")


def N_(message: str) -> str:
    """Mark *message* for translation without translating it now (translate where shown)."""
    return message
