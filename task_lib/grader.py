"""The trusted side of grading: draw fresh inputs, run the candidate through the sandbox, compute
every statistic here, and return a structured verdict.

Contract: `grade_workspace(path)` never raises for anything the candidate did; it raises
`UnusableWorkspace` only when there is nothing to grade (no directory, no `dropout.py`).
Only `dropout.py` is read from the workspace (plus the test file's hash); nothing from it is imported.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from task_lib import grader_power
from task_lib.child_files import load_child_arrays, read_child_file
from task_lib.grade_tables import format_measurement
from task_lib.sandbox import SandboxChild, SandboxLimits, SandboxResult, started_python
from task_lib.task import DEFAULT_TASK, SOLUTION_FILE, TEST_FILE, TaskSpec, template_text

PROBE = Path(__file__).with_name("probe.py")
VALID_P = (0.0, 0.5, 0.9)
INVALID_P = (-0.1, 1.0, 1.5)
NUMERIC_KINDS = "biufc"  # any other output dtype (strings, dates, raw bytes) fails as a call error
SCALE_SPREAD_LIMIT = 1e-6  # relative spread of y/x over survivors: float32 rounding is ~1e-7
GRADE_LIMITS = SandboxLimits(wall_seconds=20.0, cpu_seconds=20, memory_bytes=2 * 1024**3)
# Bounds on what the child may hand back (ours are about 10 MiB of arrays and a few KiB of text).
MAX_OUTPUT_BYTES = 256 * 1024**2
MAX_ARRAY_BYTES = 64 * 1024**2
MAX_REPORT_BYTES = MAX_PROGRESS_BYTES = 1024**2
STAGE_WORDS = {"starting": "starting", "load": "compiling dropout.py", "import": "importing dropout.py",
               "construct": "constructing layers", "write": "writing results"}


class UnusableWorkspace(Exception):
    """There is nothing to grade: the directory or its dropout.py is missing."""


@dataclass(frozen=True)
class Check:
    """One graded behaviour: what was measured, against what, and whether it passed."""

    name: str
    passed: bool
    value: Any
    threshold: Any
    p: float | None = None
    detail: str = ""


@dataclass(frozen=True)
class GradeResult:
    """The verdict: every check in order, and the first failure's category (None when passed)."""

    passed: bool
    failure: str | None
    message: str
    checks: list[Check] = field(default_factory=list)
    tolerance: float = DEFAULT_TASK.tolerance
    seed: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain, strict-JSON data: non-finite measurements become the strings "nan", "inf", "-inf"."""
        return _json_safe(asdict(self))


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def visible_tests_check(workspace: Path) -> Check:
    """The visible test file must be byte-for-byte the one the task started with."""
    expected = hashlib.sha256(template_text(TEST_FILE).encode("utf-8")).hexdigest()
    found = _sha256(workspace / TEST_FILE)
    state = "missing" if found is None else "unchanged" if found == expected else "changed"
    return Check("test_file_unchanged", state == "unchanged", state, "unchanged", detail=TEST_FILE)


# ---- inputs and the call plan -------------------------------------------------------------------


def _balanced_signs(rng: np.random.Generator, n: int) -> np.ndarray:
    signs = np.ones(n)
    signs[: n // 2] = -1.0
    return rng.permutation(signs)


def make_inputs(spec: TaskSpec, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Fresh inputs: exactly zero-mean random-sign values for the variance check, Gaussian values
    with balanced signs for the mask checks, small arrays of both float dtypes for the rest."""
    sigma = rng.uniform(0.5, 2.0)
    gaussian = np.abs(rng.standard_normal(spec.n_mask)) + 1e-3
    return {
        "var_x": (sigma * _balanced_signs(rng, spec.n_variance)).astype(np.float32),
        "mask_x": gaussian * _balanced_signs(rng, spec.n_mask),
        "small32": rng.standard_normal((3, 4, 5)).astype(np.float32),
        "small64": rng.standard_normal((2, 3, 7)),
    }


def make_plan(spec: TaskSpec) -> dict[str, Any]:
    """The calls the probe makes, each on its own or a shared layer instance."""
    calls = []
    for p in spec.p_values:
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


# ---- running the probe --------------------------------------------------------------------------


@dataclass
class ProbeRun:
    """What came back from the child: its report and arrays, or the category of why not."""

    sandbox: SandboxResult
    report: dict[str, Any] | None = None
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    stage: str = ""


@contextlib.contextmanager
def started_probe(limits: SandboxLimits) -> Iterator[tuple[Path, SandboxChild]]:
    """The probe, started now in a fresh private directory: it imports NumPy while we draw the
    inputs, and waits for `run_probe` to hand it its files."""
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp, \
            started_python([str(PROBE)], cwd=Path(tmp), limits=limits, stdin=True) as child:
        yield Path(tmp), child


