"""Source texts of `dropout.py` variants the dropout-from-scratch grader tests use.

- `CORRECT`: solutions written in different styles; every one must pass.
- `MUTANTS`: the correct `BASE` with one behaviour broken: the check that must catch it, the source,
  and whether that check is the only one that fails (False where a broken mask also moves another
  statistic, so that only the first failure is pinned). Each is pinned to fail on its check first in
  every grade (swept over many grades: `test_grader_sweep.py`).
- `BUG`: survivors scaled by 1/sqrt(1-p), the payload most cheats wrap.
- `OPEN_HOLES`: solutions that break the contract where no check looks (the clause each breaks, and
  the source): the grader passes them today.
"""

from __future__ import annotations

BASE = '''\
import numpy as np

_rng = np.random.default_rng()


def dropout(x, p, training=True):
    p = float(p)
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
RETURN = "    return (x * keep / (1 - p)).astype(x.dtype)\n"
RNG = "_rng = np.random.default_rng()\n"


def edit(source: str, *changes: tuple[str, str]) -> str:
    """`source` with each (old, new) replacement applied; each `old` must occur exactly once."""
    for old, new in changes:
        assert source.count(old) == 1, f"{old!r} occurs {source.count(old)} times"
        source = source.replace(old, new)
    return source


def with_mask(code: str, prelude: str = "") -> str:
    """BASE with the mask line replaced by `code` (indented lines defining `keep`), and `prelude`
    (module-level lines) after the generator."""
    body = "".join(f"    {line}\n" for line in code.splitlines())
    return edit(BASE, (KEEP, body), (RNG, RNG + prelude))


BUG = edit(BASE, (SCALE, "* (1 - p) ** -0.5"))

CORRECT = {
    "np_where_module_generator": '''\
import numpy as np

rng = np.random.default_rng()


def dropout(x, p, training=True):
    p = float(p)
    if not (0.0 <= p <= 1.0):
        raise ValueError("p must be between 0 and 1")
    if not training or p == 0.0:
        return x.copy()
    if p == 1.0:
        return np.zeros_like(x)
    keep = rng.random(x.shape) >= p
    return np.where(keep, x / x.dtype.type(1.0 - p), x.dtype.type(0))
''',
    "binomial_mask_numpy_float64_p": '''\
import numpy as np


def dropout(x, p, training=True):
    p = np.float64(p)  # exact for every valid type; keeps float32 arrays float32 via the cast below
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
    "seeded_module_generator_item": '''\
import math

import numpy as np

_GEN = np.random.Generator(np.random.PCG64(20240101))  # seeded once: still a fresh mask per call


def dropout(x, p, training=True):
    p = p.item() if hasattr(p, "item") else p
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
    p = float(p)
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
    p = float(p)
    if not 0 <= p <= 1:
        raise ValueError("p must be in [0, 1]")
    if not training or p == 0:
        return x
    keep = (_rng.random(x.shape) >= p).astype(x.dtype)
    if p == 1:
        return keep
    return x * keep * x.dtype.type(1 / (1 - p))
''',
    "flat_c_order_copy": '''\
import numpy as np

_rng = np.random.default_rng()


def dropout(x, p, training=True):
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(p)
    flat = np.ascontiguousarray(x).reshape(-1).copy()
    if training and p > 0:
        drop = _rng.random(flat.size, dtype=np.float64) < p
        flat[drop] = 0
        if p < 1:
            flat *= flat.dtype.type(1.0 / (1.0 - p))
    return flat.reshape(x.shape)
''',
}

