"""Every notebook runs headlessly from a clean kernel, and the runner keeps its contract.

New notebooks (``notebooks/NN_*.ipynb``) are picked up automatically. If one needs more than
``FIGURES_DIR`` overridden to run fast and offline, add its overrides to ``NOTEBOOK_OVERRIDES``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell, new_notebook

from task_lib import variance_sim as vs
from task_lib.notebook_runner import (
    INJECTED_PARAMETERS_TAG,
    PARAMETERS_TAG,
    find_notebooks,
    inject_parameters,
    parameter_names,
    parameters_cell_index,
    parse_parameter_overrides,
    run_notebook,
)

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = find_notebooks(NOTEBOOKS_DIR)
NOTEBOOK_TIMEOUT = 600

# Parameter overrides per notebook, on top of FIGURES_DIR (which goes to a temporary directory for
# every notebook that has it, so tests never rewrite the repository's figures).
NOTEBOOK_OVERRIDES: dict[str, dict[str, object]] = {
    "01_derivation.ipynb": {},
}

# Figures each notebook must write into FIGURES_DIR.
EXPECTED_FIGURES: dict[str, set[str]] = {
    "01_derivation.ipynb": {"variance_ratio_vs_p.png", "variance_vs_depth.png", "nonzero_mean.png"},
}

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def notebook_overrides(notebook: Path, figures_dir: Path) -> dict[str, object]:
    """The parameters a test run of ``notebook`` overrides."""
    nb = nbformat.read(notebook, as_version=4)
    names = parameter_names(nb.cells[parameters_cell_index(nb, notebook)].source)
    overrides: dict[str, object] = {"FIGURES_DIR": str(figures_dir)} if "FIGURES_DIR" in names else {}
    return {**overrides, **NOTEBOOK_OVERRIDES.get(notebook.name, {})}


def write_notebook(path: Path, *sources: str, parameters: str = "X = 1") -> Path:
    """A tiny notebook: a parameters cell holding ``parameters``, then one code cell per source."""
    cells = [new_code_cell(parameters, metadata={"tags": [PARAMETERS_TAG]})]
    cells += [new_code_cell(source) for source in sources]
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": kernelspec}), path)
    return path


def stdout(cell: nbformat.NotebookNode) -> str:
    return "".join(output.text for output in cell.outputs if output.get("name") == "stdout")


# --- The notebooks ------------------------------------------------------------------------------


def test_notebooks_are_found():
    assert [notebook.name for notebook in NOTEBOOKS][:1] == ["01_derivation.ipynb"]


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_runs_without_errors(notebook, tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    figures_dir = tmp_path / "figures"
    parameters = notebook_overrides(notebook, figures_dir)

    run_notebook(notebook, parameters, output_path=tmp_path / notebook.name, timeout=NOTEBOOK_TIMEOUT)

    written = {path.name for path in figures_dir.glob("*.png")}
    assert EXPECTED_FIGURES.get(notebook.name, set()) <= written


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_first_code_cell_holds_only_literal_parameters(notebook):
    nb = nbformat.read(notebook, as_version=4)
    first_code_cell = next(cell for cell in nb.cells if cell.cell_type == "code")
    assert PARAMETERS_TAG in first_code_cell.metadata.get("tags", [])
    statements = ast.parse(first_code_cell.source).body
    assert statements, "the parameters cell is empty"
    for statement in statements:
        assert isinstance(statement, ast.Assign | ast.AnnAssign), ast.unparse(statement)
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        assert all(isinstance(target, ast.Name) for target in targets), ast.unparse(statement)
        ast.literal_eval(statement.value)  # raises ValueError unless a plain literal


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_committed_notebook_holds_outputs_of_a_clean_run(notebook):
    nb = nbformat.read(notebook, as_version=4)
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code_cells] == list(range(1, len(code_cells) + 1))
    for cell in code_cells:
        assert "execution" not in cell.metadata, "timing metadata: run with record_timing=False"
        assert INJECTED_PARAMETERS_TAG not in cell.metadata.get("tags", [])
        kinds = {output.output_type for output in cell.outputs}
        assert "error" not in kinds
        assert not any(output.get("name") == "stderr" for output in cell.outputs), cell.source


def test_derivation_figures_are_written_with_stable_bytes(tmp_path):
    import matplotlib.pyplot as plt

    from task_lib import plots

    rng = np.random.default_rng(0)
    p_grid = np.linspace(0.0, 0.8, 5)
    ratios = {rule: vs.empirical_variance_ratio(p_grid, rule, 500, 2, rng) for rule in vs.SCALE_RULES}
    theory = {rule: vs.variance_factor(p_grid, rule) for rule in vs.SCALE_RULES}
    stack = {rule: {0.5: vs.variance_through_layers(0.5, rule, 3, 4, 200, rng)} for rule in vs.SCALE_RULES}
    stack_theory = {rule: {0.5: vs.variance_factor(0.5, rule) ** np.arange(4)} for rule in vs.SCALE_RULES}
    rules = (*vs.SCALE_RULES, vs.ALPHA_DROPOUT)
    moments = {rule: vs.expected_output_moments(p_grid, rule, 1.0, 1.0) for rule in rules}
    figures = {
        "variance_ratio_vs_p": plots.plot_variance_ratio_vs_p(p_grid, ratios, p_grid, theory),
        "variance_vs_depth": plots.plot_variance_vs_depth(stack, stack_theory),
        "nonzero_mean": plots.plot_nonzero_mean(p_grid, moments, p_grid, moments, 1.0, 1.0),
    }
    for name, fig in figures.items():
        first = plots.save_figure(fig, name, tmp_path / "a").read_bytes()
        second = plots.save_figure(fig, name, tmp_path / "b").read_bytes()
        plt.close(fig)
        assert first.startswith(PNG_SIGNATURE)
        assert first == second
        assert b"Software" not in first
    assert {path.name for path in (tmp_path / "a").iterdir()} == EXPECTED_FIGURES["01_derivation.ipynb"]


# --- The runner ---------------------------------------------------------------------------------


def test_injected_parameter_overrides_the_default(tmp_path):
    path = write_notebook(
        tmp_path / "tiny.ipynb", "print(X * 2, GREETING)", parameters="X = 1\nGREETING = 'hi'"
    )

    nb = run_notebook(path, {"X": 21}, output_path=tmp_path / "out.ipynb")

    assert stdout(nb.cells[2]) == "42 hi\n"
    assert nb.cells[1].metadata["tags"] == [INJECTED_PARAMETERS_TAG]
    assert stdout(nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[2]) == "42 hi\n"


def test_reinjection_replaces_the_earlier_injected_cell(tmp_path):
    nb = nbformat.read(write_notebook(tmp_path / "tiny.ipynb", "print(X)"), as_version=4)
    inject_parameters(nb, {"X": 2})
    inject_parameters(nb, {"X": 3})
    injected = [cell for cell in nb.cells if INJECTED_PARAMETERS_TAG in cell.metadata.get("tags", [])]
    assert [cell.source.splitlines()[-1] for cell in injected] == ["X = 3"]


def test_unknown_parameter_name_raises(tmp_path):
    path = write_notebook(tmp_path / "tiny.ipynb", "print(X)")
    with pytest.raises(ValueError, match="'SEEED'"):
        run_notebook(path, {"SEEED": 1})


def test_non_literal_parameter_value_raises(tmp_path):
    path = write_notebook(tmp_path / "tiny.ipynb", "print(X)")
    with pytest.raises(ValueError, match="'X'.*not a Python literal"):
        run_notebook(path, {"X": Path("somewhere")})


def test_notebook_without_parameters_cell_raises(tmp_path):
    path = tmp_path / "untagged.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("X = 1")]), path)
    with pytest.raises(ValueError, match="tagged 'parameters'"):
        run_notebook(path)


def test_failing_cell_raises_and_the_partial_notebook_is_written(tmp_path):
    path = write_notebook(
        tmp_path / "tiny.ipynb", "print('before')", "raise RuntimeError('boom')", "print('after')"
    )
    output_path = tmp_path / "evidence" / "executed.ipynb"

    with pytest.raises(CellExecutionError, match="boom"):
        run_notebook(path, output_path=output_path)

    written = nbformat.read(output_path, as_version=4)
    assert stdout(written.cells[1]) == "before\n"
    assert [output.ename for output in written.cells[2].outputs] == ["RuntimeError"]
    assert written.cells[3].outputs == [] and written.cells[3].execution_count is None


def test_kernel_runs_this_python_in_the_notebook_directory(tmp_path, monkeypatch):
    decoy = tmp_path / "jupyter" / "kernels" / "python3"
    decoy.mkdir(parents=True)
    argv = ["/nonexistent/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (decoy / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "decoy", "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))  # searched before the venv's specs
    path = write_notebook(
        tmp_path / "tiny.ipynb", "import os, sys\nprint(sys.executable)\nprint(os.getcwd())"
    )

    nb = run_notebook(path, output_path=tmp_path / "out.ipynb")

    executable, cwd = stdout(nb.cells[1]).splitlines()
    assert executable == sys.executable
    assert Path(cwd).resolve() == tmp_path.resolve()


def test_inline_figures_are_captured_even_when_mplbackend_is_agg(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    path = write_notebook(tmp_path / "tiny.ipynb", "import matplotlib.pyplot as plt\nplt.plot([0, 1]);")

    nb = run_notebook(path, output_path=tmp_path / "out.ipynb")

    assert any("image/png" in output.get("data", {}) for output in nb.cells[1].outputs)


def test_parameter_overrides_parse_literals_and_fall_back_to_strings():
    parsed = parse_parameter_overrides(["SEED=3", "P=0.5", "GRID=[0.1, 0.2]", "BACKEND=offline", "TAG="])
    assert parsed == {"SEED": 3, "P": 0.5, "GRID": [0.1, 0.2], "BACKEND": "offline", "TAG": ""}
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_parameter_overrides(["SEED"])


def test_find_notebooks_lists_numbered_notebooks_in_order(tmp_path):
    for name in ("02_b.ipynb", "01_a.ipynb", "scratch.ipynb", "1_short.ipynb"):
        (tmp_path / name).write_text("{}")
    assert [path.name for path in find_notebooks(tmp_path)] == ["01_a.ipynb", "02_b.ipynb"]


def test_importing_runner_and_plots_leaves_heavy_dependencies_unloaded():
    code = (
        "import sys, task_lib.notebook_runner, task_lib.plots, task_lib.variance_sim\n"
        "print(sorted(m for m in ('matplotlib', 'nbclient', 'nbformat') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
