"""The package's layout shows its layers: few top-level modules, and no import running back up from a
lower layer (docs/layout.md)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "task_lib"
# What each layer may import of task_lib, besides itself (docs/layout.md, each package's __init__).
ALLOWED = {
    "sandbox": set(),
    "grading": {"sandbox", "task", "registry", "tasks"},
    "agent": {"sandbox", "grading", "offline", "task", "registry"},
    "calibration": {"sandbox", "grading", "agent", "offline", "task", "registry"},
}


def task_lib_imports(path: Path) -> set[str]:
    """The first component below `task_lib` of every task_lib module `path` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "task_lib" else [f"task_lib.{a.name}" for a in node.names]
        found |= {name.split(".")[1] for name in names if name.startswith("task_lib.")}
    return found


def test_task_lib_has_at_most_ten_top_level_modules():
    assert len(list(PACKAGE.glob("*.py"))) <= 10


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_the_layers_below_it(layer):
    wrong = {str(path.relative_to(PACKAGE)): sorted(task_lib_imports(path) - ALLOWED[layer] - {layer})
             for path in sorted((PACKAGE / layer).glob("*.py"))}
    assert {path: names for path, names in wrong.items() if names} == {}


@pytest.mark.parametrize("package", sorted(path.parent.name for path in PACKAGE.glob("*/__init__.py")))
def test_every_package_says_what_it_is(package):
    assert ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text(encoding="utf-8")))
