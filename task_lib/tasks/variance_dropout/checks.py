"""The parent side of variance-dropout's grade: the fresh inputs and call plan (`make_job`), and every
check (`run_checks`), computed in the grader's process, in float64 NumPy, from the raw outputs the child
handed back. Thresholds come from power.py (every statistical check's tail events share the grade's
false-fail budget by a union bound); nothing here trusts the child. `CLAUSES` names the sentence of the
prompt that announces each check."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from task_lib.grading.mask_statistics import value_features
from task_lib.grading.tail_bounds import deviation_threshold
from task_lib.grading.threads import map_in_threads
from task_lib.grading.verdict import Check

from . import design
from . import power as grader_power

# Constructions: (value, type given to the layer). Valid ones must construct, invalid ones raise
# ValueError; the fresh p joins the valid ones.
VALID_P = ((0, "int"), (0.5, "float"), (0.9, "float"), (0.25, "float32"), (0.75, "float64"))
INVALID_P = ((-0.1, "float"), (1.0, "float"), (1.5, "float"), (1, "int"), (math.nan, "float"),
             (math.inf, "float"), (1.0, "float32"))
TRAINING_FLAGS = [True, False, True, False, True]  # after construction, eval(), train(), eval(), train()
NUMERIC_KINDS = "biufc"  # any other output dtype (strings, dates, raw bytes) fails as a call error
SMALL_INPUTS = ("small32", "small64", "single")

STAGE_WORDS = {"construct": "constructing layers"}
# Each check names the sentence of the prompt that states what it checks (the sentences of the
# numbered requirements and of "How it is graded"; tests tie them both ways).
RUNS_CLAUSE = (f"Import and calls must finish within {design.GRADE_SECONDS} s and {design.GRADE_MEMORY_GIB} "
               "GiB: a syntax "
               "error, an exception at import, a crash, an exit or a timeout fails the attempt.")
INVALID_P_CLAUSE = "`VarianceStabilizedDropout(p)` raises `ValueError` unless `0 <= p < 1` (NaN included)."
VALID_P_CLAUSE = ("A Python float or int, or a NumPy float16, float32 or float64 scalar, is a valid type for "
                  "`p`.")
MASK_CLAUSE = ("In training mode it zeroes each element independently with probability `p`, with a fresh "
               "random mask on every call of every layer.")
INDEPENDENCE_CLAUSE = ("The mask does not depend on the values of `x`, on the positions of the elements "
                       "or on "
                       "earlier calls.")
VARIANCE_CLAUSE = "For zero-mean inputs the measured `Var(output) / Var(input)` lies within 1 ± t."
CLAUSES = {
    "test_file_unchanged": "It must stay exactly as it is: the grader fails the attempt if it has changed.",
    **{category: RUNS_CLAUSE for category in ("source_readable", "syntax_error", "import_error", "timeout",
                                              "crashed", "early_exit", "bad_output")},
    "rejects_invalid_p": INVALID_P_CLAUSE,
    "accepts_valid_p": VALID_P_CLAUSE,
    "training_flag": "`.training` is `True` after construction; `.eval()` sets it to `False` and `.train()` "
                     "sets it back to `True`, in any order, as often as called.",
    "shape_and_dtype": "Calling the layer on a NumPy float32 or float64 array `x` of any shape, size and "
                       "memory layout (C or Fortran order, strided, read-only) returns a `numpy.ndarray` "
                       "with exactly "
                       "`x`'s shape and dtype.",
    "input_unmodified": "It never modifies `x`, neither during the call nor afterwards.",
    "eval_identity": "In eval mode it returns values equal to `x`.",
    "p_zero_identity": "With `p = 0` it returns values equal to `x`.",
    "drop_fraction": MASK_CLAUSE,
    "drop_count_spread": MASK_CLAUSE,
    "fresh_mask": MASK_CLAUSE,
    "mask_independent_of_neighbours": MASK_CLAUSE,
    "mask_independent_of_values": INDEPENDENCE_CLAUSE,
    "mask_independent_of_position": INDEPENDENCE_CLAUSE,
    "single_scale": "It multiplies every surviving element by one constant factor `c`.",
    "variance_ratio": VARIANCE_CLAUSE,
    "expected_variance": f"So does `c² (1 - p)` up to `p = {max(design.P_VALUES):g}`; above it, within "
                         "(1 − t)^r "
                         f"and (1 + t)^r, r = ln(1 − p) / ln(1 − {max(design.P_VALUES):g}).",
}


def balanced_signs(rng: np.random.Generator, n: int) -> np.ndarray:
    """n signs, n // 2 of them -1, every such arrangement equally likely: fair coin flips (random
    bits), then a uniformly drawn set of the surplus sign's positions flipped (the result is
    exchangeable and balanced, hence uniform); several times faster than permuting a fixed arrangement."""
    negative = np.unpackbits(np.frombuffer(rng.bytes((n + 7) // 8), dtype=np.uint8), count=n).view(bool)
    surplus = int(np.count_nonzero(negative)) - n // 2
    if surplus:
        pool = np.flatnonzero(negative if surplus > 0 else ~negative)
        negative[rng.choice(pool, abs(surplus), replace=False)] = surplus < 0
    return negative.astype(np.float64) * -2.0 + 1.0


def _odd(rng: np.random.Generator, low_high: tuple[int, int], size: int | None = None) -> Any:
    """Odd integers drawn uniformly in [low, high] (both odd)."""
    low, high = low_high
    return low + 2 * rng.integers(0, (high - low) // 2 + 1, size=size)


def make_job(params: dict[str, float], rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict]:
    """The inputs and the call plan of one grade, shapes and one p drawn fresh from `rng`."""
    fresh_p = float(rng.uniform(*design.FRESH_P_RANGE))
    return make_inputs(rng), make_plan(fresh_p)


def make_inputs(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Fresh inputs of fresh shapes: exactly zero-mean random-sign values for the variance check (2-D,
    an odd number of rows), Gaussian values with balanced signs for the mask checks (2-D, both sides
    odd), small N-D arrays of both float dtypes with odd sides, and a 1-element array."""
    rows = int(_odd(rng, design.VARIANCE_ROWS))
    cols = 2 * math.ceil(design.N_VARIANCE / rows / 2)
    sigma = rng.uniform(0.5, 2.0)
    mask_shape = tuple(int(side) for side in _odd(rng, design.MASK_SIDES, 2))
    n_mask = mask_shape[0] * mask_shape[1]
    gaussian = np.abs(rng.standard_normal(n_mask)) + 1e-3
    return {
        "var_x": (sigma * balanced_signs(rng, rows * cols)).astype(np.float32).reshape(rows, cols),
        "mask_x": (gaussian * balanced_signs(rng, n_mask)).reshape(mask_shape),
        "small32": rng.standard_normal(tuple(_odd(rng, design.SMALL_SIDES, 3))).astype(np.float32),
        "small64": rng.standard_normal(tuple(_odd(rng, design.SMALL_SIDES, 4))),
        "single": rng.standard_normal(1),
    }


