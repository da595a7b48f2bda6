"""Closed-form and Monte Carlo moments of dropout, for the derivation notebook.

Dropout here is y = m·s·x with m ~ Bernoulli(1 − p): p is the *drop* probability. Every function
that draws random numbers takes an explicit ``rng``, so a notebook is reproducible from one seed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

MEAN_PRESERVING = "mean-preserving"
VARIANCE_PRESERVING = "variance-preserving"
SCALE_RULES = (MEAN_PRESERVING, VARIANCE_PRESERVING)
ALPHA_DROPOUT = "alpha-dropout"

# SELU's constants (Klambauer et al., 2017); alpha dropout sets dropped units to -lambda * alpha.
SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_DROPPED_VALUE = -SELU_LAMBDA * SELU_ALPHA

Array = NDArray[np.float64]


def dropout_scale(p: ArrayLike, rule: str) -> Array:
    """The factor s applied to surviving units: 1/(1-p) (mean-preserving) or 1/sqrt(1-p)."""
    keep = 1.0 - np.asarray(p, dtype=float)
    if rule == MEAN_PRESERVING:
        return 1.0 / keep
    if rule == VARIANCE_PRESERVING:
        return 1.0 / np.sqrt(keep)
    raise ValueError(f"unknown scale rule {rule!r}; use one of {SCALE_RULES}")


def apply_dropout(x: ArrayLike, p: float, scale: float, rng: np.random.Generator) -> Array:
    """Zero each element of ``x`` independently with probability ``p``; multiply the rest by
    ``scale``."""
    x = np.asarray(x, dtype=float)
    keep = rng.random(x.shape) >= p
    return np.where(keep, scale * x, 0.0)


def dropout_output_moments(p: ArrayLike, mu: float, sigma2: float, scale: ArrayLike) -> tuple[Array, Array]:
    """E[y] and Var[y] for y = m·s·x, m ~ Bernoulli(1-p), x with mean ``mu``, variance ``sigma2``."""
    keep = 1.0 - np.asarray(p, dtype=float)
    scale = np.asarray(scale, dtype=float)
    mean = scale * keep * mu
    variance = scale**2 * keep * (sigma2 + mu**2) - scale**2 * keep**2 * mu**2
    return mean, variance


def mean_preserving_variance_factor(p: ArrayLike) -> Array:
    """Var[y]/Var[x] for zero-mean x under s = 1/(1-p): 1/(1-p)."""
    return 1.0 / (1.0 - np.asarray(p, dtype=float))


def variance_preserving_variance_factor(p: ArrayLike) -> Array:
    """Var[y]/Var[x] for zero-mean x under s = 1/sqrt(1-p): 1 at every p."""
    return np.ones_like(np.asarray(p, dtype=float))


def variance_factor(p: ArrayLike, rule: str) -> Array:
    """Var[y]/Var[x] for zero-mean x under ``rule``, in closed form."""
    factors = {
        MEAN_PRESERVING: mean_preserving_variance_factor,
        VARIANCE_PRESERVING: variance_preserving_variance_factor,
    }
    if rule not in factors:
        raise ValueError(f"unknown scale rule {rule!r}; use one of {SCALE_RULES}")
    return factors[rule](p)


def empirical_variance_ratio(
    p_grid: ArrayLike, rule: str, n_samples: int, n_repeats: int, rng: np.random.Generator
) -> tuple[Array, Array]:
    """Measured Var(y)/Var(x) for standard normal x at each p: mean over ``n_repeats`` draws, and
    its standard error."""
    if n_repeats < 2:
        raise ValueError(f"n_repeats={n_repeats}: need at least 2 draws for a standard error")
    p_grid = np.asarray(p_grid, dtype=float)
    ratios = np.empty((p_grid.size, n_repeats))
    for i, p in enumerate(p_grid):
        for r in range(n_repeats):
            x = rng.standard_normal(n_samples)
            ratios[i, r] = apply_dropout(x, p, dropout_scale(p, rule), rng).var() / x.var()
    return ratios.mean(axis=1), ratios.std(axis=1, ddof=1) / np.sqrt(n_repeats)


def random_orthogonal(n: int, rng: np.random.Generator) -> Array:
    """A uniformly random n×n orthogonal matrix (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def variance_through_layers(
    p: float, rule: str, depth: int, width: int, n_samples: int, rng: np.random.Generator
) -> Array:
    """Var(h_l)/Var(x) for l = 0..depth, where each layer is dropout then a random orthogonal map.

    Orthogonal maps keep every vector's length, so only dropout changes the variance.
    """
    scale = dropout_scale(p, rule)
    h = rng.standard_normal((n_samples, width))
    variances = [h.var()]
    for _ in range(depth):
        h = apply_dropout(h, p, scale, rng) @ random_orthogonal(width, rng)
        variances.append(h.var())
    return np.array(variances) / variances[0]


def alpha_dropout_affine(p: ArrayLike, mu: float, sigma2: float, dropped_value: float) -> tuple[Array, Array]:
    """Coefficients (a, b) such that a·z + b has mean ``mu`` and variance ``sigma2``, where z is x
    with dropped units set to ``dropped_value`` (the alpha-dropout correction)."""
    p = np.asarray(p, dtype=float)
    keep = 1.0 - p
    z_mean = keep * mu + p * dropped_value
    z_variance = keep * sigma2 + p * keep * (mu - dropped_value) ** 2
    a = np.sqrt(sigma2 / z_variance)
    return a, mu - a * z_mean


def apply_alpha_dropout(
    x: ArrayLike,
    p: float,
    mu: float,
    sigma2: float,
    dropped_value: float,
    rng: np.random.Generator,
) -> Array:
    """Alpha dropout: set each element to ``dropped_value`` with probability ``p``, then apply the
    affine correction for inputs of mean ``mu`` and variance ``sigma2``."""
    x = np.asarray(x, dtype=float)
    keep = rng.random(x.shape) >= p
    a, b = alpha_dropout_affine(p, mu, sigma2, dropped_value)
    return a * np.where(keep, x, dropped_value) + b


def output_moments_vs_p(
    p_grid: ArrayLike, rule: str, mu: float, sigma: float, n_samples: int, rng: np.random.Generator
) -> tuple[Array, Array]:
    """Measured mean and variance of dropout's output under ``rule`` for x ~ N(mu, sigma²)."""

    def drop(x: Array, p: float) -> Array:
        return apply_dropout(x, p, dropout_scale(p, rule), rng)

    return _moments_vs_p(p_grid, drop, mu, sigma, n_samples, rng)


def alpha_dropout_moments_vs_p(
    p_grid: ArrayLike,
    mu: float,
    sigma: float,
    n_samples: int,
    rng: np.random.Generator,
    dropped_value: float = SELU_DROPPED_VALUE,
) -> tuple[Array, Array]:
    """Measured mean and variance of alpha dropout's output for x ~ N(mu, sigma²)."""

    def drop(x: Array, p: float) -> Array:
        return apply_alpha_dropout(x, p, mu, sigma**2, dropped_value, rng)

    return _moments_vs_p(p_grid, drop, mu, sigma, n_samples, rng)


def _moments_vs_p(
    p_grid: ArrayLike,
    drop: Callable[[Array, float], Array],
    mu: float,
    sigma: float,
    n_samples: int,
    rng: np.random.Generator,
) -> tuple[Array, Array]:
    outputs = [drop(rng.normal(mu, sigma, n_samples), p) for p in np.asarray(p_grid, dtype=float)]
    return np.array([y.mean() for y in outputs]), np.array([y.var() for y in outputs])


def expected_output_moments(p: ArrayLike, rule: str, mu: float, sigma2: float) -> tuple[Array, Array]:
    """E[y] and Var[y] in closed form under ``rule`` (a scale rule or ``ALPHA_DROPOUT``) for inputs
    of mean ``mu`` and variance ``sigma2``."""
    if rule == ALPHA_DROPOUT:
        p = np.asarray(p, dtype=float)
        return np.full_like(p, mu), np.full_like(p, sigma2)
    return dropout_output_moments(p, mu, sigma2, dropout_scale(p, rule))


def train_eval_variance_ratio(p: ArrayLike, mu: float, sigma2: float, rule: str) -> Array:
    """Var at evaluation (dropout off) over Var in training: the variance shift a later layer sees."""
    _, train_variance = dropout_output_moments(p, mu, sigma2, dropout_scale(p, rule))
    return sigma2 / train_variance
