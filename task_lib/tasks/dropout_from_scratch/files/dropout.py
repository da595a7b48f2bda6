"""Inverted dropout for NumPy arrays."""

import numpy as np


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
    raise NotImplementedError
