"""The parent side of variance-dropout's grade: the fresh probes (`make_job`, drawn over everything the
contract allows: see docs/tasks/variance-dropout.md for the plan) and every check (`run_checks`),
computed in the grader's process, in float64 NumPy, from the raw outputs the child handed back.
Thresholds come from power.py (every statistical check's tail events share the grade's false-fail
budget by a union bound); nothing here trusts the child. `CLAUSES` names the sentence of the prompt
that announces each check."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from task_lib.grading import mask_groups as grouped
from task_lib.grading import mask_statistics as stats
from task_lib.grading import probe_draws as draws
from task_lib.grading.threads import threading_result
from task_lib.grading.verdict import Check

from . import design
from . import power as grader_power

NUMERIC_KINDS = "biufc"  # any other output dtype (strings, dates, raw bytes) fails as a call error
MID_P = (design.LOW_P[1], design.HIGH_P[0])
STRATA = (design.LOW_P, MID_P, design.HIGH_P)
ZERO_TYPES = ("int", *design.P_TYPES)
TRAINING_ROLES = ("big", "var", "mask", "train", "tiny", "low", "sweep", "empty")  # training at p > 0

STAGE_WORDS = {"construct": "constructing layers", "re-check": "re-checking the inputs"}
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
    "drop_count_dispersion": MASK_CLAUSE,
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
MASK_FAMILIES = {"fresh_mask": "fresh", "mask_independent_of_neighbours": "neighbours",
                 "mask_independent_of_position": "position", "mask_independent_of_values": "values"}
MASK_DETAILS = {
    "fresh": "agreement of two calls' masks at every shift, in units of its band (at most 1)",
    "neighbours": "agreement of elements at every distance within a mask, in units of its band (at most 1)",
    "position": "per-position drop counts and drop rates by position, in units of their bands (at most 1)",
    "values": "drop rates by sign, |x| quartile, exponent parity and low mantissa bits, in units of their "
              "bands (at most 1)",
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


def _spec(value: float, kind: str) -> dict[str, Any]:
    return {"value": value, "type": kind}


class PlanDrawer(draws.InputDrawer):
    """Draws one grade's inputs and calls; `job()` returns them."""

    def __init__(self, rng: np.random.Generator):
        super().__init__(rng, design.RANKS)
        self.modes: dict[str, str] = {}  # each layer's mode so far (a fresh layer trains)

    def switches(self, layer: str, mode: str) -> list[str]:
        """eval()/train() calls that leave `layer` in `mode`, drawn: none when it is already there
        (sometimes), a repeated or a round-trip switch otherwise."""
        current = self.modes.get(layer, "train")
        other = "train" if mode == "eval" else "eval"
        options = [[mode], [mode, mode], [other, mode]] + ([[]] * 3 if current == mode else [])
        self.modes[layer] = mode
        return list(self.choice(options))

    def call(self, name: str, role: str, layer: str, p: dict[str, Any], mode: str, x: str,
             layout: str | None = None, **extra: Any) -> dict[str, Any]:
        return {"name": name, "role": role, "layer": layer, "p": p, "switches": self.switches(layer, mode),
                "mode": mode, "input": x, "layout": layout or self.choice(design.LAYOUTS), **extra}

    def kind_p(self, stratum: tuple[float, float], kind: str | None = None) -> dict[str, Any]:
        kind = kind or self.choice(design.P_TYPES)
        return _spec(draws.draw_p(self.rng, stratum, kind), kind)

    # ---- the probes ----

    def big_call(self) -> dict[str, Any]:
        """The call on the input of more than 8 MiB, which the child draws itself from a seed (as
        `probe_draws.with_seeded_inputs` does here) rather than receive it."""
        dtype = self.choice(design.DTYPES)
        size = math.ceil(int(self.rng.integers(*design.BIG_BYTES)) / np.dtype(dtype).itemsize)
        shape = draws.draw_shape(self.rng, size, int(self.choice(design.RANKS)))
        self.seeded["big"] = {"seed": int(self.rng.integers(2**62)), "shape": list(shape), "dtype": dtype}
        kind = self.choice(("float", "float32", "float64"))
        keep = float(self.rng.uniform(*design.BIG_KEEP))
        return self.call("big", "big", "big", _spec(draws.typed(1 - keep, kind), kind), "train", "big",
                         self.choice(design.BIG_LAYOUTS))

    def variance_calls(self) -> list[dict[str, Any]]:
        rows = design.VARIANCE_ROWS[0] + 2 * int(self.rng.integers((design.VARIANCE_ROWS[1]
                                                                    - design.VARIANCE_ROWS[0]) // 2 + 1))
        cols = 2 * math.ceil(design.N_VARIANCE / rows / 2)
        sigma = self.rng.uniform(0.5, 2.0)
        self.add_input("var_x", (sigma * balanced_signs(self.rng, rows * cols)).astype(np.float32)
                       .reshape(rows, cols))
        return [self.call(f"var@{p:g}", "var", f"var@{p:g}",
                          _spec(p, self.choice(design.P_TYPES) if p == 0.5 else "float"), "train", "var_x")
                for p in design.P_VALUES]

    def mask_layers(self) -> list[list[dict[str, Any]]]:
        """Two groups of twin layers (one per MASK_P stratum and dtype), each layer's calls in order."""
        layers = []
        ranks = self.rng.permutation(design.RANKS).reshape(len(design.MASK_P), design.MASK_SHAPES)
        for group, (stratum, dtype) in enumerate(zip(design.MASK_P, self.rng.permutation(design.DTYPES),
                                                     strict=True)):
            xs = self.reshaped(f"mask{group}", int(self.rng.integers(*design.MASK_SIZE, endpoint=True)),
                               tuple(int(r) for r in ranks[group]), str(dtype), gaussian=True,
                               most=design.MASK_SIZE[1])
            p = self.kind_p(stratum)
            for twin in range(2):
                layer = f"mask{group}.{twin}"
                modes = ["train"] * design.TRAIN_CALLS + ["eval"] * design.EVAL_CALLS
                modes = [modes[i] for i in self.rng.permutation(len(modes))]
                calls, index = [], 0
                for k, mode in enumerate(modes):
                    if mode == "train":
                        x = xs[design.MASK_SHAPE_ORDER[twin][index]]
                        extra = {"group": group, "index": twin * design.TRAIN_CALLS + index}
                        index += 1
                    else:
                        x, extra = self.choice(xs), {"group": group}
                    calls.append(self.call(f"{layer}#{k}", "mask" if mode == "train" else "eval", layer, p,
                                           mode, x, **extra))
                layers.append(calls)
        return layers

    def shape_calls(self) -> list[dict[str, Any]]:
        calls: list[dict[str, Any]] = []

        def one(role: str, p: dict[str, Any], mode: str, dtype: str, size: int, layout: str | None = None):
            k = len(calls)
            x = self.shaped(f"{role}{k}", size, dtype)
            calls.append(self.call(f"{role}{k}", role, f"{role}{k}", p, mode, x, layout))

        small = lambda: draws.log_uniform_size(self.rng, design.SMALL_SIZE)  # noqa: E731
        for i, dtype in enumerate(design.DTYPES):  # every dtype x p type, every dtype x layout
            for j, kind in enumerate(design.P_TYPES):
                one("train", self.kind_p(STRATA[(i + j) % 3], kind), "train", dtype, small(),
                    design.LAYOUTS[(i + j) % len(design.LAYOUTS)])
        first = int(self.rng.integers(2))
        for j, kind in enumerate(ZERO_TYPES):  # every type of zero
            one("zero", _spec(0, kind), "train", design.DTYPES[(first + j) % 2], small())
        for j in range(design.EVAL_SHAPE_CALLS):
            one("eval", self.kind_p(self.choice(STRATA)), "eval", design.DTYPES[(first + j) % 2], small())
        for j in range(design.TINY_CALLS):
            size = 1 if j < design.SINGLE_CALLS else int(self.rng.integers(*design.TINY_SIZE, endpoint=True))
            one("tiny", self.kind_p(design.TINY_P), "train", design.DTYPES[(first + j) % 2], size)
        low = self.kind_p(design.LOW_P)
        one("low", low, "train", self.choice(design.DTYPES), math.ceil(design.LOW_DROPS / low["value"]))
        width = (design.SWEEP_P[1] - design.SWEEP_P[0]) / design.SWEEP_CALLS
        for j in range(design.SWEEP_CALLS):
            start = design.SWEEP_P[0] + j * width
            size = int(self.rng.integers(*design.SWEEP_SIZE, endpoint=True))
            one("sweep", self.kind_p((start, start + width)), "train", design.DTYPES[(first + j) % 2], size)
        for dtype, shape in zip(design.DTYPES, design.EMPTY_SHAPES, strict=True):
            k = len(calls)
            x = self.add_input(f"empty{k}", np.zeros(shape, dtype=dtype))
            calls.append(self.call(f"empty{k}", "empty", f"empty{k}", self.kind_p(MID_P), "train", x))
        return calls

    def job(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        big = self.big_call()  # first: the oldest input at the re-check
        sequences = [[c] for c in self.variance_calls() + self.shape_calls()] + self.mask_layers()
        plan = {"constructions": draw_constructions(self.rng), "flag_switches": draw_flag_switches(self.rng),
                "calls": [big, *draws.interleave(self.rng, sequences)], "recheck_age": design.RECHECK_AGE,
                "seeded": self.seeded}
        return self.inputs, plan


def draw_constructions(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Valid p of every type (0 as each type, -0.0, the largest below 1, a low and a middle one) and
    invalid ones (1, NaN, ±inf, a small negative, one above 1, and -1, 1 and 2 as ints), in a fresh
    order."""
    specs = [_spec(0, "int"), _spec(-0.0, "float"), _spec(1, "int"), _spec(-1, "int"), _spec(2, "int")]
    for kind in design.P_TYPES:
        specs += [_spec(draws.typed(0.0, kind), kind), _spec(draws.below_one(kind), kind),
                  _spec(draws.draw_p(rng, design.LOW_P, kind), kind),
                  _spec(draws.draw_p(rng, MID_P, kind), kind),
                  _spec(1.0, kind), _spec(math.nan, kind), _spec(math.inf, kind), _spec(-math.inf, kind),
                  _spec(-draws.draw_p(rng, design.LOW_P, kind), kind),
                  _spec(draws.typed(float(rng.uniform(1.0, 10.0)), kind), kind)]
    return [specs[i] for i in rng.permutation(len(specs))]


def draw_flag_switches(rng: np.random.Generator) -> list[str]:
    """FLAG_SWITCHES eval() and as many train() calls in a fresh order holding both a repeated eval()
    and a repeated train()."""
    while True:
        order = [("eval", "train")[int(i)] for i in rng.permutation([0, 1] * design.FLAG_SWITCHES) % 2]
        pairs = set(zip(order, order[1:], strict=False))
        if ("eval", "eval") in pairs and ("train", "train") in pairs:
            return order


def expected_flags(switches: list[str]) -> list[bool]:
    return [True] + [mode == "train" for mode in switches]


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
        if call["role"] in TRAINING_ROLES and n:
            stats.band_sides(n, call["p"]["value"], alpha)
            stats.window_masses(n, call["p"]["value"])
    grouped.prepare_groups(inputs, plan["calls"], len(design.MASK_P), mask_alpha)


def run_checks(params: dict[str, float], inputs: dict[str, np.ndarray], plan: dict, report: dict[str, Any],
               outputs: dict[str, np.ndarray]) -> list[Check]:
    """Every check of the contract, in the order of the prompt."""
    with np.errstate(all="ignore"):
        return ContractChecker(params["tolerance"], draws.with_seeded_inputs(inputs, plan), plan, report,
                               outputs).all_checks()


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


def _p_text(spec: dict[str, Any]) -> str:
    return repr(spec["value"]) if spec["type"] in ("float", "int") else f"{spec['type']}({spec['value']!r})"


class ContractChecker:
    """Computes every check from the inputs we sent and the raw outputs we got back."""

    def __init__(self, tolerance: float, inputs: dict[str, np.ndarray], plan: dict,
                 report: dict[str, Any], outputs: dict[str, np.ndarray]):
        self.tolerance, self.inputs, self.plan = tolerance, inputs, plan
        self.outputs, self.report = outputs, report
        self.errors = _string_map(report.get("call_errors", {}))
        self.calls = plan["calls"]
        self.alpha, self.mask_alpha = grader_power.event_budget(), grader_power.mask_event_budget()

    def output(self, call: dict[str, Any]) -> np.ndarray | str:
        """The output of `call`, or why there is none (a wrong shape included)."""
        name = call["name"]
        if name in self.errors:
            return f"raised {_one_line(self.errors[name])}"
        out = self.outputs.get(name)
        if not isinstance(out, np.ndarray):
            return "no output"
        if out.dtype.kind not in NUMERIC_KINDS:
            return f"returned an array of dtype {out.dtype}"
        return out if out.shape == self.x(call).shape else f"returned shape {list(out.shape)}"

    def x(self, call: dict[str, Any]) -> np.ndarray:
        return self.inputs[call["input"]]

    def of_role(self, *roles: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["role"] in roles]

    def first_problem(self, calls: list[dict[str, Any]], test) -> str | None:
        for call in calls:
            out = self.output(call)
            problem = out if isinstance(out, str) else test(self.x(call), out)
            if problem:
                return f"{call['name']} ({self.x(call).dtype}{list(self.x(call).shape)}, {call['layout']}, "\
                       f"p={_p_text(call['p'])}): {problem}"
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
            if (0 <= spec["value"] < 1) != valid:
                continue
            if outcome != ("ok" if valid else "ValueError"):
                why = _one_line(outcome) if isinstance(outcome, str) else "malformed"
                wrong.append(f"p={_p_text(spec)}: {why}")
        return Check(name, not wrong, "as required" if not wrong else "; ".join(wrong[:4]), threshold)

    def rejects_invalid_p(self) -> Check:
        return self._constructions("rejects_invalid_p", False,
                                   "ValueError for each p outside [0, 1), NaN included, whatever its type")

    def accepts_valid_p(self) -> Check:
        return self._constructions("accepts_valid_p", True,
                                   "no error for each p inside [0, 1), whatever its type")

    def training_flag(self) -> Check:
        switches = self.plan["flag_switches"]
        expected = {"training_flags": expected_flags(switches), "other_flags": [True] * (len(switches) + 2)}
        found = {}
        for key, want in expected.items():
            flags = self.report.get(key, "not run")
            if not (isinstance(flags, list) and len(flags) <= len(want)
                    and all(isinstance(f, bool | str) for f in flags)):
                flags = _one_line(flags if isinstance(flags, str) else "malformed")
            else:
                flags = [f if isinstance(f, bool) else _one_line(f) for f in flags]
            found[key] = flags
        wrong = next((key for key in expected if found[key] != expected[key]), "training_flags")
        return Check("training_flag", found == expected, found[wrong], expected[wrong],
                     detail=("the switched layer's flag after construction, then after each of "
                             if wrong == "training_flags" else "the flag of a layer never switched while "
                             "another was, then of one built after: after each of ")
                     + ", ".join(f".{s}()" for s in switches))

    def shape_and_dtype(self) -> Check:
        def test(x, y):
            return None if y.dtype == x.dtype else f"got dtype {y.dtype}"

        problem = self.first_problem(self.calls, test)
        return Check("shape_and_dtype", problem is None, problem or "kept",
                     "a numpy.ndarray of x's shape and dtype from every call")

    def input_unmodified(self) -> Check:
        changed = []
        for call in self.calls:
            for prefix, when in (("after:", "during its call"), ("late:", "after its call returned")):
                left = self.outputs.get(prefix + call["name"])
                if left is not None and not _same_array(left, self.x(call)):
                    changed.append(f"{call['name']} ({when})")
        value = "unmodified" if not changed else f"modified: {', '.join(changed[:4])}"
        return Check("input_unmodified", not changed, value, "unmodified",
                     detail="every input compared after its call, and again after the last call")

    def _identity(self, check: str, calls: list[dict[str, Any]]) -> Check:
        def test(x, y):
            return None if np.array_equal(y, x) else "values differ from x"

        problem = self.first_problem(calls, test)
        return Check(check, problem is None, problem or "equal to x", "equal to x")

    def eval_identity(self) -> Check:
        return self._identity("eval_identity", [c for c in self.calls if c["mode"] == "eval"])

    def p_zero_identity(self) -> Check:
        return self._identity("p_zero_identity", self.of_role("zero"))

    # ---- the masks and the scale ------------------------------------------------------------------

    def training_outputs(self) -> tuple[list[dict[str, Any]], list[np.ndarray]] | str:
        """The training calls at p > 0 and their outputs, or the first call without a usable one."""
        calls = self.of_role(*TRAINING_ROLES)
        outs = [self.output(c) for c in calls]
        problem = next((f"{c['name']}: {o}" for c, o in zip(calls, outs, strict=True) if isinstance(o, str)),
                       None)
        return problem if problem else (calls, outs)

    def drop_fraction(self, calls: list[dict[str, Any]], masks: list[np.ndarray]) -> Check:
        """Every training call's drop rate, and each mask group's pooled, within its Chernoff band of p."""
        worst = (-1.0, "", 0.0, [0.0, 0.0], 0.0)
        pooled: dict[int, list[np.ndarray]] = {}
        rated = []
        for call, mask in zip(calls, masks, strict=True):
            rated.append((call["name"], call["p"]["value"], mask.size, float(np.count_nonzero(mask))))
            if call["role"] == "mask":
                pooled.setdefault(call["group"], []).append(mask)
        for group, group_masks in pooled.items():
            p = next(c["p"]["value"] for c in calls if c.get("group") == group)
            rated.append((f"mask group {group}, all calls", p, sum(m.size for m in group_masks),
                          float(sum(np.count_nonzero(m) for m in group_masks))))
        for name, p, n, dropped in rated:
            if n == 0:
                continue
            below, above = stats.band_sides(n, p, self.alpha)
            rate = dropped / n
            score = (p - rate) / below if rate < p else (rate - p) / above
            if score > worst[0]:
                worst = (score, name, rate, [p - below, p + above], p)
        score, name, rate, band, p = worst
        return Check("drop_fraction", score <= 1, rate, band, p=p, detail=f"worst call: {name}")

    def drop_count_dispersion(self, calls: list[dict[str, Any]], masks: list[np.ndarray]) -> Check:
        counts = [(m.size, c["p"]["value"], int(np.count_nonzero(m)))
                  for c, m in zip(calls, masks, strict=True)
                  if m.size]
        passed, seen = stats.count_dispersion(counts, self.alpha)
        return Check("drop_count_dispersion", passed, seen, "counts as spread as binomial ones",
                     detail="training calls' drop counts near p·n and far from it")

    def mask_groups(self, calls: list[dict[str, Any]], masks: list[np.ndarray]) -> list[Check]:
        # the pooled tests' events are counted with the drop fractions' (power.py)
        findings = grouped.examine_groups(calls, masks, self.inputs, list(design.MASK_PAIRS), self.mask_alpha,
                                          self.alpha)
        checks = []
        for check, family in MASK_FAMILIES.items():
            for found in findings.get(family, []):
                detail = (f"{MASK_DETAILS[family]}; worst: {found.where}" if found.group is not None else
                          f"{MASK_DETAILS[family]}, both groups pooled ({found.how}); worst: {found.where}")
                checks.append(Check(check, found.score <= 1, found.score, 1, p=found.p, detail=detail))
        return checks

    def survivor_factors(self, calls: list[dict[str, Any]], masks: list[np.ndarray],
                         outs: list[np.ndarray]) -> np.ndarray:
        """For each call, (min, max, their mean) of y/x over its survivors, in float64; NaN where a call
        has none, inf where a ratio is not finite. (When single_scale holds, the mean is the factor to
        within 1e-6.)"""
        factors = np.full((len(calls), 3), np.nan)
        for row, (call, mask, y) in enumerate(zip(calls, masks, outs, strict=True)):
            keep = np.flatnonzero(~mask)
            ratios = y.reshape(-1)[keep].astype(np.float64) / self.x(call).reshape(-1)[keep]
            if ratios.size:
                low, high = float(ratios.min()), float(ratios.max())
                finite = math.isfinite(low) and math.isfinite(high)
                factors[row] = (low, high, (low + high) / 2) if finite else np.inf
        return factors

    def single_scale(self, calls: list[dict[str, Any]], factors: np.ndarray) -> Check:
        """The survivors of all calls at one p (a mask group's, or one call's) share one factor."""
        limit, worst = design.SCALE_SPREAD_LIMIT, (-1.0, None, "", 1.0)
        keys = [c.get("group", c["name"]) for c in calls]
        for key in dict.fromkeys(keys):
            rows = factors[[k == key for k in keys]]
            rows = rows[~np.isnan(rows[:, 0])]
            if rows.size == 0:
                continue
            centres = sorted(rows[:, 2].tolist())
            centre = centres[len(centres) // 2] if np.all(np.isfinite(rows)) else math.inf
            finite = 0 < abs(centre) < math.inf
            spread = float((rows[:, 1].max() - rows[:, 0].min()) / abs(centre)) if finite else math.inf
            if spread > worst[0]:
                call = calls[keys.index(key)]
                worst = (spread, call["p"]["value"], call["name"], centre)
        spread, p, name, centre = worst
        return Check("single_scale", 0 <= spread <= limit, max(spread, 0.0), limit, p=p,
                     detail=f"relative spread of y/x over the survivors of the calls at one p; worst: {name} "
                            f"(factor {centre:.6g})")

    def expected_variance(self, calls: list[dict[str, Any]], factors: np.ndarray) -> Check:
        """Each call's survivor factor c (the mean of the least and largest y/x) must give c^2 (1-p) within
        `expected_variance_bounds` at its p: no sampling noise, so it holds at any p."""
        worst = None
        for call, (_, _, c) in zip(calls, factors, strict=True):
            if math.isnan(c):
                continue
            p = call["p"]["value"]
            low, high = grader_power.expected_variance_bounds(p, self.tolerance)
            value = c * c * (1 - p) if math.isfinite(c) else math.inf
            score = max(low / value if value > 0 else math.inf, value / high)
            if worst is None or score > worst[0]:
                worst = (score, value, [low, high], p, f"{call['name']}: factor {c:.8g}")
        if worst is None:
            return Check("expected_variance", False, "no finite survivors", None)
        score, value, bounds, p, where = worst
        return Check("expected_variance", score <= 1, value, bounds, p=p,
                     detail=f"factor^2 * (1 - p), furthest out at {where}")

    def variance_ratios(self, calls: list[dict[str, Any]], outs: list[np.ndarray]) -> list[Check]:
        input_variance = np.var(self.inputs["var_x"].astype(np.float64))
        bounds = [1 - self.tolerance, 1 + self.tolerance]
        checks = []
        for call, y in sorted(zip(calls, outs, strict=True), key=lambda pair: pair[0]["p"]["value"]):
            if call["role"] == "var":
                ratio = float(np.var(y.astype(np.float64)) / input_variance)
                checks.append(Check("variance_ratio", bool(bounds[0] <= ratio <= bounds[1]), ratio, bounds,
                                    p=call["p"]["value"], detail="Var(y)/Var(x), zero-mean x"))
        return checks

    def training_checks(self) -> list[Check]:
        found = self.training_outputs()
        names = ["drop_fraction", "drop_count_dispersion", *MASK_FAMILIES, "single_scale", "variance_ratio",
                 "expected_variance"]
        if isinstance(found, str):
            return [Check(name, False, found, None) for name in names]
        calls, outs = found
        masks = [(y == 0).reshape(-1) for y in outs]
        groups = threading_result(lambda: self.mask_groups(calls, masks))  # FFTs, beside the rest
        factors = self.survivor_factors(calls, masks, outs)
        rest = [self.single_scale(calls, factors), *self.variance_ratios(calls, outs),
                self.expected_variance(calls, factors)]
        return [self.drop_fraction(calls, masks), self.drop_count_dispersion(calls, masks), *groups(),
                self.big_mask_repeats(calls, masks), *rest]

    def big_mask_repeats(self, calls: list[dict[str, Any]], masks: list[np.ndarray]) -> Check:
        """The big call's survivors (a few hundred), every pair compared: no distance may separate more
        pairs than independent elements would put there (a tiled or repeating mask puts many at its
        period)."""
        call = next(c for c in calls if c["role"] == "big")
        mask = masks[calls.index(call)]
        p = call["p"]["value"]
        count, distance = stats.repeated_distance(np.flatnonzero(~mask))
        limit = stats.repeat_threshold(mask.size, 1 - p, self.alpha)
        return Check("mask_independent_of_neighbours", count < limit, count, f"< {limit}", p=p,
                     detail=f"pairs of kept elements of the call on {mask.size:,} elements at the one "
                            f"distance separating the most ({distance:,})")

    def all_checks(self) -> list[Check]:
        return [self.rejects_invalid_p(), self.accepts_valid_p(), self.training_flag(),
                self.shape_and_dtype(), self.input_unmodified(), self.eval_identity(), self.p_zero_identity(),
                *self.training_checks()]