def _spec(value: float, kind: str) -> dict[str, Any]:
    return {"value": value, "type": kind}


def mask_p_values(plan: dict) -> list[float]:
    """The p of every mask layer: the variance p values, then the fresh one."""
    return [*design.P_VALUES, plan["fresh_p"]]


def make_plan(fresh_p: float) -> dict[str, Any]:
    """The constructions and calls the probe makes, in order; each call on its own or a shared layer."""
    calls = []
    for p in design.P_VALUES:
        calls.append({"name": f"var@{p}", "layer": f"var@{p}", "p": _spec(p, "float"), "mode": "train",
                      "input": "var_x"})
    for i, p in enumerate([*design.P_VALUES, fresh_p]):
        spec = _spec(p, "float" if i < len(design.P_VALUES) else "float64")
        calls += [{"name": f"mask{i}#{k}", "layer": f"mask{i}", "p": spec, "mode": mode,
                   "input": "mask_x" if mode == "train" else "small64"}  # eval: the round trip is what counts
                  for k, mode in enumerate(design.MASK_MODES)]
    for small in SMALL_INPUTS:
        calls += [
            {"name": f"train:{small}", "layer": "shape", "p": _spec(fresh_p, "float"), "mode": "train",
             "input": small},
            {"name": f"eval:{small}", "layer": "shape", "p": _spec(fresh_p, "float"), "mode": "eval",
             "input": small},
            {"name": f"zero:{small}", "layer": "zero", "p": _spec(0, "int"), "mode": "train", "input": small},
        ]
    calls += [{"name": f"small:{small}#{k}", "layer": "small", "p": _spec(design.SMALL_P, "float"),
               "mode": "train", "input": small} for k in range(design.SMALL_CALLS) for small in SMALL_INPUTS]
    calls.append({"name": "zero:mask_x", "layer": "zero", "p": _spec(0, "int"), "mode": "train",
                  "input": "mask_x"})
    constructions = [_spec(v, t) for v, t in (*VALID_P, (fresh_p, "float"), *INVALID_P)]
    return {"constructions": constructions, "calls": calls, "fresh_p": fresh_p}