# name -> (check that must catch it, source, whether it is the only failing check)
MUTANTS: dict[str, tuple[str, str, bool]] = {
    "raises_for_4d_inputs": (
        "call_error", edit(BASE, (DEF, DEF + "    if x.ndim == 4:\n        raise TypeError('4-D input')\n")),
        False),
    "raises_for_an_empty_input": (
        "call_error",
        edit(BASE, (DEF, DEF + "    if x.size == 0:\n        raise ValueError('empty input')\n")), False),
    "upcasts_float32_in_training": (
        "shape_and_dtype", edit(BASE, (".astype(x.dtype)", ".astype(np.float64)")), True),
    "numpy_float64_p_promotes_float32": (
        "shape_and_dtype", edit(BASE, ("    p = float(p)\n", "    given, p = p, float(p)\n"),
                                (RETURN, "    if isinstance(given, np.float64):\n"
                                         "        return x * keep / (1 - given)\n" + RETURN)), True),
    "returns_an_ndarray_subclass": (
        "shape_and_dtype",
        edit(BASE, (RNG, RNG + "\n\nclass _Out(np.ndarray):\n    pass\n"),
             (RETURN, "    return (x * keep / (1 - p)).astype(x.dtype).view(_Out)\n")), True),
    "empty_output_is_float64": (
        "shape_and_dtype", edit(BASE, (DEF, DEF + "    if x.size == 0:\n        return np.zeros(x.shape)\n")),
        True),
    "modifies_writeable_x_after_computing": (
        "input_unmodified",
        edit(BASE, (RETURN, "    y = (x * keep / (1 - p)).astype(x.dtype)\n    if x.flags.writeable:\n"
                            "        x *= 2\n    return y\n")), True),
    "modifies_fortran_ordered_x_in_place": (
        "input_unmodified",
        edit(BASE, (RETURN, "    if x.flags.f_contiguous and not x.flags.c_contiguous and "
                            "x.flags.writeable:\n        x *= keep\n        x /= x.dtype.type(1 - p)\n"
                            "        return x\n" + RETURN)), True),
    "modifies_x_from_a_thread_later": (
        "input_unmodified",
        edit(BASE, ("import numpy as np\n", "import threading\n\nimport numpy as np\n"),
             (RETURN, "    y = (x * keep / (1 - p)).astype(x.dtype)\n    if x.flags.writeable:\n"
                      "        threading.Timer(0.03, lambda: x.__setitem__(..., y)).start()\n"
                      "    return y\n")), True),
    "accepts_nan": ("rejects_invalid_p", edit(BASE, ("if not 0 <= p <= 1:", "if p < 0 or p > 1:")), True),
    "accepts_slightly_above_one": (
        "rejects_invalid_p",
        edit(BASE, ("if not 0 <= p <= 1:", "if not 0 <= p <= 1 + 1e-6:"), ("if p == 1:", "if p >= 1:")),
        True),
    "rejects_negative_zero": (
        "accepts_valid_p",
        edit(BASE, ("import numpy as np\n", "import math\n\nimport numpy as np\n"),
             ("if not 0 <= p <= 1:", "if not 0 <= p <= 1 or math.copysign(1.0, p) < 0:")), True),
    "eval_still_drops": ("eval_identity", edit(BASE, ("if not training or p == 0:", "if p == 0:")), True),
    "p_zero_goes_through_float16": (
        "p_zero_identity",
        edit(BASE, ("    if not training or", "    if training and p == 0:\n"
                    "        return x.astype(np.float16).astype(x.dtype)\n    if not training or")), True),
    "nan_at_p_one": (
        "p_one_zeros", edit(BASE, ("    if p == 1:\n        return np.zeros_like(x)\n", "")), True),
    "scale_one_over_sqrt": ("survivor_scale", BUG, True),
    "scale_exponent_0.9": ("survivor_scale", edit(BASE, (SCALE, "* (1 - p) ** -0.9")), True),
    "forgets_the_scale": ("survivor_scale", edit(BASE, (SCALE, "")), True),
    "scale_one_over_p": ("survivor_scale", edit(BASE, (SCALE, "/ p")), True),
    "scale_wobbles_with_the_value": (
        "survivor_scale", edit(BASE, (SCALE, SCALE + " * (1 + 1e-5 * np.tanh(x))")), True),
    "scale_in_the_type_of_p": (
        "survivor_scale", edit(BASE, ("    p = float(p)\n", "    given, p = p, float(p)\n"),
                               (RETURN, "    return (x * keep / (1 - given)).astype(x.dtype)\n")), True),
    "scale_through_float32_above_0.95": (
        "survivor_scale", edit(BASE, (SCALE, "/ (float(np.float32(1 - p)) if p > 0.95 else 1 - p)")), True),
    "keeps_with_probability_p": ("drop_fraction", with_mask("keep = _rng.random(x.shape) < p"), False),
    "drops_nothing_below_p_0.05": (
        "drop_fraction",
        edit(BASE, ("    if p == 1:", "    if p < 0.05:\n        return (x / (1 - p)).astype(x.dtype)\n"
                                     "    if p == 1:")), True),
    "drops_an_exact_count": (
        "drop_count_dispersion",
        with_mask("keep = np.ones(x.size, dtype=bool)\n"
                  "keep[_rng.permutation(x.size)[: round(p * x.size)]] = False\n"
                  "keep = keep.reshape(x.shape)"), True),
    "drops_an_exact_count_when_training_is_passed": (
        "drop_count_dispersion",
        edit(with_mask("if explicit:\n    keep = np.ones(x.size, dtype=bool)\n"
                       "    keep[_rng.permutation(x.size)[: round(p * x.size)]] = False\n"
                       "    keep = keep.reshape(x.shape)\nelse:\n    keep = _rng.random(x.shape) >= p"),
             (DEF, "_DEFAULT = object()\n\n\ndef dropout(x, p, training=_DEFAULT):\n"
                   "    explicit, training = training is not _DEFAULT, training is not False\n")), True),
    # One binomial count per (shape, p), redrawn until within 1 sd of p n (drawn freely, the one count
    # repeated over a group's calls would put its pooled drop fraction out first in some grades), then
    # that many drops at random places on every call of that shape.
    "draws_one_binomial_count_per_shape": (
        "drop_count_dispersion",
        with_mask("k = _COUNTS.get((x.shape, p))\n"
                  "while k is None or abs(k - p * x.size) > (x.size * p * (1 - p)) ** 0.5:\n"
                  "    k = _COUNTS[x.shape, p] = int(_rng.binomial(x.size, p))\n"
                  "keep = np.ones(x.size, dtype=bool)\n"
                  "keep[_rng.permutation(x.size)[:k]] = False\nkeep = keep.reshape(x.shape)",
                  "_COUNTS = {}\n"), True),
    "repeats_every_other_mask": (
        "fresh_mask",
        with_mask("keep = _LAST.pop((x.shape, p), None)\nif keep is None:\n"
                  "    keep = _LAST[x.shape, p] = _rng.random(x.shape) >= p", "_LAST = {}\n"), False),
    "shifts_every_other_mask": (
        "fresh_mask",
        with_mask("keep = _LAST.pop((x.shape, p), None)\nif keep is None:\n"
                  "    keep = _LAST[x.shape, p] = _rng.random(x.shape) >= p\n"
                  "else:\n    keep = np.roll(keep, 1)", "_LAST = {}\n"), False),
    "neighbours_share_a_mask": (
        "mask_independent_of_neighbours",
        with_mask("half = _rng.random((x.size + 1) // 2) >= p\n"
                  "keep = np.repeat(half, 2)[: x.size].reshape(x.shape)"), False),
    "elements_two_apart_share_a_mask": (
        "mask_independent_of_neighbours",
        with_mask("base = _rng.random((-(-x.size // 4), 1, 2)) >= p\n"
                  "keep = np.broadcast_to(base, (len(base), 2, 2)).reshape(-1)[: x.size].reshape(x.shape)"),
        False),
    "element_37_on_copies_with_probability_0.3": (
        "mask_independent_of_neighbours",
        with_mask("u = _rng.random(x.size)\nif x.size > 37:\n"
                  "    u[37:] = np.where(_rng.random(x.size - 37) < 0.3, u[:-37], u[37:])\n"
                  "keep = (u >= p).reshape(x.shape)"), True),
    "big_masks_tile_one_block": (  # the block keeps exactly (1 - p) of its elements: only the tiling shows
        "mask_independent_of_neighbours",
        with_mask("if x.nbytes > 8 * 2**20:\n    block = np.zeros(2**18, dtype=bool)\n"
                  "    block[_rng.permutation(2**18)[:round((1 - p) * 2**18)]] = True\n"
                  "    keep = np.resize(block, x.size).reshape(x.shape)\n"
                  "else:\n    keep = _rng.random(x.shape) >= p"), True),
    "drops_positive_values_more_often": (
        "mask_independent_of_values",
        with_mask("keep = _rng.random(x.shape) >= p + 0.08 * min(p, 1 - p) * np.sign(x)"), True),
    "rate_swings_with_the_lowest_mantissa_bit": (
        "mask_independent_of_values",
        with_mask("bit = x.view(np.uint32 if x.dtype == np.float32 else np.uint64) & 1\n"
                  "keep = _rng.random(x.shape) >= p + 0.08 * min(p, 1 - p) * (2.0 * bit - 1)"), True),
    # Octiles of |x| alternate between p + swing and p - swing: every |x| quartile still averages p,
    # but the exponent's parity follows |x|'s binades (and the per-position histogram spreads too).
    "rate_swings_with_the_value_octile": (
        "mask_independent_of_values",
        with_mask("octile = np.empty(x.size, dtype=np.int64)\n"
                  "order = np.argsort(np.abs(x.ravel()), kind='stable')\n"
                  "octile[order] = np.arange(x.size) * 8 // max(1, x.size)\n"
                  "swing = 0.07 * min(1.0, p / 0.1, (1 - p) / 0.1)\n"
                  "rate = p + swing * np.where(octile % 2 == 0, 1.0, -1.0)\n"
                  "keep = (_rng.random(x.size) >= rate).reshape(x.shape)"), False),
    "rate_swings_with_the_position_parity": (
        "mask_independent_of_position",
        with_mask("swing = np.where(np.arange(x.size) % 2 == 0, 1.0, -1.0).reshape(x.shape)\n"
                  "keep = _rng.random(x.shape) >= p + 0.08 * min(p, 1 - p) * swing"), True),
    "drops_the_first_half_more_often": (
        "mask_independent_of_position",
        with_mask("swing = np.where(np.arange(x.size) < x.size // 2, 0.1, -0.1) * min(p, 1 - p)\n"
                  "keep = (_rng.random(x.size) >= p + swing).reshape(x.shape)"), True),
}

# name -> (the clause of the contract it breaks, source)
OPEN_HOLES: dict[str, tuple[str, str]] = {
    # Element n-1-k shares element k's mask: every lag holds one such pair at most.
    "second_half_mirrors_the_first": (
        "zeroes each element independently",
        with_mask("half = _rng.random(-(-x.size // 2)) >= p\n"
                  "keep = np.concatenate([half, half[: x.size // 2][::-1]]).reshape(x.shape)")),
    # The inputs are finite and nonzero: a dropped inf or NaN is never sent (arguable: see the docs).
    "dropped_inf_becomes_nan": (
        "it zeroes each element independently with probability `p`",
        edit(BASE, (RETURN, "    scale = x.dtype.type(1 / (1 - p))\n"
                            "    return (x * keep.astype(x.dtype) * scale).astype(x.dtype)\n"))),
    # Invalid p is probed in training mode only (arguable: "whatever `p` is" in requirement 3).
    "skips_validation_when_not_training": (
        "It raises `ValueError` unless `0 <= p <= 1` (so NaN raises too).",
        edit(BASE, ("    if not 0 <= p <= 1:", "    if training and not 0 <= p <= 1:"))),
}
