"""The task's notebook runs headless end to end (its own asserts hold) and saves its figure."""

from pathlib import Path

import pytest

from task_lib.notebook_runner import run_notebook
from tasks.softmax_cross_entropy.task_files import requires_torch

ROOT = Path(__file__).parents[3]
NOTEBOOK = ROOT / "notebooks/softmax_cross_entropy/01_softmax_before_cross_entropy.ipynb"


@requires_torch
@pytest.mark.slow
def test_the_notebook_runs_and_saves_the_training_curves(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the kernel imports this checkout's task_lib
    figures = {"FIGURES_DIR": str(tmp_path / "figures")}
    nb = run_notebook(NOTEBOOK, figures, output_path=tmp_path / "out.ipynb", timeout=180)
    assert (tmp_path / "figures" / "softmax_cross_entropy" / "training_curves.png").stat().st_size > 10_000
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))
