"""Notebooks: headless execution time of each course notebook, those of the task folders under
notebooks/ included (task_lib.notebook_runner, a fresh kernel each), with its default parameters
except the path ones, which go to a temporary directory; and, for scale, the time of a notebook
holding one trivial cell."""

import tempfile
import time
from pathlib import Path

import nbformat
from _common import REPO, machine, parser, table

from task_lib.notebook_runner import (
    PARAMETERS_TAG,
    find_notebooks,
    parameter_names,
    parameters_cell_index,
    run_notebook,
)

PATH_PARAMETERS = ("FIGURES_DIR", "RUN_DIR", "OUT_DIR")  # never the repository's figures/ or runs/
TIMEOUT_SECONDS = 1800


def trivial_notebook(path: Path) -> Path:
    cells = [nbformat.v4.new_code_cell("SEED = 0", metadata={"tags": [PARAMETERS_TAG]}),
             nbformat.v4.new_code_cell("print(SEED)")]
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": kernelspec}), path)
    return path


def path_overrides(notebook: Path, tmp: Path) -> dict[str, str]:
    nb = nbformat.read(notebook, as_version=4)
    names = parameter_names(nb.cells[parameters_cell_index(nb, notebook)].source)
    return {name: str(tmp / name.lower()) for name in PATH_PARAMETERS if name in names}


def timed_run(notebook: Path, tmp: Path, label: str = "") -> list:
    overrides = path_overrides(notebook, tmp)
    nb_cells = len(nbformat.read(notebook, as_version=4).cells)
    start = time.perf_counter()
    name = f"{notebook.parent.name}/{notebook.name}"
    run_notebook(notebook, overrides, output_path=tmp / name, timeout=TIMEOUT_SECONDS)
    return [label or name, nb_cells, f"{time.perf_counter() - start:.1f} s",
            ", ".join(sorted(overrides)) or "none"]


def course_notebooks(root: Path) -> list[Path]:
    """The notebooks directly in `root`, then those of each task's folder under it (by folder name)."""
    folders = sorted(child for child in root.iterdir() if child.is_dir() and not child.name.startswith("."))
    return find_notebooks(root) + [notebook for folder in folders for notebook in find_notebooks(folder)]


def main() -> None:
    args = parser(__doc__).parse_args()
    notebooks = [] if args.quick else course_notebooks(REPO / "notebooks")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = [timed_run(trivial_notebook(tmp / "trivial.ipynb"), tmp / "trivial",
                          "a trivial notebook (kernel start, one print)")]
        rows += [timed_run(notebook, tmp / notebook.stem) for notebook in notebooks]
    print(f"# Notebooks ({machine()}; one fresh kernel per notebook, executed in order)\n")
    table(["notebook", "cells", "wall", "parameters sent to a temporary directory"], rows)


if __name__ == "__main__":
    main()
