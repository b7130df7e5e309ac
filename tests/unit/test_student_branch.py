"""tools/student_branch.py (``make student-branch``): HEAD without instructor/ on the branch ``students``.

Every test works in a fresh ``git clone`` of this repository in a temporary
directory (never in the repository itself) and checks with git: the branch has
the student edition and no ``instructor/`` anywhere in its history, no solution
region, the clone's working tree and index are untouched, a second run adds no
commit, a new commit on the instructors' branch adds exactly one, and uncommitted
changes are refused.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "student_branch.py"
TIMEOUT = 60
#: A solution region's opening line, in a .md source or inside an .ipynb's JSON
#: string ("    ### BEGIN SOLUTION\n",) -- not the marker quoted in prose or tests.
REGION = r'^[[:space:]]*"?[[:space:]]*### BEGIN SOLUTION'

if shutil.which("git") is None:
    pytest.skip("git is not installed", allow_module_level=True)
if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "HEAD"], capture_output=True,
                  timeout=TIMEOUT).returncode != 0:
    pytest.skip("not a git checkout with a commit", allow_module_level=True)


def git(repo: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          timeout=TIMEOUT)
    if check:
        assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def run_script(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--repo", str(repo), *args],
                          capture_output=True, text=True, timeout=TIMEOUT)


def tip(repo: Path, branch: str = "students") -> str | None:
    out = git(repo, "rev-parse", "--verify", "-q", f"refs/heads/{branch}", check=False).strip()
    return out or None


def state(repo: Path) -> dict:
    """What must not change: HEAD, the checked-out branch, the index file, the files."""
    files = {}
    for here, dirs, names in os.walk(repo):
        dirs[:] = [d for d in dirs if not (here == str(repo) and d == ".git")]
        for name in names:
            path = Path(here, name)
            files[str(path.relative_to(repo))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"head": git(repo, "rev-parse", "HEAD"),
            "branch": git(repo, "symbolic-ref", "-q", "HEAD", check=False),
            "index": hashlib.sha256((repo / ".git" / "index").read_bytes()).hexdigest(),
            "status": git(repo, "--no-optional-locks", "status", "--porcelain", "--untracked-files=all",
                          "--ignored"),
            "files": files}


@pytest.fixture
def clone(tmp_path) -> Path:
    repo = tmp_path / "course"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True, timeout=TIMEOUT,
                   capture_output=True)
    git(repo, "config", "user.name", "Test Instructor")
    git(repo, "config", "user.email", "instructor@example.edu")
    git(repo, "config", "commit.gpgsign", "false")
    return repo


def commit_change(repo: Path, path: str, text: str, message: str) -> str:
    with open(repo / path, "a", encoding="utf-8") as f:
        f.write(text)
    git(repo, "add", path)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def test_the_branch_is_head_without_instructor_and_nothing_else_changes(clone):
    assert tip(clone) is None
    before = state(clone)
    head = before["head"].strip()
    result = run_script(clone)
    assert result.returncode == 0, result.stderr
    assert "git push origin students" in result.stdout
    students = tip(clone)
    assert students is not None

    # the student edition is there, instructor/ is not, everything else is HEAD's
    files = set(git(clone, "ls-tree", "-r", "--name-only", "students").split())
    head_files = set(git(clone, "ls-tree", "-r", "--name-only", "HEAD").split())
    exercises = {f for f in head_files if re.fullmatch(r"notebooks/exercises/[^/]+\.ipynb", f)}
    assert exercises and exercises <= files
    assert not [f for f in files if f == "instructor" or f.startswith("instructor/")]
    assert any(f.startswith("instructor/") for f in head_files)
    assert files == {f for f in head_files if not f.startswith("instructor/")}
    for path in sorted(files)[:: max(1, len(files) // 20)]:  # same blobs, not just same names
        assert git(clone, "rev-parse", f"students:{path}") == git(clone, "rev-parse", f"HEAD:{path}")

    # no solution region on the branch (the same search finds them on HEAD)
    assert git(clone, "grep", "-n", "-E", REGION, "HEAD", check=False).strip()
    found = subprocess.run(["git", "-C", str(clone), "grep", "-n", "-E", REGION, "students"],
                           capture_output=True, text=True, timeout=TIMEOUT)
    assert found.returncode == 1 and not found.stdout, found.stdout
    quoted = git(clone, "grep", "-l", "BEGIN SOLUTION", "students", check=False).split()
    assert not [f for f in quoted if f.startswith("students:notebooks/")], quoted

    # a root commit: its history never reaches a commit that had instructor/
    assert git(clone, "rev-list", "--parents", "-n", "1", "students").split() == [students]
    assert git(clone, "rev-list", "students", "--", "instructor").strip() == ""
    message = git(clone, "log", "-1", "--format=%B", "students")
    assert head in message

    # the working tree, the index, HEAD and the checked-out branch are as they were
    assert state(clone) == before


def test_a_second_run_on_the_same_head_adds_no_commit(clone):
    assert run_script(clone).returncode == 0
    first = tip(clone)
    before = state(clone)
    again = run_script(clone)
    assert again.returncode == 0, again.stderr
    assert "no new commit" in again.stdout
    assert tip(clone) == first
    assert git(clone, "rev-list", "--count", "students").strip() == "1"
    assert state(clone) == before


def test_a_new_commit_adds_exactly_one_commit_on_top_of_the_previous_tip(clone):
    assert run_script(clone).returncode == 0
    previous = tip(clone)
    head = commit_change(clone, "README.md", "\nA new paragraph for students.\n", "README: more")
    before = state(clone)
    result = run_script(clone)
    assert result.returncode == 0, result.stderr
    students = tip(clone)
    assert students != previous
    assert git(clone, "rev-list", "--count", "students").strip() == "2"
    assert git(clone, "rev-list", "--parents", "-n", "1", "students").split() == [students, previous]
    assert head in git(clone, "log", "-1", "--format=%B", "students")
    assert git(clone, "show", "students:README.md").endswith("A new paragraph for students.\n")
    assert git(clone, "rev-list", "students", "--", "instructor").strip() == ""
    assert state(clone) == before

    # a commit that changes only instructor/ changes nothing students get
    commit_change(clone, "instructor/exercises/ex01_line_echo.md", "\n", "instructor only")
    assert run_script(clone).returncode == 0
    assert tip(clone) == students


def test_uncommitted_changes_are_refused_and_nothing_is_recorded(clone):
    assert run_script(clone).returncode == 0
    students = tip(clone)
    commit_change(clone, "README.md", "\nCommitted.\n", "README: committed")
    (clone / "README.md").write_text("changed, not committed\n", encoding="utf-8")
    before = state(clone)
    result = run_script(clone)
    assert result.returncode == 1
    assert "uncommitted changes" in result.stderr and "README.md" in result.stderr
    assert tip(clone) == students and state(clone) == before

    git(clone, "checkout", "--", "README.md")
    (clone / "CITATION.cff").write_text("staged\n", encoding="utf-8")
    git(clone, "add", "CITATION.cff")
    result = run_script(clone)
    assert result.returncode == 1 and "CITATION.cff" in result.stderr
    assert tip(clone) == students

    git(clone, "reset", "-q", "--hard")
    (clone / "untracked.txt").write_text("not tracked\n", encoding="utf-8")
    assert run_script(clone).returncode == 0  # untracked files do not count
    assert tip(clone) != students


def test_it_refuses_while_the_students_branch_is_checked_out(clone):
    assert run_script(clone).returncode == 0
    git(clone, "switch", "-q", "students")
    result = run_script(clone)
    assert result.returncode == 1 and "checked out" in result.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_student_branch_runs_the_script(clone):
    """The repository's Makefile (dry run, in the clone): the target calls the script."""
    out = subprocess.run(["make", "-n", "-f", str(ROOT / "Makefile"), "-C", str(clone), "student-branch"],
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stderr
    assert "tools/student_branch.py" in out.stdout
