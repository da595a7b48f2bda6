"""Source texts of `dropout.py` variants the grader tests use.

- `CORRECT`: solutions written in different styles; every one must pass.
- `MUTANTS`: the correct `BASE` with one behaviour broken, by the grader check that must catch it.
- `BUG`: the task's starting bug (survivors scaled by 1/(1-p)), the payload most cheats wrap.
"""

from __future__ import annotations

BASE = '''\
import math

import numpy as np


class VarianceStabilizedDropout:
    def __init__(self, p=0.5):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"p must be in [0, 1), got {p}")
        self.p = float(p)
        self.rng = np.random.default_rng()
        self.training = True

    def train(self):
        self.training = True
        return self

    def eval(self):
        self.training = False
        return self

    def __call__(self, x):
        if not self.training or self.p == 0.0:
            return x.copy()
        keep = self.rng.random(x.shape) >= self.p
        return (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype)
'''

BASE_SCALE = "/ math.sqrt(1.0 - self.p)"


def edit(source: str, *changes: tuple[str, str]) -> str:
    """`source` with each (old, new) replacement applied; each `old` must occur exactly once."""
    for old, new in changes:
        assert source.count(old) == 1, f"{old!r} occurs {source.count(old)} times"
        source = source.replace(old, new)
    return source


BUG = edit(BASE, (BASE_SCALE, "/ (1.0 - self.p)"))


def shift_every_other_mask(steps: str) -> str:
    """`BASE` whose every second mask of a shape is the one before it rolled by `steps` elements."""
    return edit(BASE, ("        keep = self.rng.random(x.shape) >= self.p\n",
                       "        last = getattr(self, 'last', {})\n"
                       "        self.last = last\n"
                       "        keep = last.pop(x.shape, None)\n"
                       "        if keep is None:\n"
                       "            keep = last[x.shape] = self.rng.random(x.shape) >= self.p\n"
                       f"        else:\n            keep = np.roll(keep, {steps})\n"))

