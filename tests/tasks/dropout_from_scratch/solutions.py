"""Source texts of `dropout.py` variants the dropout-from-scratch grader tests use.

- `CORRECT`: solutions written in different styles; every one must pass.
- `MUTANTS`: the correct `BASE` with one behaviour broken: the check that must catch it, the source,
  and whether that check is the only one that fails (False where a broken mask also moves the
  statistics after it, so that only the first failure is pinned).
- `BUG`: survivors scaled by 1/sqrt(1-p), the payload most cheats wrap.
- `OPEN_HOLES`: solutions that break the contract where no check looks (the clause each breaks, and
  the source): the grader passes them today.
"""

from __future__ import annotations

BASE = '''\
import numpy as np

_rng = np.random.default_rng()


def dropout(x, p, training=True):
    if not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x.copy()
    if p == 1:
        return np.zeros_like(x)
    keep = _rng.random(x.shape) >= p
    return (x * keep / (1 - p)).astype(x.dtype)
'''
KEEP = "    keep = _rng.random(x.shape) >= p\n"
SCALE = "/ (1 - p)"
DEF = "def dropout(x, p, training=True):\n"


def edit(source: str, *changes: tuple[str, str]) -> str:
    """`source` with each (old, new) replacement applied; each `old` must occur exactly once."""
    for old, new in changes:
        assert source.count(old) == 1, f"{old!r} occurs {source.count(old)} times"
        source = source.replace(old, new)
    return source


def with_mask(code: str) -> str:
    """BASE with the mask line replaced by `code` (indented lines defining `keep`)."""
    return edit(BASE, (KEEP, "".join(f"    {line}\n" for line in code.splitlines())))


BUG = edit(BASE, (SCALE, "* (1 - p) ** -0.5"))

CORRECT = {
    "np_where_module_generator": '''\
import numpy as np

rng = np.random.default_rng()


def dropout(x, p, training=True):
    if not (0.0 <= p <= 1.0):
        raise ValueError("p must be between 0 and 1")
    if not training or p == 0.0:
        return x.copy()
    if p == 1.0:
        return np.zeros_like(x)
    keep = rng.random(x.shape) >= p
    return np.where(keep, x / x.dtype.type(1.0 - p), x.dtype.type(0))
''',
    "binomial_mask": '''\
import numpy as np


def dropout(x, p, training=True):
    if p < 0 or p > 1 or p != p:
        raise ValueError(f"bad p {p}")
    if not training or p == 0:
        return np.array(x, copy=True)
    mask = np.random.default_rng().binomial(1, 1 - p, size=x.shape)
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    return (x * mask * scale).astype(x.dtype)
''',
    "global_np_random": '''\
import numpy as np


def dropout(x, p, training=True):
    p = float(p)
    if not 0 <= p <= 1:
        raise ValueError("dropout probability must be in [0, 1]")
    if not training:
        return x.copy()
    if p == 1:
        return np.zeros_like(x)
    mask = np.random.rand(*x.shape) > p
    return (mask * x / (1 - p)).astype(x.dtype, copy=False)
''',
    "seeded_module_generator": '''\
import math

import numpy as np

_GEN = np.random.Generator(np.random.PCG64(20240101))  # seeded once: still a fresh mask per call


def dropout(x, p, training=True):
    if math.isnan(p) or not 0 <= p <= 1:
        raise ValueError(p)
    if not training or p == 0:
        return x.copy()
    if p == 1:
        return np.zeros(x.shape, dtype=x.dtype)
    keep = _GEN.uniform(size=x.shape) < 1 - p
    return np.multiply(x, keep * (1 / (1 - p)), dtype=x.dtype)
''',
    "in_place_on_a_copy": '''\
import numpy as np

_rng = np.random.default_rng()


def dropout(x, p, training=True):
    if not 0 <= p <= 1:
        raise ValueError("p out of range")
    y = x.copy()
    if training and p > 0:
        if p == 1:
            y[...] = 0
        else:
            y[_rng.random(x.shape) < p] = 0
            y /= 1 - p
    return y
''',
    "eval_returns_x_itself": '''\
import numpy as np

_rng = np.random.default_rng()


def dropout(x, p, training=True):
    if not 0 <= p <= 1:
        raise ValueError("p must be in [0, 1]")
    if not training or p == 0:
        return x
    keep = (_rng.random(x.shape) >= p).astype(x.dtype)
    if p == 1:
        return keep
    return x * keep * x.dtype.type(1 / (1 - p))
''',
}

