"""Figure helpers for the notebooks: one function per figure, each returning a matplotlib Figure.

matplotlib is imported inside the functions, so ``import task_lib.plots`` stays cheap. Figures are
made through pyplot, so in a notebook the inline backend shows them when the cell ends; a script
should ``plt.close(fig)`` once it has saved one. ``save_figure`` writes PNGs whose bytes do not
change between identical runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from task_lib.variance_sim import ALPHA_DROPOUT, MEAN_PRESERVING, VARIANCE_PRESERVING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FIGURE_DPI = 120
WIDE = (10.0, 4.0)
NARROW = (6.4, 4.2)

# One colour, marker and legend label per dropout rule, shared by every figure.
RULE_STYLES: dict[str, dict[str, str]] = {
    MEAN_PRESERVING: {"color": "tab:red", "marker": "o", "label": r"mean-preserving, $s = 1/(1-p)$"},
    VARIANCE_PRESERVING: {
        "color": "tab:blue",
        "marker": "s",
        "label": r"variance-preserving, $s = 1/\sqrt{1-p}$",
    },
    ALPHA_DROPOUT: {"color": "tab:green", "marker": "^", "label": "alpha dropout (affine correction)"},
}


_P_MARKERS = ("o", "s", "^", "D", "v")


# --- Shared -----------------------------------------------------------------------------------


def save_figure(fig: Figure, name: str, figures_dir: Path | str) -> Path:
    """Write ``fig`` to ``figures_dir/<name>.png`` (no software/version metadata, fixed dpi)."""
    path = Path(figures_dir) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=FIGURE_DPI, bbox_inches="tight", metadata={"Software": None})
    return path


def _rule_style(rule: str) -> dict[str, str | None]:
    return RULE_STYLES.get(rule, {"color": None, "marker": "o", "label": rule})


def _measured_style(rule: str) -> dict[str, str | float | None]:
    """Keyword arguments for a rule's measured points: markers only, no connecting line."""
    return {**_rule_style(rule), "linestyle": "none", "markersize": 4.5, "zorder": 3}


def _theory_handle(label: str = "theory"):
    from matplotlib.lines import Line2D

    return Line2D([], [], color="0.35", lw=1.2, label=label)


def _legend_with_theory(ax: Axes, **kwargs) -> None:
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=[*handles, _theory_handle()], **kwargs)


# --- 01_derivation ----------------------------------------------------------------------------


def plot_variance_ratio_vs_p(
    p_grid: ArrayLike,
    measured: Mapping[str, tuple[ArrayLike, ArrayLike]],
    p_fine: ArrayLike,
    theory: Mapping[str, ArrayLike],
) -> Figure:
    """Var(y)/Var(x) against p for zero-mean inputs.

    ``measured[rule] = (mean, standard_error)`` on ``p_grid``; ``theory[rule]`` on ``p_fine``.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=NARROW, layout="constrained")
    for rule, (mean, sem) in measured.items():
        ax.errorbar(p_grid, mean, yerr=sem, capsize=2, **_measured_style(rule))
    for rule, curve in theory.items():
        ax.plot(p_fine, curve, lw=1.2, color=_rule_style(rule)["color"])
    ax.set_xlabel("drop probability $p$")
    ax.set_ylabel(r"$\mathrm{Var}(y)\,/\,\mathrm{Var}(x)$")
    ax.set_title(
        "Dropout's variance factor, zero-mean inputs\n(markers: measured ± 1 standard error; lines: theory)",
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    _legend_with_theory(ax, loc="upper left")
    return fig


def plot_variance_vs_depth(
    measured: Mapping[str, Mapping[float, ArrayLike]],
    theory: Mapping[str, Mapping[float, ArrayLike]],
) -> Figure:
    """Variance factor after each layer of a dropout stack: one panel per rule, one line per p.

    ``measured[rule][p]`` and ``theory[rule][p]`` hold Var(h_l)/Var(x) for l = 0..depth.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(measured), figsize=WIDE, sharey=True, layout="constrained")
    axes = np.atleast_1d(axes)
    for ax, (rule, by_p) in zip(axes, measured.items(), strict=True):
        colours = plt.get_cmap("viridis")(np.linspace(0.0, 0.8, len(by_p)))
        for i, ((p, variances), colour) in enumerate(zip(by_p.items(), colours, strict=True)):
            layers = np.arange(len(variances))
            marker = _P_MARKERS[i % len(_P_MARKERS)]
            ax.plot(layers, variances, marker, ms=4.5, color=colour, label=f"$p = {p:g}$", zorder=3)
            ax.plot(layers, theory[rule][p], "-", lw=1.2, color=colour)
        ax.set_yscale("log")
        ax.set_title(_rule_style(rule)["label"], fontsize=10)
        ax.set_xlabel("layer $l$")
        ax.grid(alpha=0.3, which="both")
        _legend_with_theory(ax, loc="upper left")
    axes[0].set_ylabel(r"$\mathrm{Var}(h_l)\,/\,\mathrm{Var}(x)$")
    fig.suptitle(
        "Variance through a stack of dropout layers with orthogonal maps between them "
        "(markers: measured; lines: theory)",
        fontsize=11,
    )
    return fig


def plot_nonzero_mean(
    p_grid: ArrayLike,
    measured: Mapping[str, tuple[ArrayLike, ArrayLike]],
    p_fine: ArrayLike,
    theory: Mapping[str, tuple[ArrayLike, ArrayLike]],
    mu: float,
    sigma2: float,
) -> Figure:
    """Output mean and variance against p for inputs of mean ``mu`` and variance ``sigma2``.

    ``measured[rule] = (means, variances)`` on ``p_grid``; ``theory[rule]`` likewise on ``p_fine``.
    """
    import matplotlib.pyplot as plt

    fig, (ax_mean, ax_var) = plt.subplots(1, 2, figsize=WIDE, layout="constrained")
    panels = ((ax_mean, 0, mu, r"$E[y]$"), (ax_var, 1, sigma2, r"$\mathrm{Var}(y)$"))
    for ax, k, target, ylabel in panels:
        ax.axhline(target, color="0.5", ls=":", lw=1.5, label="input's value")
        for rule, moments in measured.items():
            ax.plot(p_grid, moments[k], **_measured_style(rule))
            ax.plot(p_fine, theory[rule][k], "-", lw=1.2, color=_rule_style(rule)["color"])
        ax.set_xlabel("drop probability $p$")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
    ax_var.set_yscale("log")
    ax_mean.set_title("output mean", fontsize=10)
    ax_var.set_title("output variance (log scale)", fontsize=10)
    _legend_with_theory(ax_mean, loc="lower left", fontsize=8)
    fig.suptitle(
        f"Dropout on inputs with mean {mu:g} and variance {sigma2:g} (markers: measured; lines: theory)",
        fontsize=11,
    )
    return fig
