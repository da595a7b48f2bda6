"""The parent side of dropout-from-scratch's grade: the fresh inputs and the calls (`make_job`) and
every check (`run_checks`), computed in the grader's process from the raw outputs the child handed
back. Thresholds come from power.py; nothing here trusts the child beyond its arrays. `CLAUSES`
names the sentence of the prompt that announces each check."""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import combinations
from typing import Any

import numpy as np

from task_lib.grading.threads import map_in_threads
from task_lib.grading.verdict import Check

from . import design
from . import power as grader_power

NUMERIC_KINDS = "biuf"  # any other output dtype (complex, strings, dates, bytes) fails as a call error
SHAPE_SIDES = {"odd1d": 999, "small": 12, "large": 20_000}

STAGE_WORDS: dict[str, str] = {}
# Each check names the sentence of the prompt that states what it checks (the sentences of the
# numbered requirements and of "How it is graded"; tests tie them both ways).
RUNS_CLAUSE = (f"Import and calls must finish within {design.GRADE_SECONDS} s and {design.GRADE_MEMORY_GIB} "
               "GiB: a syntax "
               "error, an exception at import, a crash, an exit or a timeout fails the attempt.")
MASK_CLAUSE = ("In training mode with `0 < p < 1` it zeroes each element independently with probability `p`, "
               "with a fresh random mask on every call.")
INDEPENDENCE_CLAUSE = ("The mask does not depend on the values of `x`, on the positions of the elements "
                       "or on "
                       "earlier calls.")
CLAUSES = {
    "test_file_unchanged": "It must stay exactly as it is: the grader fails the attempt if it has changed.",
    **{category: RUNS_CLAUSE for category in ("source_readable", "syntax_error", "import_error", "timeout",
                                              "crashed", "early_exit", "bad_output")},
    "call_error": "`x` is a NumPy float32 or float64 array of any shape, size and memory layout (C or "
                  "Fortran "
                  "order, strided, read-only).",
    "shape_and_dtype": "The result is a `numpy.ndarray` with exactly `x`'s shape and dtype.",
    "input_unmodified": "`x` itself is never modified, neither during the call nor afterwards.",
    "rejects_invalid_p": "It raises `ValueError` unless `0 <= p <= 1` (so NaN raises too).",
    "accepts_valid_p": "A Python float or int, or a NumPy float16, float32 or float64 scalar, is a valid "
                       "type "
                       "for `p`.",
    "eval_identity": "With `training=False` it returns values equal to `x`, whatever `p` is.",
    "p_zero_identity": "With `p = 0` it returns values equal to `x`.",
    "p_one_zeros": "With `p = 1` in training mode it returns all zeros (no NaN, no inf).",
    "survivor_scale": "It multiplies every surviving element by exactly `1/(1-p)`, so that the expected "
                      "value of the output equals `x`: to a relative error of at most {rtol32:g} for "
                      "float32 and {rtol64:g} for float64.".format(rtol32=design.SCALE_RTOL["float32"],
                                                      rtol64=design.SCALE_RTOL["float64"]),
    "drop_fraction": MASK_CLAUSE,
    "fresh_masks": MASK_CLAUSE,
    "drop_count_spread": MASK_CLAUSE,
    "elements_independent": MASK_CLAUSE,
    "mask_independent_of_values": INDEPENDENCE_CLAUSE,
    "mask_independent_of_position": INDEPENDENCE_CLAUSE,
}
PER_P_CHECKS = ("drop_fraction", "fresh_masks", "drop_count_spread", "mask_independent_of_values",
                "mask_independent_of_position", "elements_independent")


