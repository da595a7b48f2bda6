"""Inverted dropout for NumPy arrays (reference solution)."""

import numpy as np

_rng = np.random.default_rng()


def dropout(x: np.ndarray, p: float, training: bool = True) -> np.ndarray:
    """Apply inverted dropout to ``x``.

    ``x`` is a float32 or float64 array of any shape; ``p`` is the probability of dropping
    (zeroing) each element, with ``0 <= p <= 1`` (anything else raises ``ValueError``).
    In training mode every element is zeroed independently with probability ``p``, with a fresh
    random mask on every call, and every surviving element is multiplied by ``1 / (1 - p)``, so
    that the expected output equals ``x``; ``p = 1`` gives all zeros. With ``training=False``
    (or ``p = 0``) the values of ``x`` are returned unchanged. The result has ``x``'s shape and
    dtype, and ``x`` itself is never modified.
    """
    p = float(p)
    if not 0.0 <= p <= 1.0:  # NaN fails both comparisons
        raise ValueError(f"dropout probability must be in [0, 1], got {p!r}")
    if not training or p == 0.0:
        return x.copy()
    if p == 1.0:
        return np.zeros_like(x)
    keep = _rng.random(x.shape) >= p
    # E[y] = P(keep) * x / (1 - p) = x.
    return np.where(keep, x / x.dtype.type(1.0 - p), x.dtype.type(0))