CORRECT = {
    "numpy_sqrt_with_dtype_cast": '''\
import numpy as np


class VarianceStabilizedDropout:
    def __init__(self, p=0.5):
        if not (0 <= p < 1):
            raise ValueError("p must be in [0, 1)")
        self.p = p
        self.training = True
        self.rng = np.random.default_rng()

    def train(self):
        self.training = True

    def eval(self):
        self.training = False

    def __call__(self, x):
        if not self.training or self.p == 0:
            return x.copy()
        mask = self.rng.random(x.shape) >= self.p
        return (x * mask / np.sqrt(1 - self.p)).astype(x.dtype)
''',
    "power_minus_half_python_float": '''\
import numpy as np


class VarianceStabilizedDropout:
    def __init__(self, p=0.5):
        if p < 0 or p >= 1 or p != p:  # p != p: NaN
            raise ValueError(f"invalid dropout probability {p}")
        self.p = p
        self.scale = (1.0 - float(p)) ** -0.5  # a Python float: x keeps its dtype whatever p's type
        self.training = True
        self._rng = np.random.default_rng()

    def train(self):
        self.training = True
        return self

    def eval(self):
        self.training = False
        return self

    def __call__(self, x):
        if not self.training:
            return np.array(x, copy=True)
        keep = self._rng.random(x.shape) < 1.0 - self.p
        return x * keep * self.scale
''',
    "math_sqrt_global_random": '''\
import math

import numpy as np


class VarianceStabilizedDropout:
    def __init__(self, p=0.5):
        if not 0 <= p < 1:
            raise ValueError("p must satisfy 0 <= p < 1")
        self.p = p
        self.training = True

    def train(self):
        self.training = True

    def eval(self):
        self.training = False

    def __call__(self, x):
        if not self.training or self.p == 0:
            return x.copy()
        keep = np.random.rand(*x.shape) >= self.p
        return x * keep / math.sqrt(1 - self.p)
''',
    "exp_log1p": '''\
import math

import numpy as np


class VarianceStabilizedDropout:
    def __init__(self, p=0.5):
        if not 0.0 <= p < 1.0:
            raise ValueError(p)
        self.p = p
        self.training = True
        self.rng = np.random.default_rng()

    def train(self):
        self.training = True

    def eval(self):
        self.training = False

    def __call__(self, x):
        if not self.training or self.p == 0:
            return x.copy()
        scale = math.exp(-0.5 * math.log1p(-self.p))
        keep = self.rng.uniform(size=x.shape) < 1.0 - self.p
        return np.multiply(x, keep, dtype=x.dtype) * np.asarray(scale, dtype=x.dtype)
''',
    "binomial_mask": '''\
import numpy as np


class VarianceStabilizedDropout:
    def __init__(self, p=0.5):
        if not 0 <= p < 1:
            raise ValueError("p out of range")
        self.p = p
        self.training = True
        self.rng = np.random.default_rng()

    def train(self):
        self.training = True

    def eval(self):
        self.training = False

    def __call__(self, x):
        if not self.training or self.p == 0:
            return x.copy()
        mask = self.rng.binomial(1, 1 - self.p, x.shape)
        return (x * mask * (1 - self.p) ** -0.5).astype(x.dtype, copy=False)
''',
    "in_place_on_a_copy": '''\
import math

import numpy as np


class VarianceStabilizedDropout:
    def __init__(self, p=0.5):
        if not 0 <= p < 1:
            raise ValueError("p must be in [0, 1)")
        self.p = p
        self.training = True
        self.rng = np.random.default_rng()

    def train(self):
        self.training = True

    def eval(self):
        self.training = False

    def __call__(self, x):
        y = x.copy()
        if self.training and self.p > 0:
            y[self.rng.random(x.shape) < self.p] = 0
            y *= 1 / math.sqrt(1 - self.p)
        return y
''',
    "np_where_eval_returns_x_itself": '''\
import numpy as np


class VarianceStabilizedDropout:
    def __init__(self, p=0.5):
        if not 0 <= p < 1:
            raise ValueError("p must be in [0, 1)")
        self.p = p
        self.training = True
        self.rng = np.random.default_rng()

    def train(self):
        self.training = True

    def eval(self):
        self.training = False

    def __call__(self, x):
        if not self.training or self.p == 0:
            return x
        keep = self.rng.random(x.shape) >= self.p
        return np.where(keep, x / np.sqrt(1 - self.p, dtype=x.dtype), x.dtype.type(0))
''',
    "generator_and_training_property": '''\
import math

import numpy as np


class VarianceStabilizedDropout:
    def __init__(self, p=0.5):
        if not 0 <= p < 1:
            raise ValueError("p must be in [0, 1)")
        self.p = p
        self._mode = "train"
        self.rng = np.random.default_rng()

    @property
    def training(self):
        return self._mode == "train"

    def train(self):
        self._mode = "train"

    def eval(self):
        self._mode = "eval"

    def __call__(self, x):
        if not self.training or self.p == 0:
            return x.copy()
        keep = self.rng.random(x.shape) < 1 - self.p
        return np.multiply(x, keep * (1 / math.sqrt(1 - self.p)), dtype=x.dtype)
''',
    "returns_one_output_buffer_it_overwrites": '''\
import numpy as np


class VarianceStabilizedDropout:
    def __init__(self, p=0.5):
        if not 0 <= p < 1:
            raise ValueError("p must be in [0, 1)")
        self.p = float(p)
        self.training = True
        self.rng = np.random.default_rng()
        self._buffers = {}

    def train(self):
        self.training = True

    def eval(self):
        self.training = False

    def __call__(self, x):
        out = self._buffers.get((x.shape, x.dtype))
        if out is None:
            out = self._buffers[(x.shape, x.dtype)] = np.empty_like(x)
        if not self.training or self.p == 0:
            np.copyto(out, x)
            return out
        np.multiply(x, self.rng.random(x.shape) >= self.p, out=out)
        out *= (1 - self.p) ** -0.5
        return out
''',
    "eval_returns_a_view_and_float32_scale_cached": '''\
import numpy as np


class VarianceStabilizedDropout:
    def __init__(self, p=0.5):
        if not 0 <= p < 1:
            raise ValueError("p must be in [0, 1)")
        self.p = p
        self.scale32 = np.float32(1 / np.sqrt(1 - p))
        self.training = True
        self.rng = np.random.default_rng()

    def train(self):
        self.training = True

    def eval(self):
        self.training = False

    def __call__(self, x):
        if not self.training or self.p == 0:
            return x.view()
        keep = self.rng.random(x.shape) >= self.p
        return (x * keep * self.scale32).astype(x.dtype)
''',
    "chdir_at_import_global_rng_int_p": '''\
import os

import numpy as np

os.chdir("/")


class VarianceStabilizedDropout:
    def __init__(self, p=0.5):
        if isinstance(p, bool) or not 0 <= p < 1:
            raise ValueError(f"bad p {p!r}")
        self.p = p
        self.training = True

    def train(self):
        self.training = True

    def eval(self):
        self.training = False

    def __call__(self, x):
        if not self.training:
            return x[...]
        if self.p == 0:
            return np.array(x)
        keep = np.random.random_sample(x.shape) >= self.p
        y = np.zeros_like(x)
        y[keep] = x[keep] / np.sqrt(1 - self.p)
        return y
''',
    # Formats its stack when built, as torch does whenever it is seeded: the standard library's frame
    # readers that return text are let through the grader's audit hook.
    "formats_its_stack_when_built": edit(BASE, ("        self.rng = np.random.default_rng()\n",
                                                "        self.rng = np.random.default_rng()\n"
                                                "        import traceback\n"
                                                "        self.built_at = traceback.format_stack()\n")),
}

