#!/usr/bin/env python3
"""Record the current commit without ``instructor/`` on the branch ``students`` (``make student-branch``).

``instructor/`` holds the exercises' sources with their solutions; a clone,
Binder or nbgitpuller of the repository would hand them to students.  This
script commits ``HEAD`` minus ``instructor/`` on the branch ``students``, the
branch students are given (the site's launch links name it: ``COURSE_BRANCH``):

1. refuse when tracked files have uncommitted changes (what is recorded is
   ``HEAD``, so the working tree must be ``HEAD``), or when ``students`` is the
   branch checked out;
2. in a temporary index (``GIT_INDEX_FILE`` in a temporary directory):
   ``git read-tree HEAD``, ``git rm --cached -r -q instructor``,
   ``git write-tree``;
3. ``git commit-tree`` with the previous ``students`` tip as the only parent
   (none the first time) -- never ``HEAD``: the branch's history must not
   lead to a commit that has ``instructor/`` -- and a message naming the source
   commit; ``git update-ref refs/heads/students`` (checked against the tip it
   read).

Only git plumbing on the temporary index: the working tree, the real index and
``HEAD`` are never touched.  When the new tree equals the tree of the current
``students`` tip (same ``HEAD`` again, or a commit that changed only
``instructor/``) nothing is committed.  Then it prints what to push.

    python3 tools/student_branch.py [--repo DIR] [--branch students]

Standard library only; needs ``git``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

EXCLUDED = "instructor"
DEFAULT_BRANCH = "students"
ZERO = "0" * 40
GIT_TIMEOUT = 120


class Refused(Exception):
    """The branch cannot be made from this repository as it is; the message says why."""


def git(repo: str, *args: str, env: dict | None = None) -> str:
    """Run ``git -C repo ARGS`` and return its standard output, stripped."""
    proc = subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True,
                          env=env, timeout=GIT_TIMEOUT)
    if proc.returncode != 0:
        raise Refused(f"git {' '.join(args)} failed (exit status {proc.returncode}):\n"
                      f"{proc.stderr.strip()}")
    return proc.stdout.strip()


def _optional(repo: str, *args: str) -> str | None:
    proc = subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True,
                          timeout=GIT_TIMEOUT)
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else None


def uncommitted(repo: str) -> list[str]:
    """Tracked files whose content differs from ``HEAD`` (staged or not); the index is not rewritten."""
    out = git(repo, "--no-optional-locks", "status", "--porcelain", "--untracked-files=no")
    return [line for line in out.splitlines() if line.strip()]


def make_student_branch(repo: str = ".", branch: str = DEFAULT_BRANCH,
                        excluded: str = EXCLUDED) -> tuple[str, bool, str]:
    """``(students tip, whether a commit was made, source commit)``; raises :class:`Refused`."""
    top = git(repo, "rev-parse", "--show-toplevel")
    ref = f"refs/heads/{branch}"
    if subprocess.run(["git", "check-ref-format", ref], capture_output=True,
                      timeout=GIT_TIMEOUT).returncode != 0:
        raise Refused(f"{branch!r} is not a valid branch name")
    head = git(top, "rev-parse", "--verify", "HEAD^{commit}")
    if _optional(top, "symbolic-ref", "-q", "HEAD") == ref:
        raise Refused(f"the branch {branch!r} is checked out: check out the instructors' branch "
                      f"(e.g. git switch main) and run this again")
    dirty = uncommitted(top)
    if dirty:
        shown = "\n".join(f"    {line}" for line in dirty[:10])
        more = f"\n    ... and {len(dirty) - 10} more" if len(dirty) > 10 else ""
        raise Refused(f"uncommitted changes to tracked files:\n{shown}{more}\n"
                      f"The branch {branch!r} is made from HEAD ({head[:12]}), not from the working "
                      f"tree: commit (or stash) them first, then run this again.")
    previous = _optional(top, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}")
    with tempfile.TemporaryDirectory(prefix="netlesson-student-branch-") as tmp:
        env = dict(os.environ, GIT_INDEX_FILE=os.path.join(tmp, "index"))
        git(top, "read-tree", head, env=env)
        git(top, "rm", "--cached", "-r", "-q", "--ignore-unmatch", "--", excluded, env=env)
        tree = git(top, "write-tree", env=env)
    if previous is not None and git(top, "rev-parse", f"{previous}^{{tree}}") == tree:
        return previous, False, head
    subject = git(top, "log", "-1", "--format=%s", head)
    if len(subject) > 72:
        subject = subject[:69] + "..."
    message = (f"Student edition of {head[:12]}: the course without {excluded}/\n\n"
               f"Made by tools/student_branch.py from commit {head}\n"
               f"({subject}) with {excluded}/ removed.\n")
    parents = ["-p", previous] if previous is not None else []
    commit = git(top, "commit-tree", tree, *parents, "-m", message)
    git(top, "update-ref", "-m", f"student-branch: {head[:12]} without {excluded}/", ref, commit,
        previous or ZERO)
    return commit, True, head


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=f"Commit HEAD without {EXCLUDED}/ (the exercises' solutions) on a branch for "
                    f"students, without touching the working tree or the index.")
    parser.add_argument("--repo", default=".", help="the repository (default: the current directory)")
    parser.add_argument("--branch", default=DEFAULT_BRANCH,
                        help=f"the students' branch (default {DEFAULT_BRANCH})")
    args = parser.parse_args(argv)
    try:
        commit, made, head = make_student_branch(args.repo, args.branch)
    except Refused as exc:
        print(f"student-branch: not done: {exc}", file=sys.stderr)
        return 1
    except subprocess.TimeoutExpired as exc:
        print(f"student-branch: not done: {' '.join(exc.cmd)} did not finish in {exc.timeout:g} s",
              file=sys.stderr)
        return 1
    if made:
        print(f"{args.branch}: new commit {commit[:12]} = {head[:12]} without {EXCLUDED}/")
    else:
        print(f"{args.branch}: up to date ({commit[:12]} already has the content of {head[:12]} "
              f"without {EXCLUDED}/); no new commit")
    print(f"To publish it:  git push origin {args.branch}")
    print(f"(Push it where students may read. A repository that also holds the instructors' "
          f"branch lets anyone who can read it read {EXCLUDED}/ there: keep that one private and "
          f"push {args.branch} to a separate students' repository, e.g.  git push STUDENT_REMOTE "
          f"{args.branch})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