def _nonzero_values(rng: np.random.Generator, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """Gaussian magnitudes pushed away from 0 (so a zero output always means a drop), random signs."""
    magnitude = np.abs(rng.standard_normal(shape)) + 0.01
    return (magnitude * rng.choice((-1.0, 1.0), size=shape)).astype(dtype)


def _balanced_values(rng: np.random.Generator, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """Values of balanced signs (n // 2 negative), magnitudes as `_nonzero_values`."""
    n = math.prod(shape)
    signs = np.ones(n)
    signs[: n // 2] = -1.0
    values = (np.abs(rng.standard_normal(n)) + 0.01) * rng.permutation(signs)
    return values.reshape(shape).astype(dtype)


def draw_fresh_p(rng: np.random.Generator) -> float:
    """The grade's fresh p: uniform on FRESH_P_RANGE, 3 decimals, never one of the fixed ones."""
    while (p := round(float(rng.uniform(*design.FRESH_P_RANGE)), 3)) in design.FIXED_P:
        pass
    return p


def draw_shapes(rng: np.random.Generator) -> dict[str, tuple[int, ...]]:
    """This grade's shapes: 1-D of odd length, 2-D, 3-D and 4-D small ones, and a large 2-D one."""
    def sides(count: int) -> tuple[int, ...]:
        return tuple(int(s) for s in rng.integers(1, SHAPE_SIDES["small"] + 1, count))

    return {"odd1d": (2 * int(rng.integers(0, SHAPE_SIDES["odd1d"] // 2 + 1)) + 1,),
            "matrix": (int(rng.integers(1, 9)), 2 * int(rng.integers(0, 50)) + 1),
            "cube": sides(3), "tensor4d": sides(4),
            "large": (int(rng.integers(50, 101)), 2 * int(rng.integers(50, 100)) + 1)}


def draw_stat_shape(rng: np.random.Generator, rank: int, parity: int | None = None) -> tuple[int, ...]:
    """A fresh shape of `rank` dimensions with a number of elements in STAT_SIZE_RANGE (of the given
    parity, if any): every axis but the last of at least 2 (so an N-D array has at least 2 rows), each
    drawn up to twice the even split of what is left, the last one filling up to the drawn size."""
    low, high = design.STAT_SIZE_RANGE
    while True:
        n = int(rng.integers(low, high + 1))
        sides: list[int] = []
        for axes_left in range(rank, 1, -1):
            even_split = (n / math.prod(sides)) ** (1 / axes_left)
            sides.append(int(rng.integers(2, max(2, round(2 * even_split)) + 1)))
        shape = (*sides, max(1, round(n / math.prod(sides))))
        size = math.prod(shape)
        if low <= size <= high and (parity is None or size % 2 == parity):
            return shape


def draw_stat_groups(rng: np.random.Generator, p_values: tuple[float, ...]) -> list[dict[str, Any]]:
    """This grade's statistical arrays: one per p and dtype, each rank of STAT_RANKS used equally often
    in a fresh order, the 1-D ones of alternating parity (one odd length, one even)."""
    count = len(p_values) * len(design.STAT_DTYPES)
    ranks = [int(r) for r in rng.permutation(np.resize(design.STAT_RANKS, count))]
    parities = iter(rng.permutation(np.resize((0, 1), ranks.count(1))).tolist())
    groups, shapes = [], set()
    for i, rank in enumerate(ranks):
        parity = next(parities) if rank == 1 else None
        while (shape := draw_stat_shape(rng, rank, parity)) in shapes:  # one shape per array
            pass
        shapes.add(shape)
        p, dtype = p_values[i // len(design.STAT_DTYPES)], design.STAT_DTYPES[i % len(design.STAT_DTYPES)]
        groups.append({"input": f"stat@{p:g}:{dtype}", "p": p, "dtype": dtype, "shape": shape})
    return groups


def _call(name: str, role: str, x: str, p: tuple[str, float], training: bool | None) -> dict[str, Any]:
    return {"name": name, "role": role, "input": x, "p": list(p), "training": training}


def make_job(params: dict[str, float], rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict]:
    """The inputs and the call plan of one grade."""
    fresh = draw_fresh_p(rng)
    inputs = {"arg_x": _nonzero_values(rng, (7, 11), np.float64)}
    calls = [_call(f"p={label}", "invalid", "arg_x", p, None) for label, p in design.INVALID_P.items()]
    calls += [_call(f"p={label}", "arg", "arg_x", p, None) for label, p in design.VALID_P.items()]
    for group in draw_stat_groups(rng, (*design.FIXED_P, fresh)):
        x = group["input"]
        inputs[x] = _balanced_values(rng, group["shape"], np.dtype(group["dtype"]).type)
        calls += [_call(f"{x}#{i}", "stat", x, ("float", group["p"]), True if i % 2 else None)
                  for i in range(design.N_CALLS)]
    for shape_name, shape in draw_shapes(rng).items():
        for bits, dtype in (("32", np.float32), ("64", np.float64)):
            x = f"{shape_name}{bits}"
            inputs[x] = _nonzero_values(rng, shape, dtype)
            calls += [_call(f"train@{fresh:g}:{x}", "train", x, ("float", fresh), None),
                      _call(f"train@0.5:{x}", "train", x, ("float", 0.5), True),
                      _call(f"eval@{fresh:g}:{x}", "eval", x, ("float", fresh), False),
                      _call(f"eval@1:{x}", "eval", x, ("float", 1.0), False),
                      _call(f"zero:{x}", "zero", x, ("float", 0.0), True),
                      _call(f"one:{x}", "one", x, ("float", 1.0), None)]
    order = rng.permutation(len(calls))  # no call's place in the sequence tells what it is for
    return inputs, {"fresh_p": fresh, "calls": [calls[i] for i in order]}


def run_checks(params: dict[str, float], inputs: dict[str, np.ndarray], plan: dict, report: dict[str, Any],
               outputs: dict[str, np.ndarray]) -> list[Check]:
    """Every check of the contract, in the order of the prompt."""
    with np.errstate(all="ignore"):
        return ContractChecker(inputs, plan, report, outputs).all_checks()


def _same_array(candidate: Any, reference: np.ndarray) -> bool:
    """True when `candidate` is an array of the reference's dtype and shape holding the same values."""
    return (isinstance(candidate, np.ndarray) and candidate.dtype == reference.dtype
            and candidate.shape == reference.shape and np.array_equal(candidate, reference))


def _worst(name: str, p: float, stats: dict[str, tuple[float, tuple[float, float]]], detail: str) -> Check:
    """One check over several two-sided statistics: passes when all are inside their intervals;
    shows the one farthest out (relative to its interval's half width)."""
    def excess(item: tuple[str, tuple[float, tuple[float, float]]]) -> float:
        value, (low, high) = item[1]
        return abs(value - (low + high) / 2) / ((high - low) / 2)

    which, (value, (low, high)) = max(stats.items(), key=excess)
    passed = all(low <= v <= high for v, (low, high) in stats.values())
    return Check(name, passed, value, [low, high], p=p, detail=f"{detail}; shown: {which}")


class StatGroup:
    """One group of calls: the array `x` the calls got at p, their masks (calls x n, True = dropped)
    and the acceptance intervals at x's shape."""

    def __init__(self, p: float, x: np.ndarray, masks: np.ndarray):
        self.p, self.x, self.masks = p, x, masks
        self.label = f"{x.dtype}{list(x.shape)}"
        self.bounds = grader_power.thresholds(p, x.shape)


def _drop_fraction(g: StatGroup) -> dict[str, tuple[float, tuple[float, float]]]:
    return {"drop fraction": (float(g.masks.mean()), g.bounds["drop_fraction"])}


def _fresh_masks(g: StatGroup) -> dict[str, tuple[float, tuple[float, float]]]:
    """Agreement of every two calls i < j, element k of i against element k + s of j."""
    drops, stats = g.masks, {}
    for s in sorted({abs(s) for s in design.SHIFTS}):
        first, second = drops[:, : drops.shape[1] - s], drops[:, s:]
        # alike[i, j]: fraction of k where call i at k and call j at k + s are both dropped or both kept
        alike = np.count_nonzero(first[:, None] == second[None], axis=2) / first.shape[1]
        for i, j in combinations(range(len(drops)), 2):
            for shift, value in ((s, alike[i, j]), (-s, alike[j, i])):
                if shift in design.SHIFTS:
                    stats[f"calls {i},{j} shift {shift}"] = (float(value), g.bounds[f"shift {shift}"])
    return stats


def _quartile_labels(x: np.ndarray) -> np.ndarray:
    """Each element's |x| quartile (0-3), by rank: four groups of n/4 elements (rounded)."""
    flat = np.abs(x.ravel())
    labels = np.empty(flat.size, dtype=np.int64)
    labels[np.argsort(flat, kind="stable")] = np.arange(flat.size) * 4 // flat.size
    return labels


def _values(g: StatGroup) -> dict[str, tuple[float, tuple[float, float]]]:
    labels, positive = _quartile_labels(g.x), g.x.ravel() > 0
    stats = {f"|x| quartile {q + 1}": (float(g.masks[:, labels == q].mean()), g.bounds["value_group"])
             for q in range(4)}
    stats["x > 0"] = (float(g.masks[:, positive].mean()), g.bounds["sign_group"])
    stats["x < 0"] = (float(g.masks[:, ~positive].mean()), g.bounds["sign_group"])
    return stats


def _position(g: StatGroup) -> dict[str, tuple[float, tuple[float, float]]]:
    blocks = np.array_split(g.masks, grader_power.POSITION_BLOCKS, axis=1)
    return {f"quarter {i + 1}": (float(block.mean()), g.bounds["position_block"])
            for i, block in enumerate(blocks)}


def _alike_pairs(masks: np.ndarray, run: int, offset: int) -> float | None:
    """Fraction alike (both dropped or both kept) over the disjoint pairs of runs (2j + offset,
    2j + offset + 1), a run being `run` consecutive elements, compared element by element, pooled
    over the calls; None when there is no such pair."""
    calls, n = masks.shape
    pairs = (n // run - offset) // 2
    if pairs < 1:
        return None
    grid = masks[:, offset * run: (offset + 2 * pairs) * run].reshape(calls, pairs, 2, run)
    return float(np.mean(grid[:, :, 0] == grid[:, :, 1]))


def _elements(g: StatGroup) -> dict[str, tuple[float, tuple[float, float]]]:
    """Neighbouring elements, and neighbouring rows, paired from the first and from the second one
    (so that every two neighbours are compared in one of the pairings)."""
    pairings = {"neighbours (2k, 2k+1)": ("neighbours", 1, 0),
                "neighbours (2k+1, 2k+2)": ("neighbours, odd", 1, 1)}
    if g.x.ndim > 1:
        cols = g.x.shape[-1]
        pairings |= {"rows (2r, 2r+1)": ("rows", cols, 0), "rows (2r+1, 2r+2)": ("rows, odd", cols, 1)}
    stats = {}
    for label, (bound, run, offset) in pairings.items():
        alike = _alike_pairs(g.masks, run, offset)
        if alike is not None:
            stats[label] = (alike, g.bounds[bound])
    return stats


TWO_SIDED = {
    "drop_fraction": (_drop_fraction, "fraction of zeroed elements over the calls on one array"),
    "fresh_masks": (_fresh_masks, "fraction of positions dropped/kept alike in two calls"),
    "mask_independent_of_values": (_values, "drop fraction by value group"),
    "mask_independent_of_position": (_position, "drop fraction by quarter of the array"),
    "elements_independent": (_elements, "fraction of pairs dropped/kept alike"),
}


def drop_count_spread(p: float, groups: list[StatGroup]) -> Check:
    """Passes when, in every group, the calls' drop counts are not all equal and some call's is more
    than COUNT_SLACK away from p n, and some call of all the groups is more than POOLED_COUNT_SLACK
    away. Shows the first of these that fails, else the pooled spread."""
    detail = "largest |drop count - p*n| over the calls on {}"
    spreads = []
    for g in groups:
        counts = g.masks.sum(axis=1)
        spread = float(np.max(np.abs(counts - p * g.masks.shape[1])))
        if np.all(counts == counts[0]):
            return Check("drop_count_spread", False, f"every call drops {int(counts[0])}", "counts that vary",
                         p=p, detail=f"drop counts of the calls on {g.label}")
        if spread <= design.COUNT_SLACK:
            return Check("drop_count_spread", False, spread, f"> {design.COUNT_SLACK}", p=p,
                         detail=detail.format(g.label))
        spreads.append(spread)
    return Check("drop_count_spread", max(spreads) > design.POOLED_COUNT_SLACK, max(spreads),
                 f"> {design.POOLED_COUNT_SLACK}", p=p, detail=detail.format("both arrays"))


class ContractChecker:
    """Computes every check from the inputs we sent and the raw outputs we got back."""

    def __init__(self, inputs: dict[str, np.ndarray], plan: dict, report: dict[str, Any],
                 outputs: dict[str, np.ndarray]):
        self.inputs, self.plan, self.outputs = inputs, plan, outputs
        errors = report.get("call_errors", {})
        self.errors: dict[str, str] = errors if isinstance(errors, dict) else {}
        rejections = report.get("rejections", {})
        self.rejections: dict[str, str] = rejections if isinstance(rejections, dict) else {}
        self.calls = plan["calls"]
        self.p_values = (*design.FIXED_P, plan["fresh_p"])

    def output(self, name: str) -> np.ndarray | str:
        """The output of call `name`, or why there is none."""
        if name in self.errors:
            error = self.errors[name]
            return error if error.startswith("returned") else f"raised {error}"
        out = self.outputs.get(name)
        if not isinstance(out, np.ndarray):
            return "no output"
        return out if out.dtype.kind in NUMERIC_KINDS else f"returned an array of dtype {out.dtype}"

    def of_role(self, *roles: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["role"] in roles]

    def first_problem(self, calls: list[dict[str, Any]], test: Callable[[dict, np.ndarray, np.ndarray],
                                                                        str | None]) -> str | None:
        for call in calls:
            out = self.output(call["name"])
            if isinstance(out, str):
                return f"{call['name']}: {out}"
            x = self.inputs[call["input"]]
            problem = "shape differs from x" if out.shape != x.shape else test(call, x, out)
            if problem:
                return f"{call['name']}: {problem}"
        return None

    # ---- deterministic checks ----

    def call_error(self) -> Check:
        # The calls at each type of p are accepts_valid_p's.
        names = [c["name"] for c in self.calls if c["role"] not in ("invalid", "arg")]
        problems = [f"{n}: {self.output(n)}" for n in names if isinstance(self.output(n), str)]
        value = "every call returned an array" if not problems else problems[0]
        detail = f"{len(problems)} of {len(names)} calls failed" if problems else f"{len(names)} calls"
        return Check("call_error", not problems, value, "a NumPy array of numbers from every valid call",
                     detail=detail)

    def _p_outcomes(self, name: str, role: str, want: str, threshold: str) -> Check:
        wrong = {}
        for call in self.of_role(role):
            got = self.rejections.get(call["name"])
            if got != want:
                raised = call["name"] in self.errors and got != "returned"
                wrong[call["name"]] = f"raised {self.errors[call['name']]}" if raised else got or "not run"
        value = "as required" if not wrong else "; ".join(f"{n}: {v}" for n, v in wrong.items())
        return Check(name, not wrong, value, threshold)

    def rejects_invalid_p(self) -> Check:
        return self._p_outcomes("rejects_invalid_p", "invalid", "ValueError",
                                f"ValueError for p in {list(design.INVALID_P)}")

    def accepts_valid_p(self) -> Check:
        return self._p_outcomes("accepts_valid_p", "arg", "returned",
                                f"no error for p in {list(design.VALID_P)}")

    def shape_and_dtype(self) -> Check:
        def test(call, x, y):
            if y.dtype == x.dtype:
                return None
            return f"got {y.dtype}{list(y.shape)} for {x.dtype}{list(x.shape)}"

        problem = self.first_problem([c for c in self.calls if c["role"] != "invalid"], test)
        return Check("shape_and_dtype", problem is None, problem or "kept", "same shape and dtype as x")

    def input_unmodified(self) -> Check:
        changed = [c["name"] for c in self.calls
                   if not _same_array(self.outputs.get("post:" + c["name"]), self.inputs[c["input"]])]
        value = "unmodified" if not changed else f"modified in {len(changed)} calls, e.g. {changed[0]}"
        return Check("input_unmodified", not changed, value, "unmodified")

    def _values_check(self, name: str, calls: list[dict[str, Any]], want: str) -> Check:
        def test(call, x, y):
            expected = np.zeros_like(x) if want == "zeros" else x
            return None if np.array_equal(y, expected) else f"values differ from {want}"

        problem = self.first_problem(calls, test)
        return Check(name, problem is None, problem or f"equal to {want}", f"equal to {want}")

    def eval_identity(self) -> Check:
        return self._values_check("eval_identity", self.of_role("eval"), "x")

    def p_zero_identity(self) -> Check:
        calls = self.of_role("zero") + [c for c in self.of_role("arg") if c["p"][1] == 0]
        return self._values_check("p_zero_identity", calls, "x")

    def p_one_zeros(self) -> Check:
        calls = self.of_role("one") + [c for c in self.of_role("arg") if c["p"][1] == 1]
        return self._values_check("p_one_zeros", calls, "zeros")

    def survivor_scale(self) -> Check:
        calls = self.of_role("stat", "train") + [c for c in self.of_role("arg") if 0 < c["p"][1] < 1]
        worst = (-1.0, "", 0.0)
        for call in calls:
            out = self.output(call["name"])
            x = self.inputs[call["input"]]
            if isinstance(out, str) or out.shape != x.shape:
                why = out if isinstance(out, str) else "shape differs from x"
                return Check("survivor_scale", False, f"{call['name']}: {why}", "0 or x/(1-p)")
            y, rtol = out.astype(np.float64), design.SCALE_RTOL[x.dtype.name]
            error = np.abs(y / x.astype(np.float64) * (1.0 - call["p"][1]) - 1.0)
            error = np.where(y == 0, 0.0, np.where(np.isnan(error), np.inf, error))
            largest = float(error.max()) / rtol
            if largest > worst[0]:
                worst = (largest, call["name"], rtol)
        excess, name, rtol = worst
        return Check("survivor_scale", excess <= 1.0, excess * rtol, rtol,
                     detail=f"largest |y/x*(1-p) - 1| over nonzero outputs, at {name}")

    # ---- statistical checks: each array (group of calls) on its own, one check per p ----

    def per_p(self, p: float) -> list[Check]:
        """The statistical checks at p over its groups (one array per dtype): a check passes when it
        holds in every group, and shows the statistic farthest out."""
        by_input: dict[str, list[dict[str, Any]]] = {}
        for call in self.of_role("stat"):
            if call["p"][1] == p:
                by_input.setdefault(call["input"], []).append(call)
        groups = []
        for name, calls in by_input.items():
            x = self.inputs[name]
            outs = [self.output(c["name"]) for c in calls]
            problem = next((f"{c['name']}: {o}" for c, o in zip(calls, outs, strict=True)
                            if isinstance(o, str)), None)
            if problem is None and any(o.shape != x.shape for o in outs):
                problem = f"{name}: output shape differs from x"
            if problem is not None:
                return [Check(check, False, problem, None, p=p) for check in PER_P_CHECKS]
            groups.append(StatGroup(p, x, np.stack([(o == 0).ravel() for o in outs])))
        checks = {check: _worst(check, p, {f"{g.label}: {k}": v for g in groups for k, v in stat(g).items()},
                                detail) for check, (stat, detail) in TWO_SIDED.items()}
        checks["drop_count_spread"] = drop_count_spread(p, groups)
        return [checks[check] for check in PER_P_CHECKS]

    def all_checks(self) -> list[Check]:
        checks = [self.call_error(), self.rejects_invalid_p(), self.accepts_valid_p(), self.shape_and_dtype(),
                  self.input_unmodified(), self.eval_identity(), self.p_zero_identity(), self.p_one_zeros(),
                  self.survivor_scale()]
        per_p = map_in_threads(self.per_p, list(self.p_values))
        for i in range(len(PER_P_CHECKS)):  # group by check, then by p
            checks += [at_p[i] for at_p in per_p]
        return checks