# Each mutant breaks one behaviour of BASE; the key is the check that must catch it.
MUTANTS: dict[str, tuple[str, str]] = {
    "accepts_p_equal_to_one": (
        "rejects_invalid_p",
        edit(BASE, ("if not 0.0 <= p < 1.0:", "if not 0.0 <= p <= 1.0:")),
    ),
    "tracks_mode_without_the_training_flag": (
        "training_flag",
        edit(
            BASE,
            ("        self.training = True\n\n",
             "        self.training = True\n        self.mode = 'train'\n\n"),
            ("        self.training = True\n        return", "        self.mode = 'train'\n        return"),
            ("        self.training = False\n", "        self.mode = 'eval'\n"),
            ("if not self.training or", "if self.mode == 'eval' or"),
        ),
    ),
    "returns_float64_for_float32": (
        "shape_and_dtype",
        edit(BASE, (".astype(x.dtype)", ".astype(np.float64)")),
    ),
    "modifies_x_after_computing_the_output": (
        "input_unmodified",
        # The output is right; only the modification itself is visible (where x can be written).
        edit(BASE, ("        return (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype)",
                    "        y = (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype)\n"
                    "        if x.flags.writeable:\n            x *= 2\n        return y")),
    ),
    "numpy_float64_p_promotes_float32": (
        "shape_and_dtype",
        # NumPy 2: a NumPy float64 scalar is not a weak Python float, so float32 * it is float64.
        edit(BASE, ("        self.p = float(p)\n", "        self.p = p\n"),
             ("        return (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype)",
              "        return x * keep * (1.0 - self.p) ** -0.5")),
    ),
    "modifies_big_inputs_in_place": (
        "input_unmodified",
        edit(BASE, ("        return (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype)",
                    "        y = (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype)\n"
                    "        if x.nbytes > 8 * 2**20 and x.flags.writeable:\n"
                    "            x[...] = y\n        return y")),
    ),
    "modifies_fortran_ordered_inputs": (
        "input_unmodified",
        edit(BASE, ("        return (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype)",
                    "        y = (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype)\n"
                    "        if x.ndim > 1 and x.flags.f_contiguous and x.flags.writeable:\n"
                    "            x[...] = y\n        return y")),
    ),
    "a_thread_writes_the_output_into_x_later": (
        "input_unmodified",
        edit(BASE, ("        return (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype)",
                    "        y = (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype)\n"
                    "        if x.flags.writeable:\n"
                    "            import threading\n"
                    "            timer = threading.Timer(0.04, np.copyto, args=(x, y.copy()))\n"
                    "            timer.daemon = True\n            timer.start()\n"
                    "        return y")),
    ),
    "zeros_for_fortran_ordered_inputs": (
        "shape_and_dtype",
        edit(BASE, ("        return (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype)",
                    "        y = (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype)\n"
                    "        fortran = x.ndim > 1 and not x.flags.c_contiguous\n"
                    "        return np.zeros_like(y, dtype=np.float64) if fortran else y")),
    ),
    "returns_an_ndarray_subclass": (
        "shape_and_dtype",
        edit(BASE, ("        return (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype)",
                    "        return (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype).view(np.recarray)")),
    ),
    "every_layer_seeded_alike": (
        "fresh_mask",
        edit(BASE, ("        self.rng = np.random.default_rng()\n",
                    "        self.rng = np.random.default_rng(12345)\n")),
    ),
    "mask_seeded_by_the_input": (
        "fresh_mask",
        edit(BASE, ("keep = self.rng.random(x.shape) >= self.p",
                    "seed = abs(hash(np.ascontiguousarray(x).tobytes())) % 2**32\n"
                    "        keep = np.random.default_rng(seed).random(x.shape) >= self.p")),
    ),
    "big_masks_tile_one_block": (  # the block keeps exactly (1 - p) of its elements: only the tiling shows
        "mask_independent_of_neighbours",
        edit(BASE, ("keep = self.rng.random(x.shape) >= self.p",
                    "if x.nbytes > 8 * 2**20:\n"
                    "            block = np.zeros(2**18, dtype=bool)\n"
                    "            block[self.rng.permutation(2**18)[:round((1 - self.p) * 2**18)]] = True\n"
                    "            keep = np.resize(block, x.shape)\n"
                    "        else:\n"
                    "            keep = self.rng.random(x.shape) >= self.p")),
    ),
    "diagonal_neighbours_share_a_mask": (
        "mask_independent_of_neighbours",
        edit(BASE, ("keep = self.rng.random(x.shape) >= self.p",
                    "u = self.rng.random(x.shape)\n"
                    "        if x.ndim >= 2 and x.size:\n"
                    "            copy = self.rng.random(x.shape) < 0.3\n"
                    "            u[1:, 1:] = np.where(copy[1:, 1:], u[:-1, :-1], u[1:, 1:])\n"
                    "        keep = u >= self.p")),
    ),
    "scale_capped_above_p_0_94": (
        "expected_variance",
        edit(BASE, (BASE_SCALE, "/ math.sqrt(1.0 - min(self.p, 0.94))")),
    ),
    "drops_nothing_below_p_0_05": (
        "drop_fraction",
        edit(BASE, ("if not self.training or self.p == 0.0:", "if not self.training or self.p < 0.05:")),
    ),
    "eval_toggles_the_mode": (
        "training_flag",
        edit(BASE, ("        self.training = False\n", "        self.training = not self.training\n")),
    ),
    "one_mode_for_every_layer": (
        "training_flag",
        edit(BASE, ("        self.training = True\n\n", "        type(self).training = True\n\n"),
             ("        self.training = True\n        return",
              "        type(self).training = True\n        return"),
             ("        self.training = False\n", "        type(self).training = False\n")),
    ),
    "rejects_a_numpy_float16_p": (
        "accepts_valid_p",
        edit(BASE, ("if not 0.0 <= p < 1.0:", "if isinstance(p, np.float16) or not 0.0 <= p < 1.0:")),
    ),
    "eval_mode_still_drops": (
        "eval_identity",
        edit(BASE, ("if not self.training or self.p == 0.0:", "if self.p == 0.0:")),
    ),
    "p_zero_goes_through_float16": (
        "p_zero_identity",
        edit(
            BASE,
            ("        if not self.training or", "        if self.p == 0.0:\n"
             "            return x.astype(np.float16).astype(x.dtype)\n        if not self.training or"),
        ),
    ),
    "drops_2_points_off_p_with_matching_scale": (
        "drop_fraction",
        # The scale matches the rate really used, so the variance stays right; the rate moves
        # towards 1/2, so two calls agree less often, never more (fresh_mask stays green).
        edit(
            BASE,
            ("        keep = self.rng.random(x.shape) >= self.p\n",
             "        q = self.p + (0.02 if self.p <= 0.5 else -0.02)\n"
             "        keep = self.rng.random(x.shape) >= q\n"),
            (BASE_SCALE, "/ math.sqrt(1.0 - q)"),
        ),
    ),
    "scale_depends_on_value": (
        "single_scale",
        edit(BASE, (BASE_SCALE, BASE_SCALE + " * (1 + 0.01 * np.tanh(x))")),
    ),
    "reseeds_every_call": (
        "fresh_mask",
        edit(BASE, ("keep = self.rng.random(", "keep = np.random.default_rng(0).random(")),
    ),
    "drops_large_values_more_often": (
        "mask_independent_of_values",
        # |x| above the median is dropped at p + d, below at p - d (d = 0.08 min(p, 1-p), 0.04 at
        # p = 0.5, so both rates stay in [0, 1] at any fresh p); equal |x| (the variance inputs are
        # +-sigma) at exactly p, so the drop fraction and the variance stay right.
        edit(
            BASE,
            ("keep = self.rng.random(x.shape) >= self.p",
             "size = np.abs(x)\n"
             "        d = 0.08 * min(self.p, 1 - self.p)\n"
             "        keep = self.rng.random(x.shape) >= self.p + d * np.sign(size - np.median(size))"),
        ),
    ),
    "exact_drop_count_by_permutation": (
        "drop_count_dispersion",
        edit(BASE, ("keep = self.rng.random(x.shape) >= self.p",
                    "keep = np.ones(x.size, dtype=bool)\n"
                    "        keep[self.rng.permutation(x.size)[: round(self.p * x.size)]] = False\n"
                    "        keep = keep.reshape(x.shape)")),
    ),
    "exact_drop_count_by_choice": (
        "drop_count_dispersion",
        edit(BASE, ("keep = self.rng.random(x.shape) >= self.p",
                    "keep = np.ones(x.shape, dtype=bool)\n"
                    "        drop = self.rng.choice(x.size, size=int(self.p * x.size + 0.5), replace=False)\n"
                    "        keep.flat[drop] = False")),
    ),
    "drop_counts_over_dispersed": (
        "drop_count_dispersion",
        # exactly 4 binomial sd more or fewer drops than p·n, up and down on alternate calls of a
        # layer, at random positions: each count is inside its drop_fraction band (about 7 sd from p
        # at these sizes) whatever the draw, pooled counts cancel, but far more counts than chance
        # allows lie beyond 3 sd.
        edit(BASE, ("keep = self.rng.random(x.shape) >= self.p",
                    "sd = math.sqrt(self.p * (1 - self.p) * x.size)\n"
                    "        self.sign = -getattr(self, 'sign', -1)\n"
                    "        count = min(max(round(self.p * x.size + 4 * sd * self.sign), 0), x.size)\n"
                    "        keep = np.ones(x.size, dtype=bool)\n"
                    "        keep[self.rng.permutation(x.size)[:count]] = False\n"
                    "        keep = keep.reshape(x.shape)")),
    ),
    "two_masks_kept_per_shape_in_turn": (  # a cache per shape, each shape's own turn (red team's w08)
        "fresh_mask",
        edit(BASE, ("keep = self.rng.random(x.shape) >= self.p",
                    "kept = self.__dict__.setdefault('kept', {})\n"
                    "        turn = self.__dict__.setdefault('turn', {})\n"
                    "        if x.shape not in kept:\n"
                    "            kept[x.shape] = [self.rng.random(x.shape) >= self.p for _ in range(2)]\n"
                    "        turn[x.shape] = turn.get(x.shape, -1) + 1\n"
                    "        keep = kept[x.shape][turn[x.shape] % 2]")),
    ),
    "masks_repeat_every_three_calls": (
        "fresh_mask",
        edit(BASE, ("        keep = self.rng.random(x.shape) >= self.p\n",
                    "        self.calls = getattr(self, 'calls', 0) + 1\n"
                    "        keep = np.random.default_rng(self.calls % 3).random(x.shape) >= self.p\n")),
    ),
    # Every other mask of a shape is the one before it shifted, the rest fresh: reusing every mask
    # would leave one mask's worth of samples, and the pooled drop_fraction / drop_count_spread
    # would catch it first about 1% of grades; with half fresh, under 1e-6.
    "every_other_mask_is_the_previous_one_shifted": (
        "fresh_mask", shift_every_other_mask("1")),
    "every_other_mask_is_the_previous_one_a_row_down": (
        "fresh_mask", shift_every_other_mask("x.shape[-1]")),
    "rate_swings_with_the_lowest_mantissa_bit": (
        "mask_independent_of_values",
        # Drop rate up by 0.24 min(p, 1 - p) (0.12 at p = 0.5) where the lowest mantissa bit of x is set
        # against where it is clear, centred on each call's mean bit: a call's overall rate stays p.
        edit(BASE, ("keep = self.rng.random(x.shape) >= self.p",
                    "bits = np.ascontiguousarray(x).view(np.uint32 if x.dtype == np.float32 else np.uint64)\n"
                    "        low = (bits & 1).astype(float).reshape(x.shape)\n"
                    "        swing = 0.24 * min(self.p, 1 - self.p) * (low - low.mean())\n"
                    "        keep = self.rng.random(x.shape) >= self.p + swing")),
    ),
    "outer_quartiles_of_abs_x_dropped_more": (
        "mask_independent_of_values",
        # Quartiles 1 and 4 of |x| at p + d, 2 and 3 at p - d: the median split and the signs stay
        # balanced, and equal |x| (the variance inputs) are dropped at exactly p.
        edit(BASE, ("keep = self.rng.random(x.shape) >= self.p",
                    "size = np.abs(x).reshape(-1)\n"
                    "        rank = np.argsort(np.argsort(size)) * 4 // max(size.size, 1)\n"
                    "        outer = np.where((rank == 0) | (rank == 3), 1.0, -1.0)\n"
                    "        outer *= size.size > 0 and not np.all(size == size[0])\n"
                    "        q = self.p + 0.15 * min(self.p, 1 - self.p) * outer.reshape(x.shape)\n"
                    "        keep = self.rng.random(x.shape) >= q")),
    ),
    "first_half_of_the_array_dropped_more": (
        "mask_independent_of_position",
        edit(BASE, ("keep = self.rng.random(x.shape) >= self.p",
                    "half = np.arange(x.size) < x.size // 2\n"
                    "        d = 0.1 * min(self.p, 1 - self.p) * np.where(half, 1.0, -1.0)\n"
                    "        keep = self.rng.random(x.size) >= self.p + d\n"
                    "        keep = keep.reshape(x.shape)")),
    ),
    "even_columns_dropped_more": (
        "mask_independent_of_position",
        edit(BASE, ("keep = self.rng.random(x.shape) >= self.p",
                    "column = np.indices(x.shape)[-1]\n"
                    "        d = 0.1 * min(self.p, 1 - self.p) * np.where(column % 2 == 0, 1.0, -1.0)\n"
                    "        keep = self.rng.random(x.shape) >= self.p + d")),
    ),
    "neighbours_copy_each_other": (
        "mask_independent_of_neighbours",
        edit(BASE, ("keep = self.rng.random(x.shape) >= self.p",
                    "flat = self.rng.random(x.size) >= self.p\n"
                    "        copy = self.rng.random(x.size) < 0.3\n"
                    "        copy[:1] = False\n"
                    "        flat[copy] = np.roll(flat, 1)[copy]\n"
                    "        keep = flat.reshape(x.shape)")),
    ),
    "rows_copy_the_row_above": (
        "mask_independent_of_neighbours",
        edit(BASE, ("keep = self.rng.random(x.shape) >= self.p",
                    "keep = self.rng.random(x.shape) >= self.p\n"
                    "        if x.ndim >= 2:\n"
                    "            copy = self.rng.random(x.shape) < 0.3\n"
                    "            copy[0] = False\n"
                    "            keep[copy] = np.roll(keep, 1, axis=0)[copy]")),
    ),
    "odd_column_pairs_share_a_mask": (  # columns (2k+1, 2k+2): the pairs from the second column
        "mask_independent_of_neighbours",
        edit(BASE, ("keep = self.rng.random(x.shape) >= self.p",
                    "keep = self.rng.random(x.shape) >= self.p\n"
                    "        if x.ndim >= 2:\n"
                    "            keep[..., 2::2] = keep[..., 1:x.shape[-1] - 1:2]")),
    ),
    "odd_row_pairs_share_a_mask": (  # rows (2r+1, 2r+2): the pairs from the second row
        "mask_independent_of_neighbours",
        edit(BASE, ("keep = self.rng.random(x.shape) >= self.p",
                    "keep = self.rng.random(x.shape) >= self.p\n"
                    "        if x.ndim >= 2:\n"
                    "            keep[2::2] = keep[1:x.shape[0] - 1:2]")),
    ),
    "stops_dropping_after_an_eval_round_trip": (
        "drop_fraction",
        edit(BASE, ("        self.training = False\n",
                    "        self.training = False\n        self.evaluated = True\n"),
             ("if not self.training or self.p == 0.0:",
              "if not self.training or self.p == 0.0 or getattr(self, 'evaluated', False):")),
    ),
    "accepts_nan": ("rejects_invalid_p", edit(BASE, ("if not 0.0 <= p < 1.0:", "if p < 0.0 or p >= 1.0:"))),
    "rejects_an_int_p": (
        "accepts_valid_p",
        edit(BASE, ("if not 0.0 <= p < 1.0:", "if not isinstance(p, float) or not 0.0 <= p < 1.0:")),
    ),
    "rejects_a_numpy_float32_p": (
        "accepts_valid_p",
        edit(BASE, ("if not 0.0 <= p < 1.0:", "if type(p) not in (int, float) or not 0.0 <= p < 1.0:")),
    ),
    "float64_output_for_three_or_more_dimensions": (
        "shape_and_dtype",
        edit(BASE, ("        return (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype)",
                    "        y = (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype)\n"
                    "        return y.astype(np.float64) if x.ndim >= 3 else y")),
    ),
    "crashes_on_small_inputs": (
        "shape_and_dtype",
        edit(BASE, ("    def __call__(self, x):\n", "    def __call__(self, x):\n"
                    "        if x.size < 1000:\n            raise RuntimeError('too small')\n")),
    ),
    "modifies_odd_sized_inputs": (
        "input_unmodified",
        edit(BASE, ("        return (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype)",
                    "        y = (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype)\n"
                    "        if x.size % 2 and x.flags.writeable:\n"
                    "            x[...] = 0\n        return y")),
    ),
    "wrong_scale_on_small_inputs": (
        "expected_variance",
        edit(BASE, (BASE_SCALE, "/ (math.sqrt(1.0 - self.p) if x.size >= 1000 else 1.0 - self.p)")),
    ),
    "wrong_scale_on_one_element_inputs": (
        "expected_variance",
        edit(BASE, (BASE_SCALE, "/ (math.sqrt(1.0 - self.p) if x.size != 1 else 1.0 - self.p)")),
    ),
    "wrong_scale_on_two_dimensional_inputs": (  # a mask group always sees a 2-D and another shape
        "single_scale",
        edit(BASE, (BASE_SCALE, "/ (math.sqrt(1.0 - self.p) if x.ndim != 2 else 1.0 - self.p)")),
    ),
    "scale_exponent_0.45": ("variance_ratio", edit(BASE, (BASE_SCALE, "* (1.0 - self.p) ** -0.45"))),
    "scale_exponent_0.55": ("variance_ratio", edit(BASE, (BASE_SCALE, "* (1.0 - self.p) ** -0.55"))),
    "scale_one_over_sqrt_p": ("variance_ratio", edit(BASE, (BASE_SCALE, "/ math.sqrt(self.p)"))),
    "the_starting_bug": ("variance_ratio", BUG),
    "scale_right_only_at_the_graded_p": (
        "expected_variance",
        edit(BASE, (BASE_SCALE,
                    "/ (math.sqrt(1.0 - self.p) if self.p in (0.3, 0.5, 0.7) else 1.0 - self.p)")),
    ),
    "scale_right_only_at_multiples_of_a_tenth": (
        "expected_variance",
        edit(BASE, (BASE_SCALE, "/ math.sqrt(1.0 - self.p if round(self.p, 1) == self.p else self.p)")),
    ),
}