def run_checks(params: dict[str, float], inputs: dict[str, np.ndarray], plan: dict, report: dict[str, Any],
               outputs: dict[str, np.ndarray]) -> list[Check]:
    """Every check of the contract, in the order of the prompt."""
    return ContractChecker(params["tolerance"], inputs, plan, report, outputs).all_checks()


def _median(values: np.ndarray) -> float:
    """np.median of a NaN-free 1-D array that may be reordered: partitions it in place, without
    np.median's copy and its import of numpy.ma."""
    half = values.size // 2
    if values.size % 2:
        values.partition(half)
        return float(values[half])
    values.partition([half - 1, half])
    return float((values[half - 1] + values[half]) / 2)


def _same_array(candidate: Any, reference: np.ndarray) -> bool:
    """True when `candidate` is an array of the reference's dtype and shape holding the same values."""
    return (isinstance(candidate, np.ndarray) and candidate.dtype == reference.dtype
            and candidate.shape == reference.shape and np.array_equal(candidate, reference, equal_nan=True))


def _one_line(text: str) -> str:
    """`text` on one line, at most 300 characters (the child's error messages may hold anything)."""
    return " ".join(text.split())[:300]


def _string_map(value: Any) -> dict[str, str]:
    """`value` if it maps strings to strings; ValueError otherwise (a malformed report)."""
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              for k, v in value.items()):
        raise ValueError("call_errors is not a mapping of strings")
    return value


@functools.lru_cache(maxsize=256)
def _band(n: int, p: float, alpha: float) -> float:
    """deviation_threshold, cached: many groups and calls share their size."""
    return deviation_threshold(n, p, alpha)