def run_probe(probe: tuple[Path, SandboxChild], source: bytes, inputs: dict[str, np.ndarray],
              plan: dict) -> ProbeRun:
    """Give the started probe the candidate's dropout.py and our inputs (nothing else), let it run,
    and collect what it wrote."""
    workdir, child = probe
    (workdir / SOLUTION_FILE).write_bytes(source)
    np.savez(workdir / "inputs.npz", **inputs)
    (workdir / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    result = child.finish()
    progress = read_child_file(workdir / "progress.txt", MAX_PROGRESS_BYTES) or b""
    stages = progress.decode("utf-8", errors="replace").splitlines()
    run = ProbeRun(result, stage=stages[-1] if stages else "starting")
    if run.stage == "done" and result.returncode == 0:
        _read_results(workdir, run)
    return run


def _read_results(workdir: Path, run: ProbeRun) -> None:
    """Fill in the report and arrays the child wrote, if both are sound; leave them None otherwise."""
    report_bytes = read_child_file(workdir / "report.json", MAX_REPORT_BYTES)
    outputs = read_child_file(workdir / "outputs.npz", MAX_OUTPUT_BYTES)
    if report_bytes is None or outputs is None:
        return
    try:
        report = json.loads(report_bytes.decode("utf-8"))
        arrays = load_child_arrays(outputs, MAX_ARRAY_BYTES)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return
    if isinstance(report, dict):
        run.report, run.outputs = report, arrays


def process_failure(run: ProbeRun) -> tuple[str, str]:
    """Category and message for a child that handed back no usable results."""
    sandbox = run.sandbox
    where = STAGE_WORDS.get(run.stage, run.stage.replace("call ", "calling "))
    if sandbox.timed_out:
        return "timeout", f"timed out while {where}"
    if sandbox.signal_name:
        return "crashed", f"{sandbox.describe_end()} while {where}"
    last_error = (sandbox.stderr.strip().splitlines() or [""])[-1][:200]
    if "MemoryError" in last_error:
        return "crashed", f"ran out of memory while {where}"
    if run.stage == "done":
        return "bad_output", "the child's results could not be read"
    return "early_exit", f"exited ({sandbox.describe_end()}) while {where}; {last_error}".rstrip("; ")


# ---- the checks ---------------------------------------------------------------------------------


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


class _Checker:
    """Computes every check from the inputs we sent and the raw outputs we got back."""

    def __init__(self, spec: TaskSpec, tolerance: float, inputs: dict, plan: dict, run: ProbeRun):
        self.spec, self.tolerance, self.inputs, self.plan = spec, tolerance, inputs, plan
        self.outputs = run.outputs
        self.errors: dict[str, str] = run.report.get("call_errors", {}) if run.report else {}
        self.report = run.report or {}
        self.alpha = grader_power.event_budget(spec.p_values)
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
        delta = grader_power.deviation_threshold(y.size, p, self.alpha)
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
        limit = expected + grader_power.deviation_threshold(masks[0].size, expected, self.alpha)
        return Check("fresh_mask", agreement <= limit, agreement, limit, p=p,
                     detail="fraction of positions dropped/kept alike in two calls")

    def mask_independent(self, p: float, y: np.ndarray) -> Check:
        dropped = y == 0
        gap = float(max(abs(dropped[split].mean() - dropped[~split].mean()) for split in self.value_splits))
        limit = 2 * grader_power.deviation_threshold(self.inputs["mask_x"].size // 2, p, self.alpha)
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
        per_p = [self.per_p(p) for p in self.spec.p_values]
        for i in range(len(per_p[0])):  # group by check, then by p
            checks += [checks_at_p[i] for checks_at_p in per_p]
        return checks


# ---- the entry point ----------------------------------------------------------------------------


def _verdict(checks: list[Check], tolerance: float, seed: int, start: float) -> GradeResult:
    failed = next((c for c in checks if not c.passed), None)
    if failed is None:
        message = f"passed all {len(checks)} checks"
    else:
        at_p = f" at p={failed.p:g}" if failed.p is not None else ""
        message = (f"failed {failed.name}{at_p}: {format_measurement(failed.value)} (required "
                   f"{format_measurement(failed.threshold)})")
    return GradeResult(failed is None, failed.name if failed else None, message, checks,
                       tolerance, seed, time.monotonic() - start)


def grade_workspace(
    workspace: Path | str,
    tolerance: float = DEFAULT_TASK.tolerance,
    seed: int | None = None,
    spec: TaskSpec = DEFAULT_TASK,
    limits: SandboxLimits = GRADE_LIMITS,
) -> GradeResult:
    """Grade the `dropout.py` in `workspace` with fresh inputs (from `seed`, fresh when None)."""
    start = time.monotonic()
    workspace = Path(workspace)
    if not 0 < tolerance < 1:
        raise ValueError(f"tolerance must be between 0 and 1, got {tolerance}")
    if not workspace.is_dir():
        raise UnusableWorkspace(f"no workspace directory at {workspace}")
    solution = workspace / SOLUTION_FILE
    if not solution.is_file():
        raise UnusableWorkspace(f"{solution} does not exist: nothing to grade")
    seed = secrets.randbits(63) if seed is None else seed
    checks = [visible_tests_check(workspace)]
    source = solution.read_bytes()
    try:
        source.decode("utf-8")
    except UnicodeDecodeError as exc:
        checks.append(Check("source_readable", False, f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                            "UTF-8 Python source"))
        return _verdict(checks, tolerance, seed, start)
    with started_probe(limits) as probe:
        inputs, plan = make_inputs(spec, np.random.default_rng(seed)), make_plan(spec)
        run = run_probe(probe, source, inputs, plan)
    if run.report is None:
        category, message = process_failure(run)
        checks.append(Check(category, False, message, "the module imports and every call returns"))
    elif "stage_error" in run.report:
        category, message = run.report["stage_error"]
        checks.append(Check(category, False, message, "dropout.py imports and defines the class"))
    else:
        checks += _Checker(spec, tolerance, inputs, plan, run).all_checks()
    return _verdict(checks, tolerance, seed, start)

