"""pyproject.toml and environment.yml must describe the same environment."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONDA_ONLY = {"python", "pip"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ ;\[]", requirement, maxsplit=1)[0].lower()


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"].values()
    requirements = project["dependencies"] + [requirement for extra in extras for requirement in extra]
    return {_name(r): r.replace(" ", "") for r in requirements}


def environment_requirements() -> tuple[dict[str, str], list[str]]:
    """The conda and pip entries of environment.yml: {name: spec}, and the pip-only lines."""
    entries, pip_lines = {}, []
    for line in (ROOT / "environment.yml").read_text().splitlines():
        match = re.match(r"^(\s*)- (.+?)\s*$", line)
        if not match or match.group(2) == "pip:" or line.lstrip().startswith("#"):
            continue
        item = match.group(2)
        if item.startswith("-e "):
            pip_lines.append(item)
        elif _name(item) not in CONDA_ONLY and not item.startswith("conda-forge"):
            entries[_name(item)] = item.replace(" ", "")
    return entries, pip_lines


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    conda_and_pip, _ = environment_requirements()
    assert conda_and_pip == pyproject_requirements()


def test_environment_yml_installs_the_package_editable():
    _, pip_lines = environment_requirements()
    assert pip_lines == ["-e ."]


def test_environment_yml_pins_the_python_the_project_requires():
    text = (ROOT / "environment.yml").read_text()
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    version = re.search(r"- python=(\d+\.\d+)", text).group(1)
    assert requires == f">={version}"
