"""softmax-cross-entropy's figures: held-out accuracy and NLL per epoch for the bug and the fixes,
side by side. Imports matplotlib inside the function; the notebook saves the figure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import design
from .theory import BUG, Curve

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_training_curves(curves: Sequence[Curve]) -> Figure:
    """Two panels (held-out accuracy, held-out NLL) against the epoch, one line per objective, with
    the grader's thresholds as dashed lines; the bug in red."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    styles = ["-", "--", ":"]
    for i, curve in enumerate(c for c in curves if c.objective != BUG):
        for axis, values in ((left, curve.accuracy), (right, curve.nll)):
            axis.plot(values, styles[i % 3], color="tab:blue", label=curve.objective, linewidth=2 - 0.4 * i)
    for curve in (c for c in curves if c.objective == BUG):
        left.plot(curve.accuracy, color="tab:red", label=curve.objective)
        right.plot(curve.nll, color="tab:red", label=curve.objective)
    left.axhline(design.ACCURACY_MIN, color="0.4", linestyle="--", linewidth=1, label="grader's threshold")
    right.axhline(design.NLL_MAX, color="0.4", linestyle="--", linewidth=1, label="grader's threshold")
    left.set(xlabel="epoch", ylabel="held-out accuracy", ylim=(0, 1))
    right.set(xlabel="epoch", ylabel=f"held-out NLL (capped at {design.NLL_CAP:g} nats)")
    left.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"The task's MLP on its {design.N_CLASSES}-class problem: SGD, lr {design.LR}, batch 32")
    return fig
