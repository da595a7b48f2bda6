"""The held-out checks' margins: why their thresholds fail a correct fix, or pass a wrong training,
with probability at most ALPHA per grade from the held-out sample alone.

Given the trained model (which depends on the training data, the initialization and the candidate
only), the N_HELDOUT held-out points are independent draws, so the held-out accuracy is a mean of
independent {0, 1} terms and the capped NLL a mean of independent terms in [0, NLL_CAP]. Hoeffding's
inequality bounds each one-sided deviation from the model's population value by
exp(-2 n margin^2 / range^2). With each of the four tail events (two checks, two sides) at ALPHA / 4,
a model whose population accuracy is at least ACCURACY_MIN + accuracy margin (at most ACCURACY_MIN -
margin) passes (fails) the accuracy check except with probability ALPHA / 4, and likewise for the NLL.
What training gives a population value is measured, not derived: see the README.
"""

from __future__ import annotations

import math

from . import design

ALPHA = 1e-9
EVENTS = 4


def hoeffding_margin(n: int, value_range: float, alpha: float) -> float:
    """The margin m with exp(-2 n m^2 / value_range^2) = alpha: a one-sided Hoeffding deviation."""
    return value_range * math.sqrt(math.log(1 / alpha) / (2 * n))


def accuracy_margin() -> float:
    return hoeffding_margin(design.N_HELDOUT, 1.0, ALPHA / EVENTS)


def nll_margin() -> float:
    return hoeffding_margin(design.N_HELDOUT, design.NLL_CAP, ALPHA / EVENTS)