class ContractChecker:
    """Computes every check from the inputs we sent and the raw outputs we got back."""

    def __init__(self, tolerance: float, inputs: dict[str, np.ndarray], plan: dict,
                 report: dict[str, Any], outputs: dict[str, np.ndarray]):
        self.tolerance, self.inputs, self.plan = tolerance, inputs, plan
        self.outputs, self.report = outputs, report
        self.errors = _string_map(report.get("call_errors", {}))
        self.calls = {c["name"]: c for c in plan["calls"]}
        self.alpha = grader_power.event_budget()
        # Statistics of our own inputs, the same for every p: computed once.
        self.input_variance = np.var(inputs["var_x"].astype(np.float64))
        mask_x = inputs["mask_x"]
        self.value_groups, self.position_groups = value_features(mask_x), _position_groups(mask_x.shape)
        self.masks: dict[float, np.ndarray] = {}

    def output(self, name: str) -> np.ndarray | str:
        """The output of call `name`, or why there is none."""
        if name in self.errors:
            return f"raised {_one_line(self.errors[name])}"
        out = self.outputs.get(name)
        if not isinstance(out, np.ndarray):
            return "no output"
        return out if out.dtype.kind in NUMERIC_KINDS else f"returned an array of dtype {out.dtype}"

    def input_of(self, name: str) -> np.ndarray:
        return self.inputs[self.calls[name]["input"]]

    def first_problem(self, names: list[str], test) -> str | None:
        for name in names:
            out = self.output(name)
            if isinstance(out, str):
                return f"{name}: {out}"
            problem = test(self.input_of(name), out)
            if problem:
                return f"{name}: {problem}"
        return None

    # ---- the deterministic checks -------------------------------------------------------------

    def _constructions(self, name: str, valid: bool, threshold: str) -> Check:
        """The construction outcomes of the valid (or the invalid) p values: "ok" or ValueError."""
        outcomes = self.report.get("constructions")
        specs = self.plan["constructions"]
        if not isinstance(outcomes, list) or len(outcomes) != len(specs):
            outcomes = ["not run"] * len(specs)
        wrong = []
        for spec, outcome in zip(specs, outcomes, strict=True):
            value = spec["value"]
            if (0 <= value < 1) != valid:
                continue
            if outcome != ("ok" if valid else "ValueError"):
                shown = f"{spec['type']}({value!r})" if spec["type"] != "float" else repr(value)
                wrong.append(f"p={shown}: {_one_line(outcome) if isinstance(outcome, str) else 'malformed'}")
        return Check(name, not wrong, "as required" if not wrong else "; ".join(wrong), threshold)

    def rejects_invalid_p(self) -> Check:
        return self._constructions("rejects_invalid_p", False,
                                   "ValueError for each p outside [0, 1), NaN included")

    def accepts_valid_p(self) -> Check:
        return self._constructions("accepts_valid_p", True,
                                   "no error for each p inside [0, 1), whatever its type")

    def training_flag(self) -> Check:
        flags = self.report.get("training_flags", "not run")
        if not (isinstance(flags, list) and len(flags) <= len(TRAINING_FLAGS)
                and all(isinstance(f, bool | str) for f in flags)):
            flags = _one_line(flags if isinstance(flags, str) else "malformed")
        else:
            flags = [f if isinstance(f, bool) else _one_line(f) for f in flags]
        return Check("training_flag", flags == TRAINING_FLAGS, flags, TRAINING_FLAGS,
                     detail="after construction, .eval(), .train(), .eval(), .train()")

    def shape_and_dtype(self) -> Check:
        def test(x, y):
            if y.shape != x.shape or y.dtype != x.dtype:
                return f"got {y.dtype}{list(y.shape)} for {x.dtype}{list(x.shape)}"
            return None

        problem = self.first_problem(list(self.calls), test)
        return Check("shape_and_dtype", problem is None, problem or "kept", "same shape and dtype as x")

    def input_unmodified(self) -> Check:
        changed = [name for name in self.calls if "after:" + name in self.outputs
                   and not _same_array(self.outputs["after:" + name], self.input_of(name))]
        value = "unmodified" if not changed else f"modified by: {', '.join(changed[:5])}"
        return Check("input_unmodified", not changed, value, "unmodified")

    def _identity(self, check: str, names: list[str]) -> Check:
        def test(x, y):
            return None if y.shape == x.shape and np.array_equal(y, x) else "values differ from x"

        problem = self.first_problem(names, test)
        return Check(check, problem is None, problem or "equal to x", "equal to x")

    def eval_identity(self) -> Check:
        return self._identity("eval_identity", [n for n, c in self.calls.items() if c["mode"] == "eval"])

    def p_zero_identity(self) -> Check:
        return self._identity("p_zero_identity", [n for n in self.calls if n.startswith("zero:")])

    # ---- per p ---------------------------------------------------------------------------------

    def train_names(self, i: int) -> list[str]:
        return [f"mask{i}#{k}" for k, mode in enumerate(design.MASK_MODES) if mode == "train"]

    def per_p(self, i: int, p: float) -> list[Check]:
        # The variance call joins its p's checks; the small inputs' training calls join the fresh p's
        # and, repeated at SMALL_P, that p's.
        extra = [f"var@{p}"] if p in design.P_VALUES else [f"train:{small}" for small in SMALL_INPUTS]
        if p == design.SMALL_P and i < len(design.P_VALUES):
            extra += [f"small:{small}#{k}" for k in range(design.SMALL_CALLS) for small in SMALL_INPUTS]
        names = self.train_names(i) + extra
        outs = [self.output(name) for name in names]
        problem = next((f"{n}: {o}" for n, o in zip(names, outs, strict=True) if isinstance(o, str)), None)
        if problem is None:
            problem = next((f"{n}: output shape differs from x" for n, o in zip(names, outs, strict=True)
                            if o.shape != self.input_of(n).shape), None)
        checks = ["drop_fraction", "single_scale", "fresh_mask", "mask_independent_of_values",
                  "mask_independent_of_position", "mask_independent_of_neighbours", "variance_ratio",
                  "expected_variance"]
        if p not in design.P_VALUES:
            checks.remove("variance_ratio")
        if problem is not None:
            return [Check(name, False, problem, None, p=p) for name in checks]
        masks = np.stack([o == 0 for o in outs[: design.TRAIN_CALLS]]).reshape(design.TRAIN_CALLS, -1)
        self.masks[p] = masks
        var_out = outs[design.TRAIN_CALLS] if p in design.P_VALUES else None
        with np.errstate(all="ignore"):
            factors = self.survivor_factors(names, outs)
            found = [self.drop_fraction(p, masks, var_out), self.single_scale(p, factors),
                     self.fresh_mask(p, masks),
                     self.group_rates("mask_independent_of_values", p, masks, self.value_groups),
                     self.group_rates("mask_independent_of_position", p, masks, self.position_groups),
                     self.neighbours(p, masks)]
            if var_out is not None:
                found.append(self.variance_ratio(p, var_out))
            found.append(self.expected_variance(p, factors))
        return found

    def survivor_factors(self, names: list[str], outs: list[np.ndarray]) -> np.ndarray:
        """For each of these calls, (min, max, median) of y/x over its survivors, in float64; NaN
        where a call has none, inf where a ratio is not finite."""
        factors = np.full((len(names), 3), np.nan)
        for row, (name, y) in enumerate(zip(names, outs, strict=True)):
            keep = y != 0  # divided everywhere, then picked: picking x and y out would cost twice
            ratios = np.divide(y, self.input_of(name), dtype=np.float64)[keep]
            if ratios.size:
                finite = bool(np.isfinite(ratios).all())
                factors[row] = (ratios.min(), ratios.max(), _median(ratios)) if finite else np.inf
        return factors

    def _worst_rate(self, check: str, p: float, rates: list[tuple[str, float, int]]) -> Check:
        """Each (group, rate, size) must lie within its Chernoff band around p; reports the worst."""
        worst, worst_score, band = None, -1.0, [p, p]
        for group, rate, size in rates:
            if size == 0:
                continue
            delta = _band(size, p, self.alpha)
            score = abs(rate - p) / delta if math.isfinite(rate) else math.inf
            if score > worst_score:
                worst, worst_score, band = (group, rate), score, [p - delta, p + delta]
        if worst is None:
            return Check(check, False, "no elements to count", None, p=p)
        return Check(check, worst_score <= 1, worst[1], band, p=p, detail=f"worst group: {worst[0]}")

    def drop_fraction(self, p: float, masks: np.ndarray, var_out: np.ndarray | None) -> Check:
        per_call = masks.mean(axis=1)
        rates = [(f"training call {k + 1}", float(f), masks.shape[1]) for k, f in enumerate(per_call)]
        rates.append(("all training calls", float(per_call.mean()), masks.size))
        if var_out is not None:
            rates.append(("the variance call", float(np.mean(var_out == 0)), var_out.size))
        return self._worst_rate("drop_fraction", p, rates)

    def group_rates(self, check: str, p: float, masks: np.ndarray,
                    groups: dict[str, np.ndarray]) -> Check:
        """The drop rate, pooled over the training calls, of each group of positions."""
        per_position = masks.sum(axis=0)
        calls = masks.shape[0]
        rates = []
        for group, selection in groups.items():
            size = int(np.count_nonzero(selection)) * calls
            rates.append((group, float(per_position[selection].sum()) / size if size else math.nan, size))
        return self._worst_rate(check, p, rates)

    def neighbours(self, p: float, masks: np.ndarray) -> Check:
        """The second element of disjoint pairs (left/right, upper/lower), paired from the first and
        from the second column or row (so every two neighbours are a pair once), is dropped at rate p
        whether its partner was dropped or kept: for independent masks it is Bernoulli(p) given the
        partners."""
        rows, cols = self.inputs["mask_x"].shape
        grid = masks.reshape(-1, rows, cols)
        rates = []
        pairings = [(grid[:, :, k:cols - 1:2], grid[:, :, k + 1:cols:2], f"left (from column {k})")
                    for k in (0, 1)]
        pairings += [(grid[:, k:rows - 1:2, :], grid[:, k + 1:rows:2, :], f"upper (from row {k})")
                     for k in (0, 1)]
        for first, second, name in pairings:
            partners_dropped = int(np.count_nonzero(first))
            both = int(np.count_nonzero(first & second))
            partners_kept = first.size - partners_dropped
            after_kept = int(np.count_nonzero(second)) - both
            rates.append((f"{name} neighbour dropped",
                          both / partners_dropped if partners_dropped else math.nan, partners_dropped))
            rates.append((f"{name} neighbour kept", after_kept / partners_kept if partners_kept else math.nan,
                          partners_kept))
        return self._worst_rate("mask_independent_of_neighbours", p, rates)

    def single_scale(self, p: float, factors: np.ndarray) -> Check:
        limit = design.SCALE_SPREAD_LIMIT
        called = factors[~np.isnan(factors[:, 0])]
        if called.size == 0 or not np.all(np.isfinite(called)):
            return Check("single_scale", False, "no finite survivors", limit, p=p)
        centre = _median(called[:, 2].copy())
        spread = float((called[:, 1].max() - called[:, 0].min()) / abs(centre)) if centre else float("inf")
        return Check("single_scale", spread <= limit, spread, limit, p=p,
                     detail=f"survivors scaled by {centre:.6g}")

    def expected_variance(self, p: float, factors: np.ndarray) -> Check:
        """Each call's survivor factor c (the median of y/x) must give c^2 (1-p), the expected output
        variance relative to the input's for zero-mean inputs, within `expected_variance_bounds`: no
        sampling noise, so it holds at any p (the fresh one included)."""
        bounds = list(grader_power.expected_variance_bounds(p, self.tolerance))
        medians = factors[:, 2][np.isfinite(factors[:, 2])]
        if medians.size == 0:
            return Check("expected_variance", False, "no finite survivors", bounds, p=p)
        values = medians**2 * (1 - p)
        worst = int(np.argmax(np.abs(values - 1)))
        value = float(values[worst])
        return Check("expected_variance", bool(bounds[0] <= value <= bounds[1]), value, bounds, p=p,
                     detail=f"factor^2 * (1 - p), furthest from 1 for the factor {medians[worst]:.8g}")

    def fresh_mask(self, p: float, masks: np.ndarray) -> Check:
        n = masks.shape[1]
        agree_expected = p**2 + (1 - p) ** 2
        limit = agree_expected + deviation_threshold(n, agree_expected, self.alpha)
        dropped = masks.astype(np.float64)
        both = dropped @ dropped.T + (1 - dropped) @ (1 - dropped).T
        pairs = np.triu_indices(len(masks), 1)
        agreements = {f"calls {i + 1} and {j + 1}": both[i, j] / n for i, j in zip(*pairs, strict=True)}
        cols = self.inputs["mask_x"].shape[1]
        for shift in design.SHIFTS:
            steps = {"row": cols, "-row": -cols}.get(shift, shift)
            rolled = np.roll(masks[:-1], steps, axis=1)
            for k, agreement in enumerate(np.mean(masks[1:] == rolled, axis=1)):
                agreements[f"call {k + 2} and call {k + 1} shifted by {shift}"] = agreement
        worst = max(agreements, key=agreements.get)
        value = float(agreements[worst])
        return Check("fresh_mask", value <= limit, value, limit, p=p,
                     detail=f"fraction of positions dropped/kept alike, highest for {worst}")

    def variance_ratio(self, p: float, y: np.ndarray) -> Check:
        ratio = float(np.var(y.astype(np.float64)) / self.input_variance)
        bounds = [1 - self.tolerance, 1 + self.tolerance]
        ok = bool(bounds[0] <= ratio <= bounds[1])
        return Check("variance_ratio", ok, ratio, bounds, p=p, detail="Var(y)/Var(x), zero-mean x")

    # ---- across p ------------------------------------------------------------------------------

    def drop_count_spread(self) -> Check:
        """Fails when every training call's drop count lies within its window of p*n: a binomial
        count does that with probability `count_spread_false_fail` (exact, below the event budget)."""
        calls = [(masks.shape[1], p, int(count)) for p, masks in self.masks.items()
                 for count in masks.sum(axis=1)]
        if len(self.masks) < len(mask_p_values(self.plan)):
            return Check("drop_count_spread", False, "not every mask layer returned usable outputs", None)
        outside = sum(abs(k - p * n) > grader_power.count_window(n, p) for n, p, k in calls)
        bound = grader_power.count_spread_false_fail([(n, p) for n, p, _ in calls])
        return Check("drop_count_spread", outside >= 1, outside, 1,
                     detail=f"training calls whose count is more than {design.COUNT_WINDOW_SIGMAS} sd from "
                            f"p*n; a binomial count has none with probability {bound:.1e}")

    def all_checks(self) -> list[Check]:
        checks = [self.rejects_invalid_p(), self.accepts_valid_p(), self.training_flag(),
                  self.shape_and_dtype(),
                  self.input_unmodified(), self.eval_identity(), self.p_zero_identity()]
        per_p = map_in_threads(lambda at: self.per_p(*at), list(enumerate(mask_p_values(self.plan))))
        by_name: dict[str, list[Check]] = {}
        for found in per_p:
            for check in found:
                by_name.setdefault(check.name, []).append(check)
        for name, group in by_name.items():  # group by check, then by p
            checks += group
            if name == "drop_fraction":
                checks.append(self.drop_count_spread())
        return checks


def _position_groups(shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Flat selections of a (rows, cols) array by position."""
    rows, cols = shape
    index = np.arange(rows * cols)
    row, col = index // cols, index % cols
    return {"first half": index < index.size // 2, "second half": index >= index.size // 2,
            "even index": index % 2 == 0, "odd index": index % 2 == 1,
            "even row": row % 2 == 0, "odd row": row % 2 == 1,
            "even column": col % 2 == 0, "odd column": col % 2 == 1}
