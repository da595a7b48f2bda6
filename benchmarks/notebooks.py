"""Notebooks: headless execution time of each course notebook under notebooks/ (every registered
task's folder, then the harness's; those of a task whose packages are missing are skipped, and named),
run by task_lib.notebook_runner in a fresh kernel each, with its default parameters except the path
ones, which go to a temporary directory, next to the notebook's cell budget (metadata.task_lib.cell_timeout,
which bounds every cell of a headless run); and, for scale, the time of a notebook holding one trivial
cell."""

import tempfile
import time
from pathlib import Path

import nbformat
from _common import REPO, machine, parser, table

from task_lib.notebook_runner import (
    PARAMETERS_TAG,
    cell_timeout,
    find_notebooks,
    parameter_names,
    parameters_cell_index,
    run_notebook,
)
from task_lib.registry import all_tasks

PATH_PARAMETERS = ("FIGURES_DIR", "RUN_DIR", "OUT_DIR")  # never the repository's figures/ or runs/


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
    nb = nbformat.read(notebook, as_version=4)
    start = time.perf_counter()
    name = f"{notebook.parent.name}/{notebook.name}"
    run_notebook(notebook, overrides, output_path=tmp / name)
    return [label or name, len(nb.cells), f"{time.perf_counter() - start:.1f} s", f"{cell_timeout(nb)} s",
            ", ".join(sorted(overrides)) or "none"]


def course_notebooks(root: Path) -> tuple[list[Path], list[str]]:
    """The notebooks under `root` in reading order (every registered task's folder, then the harness's),
    but those of a task whose required packages are not installed; and why each of those was left out."""
    unavailable = {task.package.rsplit(".", 1)[1]: reason for task in all_tasks()
                   if (reason := task.missing_requirement())}
    notebooks = find_notebooks(root)
    skipped = sorted({unavailable[nb.parent.name] for nb in notebooks if nb.parent.name in unavailable})
    return [nb for nb in notebooks if nb.parent.name not in unavailable], skipped


def main() -> None:
    args = parser(__doc__).parse_args()
    notebooks, skipped = ([], []) if args.quick else course_notebooks(REPO / "notebooks")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = [timed_run(trivial_notebook(tmp / "trivial.ipynb"), tmp / "trivial",
                          "a trivial notebook (kernel start, one print)")]
        rows += [timed_run(notebook, tmp / notebook.stem) for notebook in notebooks]
    print(f"# Notebooks ({machine()}; one fresh kernel per notebook, executed in order)\n")
    table(["notebook", "cells", "wall", "cell budget", "parameters sent to a temporary directory"], rows)
    for reason in skipped:
        print(f"Not run: {reason}.\n")


if __name__ == "__main__":
    main()
