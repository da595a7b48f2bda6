"""The parent side of variance-dropout's grade: the fresh inputs (`make_job`), the calls the driver
makes on them, and every check (`run_checks`), computed in the grader's process from the raw outputs
the child handed back. Thresholds come from power.py; nothing here trusts the child. `CLAUSES` names
the sentence of the prompt that announces each check."""

from __future__ import annotations

from typing import Any

import numpy as np

from task_lib.tail_bounds import deviation_threshold
from task_lib.verdict import Check

from . import design
from . import power as grader_power

VALID_P = (0.0, 0.5, 0.9)
INVALID_P = (-0.1, 1.0, 1.5)
NUMERIC_KINDS = "biufc"  # any other output dtype (strings, dates, raw bytes) fails as a call error
SCALE_SPREAD_LIMIT = 1e-6  # relative spread of y/x over survivors: float32 rounding is ~1e-7


def _balanced_signs(rng: np.random.Generator, n: int) -> np.ndarray:
    signs = np.ones(n)
    signs[: n // 2] = -1.0
    return rng.permutation(signs)


STAGE_WORDS = {"construct": "constructing layers"}
RUNS_CLAUSE = "a syntax error, an exception at import, a crash, an exit or a timeout fails the attempt"
CLAUSES = {
    "test_file_unchanged": "It must stay exactly as it is: the grader fails the attempt if it has changed",
    **{category: RUNS_CLAUSE for category in ("source_readable", "syntax_error", "import_error", "timeout",
                                              "crashed", "early_exit", "bad_output")},
    "rejects_invalid_p": "`ValueError` for p = -0.1, 1.0 and 1.5, and no error for p = 0, 0.5 and 0.9",
    "training_flag": "the `training` flag",
    "shape_and_dtype": "shape and dtype kept for float32 and float64 inputs, in training and eval mode",
    "input_unmodified": "the input array left unmodified",
    "eval_identity": "eval mode, and `p = 0`, return values equal to the input",
    "p_zero_identity": "eval mode, and `p = 0`, return values equal to the input",
    "drop_fraction": "the fraction of zeroed elements is close to p",
    "single_scale": "all survivors are multiplied by the same\n  factor",
    "fresh_mask": "two calls on the same input use different masks",
    "mask_independent_of_values": "elements with large and small (and positive and\n  negative) values are "
                                  "dropped at the same rate",
    "variance_ratio": "the output variance divided by the input variance",
}


def make_job(params: dict[str, float], rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict]:
    """The inputs and the call plan of one grade."""
    return make_inputs(rng), make_plan()


def run_checks(params: dict[str, float], inputs: dict[str, np.ndarray], plan: dict, report: dict[str, Any],
               outputs: dict[str, np.ndarray]) -> list[Check]:
    """Every check of the contract, in the order of the prompt."""
    return ContractChecker(params["tolerance"], inputs, plan, report, outputs).all_checks()


def make_inputs(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Fresh inputs: exactly zero-mean random-sign values for the variance check, Gaussian values
    with balanced signs for the mask checks, small arrays of both float dtypes for the rest."""
    sigma = rng.uniform(0.5, 2.0)
    gaussian = np.abs(rng.standard_normal(design.N_MASK)) + 1e-3
    return {
        "var_x": (sigma * _balanced_signs(rng, design.N_VARIANCE)).astype(np.float32),
        "mask_x": gaussian * _balanced_signs(rng, design.N_MASK),
        "small32": rng.standard_normal((3, 4, 5)).astype(np.float32),
        "small64": rng.standard_normal((2, 3, 7)),
    }


def make_plan() -> dict[str, Any]:
    """The calls the probe makes, each on its own or a shared layer instance."""
    calls = []
    for p in design.P_VALUES:
        calls.append({"name": f"var@{p}", "layer": f"var@{p}", "p": p, "mode": "train", "input": "var_x"})
        for i in (1, 2):
            calls.append({"name": f"mask@{p}#{i}", "layer": f"mask@{p}", "p": p, "mode": "train",
                          "input": "mask_x"})
    for dtype in ("32", "64"):
        small = "small" + dtype
        calls += [
            {"name": f"train{dtype}", "layer": "shape", "p": 0.5, "mode": "train", "input": small},
            {"name": f"eval{dtype}", "layer": "shape", "p": 0.5, "mode": "eval", "input": small},
            {"name": f"zero{dtype}", "layer": "zero", "p": 0.0, "mode": "train", "input": small},
        ]
    calls.append({"name": "zero_mask", "layer": "zero", "p": 0.0, "mode": "train", "input": "mask_x"})
    return {"valid_p": list(VALID_P), "invalid_p": list(INVALID_P), "calls": calls}


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


class ContractChecker:
    """Computes every check from the inputs we sent and the raw outputs we got back."""

    def __init__(self, tolerance: float, inputs: dict[str, np.ndarray], plan: dict,
                 report: dict[str, Any], outputs: dict[str, np.ndarray]):
        self.tolerance, self.inputs, self.plan = tolerance, inputs, plan
        self.outputs, self.report = outputs, report
        self.errors: dict[str, str] = report.get("call_errors", {})
        self.alpha = grader_power.event_budget(design.P_VALUES)
        # Statistics of our own inputs, the same for every p: computed once.
        self.input_variance = np.var(inputs["var_x"].astype(np.float64))
        mask_x = inputs["mask_x"]
        self.value_splits = (np.abs(mask_x) >= _median(np.abs(mask_x)), mask_x > 0)

    def output(self, name: str) -> np.ndarray | str:
        """The output of call `name`, or why there is none."""
        if name in self.errors:
            return f"raised {self.errors[name]}"
        out = self.outputs.get(name)
        if not isinstance(out, np.ndarray):
            return "no output"
        return out if out.dtype.kind in NUMERIC_KINDS else f"returned an array of dtype {out.dtype}"

    def input_of(self, name: str) -> np.ndarray:
        call = next(c for c in self.plan["calls"] if c["name"] == name)
        return self.inputs[call["input"]]

    def first_problem(self, names: list[str], test) -> str | None:
        for name in names:
            out = self.output(name)
            if isinstance(out, str):
                return f"{name}: {out}"
            problem = test(self.input_of(name), out)
            if problem:
                return f"{name}: {problem}"
        return None

    def rejects_invalid_p(self) -> Check:
        outcomes = self.report.get("constructions", {})
        expected = {repr(p): "ok" for p in VALID_P} | {repr(p): "ValueError" for p in INVALID_P}
        wrong = {p: outcomes.get(p, "not run") for p, want in expected.items() if outcomes.get(p) != want}
        value = "as required" if not wrong else "; ".join(f"p={p}: {v}" for p, v in wrong.items())
        threshold = f"ValueError for p in {list(INVALID_P)}, none for p in {list(VALID_P)}"
        return Check("rejects_invalid_p", not wrong, value, threshold)

    def training_flag(self) -> Check:
        flags = self.report.get("training_flags", "not run")
        return Check("training_flag", flags == [True, False, True], flags, [True, False, True],
                     detail="after construction, .eval(), .train()")

    def shape_and_dtype(self) -> Check:
        names = [c["name"] for c in self.plan["calls"]]

        def test(x, y):
            if y.shape != x.shape or y.dtype != x.dtype:
                return f"got {y.dtype}{list(y.shape)} for {x.dtype}{list(x.shape)}"
            return None

        problem = self.first_problem(names, test)
        return Check("shape_and_dtype", problem is None, problem or "kept", "same shape and dtype as x")

    def input_unmodified(self) -> Check:
        changed = [k for k, x in self.inputs.items() if not _same_array(self.outputs.get("after:" + k), x)]
        value = "unmodified" if not changed else f"modified: {', '.join(changed)}"
        return Check("input_unmodified", not changed, value, "unmodified")

    def _identity(self, check: str, names: list[str]) -> Check:
        def test(x, y):
            return None if y.shape == x.shape and np.array_equal(y, x) else "values differ from x"

        problem = self.first_problem(names, test)
        return Check(check, problem is None, problem or "equal to x", "equal to x")

    def eval_identity(self) -> Check:
        return self._identity("eval_identity", ["eval32", "eval64"])

    def p_zero_identity(self) -> Check:
        return self._identity("p_zero_identity", ["zero32", "zero64", "zero_mask"])

    def per_p(self, p: float) -> list[Check]:
        var_out, masks = self.output(f"var@{p}"), [self.output(f"mask@{p}#{i}") for i in (1, 2)]
        missing = next((o for o in [var_out, *masks] if isinstance(o, str)), None)
        shapes_ok = missing is None and all(o.shape == self.inputs[k].shape for o, k in
                                            [(var_out, "var_x"), (masks[0], "mask_x"), (masks[1], "mask_x")])
        names = ["drop_fraction", "single_scale", "fresh_mask", "mask_independent_of_values",
                 "variance_ratio"]
        if not shapes_ok:
            why = missing or "output shape differs from x"
            return [Check(n, False, why, None, p=p) for n in names]
        with np.errstate(all="ignore"):
            return [
                self.drop_fraction(p, var_out),
                self.single_scale(p, var_out, masks),
                self.fresh_mask(p, masks),
                self.mask_independent(p, masks[0]),
                self.variance_ratio(p, var_out),
            ]

    def drop_fraction(self, p: float, y: np.ndarray) -> Check:
        fraction = float(np.mean(y == 0))
        delta = deviation_threshold(y.size, p, self.alpha)
        return Check("drop_fraction", abs(fraction - p) <= delta, fraction, [p - delta, p + delta], p=p)

    def single_scale(self, p: float, var_out: np.ndarray, masks: list[np.ndarray]) -> Check:
        ratios = [(y / x)[y != 0].astype(np.float64)
                  for y, x in ((var_out, self.inputs["var_x"]), (masks[0], self.inputs["mask_x"]),
                               (masks[1], self.inputs["mask_x"]))]
        ratios = np.concatenate(ratios)
        if ratios.size == 0 or not np.all(np.isfinite(ratios)):
            return Check("single_scale", False, "no finite survivors", SCALE_SPREAD_LIMIT, p=p)
        spread_of = ratios.max() - ratios.min()
        centre = _median(ratios)
        spread = float(spread_of / abs(centre)) if centre else float("inf")
        return Check("single_scale", spread <= SCALE_SPREAD_LIMIT, spread, SCALE_SPREAD_LIMIT, p=p,
                     detail=f"survivors scaled by {centre:.6g}")

    def fresh_mask(self, p: float, masks: list[np.ndarray]) -> Check:
        agreement = float(np.mean((masks[0] == 0) == (masks[1] == 0)))
        expected = p**2 + (1 - p) ** 2
        limit = expected + deviation_threshold(masks[0].size, expected, self.alpha)
        return Check("fresh_mask", agreement <= limit, agreement, limit, p=p,
                     detail="fraction of positions dropped/kept alike in two calls")

    def mask_independent(self, p: float, y: np.ndarray) -> Check:
        dropped = y == 0
        gap = float(max(abs(dropped[split].mean() - dropped[~split].mean()) for split in self.value_splits))
        limit = 2 * deviation_threshold(self.inputs["mask_x"].size // 2, p, self.alpha)
        return Check("mask_independent_of_values", gap <= limit, gap, limit, p=p,
                     detail="drop-rate gap: large vs small |x|, positive vs negative x")

    def variance_ratio(self, p: float, y: np.ndarray) -> Check:
        ratio = float(np.var(y.astype(np.float64)) / self.input_variance)
        bounds = [1 - self.tolerance, 1 + self.tolerance]
        ok = bool(bounds[0] <= ratio <= bounds[1])
        return Check("variance_ratio", ok, ratio, bounds, p=p, detail="Var(y)/Var(x), zero-mean x")

    def all_checks(self) -> list[Check]:
        checks = [self.rejects_invalid_p(), self.training_flag(), self.shape_and_dtype(),
                  self.input_unmodified(), self.eval_identity(), self.p_zero_identity()]
        per_p = [self.per_p(p) for p in design.P_VALUES]
        for i in range(len(per_p[0])):  # group by check, then by p
            checks += [checks_at_p[i] for checks_at_p in per_p]
        return checks
