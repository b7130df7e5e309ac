"""pyproject.toml and environment.yml must name the same dependencies."""

import re
import tomllib
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
# PyPI name -> conda-forge name, where they differ
CONDA_NAME = {"graphviz": "python-graphviz"}
# conda-only entries: the interpreter, pip, and Graphviz's `dot` program itself
CONDA_ONLY = {"python", "pip", "graphviz"}


def _split(requirement: str) -> tuple[str, str]:
    match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", requirement)
    return match.group(1).lower(), match.group(2).replace(" ", "")


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return {CONDA_NAME.get(name, name): spec for name, spec in map(_split, reqs)}


def _conda_requirements() -> tuple[dict[str, str], list]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
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
