"""Why inverted dropout scales survivors by 1/(1-p): the expected output of each scale people use,
and Monte-Carlo estimates to check it. Pure functions; notebooks and the demo import them.

With a keep mask m ~ Bernoulli(1-p) and survivors scaled by s, y = m s x, so E[y] = (1-p) s x:
only s = 1/(1-p) gives E[y] = x.
"""

from __future__ import annotations

import math

import numpy as np

SCALES = {
    "none": lambda p: 1.0,
    "sqrt": lambda p: (1 - p) ** -0.5,
    "inverted": lambda p: 1 / (1 - p),
    "inverse_p": lambda p: 1 / p,
}
SCALE_LABELS = {"none": "1 (no rescaling)", "sqrt": "1/sqrt(1-p)", "inverted": "1/(1-p)", "inverse_p": "1/p"}


def scale_of(p: float, name: str = "inverted", exponent: float | None = None) -> float:
    """The survivors' scale: one of SCALES by name, or (1-p)^-exponent when `exponent` is given."""
    return (1 - p) ** -exponent if exponent is not None else SCALES[name](p)


def mean_ratio(p: float, name: str = "inverted", exponent: float | None = None) -> float:
    """E[y]/x for survivors scaled by `scale_of(p, name, exponent)`: (1-p) times the scale."""
    return (1 - p) * scale_of(p, name, exponent)


def empirical_mean_ratio(p: float, n: int, rng: np.random.Generator, name: str = "inverted",
                         exponent: float | None = None) -> float:
    """mean(y)/x measured on n copies of x = 1 with a fresh Bernoulli mask."""
    keep = rng.random(n) >= p
    return float(np.mean(keep * scale_of(p, name, exponent)))


def standard_error(p: float, n: int, name: str = "inverted") -> float:
    """Standard error of `empirical_mean_ratio`: scale * sqrt(p (1-p) / n)."""
    return scale_of(p, name) * math.sqrt(p * (1 - p) / n)


def scale_verdict(p: float, exponent: float) -> dict[str, float | bool]:
    """What the grader's survivor-scale check sees for survivors scaled by (1-p)^-exponent at p: the
    expected output over x, the relative error of y/x against 1/(1-p), and whether float32 passes."""
    from . import design

    error = abs(mean_ratio(p, exponent=exponent) - 1)
    return {"mean_ratio": mean_ratio(p, exponent=exponent), "relative_error": error,
            "passes_float32": error <= design.SCALE_RTOL["float32"]}