# name -> (check that must catch it, source, whether it is the only failing check)
MUTANTS: dict[str, tuple[str, str, bool]] = {
    "raises_for_4d_inputs": (
        "call_error", edit(BASE, (DEF, DEF + "    if x.ndim == 4:\n        raise TypeError('4-D input')\n")),
        False),
    "accepts_nan": ("rejects_invalid_p", edit(BASE, ("if not 0 <= p <= 1:", "if p < 0 or p > 1:")), True),
    "rejects_a_numpy_scalar_p": (
        "accepts_valid_p",
        edit(BASE, ("if not 0 <= p <= 1:", "if type(p) not in (int, float) or not 0 <= p <= 1:")),
        False),
    "upcasts_float32_in_training": (
        "shape_and_dtype", edit(BASE, (".astype(x.dtype)", ".astype(np.float64)")), True),
    "modifies_x_after_computing": (
        "input_unmodified",
        edit(BASE, ("    return (x * keep / (1 - p)).astype(x.dtype)\n",
                    "    y = (x * keep / (1 - p)).astype(x.dtype)\n    x *= 2\n    return y\n")), True),
    "eval_still_drops": ("eval_identity", edit(BASE, ("if not training or p == 0:", "if p == 0:")), True),
    "p_zero_goes_through_float16": (
        "p_zero_identity",
        edit(BASE, ("    if not training or", "    if p == 0:\n"
                    "        return x.astype(np.float16).astype(x.dtype)\n    if not training or")), True),
    "nan_at_p_one": (
        "p_one_zeros", edit(BASE, ("    if p == 1:\n        return np.zeros_like(x)\n", "")), True),
    "scale_one_over_sqrt": ("survivor_scale", BUG, True),
    "scale_exponent_0.9": ("survivor_scale", edit(BASE, (SCALE, "* (1 - p) ** -0.9")), True),
    "forgets_the_scale": ("survivor_scale", edit(BASE, (SCALE, "")), True),
    "scale_one_over_p": ("survivor_scale", edit(BASE, (SCALE, "/ p")), True),
    "scale_wobbles_with_the_value": (
        "survivor_scale", edit(BASE, (SCALE, SCALE + " * (1 + 1e-5 * np.tanh(x))")), True),
    "keeps_with_probability_p": ("drop_fraction", with_mask("keep = _rng.random(x.shape) < p"), False),
    "repeats_every_other_mask": (
        "fresh_masks",
        edit(with_mask("keep = _LAST.pop(x.shape, None)\nif keep is None:\n"
                       "    keep = _LAST[x.shape] = _rng.random(x.shape) >= p"),
             ("_rng = np.random.default_rng()\n", "_rng = np.random.default_rng()\n_LAST = {}\n")), True),
    "shifts_every_other_mask": (
        "fresh_masks",
        edit(with_mask("keep = _LAST.pop(x.shape, None)\nif keep is None:\n"
                       "    keep = _LAST[x.shape] = _rng.random(x.shape) >= p\n"
                       "else:\n    keep = np.roll(keep, 1)"),
             ("_rng = np.random.default_rng()\n", "_rng = np.random.default_rng()\n_LAST = {}\n")), True),
    "drops_an_exact_count": (
        "drop_count_spread",
        with_mask("keep = np.ones(x.size, dtype=bool)\n"
                  "keep[_rng.permutation(x.size)[: round(p * x.size)]] = False\n"
                  "keep = keep.reshape(x.shape)"), True),
    "drops_an_exact_count_two_off": (
        "drop_count_spread",
        with_mask("keep = np.ones(x.size, dtype=bool)\n"
                  "keep[_rng.permutation(x.size)[: round(p * x.size) + 2]] = False\n"
                  "keep = keep.reshape(x.shape)"), True),
    "drops_an_exact_count_up_to_three_off": (
        "drop_count_spread",
        with_mask("keep = np.ones(x.size, dtype=bool)\n"
                  "keep[_rng.permutation(x.size)[: round(p * x.size) + int(_rng.integers(-3, 4))]] = False\n"
                  "keep = keep.reshape(x.shape)"), True),
    # One binomial count per shape, redrawn until within 1.5 sd of p * n: drawn freely, the one count
    # repeated over the N_CALLS calls would put the pooled drop_fraction (its band about 2.4 sd of
    # one call's count wide) out first in about a fifth of grades.
    "draws_one_binomial_count_per_shape": (
        "drop_count_spread",
        edit(with_mask("k = _COUNTS.get((x.shape, p))\n"
                       "while k is None or abs(k - p * x.size) > 1.5 * (x.size * p * (1 - p)) ** 0.5:\n"
                       "    k = _COUNTS[x.shape, p] = int(_rng.binomial(x.size, p))\n"
                       "keep = np.ones(x.size, dtype=bool)\n"
                       "keep[_rng.permutation(x.size)[:k]] = False\nkeep = keep.reshape(x.shape)"),
             ("_rng = np.random.default_rng()\n", "_rng = np.random.default_rng()\n_COUNTS = {}\n")), True),
    "drops_positive_values_more_often": (
        "mask_independent_of_values",
        with_mask("keep = _rng.random(x.shape) >= p + 0.05 * np.sign(x)"), True),
    # Rates that differ by half also move the neighbour pairs' agreement a little: elements_independent
    # may fail too (it did in about one grade in 30), so only the first failure is pinned.
    "drops_the_first_half_more_often": (
        "mask_independent_of_position",
        with_mask("rate = np.where(np.arange(x.size) < x.size // 2, p + 0.04, p - 0.04)\n"
                  "keep = _rng.random(x.size) >= rate\nkeep = keep.reshape(x.shape)"), False),
    "neighbours_share_a_mask": (
        "elements_independent",
        with_mask("half = _rng.random((x.size + 1) // 2) >= p\n"
                  "keep = np.repeat(half, 2)[: x.size].reshape(x.shape)"),
        True),
    "odd_neighbours_share_a_mask": (
        "elements_independent",
        with_mask("half = _rng.random(x.size // 2 + 1) >= p\n"
                  "keep = np.repeat(half, 2)[1 : x.size + 1].reshape(x.shape)"),
        True),
    "row_pairs_share_a_mask": (
        "elements_independent",
        with_mask("rows = x.reshape(-1, x.shape[-1]).shape[0]\n"
                  "half = _rng.random(((rows + 1) // 2, x.shape[-1])) >= p\n"
                  "keep = np.repeat(half, 2, axis=0)[:rows].reshape(x.shape)"), True),
    "odd_row_pairs_share_a_mask": (
        "elements_independent",
        with_mask("rows = x.reshape(-1, x.shape[-1]).shape[0]\n"
                  "half = _rng.random((rows // 2 + 1, x.shape[-1])) >= p\n"
                  "keep = np.repeat(half, 2, axis=0)[1 : rows + 1].reshape(x.shape)"), True),
}