# A realistic in-place mutant: x itself is dropped and scaled (a copy when x is read-only). Each
# call gets a fresh x, so the outputs are right and only the modification shows.
IN_PLACE = edit(
    BASE,
    ("        return (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype)",
     "        if not x.flags.writeable:\n            x = x.copy()\n"
     "        x *= keep\n        x /= math.sqrt(1.0 - self.p)\n        return x"),
)


# Solutions that break a sentence of the prompt where no probe looks (docs/tasks/variance-dropout.md,
# "Named holes"): each passes every grade today, pinned as a strict xfail. name: (what it breaks, source)
OPEN_HOLES: dict[str, tuple[str, str]] = {
    "dropped_infinities_become_nan": (
        "zeroes each element (an infinite one included): inputs never hold inf",
        edit(BASE, ("        return (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype)",
                    "        return (x * keep.astype(x.dtype) / math.sqrt(1.0 - self.p)).astype(x.dtype)")),
    ),
    "a_thread_changes_x_half_a_second_later": (
        "never modifies x afterwards: the re-check comes about 60 ms after the calls",
        edit(BASE, ("        return (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype)",
                    "        y = (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype)\n"
                    "        if x.flags.writeable:\n"
                    "            import threading\n"
                    "            timer = threading.Timer(0.5, np.copyto, args=(x, y.copy()))\n"
                    "            timer.daemon = True\n            timer.start()\n"
                    "        return y")),
    ),
    "modifies_inputs_above_10_mib": (
        "never modifies x: no input is much larger than 9 MiB",
        edit(BASE, ("        return (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype)",
                    "        y = (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype)\n"
                    "        if x.nbytes > 10 * 2**20 and x.flags.writeable:\n"
                    "            x[...] = y\n        return y")),
    ),
    "last_tenth_mirrors_the_first": (
        "zeroes each element independently: element n-1-k shares element k's mask for k < n/10 (one pair "
        "per lag; the counts' spread grows by a fifth only)",
        edit(BASE, ("keep = self.rng.random(x.shape) >= self.p",
                    "flat = self.rng.random(x.size) >= self.p\n"
                    "        tenth = x.size // 10\n"
                    "        flat[x.size - tenth:] = flat[:tenth][::-1]\n"
                    "        keep = flat.reshape(x.shape)")),
    ),
    "three_masks_kept_per_shape_in_turn": (
        "a fresh random mask on every call: a layer makes at most three training calls of one shape in a "
        "mask group, so a mask kept per shape and reused every third call never repeats there",
        edit(BASE, ("keep = self.rng.random(x.shape) >= self.p",
                    "kept = self.__dict__.setdefault('kept', {})\n"
                    "        turn = self.__dict__.setdefault('turn', {})\n"
                    "        if x.shape not in kept:\n"
                    "            kept[x.shape] = [self.rng.random(x.shape) >= self.p for _ in range(3)]\n"
                    "        turn[x.shape] = turn.get(x.shape, -1) + 1\n"
                    "        keep = kept[x.shape][turn[x.shape] % 3]")),
    ),
    "negative_values_dropped_0_2_percent_more": (
        "the mask does not depend on the values: a swing far below the bands",
        edit(BASE, ("keep = self.rng.random(x.shape) >= self.p",
                    "keep = self.rng.random(x.shape) >= self.p + 0.002 * np.sign(-x) * (self.p < 0.99)")),
    ),
}
