"""Variance-stabilized dropout for NumPy arrays."""

import numpy as np


class VarianceStabilizedDropout:
    """Dropout that leaves the variance of zero-mean activations unchanged.

    In training mode every element is zeroed independently with probability ``p``
    and the survivors are rescaled; in eval mode the input passes through unchanged.
    """

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p!r}")
        self.p = float(p)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.training = True

    def train(self) -> "VarianceStabilizedDropout":
        self.training = True
        return self

    def eval(self) -> "VarianceStabilizedDropout":
        self.training = False
        return self

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if not self.training or self.p == 0.0:
            return x.copy()
        keep = self.rng.random(x.shape) >= self.p
        # Rescale the survivors so that the activations keep their scale.
        return x * keep / (1.0 - self.p)
