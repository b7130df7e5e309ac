"""Why student code cannot be sandboxed on this machine, and what the instructor can do.

:func:`netlesson.grading._sandbox.sandbox_problem` probes bubblewrap; the
sentences it answers with are worded here, in the grader's language
(``NETLESSON_LANG``), from what the probe found.
"""

from __future__ import annotations

from ..i18n import N_
from ..i18n import core as _messages

_ = _messages.gettext

__all__ = ["no_bwrap", "bwrap_fails"]

_HINT = N_("Install bubblewrap (as root: tools/ensure-sandbox.sh, or `sudo apt-get install "
           "bubblewrap`) and allow unprivileged user namespaces, or pass the grader's "
           "--allow-unsandboxed flag to run student code without a sandbox.")
_USERNS_HINT = N_("User namespaces look disabled: check `sysctl user.max_user_namespaces` (> 0), "
                  "`kernel.unprivileged_userns_clone` (Debian: 1) and, on Ubuntu 23.10+, "
                  "`kernel.apparmor_restrict_unprivileged_userns` (0, or an AppArmor profile "
                  "for bwrap).")
#: words in bwrap's complaint that mean user namespaces are off
_USERNS_WORDS = ("namespace", "uid map", "not permitted", "No permission")


def no_bwrap() -> str:
    """bwrap is not installed (not on ``PATH``)."""
    return _("bubblewrap (`bwrap`) is not on PATH, so student code cannot be sandboxed. "
             "{hint}").format(hint=_(_HINT))


def bwrap_fails(bwrap: str, status: int | None, output: str) -> str:
    """A test sandbox did not run: *status* is its exit status (``None``: it did not start)."""
    detail = output if status is None else _(
        "a test sandbox failed (exit status {status}): {output}").format(status=status,
                                                                        output=output)
    userns = any(word in detail for word in _USERNS_WORDS)
    return (_("bwrap ({bwrap}) cannot start a sandbox here: {detail}").format(bwrap=bwrap,
                                                                            detail=detail)
            + "\n" + (_(_USERNS_HINT) + "\n" if userns else "") + _(_HINT))
