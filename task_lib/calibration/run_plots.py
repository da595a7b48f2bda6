"""Figures of a calibration run, for any task: the pass rate in its band and the outcome mix. Each
function returns a matplotlib Figure (imported inside, so importing this module stays cheap);
``save_figure`` writes PNGs whose bytes do not change between identical runs. Figures are made
through pyplot, so in a notebook the inline backend shows them when the cell ends; a script should
``plt.close(fig)`` once it has saved one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FIGURE_DPI = 120
WIDE = (10.0, 4.0)
NARROW = (6.4, 4.2)


def save_figure(fig: Figure, name: str, figures_dir: Path | str) -> Path:
    """Write ``fig`` to ``figures_dir/<name>.png`` (no software/version metadata, fixed dpi)."""
    path = Path(figures_dir) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=FIGURE_DPI, bbox_inches="tight", metadata={"Software": None})
    return path


OUTCOME_COLOURS = {"passed": "tab:green", "failed": "tab:red", "limit": "tab:orange", "error": "0.5"}


def source_note(fig: Figure, source: str) -> None:
    """Say on the figure itself, in a box under the axes, what produced its numbers."""
    fig.supxlabel(f"data: {source}", fontsize=9, color="0.1",
                  bbox={"boxstyle": "round,pad=0.3", "facecolor": "lightyellow", "edgecolor": "0.6"})


def plot_pass_rate_in_band(passed: int, graded: int, interval: tuple[float, float],
                           band: tuple[float, float], verdict: str, source: str) -> Figure:
    """k/n as a point with its 95% Wilson interval, over the shaded target band."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 2.4), layout="constrained")
    ax.axvspan(*band, color="tab:green", alpha=0.15, label=f"target band {band[0]:.0%}–{band[1]:.0%}")
    rate = passed / graded if graded else float("nan")
    low, high = interval
    ax.errorbar([rate], [0], xerr=[[rate - low], [high - rate]], fmt="o", color="tab:blue", capsize=6,
                ms=8, lw=2, label="pass rate, 95% Wilson interval")
    ax.set_xlim(0, 1)
    ax.set_ylim(-1, 1)
    ax.set_yticks([])
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda x, _: f"{x:.0%}"))
    ax.set_xlabel("pass rate")
    ax.set_title(f"{passed}/{graded} passed = {rate:.0%}, 95% interval [{low:.0%}, {high:.0%}]: "
                 f"{verdict}", fontsize=10)
    ax.grid(alpha=0.3, axis="x")
    ax.legend(loc="upper right", fontsize=8)
    source_note(fig, source)
    return fig


def plot_outcomes(outcomes: Mapping[str, int], failures: Mapping[str, int], source: str) -> Figure:
    """Attempts by outcome (left) and failed attempts by the grader's failure category (right)."""
    import matplotlib.pyplot as plt

    fig, (ax_o, ax_f) = plt.subplots(1, 2, figsize=WIDE, layout="constrained",
                                     gridspec_kw={"width_ratios": (1, 1.4)})
    names = list(outcomes)
    ax_o.barh(names, [outcomes[n] for n in names], color=[OUTCOME_COLOURS.get(n, "0.5") for n in names])
    ax_o.set_title("attempts by outcome", fontsize=10)
    categories = sorted(failures, key=lambda name: (-failures[name], name))
    ax_f.barh(categories or ["(none)"], [failures[c] for c in categories] or [0], color="tab:red")
    ax_f.set_title("failed attempts by the first failed check", fontsize=10)
    for ax in (ax_o, ax_f):
        ax.invert_yaxis()
        ax.set_xlabel("attempts")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3, axis="x")
    fig.suptitle("What the attempts ended in", fontsize=11)
    source_note(fig, source)
    return fig
