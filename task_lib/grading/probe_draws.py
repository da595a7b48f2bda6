"""Drawing a grade's probes over the whole domain a NumPy task's contract allows, for any task: p values
of every accepted type in strata over their range (its ends included), shapes of every rank and size,
and input values no dropped element can hide among. The task's checks decide the plan; these draw
its pieces. Every draw is from the grade's own generator, so one seed gives one plan."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

NUMPY_P_TYPES = {"float16": np.float16, "float32": np.float32, "float64": np.float64}


def typed(value: float, kind: str) -> float | int:
    """`value` as the p type `kind` ("int", "float" or a NumPy float type) holds it, back as a Python
    number: the exact value the candidate receives (the plan sends it with its type)."""
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    return float(NUMPY_P_TYPES[kind](value))


def below_one(kind: str) -> float:
    """The largest value below 1 of the float type `kind`."""
    if kind == "float":
        return math.nextafter(1.0, 0.0)
    numpy_type = NUMPY_P_TYPES[kind]
    return float(np.nextafter(numpy_type(1), numpy_type(0)))


def draw_p(rng: np.random.Generator, low_high: tuple[float, float], kind: str) -> float:
    """A p of type `kind` in [low, high] (as that type rounds it, kept below 1). At an end of the range
    (a stratum below 0.5 with high / low > 10, or above 0.5 with (1 - low) / (1 - high) > 10), half the
    draws are log-uniform in p (or in 1 - p) and half uniform, so that both the extreme values and those
    near the stratum's inner bound come up; elsewhere uniform."""
    low, high = low_high
    log_end = rng.random() < 0.5
    if log_end and high <= 0.5 and high > 10 * low:
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    elif log_end and low >= 0.5 and (1 - low) > 10 * (1 - high):
        value = 1 - math.exp(rng.uniform(math.log1p(-high), math.log1p(-low)))
    else:
        value = float(rng.uniform(low, high))
    p = typed(value, kind)
    return p if p < 1 else below_one(kind)


def log_uniform_size(rng: np.random.Generator, low_high: tuple[int, int]) -> int:
    """An integer drawn log-uniformly in [low, high]."""
    low, high = low_high
    return min(high, max(low, int(math.exp(rng.uniform(math.log(low), math.log(high + 1))))))


def draw_shape(rng: np.random.Generator, size: int, rank: int) -> tuple[int, ...]:
    """A shape of `rank` dimensions holding about `size` elements (at least `size`, at least one per
    axis): each axis but the last drawn around the even split of what is left, the last filling up."""
    sides: list[int] = []
    for axes_left in range(rank, 1, -1):
        even_split = (size / math.prod(sides)) ** (1 / axes_left)
        sides.append(max(1, round(even_split * rng.uniform(0.5, 1.5))))
    return (*sides, max(1, math.ceil(size / math.prod(sides))))


