"""variance-dropout's figures for the notebooks: one function per figure, each returning a matplotlib
Figure (derivation, tolerance trade-off, pass rate across tolerances).

matplotlib is imported inside the functions, so importing this module stays cheap. Save them with
``task_lib.calibration.run_plots.save_figure``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from task_lib.calibration.run_plots import NARROW, WIDE, source_note

from .theory import ALPHA_DROPOUT, MEAN_PRESERVING, VARIANCE_PRESERVING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

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


# --- 02_task_and_grader -----------------------------------------------------------------------

FLOOR = 1e-30  # the smallest probability the error-bound panel shows


def plot_tolerance_tradeoff(curves: Mapping, tolerance: float, p_values: Sequence[float],
                            budget: float) -> Figure:
    """What the tolerance trades: the accepted exponents a of (1-p)^-a (left) and the grader's
    error bounds (right), across tolerances, with the chosen `tolerance` marked.

    ``curves`` is ``task_lib.tolerance.tolerance_curves(...)``; ``budget`` the error budget line.
    """
    import matplotlib.pyplot as plt

    t = curves["tolerances"]
    fig, (ax_a, ax_p) = plt.subplots(1, 2, figsize=WIDE, layout="constrained")
    ax_a.fill_between(t, curves["low"], curves["high"], color="tab:blue", alpha=0.25,
                      label="accepted on average")
    ax_a.axhline(0.5, color="tab:blue", lw=1.5, label="correct, $a = 1/2$")
    for i, a in enumerate((0.45, 0.55)):
        ax_a.axhline(a, color="tab:orange", ls="--", lw=1.2, label="near misses" if i == 0 else None)
    ax_a.set_ylim(0.2, 0.8)
    ax_a.set_ylabel(r"exponent $a$ of the scale $(1-p)^{-a}$")
    ax_a.set_title("Scales the variance check accepts", fontsize=10)
    ax_a.legend(loc="upper left", fontsize=8)

    ax_p.semilogy(t, np.maximum(curves["false_fail"], 1e-300), color="tab:red", lw=1.5,
                  label="a correct solution fails")
    styles = ("--", ":", "-.")
    for (name, bound), style in zip(curves["false_pass"].items(), styles, strict=False):
        hidden = " (below the chart)" if np.max(bound) < FLOOR else ""
        ax_p.semilogy(t, np.maximum(bound, 1e-300), color="tab:orange", ls=style, lw=1.5,
                      label=f"{name} passes{hidden}")
    ax_p.axhline(budget, color="0.4", lw=1, ls=(0, (1, 1)), label=f"budget {budget:.0e}")
    ax_p.set_ylim(FLOOR, 3)
    ax_p.set_ylabel("upper bound on the probability")
    ax_p.set_title(f"Grader error bounds, n = {curves['n']:,} inputs per p", fontsize=10)
    ax_p.legend(loc="lower right", fontsize=8)
    for ax in (ax_a, ax_p):
        ax.axvline(tolerance, color="0.2", lw=1, ls="--")
        ax.set_xlabel("tolerance $t$: Var(y)/Var(x) must lie in $1 \\pm t$")
        ax.grid(alpha=0.3, which="major")
    fig.suptitle(f"What the tolerance changes at p = {', '.join(f'{p:g}' for p in p_values)} "
                 f"(dashed line: t = {tolerance:g})", fontsize=11)
    return fig


def plot_pass_rate_vs_tolerance(curve: Mapping, run_tolerance: float, band: tuple[float, float],
                                source: str, regraded: tuple[float, int, int] | None = None) -> Figure:
    """The pass rate re-thresholded across tolerances, with its 95% Wilson interval and the band;
    optionally one point re-graded afresh, ``regraded = (tolerance, passed, graded)``."""
    import matplotlib.pyplot as plt

    from task_lib.calibration.stats import wilson_interval

    t, graded = curve["tolerances"], np.maximum(curve["graded"], 1)
    fig, ax = plt.subplots(figsize=NARROW, layout="constrained")
    ax.axhspan(*band, color="tab:green", alpha=0.12, label=f"target band {band[0]:.0%}–{band[1]:.0%}")
    ax.fill_between(t, curve["low"], curve["high"], step="post", color="tab:blue", alpha=0.2,
                    label="95% Wilson interval")
    ax.step(t, curve["passed"] / graded, where="post", color="tab:blue", lw=1.8,
            label="re-thresholded stored measurements")
    ax.axvline(run_tolerance, color="0.2", ls="--", lw=1, label=f"graded at t = {run_tolerance:g}")
    if regraded is not None:
        at, k, n = regraded
        low, high = wilson_interval(k, n)
        ax.errorbar([at], [k / n], yerr=[[k / n - low], [high - k / n]], fmt="D", color="tab:purple",
                    capsize=4, ms=6, label=f"re-graded afresh at t = {at:g}")
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda y, _: f"{y:.0%}"))
    ax.set_xlabel("tolerance $t$")
    ax.set_ylabel("pass rate")
    ax.set_title("Pass rate of the same attempts at other tolerances", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    source_note(fig, source)
    return fig
