"""pyproject.toml, environment.yml and binder/environment.yml must agree.

* ``environment.yml`` (working on the project) names every dependency of
  pyproject.toml, extras included, by its conda-forge name;
* ``binder/environment.yml`` (students, Binder, hub images) names exactly the
  runtime dependencies, with an exact Python version that repo2docker reads;
* repo2docker itself, where installed (the ``ci`` extra), plans that Python.
"""

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
# PyPI name -> conda-forge name, where they differ.  conda-forge's "playwright"
# is the Node.js tool; the Python library is "playwright-python".
CONDA_NAME = {"graphviz": "python-graphviz", "playwright": "playwright-python"}
# extras that no conda environment carries (CI-only tools)
NOT_IN_CONDA = {"ci"}
# conda-only entries: the interpreter, pip, and Graphviz's `dot` program itself
CONDA_ONLY = {"python", "pip", "graphviz"}


def _split(requirement: str) -> tuple[str, str]:
    match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", requirement)
    return match.group(1).lower(), match.group(2).replace(" ", "")


def _pyproject_requirements(extras: bool = True) -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    if extras:
        for name, extra in project["optional-dependencies"].items():
            if name not in NOT_IN_CONDA:
                reqs += extra
    return {CONDA_NAME.get(name, name): spec for name, spec in map(_split, reqs)}


def _conda_requirements(path: str = "environment.yml") -> tuple[dict[str, str], list]:
    env = yaml.safe_load((ROOT / path).read_text())
    conda, pip = {}, []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip += dep["pip"]
        else:
            name, spec = _split(dep)
            conda[name] = spec
    return conda, pip


def test_environment_yml_and_pyproject_name_the_same_dependencies():
    conda, _ = _conda_requirements()
    wanted = _pyproject_requirements()
    assert {n: s for n, s in conda.items() if n not in CONDA_ONLY or n in wanted} == wanted


def test_environment_yml_installs_the_project_itself_and_dot():
    conda, pip = _conda_requirements()
    assert "-e ." in pip
    assert "graphviz" in conda  # the `dot` executable
    assert conda["python"] == ">=3.11"


def test_python_requirement_matches():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"


def test_conda_names_are_conda_forges_own():
    conda, _ = _conda_requirements()
    assert "playwright" not in conda, "conda-forge's playwright is the Node.js tool: use playwright-python"
    assert conda["playwright-python"] == _pyproject_requirements()["playwright-python"]


def test_binder_environment_is_the_student_runtime_with_an_exact_python():
    conda, pip = _conda_requirements("binder/environment.yml")
    python = conda.pop("python")
    assert re.fullmatch(r"=3\.(1[1-9])", python), f"repo2docker needs python=3.X, not {python!r}"
    runtime = _pyproject_requirements(extras=False)
    assert {n: s for n, s in conda.items() if n not in CONDA_ONLY or n in runtime} == runtime
    assert "graphviz" in conda  # the `dot` executable
    for tool in ("pytest", "nbgrader", "playwright-python", "hypothesis", "nbval"):
        assert tool not in conda, f"{tool} is not for students"
    assert not pip, "netlesson is installed by binder/postBuild"
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install --no-deps" in post_build and (ROOT / "binder" / "postBuild").stat().st_mode & 0o111


REPO2DOCKER = shutil.which("repo2docker", path=str(Path(sys.executable).parent)) or shutil.which("repo2docker")


@pytest.mark.skipif(REPO2DOCKER is None, reason="repo2docker not installed (the ci extra)")
def test_repo2docker_plans_the_students_python_and_environment(tmp_path):
    """What Binder would build, from repo2docker's own build plan (no Docker needed)."""
    result = subprocess.run([REPO2DOCKER, "--no-build", "--debug", str(ROOT)], capture_output=True,
                            text=True, timeout=120, cwd=tmp_path)
    plan = result.stdout + result.stderr
    assert result.returncode == 0, plan[-3000:]
    match = re.search(r"Building conda environment for python=(\d+)\.(\d+)", plan)
    assert match, plan[-3000:]
    assert (int(match.group(1)), int(match.group(2))) >= (3, 11)
    assert "binder/environment.yml" in plan and "postBuild" in plan