RATE_SWING = "swing = 0.06 * min(1.0, p / 0.1, (1 - p) / 0.1)\n"  # keeps every rate within [0, 1]
# name -> (the clause of the contract it breaks, source)
OPEN_HOLES: dict[str, tuple[str, str]] = {
    "elements_two_apart_share_a_mask": (
        "zeroes each element independently",
        with_mask("base = _rng.random((-(-x.size // 4), 1, 2)) >= p\n"
                  "keep = np.broadcast_to(base, (len(base), 2, 2)).reshape(-1)[: x.size].reshape(x.shape)")),
    # Element n-1-k shares element k's mask. (A plain copy, k + n/2 sharing k's, was caught whenever an
    # array had two rows: the row pairs compared equal rows, in about 3% of grades.)
    "second_half_mirrors_the_first": (
        "zeroes each element independently",
        with_mask("half = _rng.random(-(-x.size // 2)) >= p\n"
                  "keep = np.concatenate([half, half[: x.size // 2][::-1]]).reshape(x.shape)")),
    "rate_swings_with_the_value_octile": (
        "a fresh random mask on every call that does not depend on the values of `x`",
        with_mask("octile = np.empty(x.size, dtype=np.int64)\n"
                  "octile[np.argsort(np.abs(x.ravel()), kind='stable')] = np.arange(x.size) * 8 // x.size\n"
                  + RATE_SWING + "rate = p + swing * np.where(octile % 2 == 0, 1.0, -1.0)\n"
                  "keep = (_rng.random(x.size) >= rate).reshape(x.shape)")),
    "rate_swings_with_the_lowest_mantissa_bit": (
        "a fresh random mask on every call that does not depend on the values of `x`",
        with_mask("bit = x.view(np.uint32 if x.dtype == np.float32 else np.uint64) & 1\n"
                  + RATE_SWING + "keep = _rng.random(x.shape) >= p + swing * (2.0 * bit - 1)")),
    "rate_swings_with_the_position_parity": (
        "zeroes each element independently with probability `p`",
        with_mask(RATE_SWING + "rate = p + swing * np.where(np.arange(x.size) % 2 == 0, 1.0, -1.0)\n"
                  "keep = (_rng.random(x.size) >= rate).reshape(x.shape)")),
    "exact_count_when_training_is_passed": (
        "zeroes each element independently (when `training=True` is passed)",
        edit(with_mask("if explicit:\n    keep = np.ones(x.size, dtype=bool)\n"
                       "    keep[_rng.permutation(x.size)[: round(p * x.size)]] = False\n"
                       "    keep = keep.reshape(x.shape)\nelse:\n    keep = _rng.random(x.shape) >= p"),
             (DEF, "_DEFAULT = object()\n\n\ndef dropout(x, p, training=_DEFAULT):\n"
                   "    explicit, training = training is not _DEFAULT, training is not False\n"))),
    "raises_for_an_empty_input": (
        "`x` is a NumPy float32 or float64 array of any shape",
        edit(BASE, (DEF, DEF + "    if x.size == 0:\n        raise ValueError('empty input')\n"))),
    "loses_its_result_on_non_contiguous_input": (
        "`x` is a NumPy float32 or float64 array of any shape",
        edit(BASE, ("    return (x * keep / (1 - p)).astype(x.dtype)\n",
                    "    y = np.empty_like(x)  # x's memory order: for a non-C-contiguous x, reshape copies\n"
                    "    y.reshape(-1)[:] = (x * keep / (1 - p)).ravel()\n    return y\n"))),
}
