"""dropout-from-scratch's notebook is committed executed, follows the notebook mechanics (a
`parameters` cell of plain literals first, no errors) and saves its figure with stable bytes."""

import ast
from pathlib import Path

import nbformat

from task_lib.notebook_runner import parameter_defaults, parameters_cell_index

REPO = Path(__file__).resolve().parents[3]
NOTEBOOK = REPO / "notebooks" / "dropout_from_scratch" / "01_inverted_dropout.ipynb"
FIGURE = REPO / "figures" / "dropout_from_scratch" / "mean_ratio_vs_p.png"


def test_first_code_cell_holds_the_literal_parameters():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    first_code = next(i for i, cell in enumerate(nb.cells) if cell.cell_type == "code")
    assert parameters_cell_index(nb, NOTEBOOK) == first_code
    defaults = parameter_defaults(nb.cells[first_code].source)
    assert {"P", "EXPONENT", "SEED", "FIGURES_DIR"} <= set(defaults)
    assert all(isinstance(ast.parse(repr(v)).body[0], ast.Expr) for v in defaults.values())


def test_notebook_is_committed_executed_without_errors():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code)
    assert not [o for cell in code for o in cell.outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for cell in code for o in cell.outputs)


def test_figure_is_saved_without_software_metadata():
    data = FIGURE.read_bytes()
    assert data.startswith(b"\x89PNG") and b"Software" not in data and b"matplotlib" not in data
