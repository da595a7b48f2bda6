"""Figures of dropout-from-scratch's notebook. Each function returns a matplotlib Figure (imported
inside, so importing this module stays cheap); save them with task_lib.calibration.run_plots.save_figure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import theory

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_mean_ratio(p_values: Sequence[float], measured: dict[str, list[float]] | None = None) -> Figure:
    """E[y]/x against p for each scale of theory.SCALES (lines), with measured points if given."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    for name, label in theory.SCALE_LABELS.items():
        line, = ax.plot(p_values, [theory.mean_ratio(p, name) for p in p_values], label=f"scale {label}")
        if measured and name in measured:
            ax.plot(p_values, measured[name], "o", ms=3, color=line.get_color())
    ax.axhline(1.0, color="0.3", lw=0.8, ls="--")
    ax.set_yscale("log")
    ax.set_xlabel("drop probability p")
    ax.set_ylabel("E[y] / x")
    ax.set_title("Only 1/(1-p) keeps the expected output equal to x", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig
