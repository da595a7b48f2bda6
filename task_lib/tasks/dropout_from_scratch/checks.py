"""The parent side of dropout-from-scratch's grade: the fresh probes (`make_job`, drawn over everything
the contract allows: see docs/tasks/dropout-from-scratch.md for the plan) and every check
(`run_checks`), computed in the grader's process, in float64 NumPy, from the raw outputs the child
handed back. Thresholds come from power.py (every statistical check's tail events share the grade's
false-fail budget by a union bound); nothing here trusts the child. `CLAUSES` names the sentence of the
prompt that announces each check."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from task_lib.grading import mask_groups as grouped
from task_lib.grading import mask_statistics as stats
from task_lib.grading import probe_draws as draws
from task_lib.grading.mask_groups import group_p
from task_lib.grading.threads import threading_result
from task_lib.grading.verdict import Check

from . import design
from . import power as grader_power

NUMERIC_KINDS = "biuf"  # any other output dtype (complex, strings, dates, bytes) fails as a call error
MID_P = (design.LOW_P[1], design.HIGH_P[0])
STRATA = (design.LOW_P, MID_P, design.HIGH_P)
ZERO_TYPES = ("int", *design.P_TYPES)
ONE_TYPES = ("int", *design.P_TYPES)
# Training calls at 0 < p < 1 whose masks the statistics read (the empty ones have none).
MASK_ROLES = ("big", "mask", "train", "tiny", "low", "sweep")
VALIDITY_ROLES = ("valid", "invalid")

STAGE_WORDS = {"re-check": "re-checking the inputs"}
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
    "drop_count_dispersion": MASK_CLAUSE,
    "fresh_mask": MASK_CLAUSE,
    "mask_independent_of_neighbours": MASK_CLAUSE,
    "mask_independent_of_values": INDEPENDENCE_CLAUSE,
    "mask_independent_of_position": INDEPENDENCE_CLAUSE,
}
STATISTICAL_CHECKS = ("drop_fraction", "drop_count_dispersion", "fresh_mask",
                      "mask_independent_of_neighbours", "mask_independent_of_values",
                      "mask_independent_of_position")
MASK_FAMILIES = {"fresh_mask": "fresh", "mask_independent_of_neighbours": "neighbours",
                 "mask_independent_of_position": "position", "mask_independent_of_values": "values"}
MASK_DETAILS = {
    "fresh": "agreement of two calls' masks at every shift, in units of its band (at most 1)",
    "neighbours": "agreement of elements at every distance within a mask, in units of its band (at most 1)",
    "position": "per-position drop counts and drop rates by position, in units of their bands (at most 1)",
    "values": "drop rates by sign, |x| quartile, exponent parity and low mantissa bits, in units of their "
              "bands (at most 1)",
}


def _spec(value: float, kind: str) -> dict[str, Any]:
    return {"value": value, "type": kind}


def _p_text(spec: dict[str, Any]) -> str:
    if spec["type"] in ("float", "int"):
        return repr(spec["value"])
    return f"np.{spec['type']}({spec['value']!r})"


class PlanDrawer(draws.InputDrawer):
    """Draws one grade's inputs and calls; `job()` returns them."""

    def __init__(self, rng: np.random.Generator):
        super().__init__(rng, design.RANKS)

    def call(self, name: str, role: str, p: dict[str, Any], training: bool, x: str, layout: str | None = None,
             style: str | None = None, **extra: Any) -> dict[str, Any]:
        """A call on a fresh copy of input `x` in `layout`, `training` left out (when True), passed by
        keyword or by position: `style`; each drawn if None."""
        style = style or self.choice(design.TRAINING_STYLES if training else design.TRAINING_STYLES[1:])
        return {"name": name, "role": role, "p": p, "training": training, "style": style, "input": x,
                "layout": layout or self.choice(design.LAYOUTS), **extra}

    def spread(self, options: tuple) -> list:
        """MASK_CALLS of `options`, each as often as the others (to one), in a drawn order."""
        order = self.rng.permutation(np.resize(np.arange(len(options)), design.MASK_CALLS))
        return [options[int(i)] for i in order]

    def kind_p(self, stratum: tuple[float, float], kind: str | None = None) -> dict[str, Any]:
        kind = kind or self.choice(design.P_TYPES)
        return _spec(draws.draw_p(self.rng, stratum, kind), kind)

    # ---- the probes ----

    def big_call(self) -> dict[str, Any]:
        """The call on the input of more than 8 MiB, which the child draws itself from a seed (as
        `probe_draws.with_seeded_inputs` does here) rather than receive it."""
        dtype = self.choice(design.DTYPES)
        itemsize = np.dtype(dtype).itemsize
        rank = int(self.choice(design.RANKS))
        while True:  # a shape holds at least the drawn size: redrawn until within BIG_BYTES
            size = math.ceil(int(self.rng.integers(*design.BIG_BYTES, endpoint=True)) / itemsize)
            shape = draws.draw_shape(self.rng, size, rank)
            if math.prod(shape) * itemsize <= design.BIG_BYTES[1]:
                break
        self.seeded["big"] = {"seed": int(self.rng.integers(2**62)), "shape": list(shape), "dtype": dtype}
        kind = self.choice(("float", "float32", "float64"))
        keep = float(self.rng.uniform(*design.BIG_KEEP))
        return self.call("big", "big", _spec(draws.typed(1 - keep, kind), kind), True, "big")

    def mask_groups(self) -> list[list[dict[str, Any]]]:
        """One group per MASK_P stratum (one per dtype): MASK_CALLS calls on one input at one p, every
        layout and way of passing `training` among them equally often, in a drawn order."""
        groups = []
        ranks = self.rng.permutation(design.RANKS).reshape(len(design.MASK_P), design.MASK_SHAPES)
        per_shape = design.MASK_CALLS // design.MASK_SHAPES
        for group, (stratum, dtype) in enumerate(zip(design.MASK_P, self.rng.permutation(design.DTYPES),
                                                     strict=True)):
            xs = self.reshaped(f"mask{group}", int(self.rng.integers(*design.MASK_SIZE, endpoint=True)),
                               tuple(int(r) for r in ranks[group]), str(dtype), gaussian=True,
                               most=design.MASK_SIZE[1])
            p = self.kind_p(stratum)
            layouts, styles = self.spread(design.LAYOUTS), self.spread(design.TRAINING_STYLES)
            groups.append([self.call(f"mask{group}#{k}", "mask", p, True, xs[k // per_shape], layouts[k],
                                     styles[k], group=group, index=k) for k in range(design.MASK_CALLS)])
        return groups

    def shape_calls(self) -> list[dict[str, Any]]:
        calls: list[dict[str, Any]] = []

        def one(role: str, p: dict[str, Any], training: bool, dtype: str, size: int,
                layout: str | None = None, most: float = math.inf) -> None:
            k = len(calls)
            x = self.shaped(f"{role}{k}", size, dtype, most=most)
            calls.append(self.call(f"{role}{k}", role, p, training, x, layout))

        small = lambda: draws.log_uniform_size(self.rng, design.SMALL_SIZE)  # noqa: E731
        turn = int(self.rng.integers(len(STRATA)))  # which dtype x p type gets which stratum
        for i, dtype in enumerate(design.DTYPES):  # every dtype x p type, every dtype x layout
            for j, kind in enumerate(design.P_TYPES):
                one("train", self.kind_p(STRATA[(i + j + turn) % len(STRATA)], kind), True, dtype, small(),
                    design.LAYOUTS[(i + j) % len(design.LAYOUTS)])
        first = int(self.rng.integers(2))
        for j, kind in enumerate(ZERO_TYPES):  # every type of zero
            one("zero", _spec(0, kind), True, design.DTYPES[(first + j) % 2], small())
        evals = [_spec(0, self.choice(ZERO_TYPES)), _spec(1, self.choice(ONE_TYPES))]
        evals += [self.kind_p(STRATA[j % 3]) for j in range(design.EVAL_CALLS - len(evals))]
        for j, p in enumerate(evals):
            one("eval", p, False, design.DTYPES[(first + j) % 2], small())
        for j, kind in enumerate(ONE_TYPES):  # every type of one
            one("one", _spec(1, kind), True, design.DTYPES[(first + j + 1) % 2], small())
        for j in range(design.TINY_CALLS):
            size = int(self.rng.integers(design.TINY_SIZE[0], design.TINY_SIZE[1], endpoint=True))
            one("tiny", self.kind_p(design.TINY_P), True, design.DTYPES[(first + j) % 2], size,
                most=design.TINY_SIZE[1])
        low = self.kind_p(design.LOW_P)
        one("low", low, True, self.choice(design.DTYPES), math.ceil(design.LOW_DROPS / low["value"]))
        offset = int(self.rng.integers(len(design.P_TYPES)))
        for j, stratum in enumerate(sweep_slices()):
            half = j % (design.SWEEP_CALLS // 2)  # every dtype x p type in each half
            p = self.kind_p(stratum, design.P_TYPES[(half // 2 + offset) % len(design.P_TYPES)])
            size = max(int(self.rng.integers(*design.SWEEP_SIZE, endpoint=True)),
                       math.ceil(design.SWEEP_SURVIVORS / (1 - p["value"])))
            one("sweep", p, True, design.DTYPES[(first + half) % 2], size)
        for dtype, shape in zip(design.DTYPES, design.EMPTY_SHAPES, strict=True):
            k = len(calls)
            x = self.add_input(f"empty{k}", np.zeros(shape, dtype=dtype))
            calls.append(self.call(f"empty{k}", "empty", self.kind_p(MID_P), True, x))
        return calls

    def validity_probes(self) -> list[dict[str, Any]]:
        """A training call at each p of `draw_validity_p`, on a small input of either dtype: valid
        ones must return, invalid ones raise ValueError."""
        for dtype in design.DTYPES:
            size = int(self.rng.integers(*design.VALIDITY_SIZE, endpoint=True))
            self.shaped(f"arg_{dtype}", size, dtype)
        calls = []
        for k, spec in enumerate(draw_validity_p(self.rng)):
            role = "valid" if 0 <= spec["value"] <= 1 else "invalid"
            calls.append(self.call(f"p{k}", role, spec, True, f"arg_{self.choice(design.DTYPES)}"))
        return calls

    def job(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        big = self.big_call()  # first: the oldest input at the re-check
        sequences = [[c] for c in self.shape_calls() + self.validity_probes()] + self.mask_groups()
        plan = {"calls": [big, *draws.interleave(self.rng, sequences)], "recheck_age": design.RECHECK_AGE,
                "seeded": self.seeded}
        return self.inputs, plan


def sweep_slices() -> list[tuple[float, float]]:
    """The sweep's slices of p: half of equal width in p from SWEEP_P[0] to SWEEP_P[1], half of equal
    width in log(1 - p) from there to SWEEP_P[2]."""
    low, middle, high = design.SWEEP_P
    half = design.SWEEP_CALLS // 2
    slices = [(low + (middle - low) * k / half, low + (middle - low) * (k + 1) / half) for k in range(half)]
    a, b = math.log1p(-middle), math.log1p(-high)
    ends = [middle] + [1 - math.exp(a + (b - a) * k / half) for k in range(1, half)] + [high]
    return slices + list(zip(ends[:-1], ends[1:], strict=True))


def draw_validity_p(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Valid p of every type (0, -0.0, 1, the least above 0, the largest below 1, and one drawn in each
    stratum) and invalid ones (NaN, ±inf, the largest below 0, a small negative, the least above 1, one
    in (1, 10)), and the ints 0 and 1 (valid), -1 and 2 (invalid), in a fresh order."""
    specs = [_spec(0, "int"), _spec(1, "int"), _spec(-1, "int"), _spec(2, "int")]
    for kind in design.P_TYPES:
        tiny = _least_above_zero(kind)
        specs += [_spec(draws.typed(0.0, kind), kind), _spec(draws.typed(-0.0, kind), kind),
                  _spec(draws.typed(1.0, kind), kind), _spec(tiny, kind), _spec(draws.below_one(kind), kind),
                  *(_spec(draws.draw_p(rng, stratum, kind), kind) for stratum in STRATA),
                  _spec(math.nan, kind), _spec(math.inf, kind), _spec(-math.inf, kind), _spec(-tiny, kind),
                  _spec(-draws.draw_p(rng, design.LOW_P, kind), kind), _spec(_least_above_one(kind), kind),
                  _spec(draws.typed(float(rng.uniform(1.0, 10.0)), kind), kind)]
    return [specs[i] for i in rng.permutation(len(specs))]


def _least_above_zero(kind: str) -> float:
    if kind == "float":
        return math.nextafter(0.0, 1.0)
    numpy_type = draws.NUMPY_P_TYPES[kind]
    return float(np.nextafter(numpy_type(0), numpy_type(1)))


def _least_above_one(kind: str) -> float:
    if kind == "float":
        return math.nextafter(1.0, 2.0)
    numpy_type = draws.NUMPY_P_TYPES[kind]
    return float(np.nextafter(numpy_type(1), numpy_type(2)))


def make_job(params: dict[str, float], rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict]:
    """The inputs and the call plan of one grade, every probe drawn fresh from `rng`."""
    return PlanDrawer(rng).job()


def prepare(params: dict[str, float], inputs: dict[str, np.ndarray], plan: dict) -> None:
    """What the checks need of the inputs and plan alone, computed while the child runs: the inputs
    the child draws from a seed (added to `inputs`), the value groups of the mask inputs, every band
    the checks will look up, the FFT sizes' set-up."""
    draws.with_seeded_inputs(inputs, plan)
    alpha, mask_alpha = grader_power.event_budget(), grader_power.mask_event_budget()
    for call in plan["calls"]:
        n = inputs[call["input"]].size
        if call["role"] in MASK_ROLES and n:
            stats.band_sides(n, call["p"]["value"], alpha)
            stats.window_masses(n, call["p"]["value"])
    for group in range(len(design.MASK_P)):  # each group's pooled drop fraction
        size = inputs[f"mask{group}"].size * design.MASK_CALLS
        stats.band_sides(size, group_p(plan["calls"], group), alpha)
    grouped.prepare_groups(inputs, plan["calls"], len(design.MASK_P), mask_alpha)


def mode_probability(n: int, p: float) -> float:
    """max_k P(Bin(n, p) = k) (at k = floor((n + 1) p)), from log-gamma, with a relative margin for
    rounding."""
    k = min(n, math.floor((n + 1) * p))
    log = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * math.log(p) \
        + (n - k) * math.log1p(-p)
    return min(1.0, math.exp(log) * (1 + 1e-9))


def poisson_binomial_limit(probabilities: list[float], alpha: float) -> int:
    """Smallest k with P(S >= k) <= alpha for S a sum of independent Bernoulli(probabilities) terms,
    from the exact distribution (a convolution, term by term); len + 1 when no k will do."""
    distribution = np.array([1.0])
    for q in probabilities:
        distribution = np.append(distribution * (1 - q), 0.0) + np.insert(distribution * q, 0, 0.0)
    tails = np.cumsum(distribution[::-1])[::-1] * (1 + 1e-9)  # P(S >= k), with a margin for rounding
    below = np.flatnonzero(tails <= alpha)
    return int(below[0]) if below.size else len(probabilities) + 1


def repeated_counts(counts: list[int], n: int, p: float, alpha: float) -> tuple[int, int]:
    """(repeats, limit): how many of a group's drop counts (calls on n elements at p, in order) equal an
    earlier one, and the number at which that fails. Given the earlier counts, call i's count equals
    one of them with probability at most i m, m = `mode_probability`; so the repeats are dominated by
    independent Bernoulli(min(1, i m)) terms, whose exact tail gives the limit (one tail event per
    group). A function drawing one count per shape, or a few in turn, repeats nearly every time."""
    repeats = sum(count in counts[:i] for i, count in enumerate(counts))
    mode = mode_probability(n, p)
    return repeats, poisson_binomial_limit([min(1.0, i * mode) for i in range(1, len(counts))], alpha)


def run_checks(params: dict[str, float], inputs: dict[str, np.ndarray], plan: dict, report: dict[str, Any],
               outputs: dict[str, np.ndarray]) -> list[Check]:
    """Every check of the contract, in the order of the prompt (the exact ones first)."""
    with np.errstate(all="ignore"):
        return ContractChecker(draws.with_seeded_inputs(inputs, plan), plan, report, outputs).all_checks()


def _same_array(candidate: Any, reference: np.ndarray) -> bool:
    """True when `candidate` is an array of the reference's dtype and shape holding the same values."""
    return (isinstance(candidate, np.ndarray) and candidate.dtype == reference.dtype
            and candidate.shape == reference.shape and np.array_equal(candidate, reference, equal_nan=True))


def _one_line(text: str) -> str:
    """`text` on one line, at most 300 characters (the child's error messages may hold anything)."""
    return " ".join(text.split())[:300]


def _string_map(value: Any, what: str) -> dict[str, str]:
    """`value` if it maps strings to strings; ValueError otherwise (a malformed report)."""
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              for k, v in value.items()):
        raise ValueError(f"{what} is not a mapping of strings")
    return value


class ContractChecker:
    """Computes every check from the inputs we sent and the raw outputs we got back."""

    def __init__(self, inputs: dict[str, np.ndarray], plan: dict, report: dict[str, Any],
                 outputs: dict[str, np.ndarray]):
        self.inputs, self.plan, self.outputs = inputs, plan, outputs
        self.errors = _string_map(report.get("call_errors", {}), "call_errors")
        self.outcomes = _string_map(report.get("outcomes", {}), "outcomes")
        self.types = _string_map(report.get("result_types", {}), "result_types")
        self.calls = plan["calls"]
        self.alpha, self.mask_alpha = grader_power.event_budget(), grader_power.mask_event_budget()
        self.kept: dict[str, np.ndarray] = {}  # the flat indices of a call's survivors, where looked up

    def x(self, call: dict[str, Any]) -> np.ndarray:
        return self.inputs[call["input"]]

    def raw_output(self, call: dict[str, Any]) -> np.ndarray | str:
        """The output of `call`, or why there is none (its shape not yet compared)."""
        name = call["name"]
        if name in self.errors:
            error = _one_line(self.errors[name])
            return error if error.startswith("TypeError: returned") else f"raised {error}"
        out = self.outputs.get(name)
        if not isinstance(out, np.ndarray):
            return "no output"
        return out if out.dtype.kind in NUMERIC_KINDS else f"returned an array of dtype {out.dtype}"

    def output(self, call: dict[str, Any]) -> np.ndarray | str:
        """The output of `call`, or why there is none (a wrong shape included)."""
        out = self.raw_output(call)
        if isinstance(out, str) or out.shape == self.x(call).shape:
            return out
        return f"returned shape {list(out.shape)}"

    def of_role(self, *roles: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["role"] in roles]

    def returned(self, call: dict[str, Any]) -> bool:
        return self.outcomes.get(call["name"]) == "returned"

    def valid_at(self, test) -> list[dict[str, Any]]:
        """The validity probes at a valid p satisfying test(p) that returned (one that raised is
        accepts_valid_p's failure)."""
        return [c for c in self.of_role("valid") if test(c["p"]["value"]) and self.returned(c)]

    def where(self, call: dict[str, Any]) -> str:
        x = self.x(call)
        training = "training" if call["training"] else "training=False"
        return (f"{call['name']} ({x.dtype}{list(x.shape)}, {call['layout']}, p={_p_text(call['p'])}, "
                f"{training})")

    def first_problem(self, calls: list[dict[str, Any]], test) -> str | None:
        for call in calls:
            out = self.output(call)
            problem = out if isinstance(out, str) else test(self.x(call), out)
            if problem:
                return f"{self.where(call)}: {problem}"
        return None

    # ---- the exact checks -----------------------------------------------------------------------

    def call_error(self) -> Check:
        calls = [c for c in self.calls if c["role"] not in VALIDITY_ROLES]
        problems = [f"{self.where(c)}: {out}" for c in calls if isinstance(out := self.raw_output(c), str)]
        value = "every call returned an array" if not problems else problems[0]
        detail = f"{len(problems)} of {len(calls)} calls failed" if problems else f"{len(calls)} calls"
        return Check("call_error", not problems, value,
                     "a NumPy array of numbers from every call at a valid p", detail=detail)

    def shape_and_dtype(self) -> Check:
        def test(x, y):
            return None if y.dtype == x.dtype else f"got dtype {y.dtype}"

        calls = [c for c in self.calls if c["role"] not in VALIDITY_ROLES] + self.valid_at(lambda p: True)
        problem = next((f"{self.where(c)}: returned {self.types[c['name']]}, not numpy.ndarray" for c in calls
                        if c["name"] in self.types), None)
        problem = problem or self.first_problem(calls, test)
        return Check("shape_and_dtype", problem is None, problem or "kept",
                     "exactly a numpy.ndarray of x's shape and dtype from every call")

    def input_unmodified(self) -> Check:
        changed = []
        for call in self.calls:
            if call["name"] not in self.outcomes and call["name"] not in self.errors:
                changed.append(f"{call['name']} (not run)")
            for prefix, when in (("after:", "during its call"), ("late:", "after its call returned")):
                left = self.outputs.get(prefix + call["name"])
                if left is not None and not _same_array(left, self.x(call)):
                    changed.append(f"{self.where(call)} ({when})")
        value = "unmodified" if not changed else f"modified: {'; '.join(changed[:3])}"
        return Check("input_unmodified", not changed, value, "unmodified",
                     detail="every input compared after its call, and again after the last call")

    def _validity(self, name: str, role: str, want: str, threshold: str) -> Check:
        """The outcomes of the validity probes of `role`: each must be `want` (a result or ValueError)."""
        wrong = []
        for call in self.of_role(role):
            got = self.outcomes.get(call["name"])
            if got != want:
                error = self.errors.get(call["name"])
                why = f"raised {_one_line(error)}" if error and got != "returned" else got or "not run"
                wrong.append(f"p={_p_text(call['p'])}: {why}")
        return Check(name, not wrong, "as required" if not wrong else "; ".join(wrong[:4]), threshold,
                     detail=f"{len(self.of_role(role))} values of p, each a training call")

    def rejects_invalid_p(self) -> Check:
        return self._validity("rejects_invalid_p", "invalid", "ValueError",
                              "ValueError for each p outside [0, 1], NaN included, whatever its type")

    def accepts_valid_p(self) -> Check:
        return self._validity("accepts_valid_p", "valid", "returned",
                              "a result for each p in [0, 1] of every valid type")

    def _values(self, name: str, calls: list[dict[str, Any]], want: str) -> Check:
        def test(x, y):
            good = np.array_equal(y, x) if want == "x" else not np.any(y)
            return None if good else f"values differ from {want}"

        problem = self.first_problem(calls, test)
        return Check(name, problem is None, problem or f"equal to {want}", f"equal to {want}",
                     detail=f"{len(calls)} calls")

    def eval_identity(self) -> Check:
        return self._values("eval_identity", [c for c in self.calls if not c["training"]], "x")

    def p_zero_identity(self) -> Check:
        return self._values("p_zero_identity", self.of_role("zero") + self.valid_at(lambda p: p == 0), "x")

    def p_one_zeros(self) -> Check:
        return self._values("p_one_zeros", self.of_role("one") + self.valid_at(lambda p: p == 1), "zeros")

    def survivors(self, call: dict[str, Any], y: np.ndarray) -> np.ndarray:
        """Where the flat output `y` of `call` is nonzero (flat indices, kept for the big call)."""
        if call["role"] != "big":
            return y != 0
        if call["name"] not in self.kept:
            self.kept[call["name"]] = np.flatnonzero(y != 0)
        return self.kept[call["name"]]

    def survivor_scale(self) -> Check:
        """Every nonzero element of every training result at 0 < p < 1 is x / (1 - p), p the exact value
        passed, to the dtype's relative tolerance (the least and the largest y/x of a call are the
        furthest off)."""
        calls = self.of_role(*MASK_ROLES, "empty") + self.valid_at(lambda p: 0 < p < 1)
        worst = (-1.0, None, design.SCALE_RTOL["float64"])
        for call in calls:
            out = self.output(call)
            if isinstance(out, str):
                return Check("survivor_scale", False, f"{self.where(call)}: {out}", "0 or x/(1-p)")
            y = out.reshape(-1)
            at = self.survivors(call, y)
            survivors = y[at].astype(np.float64)
            if not survivors.size:
                continue
            ratio = survivors / self.x(call).reshape(-1)[at]
            low, high = float(ratio.min()), float(ratio.max())
            keep = 1.0 - call["p"]["value"]
            error = max(abs(low * keep - 1.0), abs(high * keep - 1.0))
            rtol = design.SCALE_RTOL[self.x(call).dtype.name]
            largest = error / rtol if math.isfinite(error) else math.inf
            if largest > worst[0]:
                worst = (largest, call, rtol)
        excess, call, rtol = worst
        where = self.where(call) if call is not None else "no call with survivors"
        return Check("survivor_scale", excess <= 1.0, max(excess, 0.0) * rtol, rtol,
                     detail=f"largest |y/x*(1-p) - 1| over the nonzero outputs, at {where}")

    # ---- the masks --------------------------------------------------------------------------------

    def training_outputs(self) -> tuple[list[dict[str, Any]], list[np.ndarray]] | str:
        """The training calls at 0 < p < 1 and their masks, or the first call without a usable output."""
        calls = self.of_role(*MASK_ROLES)
        masks = []
        for call in calls:
            out = self.output(call)
            if isinstance(out, str):
                return f"{self.where(call)}: {out}"
            masks.append((out == 0).reshape(-1))
        return calls, masks

    def drop_fraction(self, calls: list[dict[str, Any]], masks: list[np.ndarray]) -> Check:
        """Every training call's drop rate, and each mask group's pooled, within its Chernoff band of p."""
        worst = (-1.0, "", 0.0, [0.0, 0.0], 0.0)
        pooled: dict[int, list[int]] = {}
        rated = []
        for call, mask in zip(calls, masks, strict=True):
            dropped = int(np.count_nonzero(mask))
            rated.append((call, call["p"]["value"], mask.size, dropped))
            if call["role"] == "mask":
                pooled.setdefault(call["group"], [0, 0, 0])
                pooled[call["group"]][0] += mask.size
                pooled[call["group"]][1] += dropped
                pooled[call["group"]][2] += 1
        for group, (n, dropped, count) in pooled.items():
            rated.append((f"mask group {group}, all {count} calls", group_p(calls, group), n, dropped))
        for where, p, n, dropped in rated:
            if n == 0:
                continue
            below, above = stats.band_sides(n, p, self.alpha)
            rate = dropped / n
            score = (p - rate) / below if rate < p else (rate - p) / above
            if score > worst[0]:
                worst = (score, where, rate, [p - below, p + above], p)
        score, where, rate, band, p = worst
        where = where if isinstance(where, str) else self.where(where)
        return Check("drop_fraction", score <= 1, rate, band, p=p, detail=f"worst call: {where}")

    def drop_count_dispersion(self, calls: list[dict[str, Any]], masks: list[np.ndarray]) -> Check:
        """The training calls' drop counts, near p n and far from it (mask_statistics.count_dispersion),
        and each mask group's counts repeating no more often than binomial ones (`repeated_counts`)."""
        counts = [(m.size, c["p"]["value"], int(np.count_nonzero(m)))
                  for c, m in zip(calls, masks, strict=True)]
        passed, seen = stats.count_dispersion([count for count in counts if count[0]], self.alpha)
        by_group: dict[int, list[int]] = {}
        for call, (_, _, count) in zip(calls, counts, strict=True):
            if call["role"] == "mask":
                by_group.setdefault(call["group"], []).append(count)
        for group, group_counts in sorted(by_group.items()):
            n = self.inputs[f"mask{group}"].size
            repeats, limit = repeated_counts(group_counts, n, group_p(calls, group), self.alpha)
            passed &= repeats < limit
            seen += f"; group {group}: {repeats} of {len(group_counts)} counts repeat an earlier one " \
                    f"(fails at {limit})"
        return Check("drop_count_dispersion", passed, seen, "counts as spread as binomial ones",
                     detail="training calls' drop counts near p·n and far from it, and repeated in a group")

    def mask_groups(self, calls: list[dict[str, Any]], masks: list[np.ndarray]) -> list[Check]:
        # the pooled tests' events are counted with the drop fractions' (power.py)
        findings = grouped.examine_groups(calls, masks, self.inputs, list(design.MASK_PAIRS), self.mask_alpha,
                                          self.alpha)
        checks = []
        for check, family in MASK_FAMILIES.items():
            for found in findings.get(family, []):
                detail = (f"{MASK_DETAILS[family]}; group {found.group}, worst: {found.where}"
                          if found.group is not None else
                          f"{MASK_DETAILS[family]}, both groups pooled ({found.how}); worst: {found.where}")
                checks.append(Check(check, found.score <= 1, found.score, 1, p=found.p, detail=detail))
        return checks

    def big_mask_repeats(self, calls: list[dict[str, Any]], masks: list[np.ndarray]) -> Check:
        """The big call's survivors (a few hundred), every pair compared: no distance may separate more
        pairs than independent elements would put there (a tiled or repeating mask puts many at its
        period)."""
        call = next(c for c in calls if c["role"] == "big")
        mask = masks[calls.index(call)]
        p = call["p"]["value"]
        count, distance = stats.repeated_distance(self.survivors(call, self.output(call).reshape(-1)))
        limit = stats.repeat_threshold(mask.size, 1 - p, self.alpha)
        return Check("mask_independent_of_neighbours", count < limit, count, f"< {limit}", p=p,
                     detail=f"pairs of kept elements of the call on {mask.size:,} elements at the one "
                            f"distance separating the most ({distance:,})")

    def statistical_checks(self, found: tuple[list[dict[str, Any]], list[np.ndarray]] | str,
                           groups) -> list[Check]:
        if isinstance(found, str):
            return [Check(name, False, found, None) for name in STATISTICAL_CHECKS]
        calls, masks = found
        rest = [self.drop_fraction(calls, masks), self.drop_count_dispersion(calls, masks)]
        by_name: dict[str, list[Check]] = {}
        for check in [*rest, *groups(), self.big_mask_repeats(calls, masks)]:
            by_name.setdefault(check.name, []).append(check)
        return [check for name in STATISTICAL_CHECKS for check in by_name[name]]

    def all_checks(self) -> list[Check]:
        found = self.training_outputs()
        groups = None
        if not isinstance(found, str):  # the groups' FFTs in a thread, beside every other check
            groups = threading_result(lambda: self.mask_groups(*found))
        exact = [self.call_error(), self.shape_and_dtype(), self.input_unmodified(), self.rejects_invalid_p(),
                 self.accepts_valid_p(), self.eval_identity(), self.p_zero_identity(), self.p_one_zeros(),
                 self.survivor_scale()]
        return exact + self.statistical_checks(found, groups)