def same_size_shapes(rng: np.random.Generator, size: int, ranks: tuple[int, ...],
                     most: float = math.inf) -> list[tuple[int, ...]]:
    """Shapes of each of `ranks` holding one number of elements (at least `size`, at most `most`): a
    shape of the largest rank drawn by `draw_shape`, the others merging runs of its adjacent axes at
    drawn cuts."""
    top = max(ranks)
    while math.prod(base := draw_shape(rng, size, top)) > most:
        pass
    shapes = []
    for rank in ranks:
        cuts = sorted(int(c) for c in rng.choice(np.arange(1, top), rank - 1, replace=False))
        bounds = [0, *cuts, top]
        shapes.append(tuple(math.prod(base[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)))
    return shapes


def random_signs(rng: np.random.Generator, n: int) -> np.ndarray:
    """n fair random signs (+1.0 / -1.0) from random bits."""
    bits = np.unpackbits(np.frombuffer(rng.bytes((n + 7) // 8), dtype=np.uint8), count=n)
    return 1.0 - 2.0 * bits


def nonzero_values(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Values of random sign and magnitude in [0.5, 1.5) (never 0, so a 0 out always means a drop), in
    C order; cheap enough for inputs of many MiB."""
    n = math.prod(shape)
    magnitudes = rng.random(n, dtype=np.float32 if dtype == "float32" else np.float64) + 0.5
    return (magnitudes * random_signs(rng, n).astype(magnitudes.dtype)).reshape(shape)


def gaussian_values(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Gaussian magnitudes pushed away from 0 (by 1e-3) of random sign, n // 2 of them negative, so
    that the value features (sign, magnitude, exponent, low mantissa bits) all vary."""
    n = math.prod(shape)
    negative = np.zeros(n, dtype=bool)
    negative[rng.choice(n, n // 2, replace=False)] = True
    values = (np.abs(rng.standard_normal(n)) + 1e-3) * np.where(negative, -1.0, 1.0)
    return values.astype(dtype).reshape(shape)


def interleave(rng: np.random.Generator, sequences: list[list]) -> list:
    """The items of every sequence in one list, each sequence's in its own order, the interleaving
    drawn uniformly."""
    owners = rng.permutation(np.repeat(np.arange(len(sequences)), [len(s) for s in sequences]))
    positions = [0] * len(sequences)
    merged = []
    for owner in owners:
        merged.append(sequences[owner][positions[owner]])
        positions[owner] += 1
    return merged


def seeded_values(seed: int, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """The input the grader's child draws from {"seed", "shape", "dtype"} (child_arrays.seeded_values,
    the same steps): uniform in [-1.5, -0.5] and [0.5, 1.5], never 0. Large inputs are drawn on both
    sides instead of being sent."""
    numpy_type = np.float32 if dtype == "float32" else np.float64
    values = np.random.default_rng(seed).random(math.prod(shape), dtype=numpy_type)
    values -= numpy_type(0.5)
    values *= numpy_type(2)
    values += np.copysign(numpy_type(0.5), values)
    return values.reshape(shape)


def with_seeded_inputs(inputs: dict[str, np.ndarray], plan: dict) -> dict[str, np.ndarray]:
    """`inputs` with the inputs the child draws from a seed (`plan["seeded"]`) added to it, each drawn
    here once."""
    for name, spec in plan.get("seeded", {}).items():
        if name not in inputs:
            inputs[name] = seeded_values(spec["seed"], tuple(spec["shape"]), spec["dtype"])
    return inputs


class InputDrawer:
    """The inputs of one grade's plan as a task draws them: `inputs` sent to the child, `seeded` ones
    the child draws itself; `choice` and `shaped` draw from the grade's generator."""

    def __init__(self, rng: np.random.Generator, ranks: tuple[int, ...]):
        self.rng, self.ranks = rng, ranks
        self.inputs: dict[str, np.ndarray] = {}
        self.seeded: dict[str, dict[str, Any]] = {}

    def choice(self, options: tuple | list) -> Any:
        return options[int(self.rng.integers(len(options)))]

    def add_input(self, name: str, values: np.ndarray) -> str:
        self.inputs[name] = values
        return name

    def reshaped(self, name: str, size: int, ranks: tuple[int, ...], dtype: str, gaussian: bool = False,
                 most: float = math.inf) -> list[str]:
        """Inputs holding the same fresh values (about `size`, at most `most` elements) in a shape of
        each of `ranks`: named `name`, then `name.1`, `name.2`, ..."""
        shapes = same_size_shapes(self.rng, size, ranks, most)
        values = (gaussian_values if gaussian else nonzero_values)(self.rng, shapes[0], dtype)
        return [self.add_input(name if k == 0 else f"{name}.{k}", values.reshape(shape).copy())
                for k, shape in enumerate(shapes)]

    def shaped(self, name: str, size: int, dtype: str, gaussian: bool = False, most: float = math.inf) -> str:
        """A fresh input of about `size` (at most `most`) elements, its rank drawn."""
        while math.prod(shape := draw_shape(self.rng, size, int(self.choice(self.ranks)))) > most:
            pass
        values = (gaussian_values if gaussian else nonzero_values)(self.rng, shape, dtype)
        return self.add_input(name, values)
