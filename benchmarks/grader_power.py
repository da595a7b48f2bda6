"""Grader power: the false-fail bound of a correct solution and the false-pass bounds of the nearest
wrong scales at the pinned sample size (task_lib.grader_power), confirmed by repeated grades; and the
spread of the measured variance ratios against its theoretical standard deviation."""

import math
import statistics
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import machine, parser, table

from task_lib.agent.workspace import create_workspace
from task_lib.grading.grader import GradeResult, grade_workspace
from task_lib.registry import get_task
from task_lib.tasks.variance_dropout import design, power

TASK, SOLUTION_FILE = get_task("variance-dropout"), "dropout.py"
P_VALUES, TOLERANCE, N = design.P_VALUES, design.DEFAULT_TOLERANCE, design.N_VARIANCE
CORRECT_LINE = "return x * keep / math.sqrt(1.0 - self.p)"
NEAR = power.near_misses()
# name: (the reference's scaling line replaced by, c^2 as a function of p)
SOLUTIONS = {
    "reference 1/sqrt(1-p)": (CORRECT_LINE, lambda p: 1 / (1 - p)),
    "(1-p)^-0.45": ("return x * keep * (1.0 - self.p) ** -0.45", NEAR["(1-p)^-0.45"]),
    "(1-p)^-0.55": ("return x * keep * (1.0 - self.p) ** -0.55", NEAR["(1-p)^-0.55"]),
    "1/sqrt(p)": ("return x * keep / math.sqrt(self.p)", NEAR["1/sqrt(p)"]),
}


def false_fail_bound() -> tuple[float, float]:
    """Bounds on a correct solution failing: the variance checks, and the other statistical checks."""
    others = ((power.TAIL_EVENTS - 3 * len(P_VALUES)) * power.event_budget()
              + power.MASK_EVENTS * power.mask_event_budget())
    return power.false_fail_probability(N, P_VALUES, TOLERANCE), others


def ratio_sd(p: float, scale_sq: float) -> float:
    """Standard deviation of Var(y)/Var(x) = c^2 k/n (k ~ Bin(n, 1-p)), ignoring the O(1/n) term."""
    return scale_sq * math.sqrt(p * (1 - p) / N)


def workspace(directory: Path, line: str) -> Path:
    source = TASK.reference_text("dropout.py")
    assert source.count(CORRECT_LINE) == 1, "the reference dropout.py changed: update the benchmark"
    path = create_workspace(directory)
    (path / SOLUTION_FILE).write_text(source.replace(CORRECT_LINE, line), encoding="utf-8")
    return path


def grade_each(count: int) -> dict[str, list[GradeResult]]:
    """`count` fresh grades of every solution, two at a time (each grade runs its own child)."""
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=2) as pool:
        spaces = {name: workspace(Path(tmp) / f"ws{i}", line)
                  for i, (name, (line, _)) in enumerate(SOLUTIONS.items())}
        return {name: list(pool.map(lambda _, ws=ws: grade_workspace(ws), range(count)))
                for name, ws in spaces.items()}


def verdict_rows(results: dict[str, list[GradeResult]]) -> list[list]:
    variance, others = false_fail_bound()
    rows = []
    for name, (_, scale_sq) in SOLUTIONS.items():
        correct = name.startswith("reference")
        bound = variance + others if correct else \
            power.false_pass_probability(N, P_VALUES, TOLERANCE, scale_sq)
        wrong = sum(result.passed != correct for result in results[name])
        verdicts = Counter(result.failure or "passed" for result in results[name])
        shown = f"{bound:.1e}" if bound else "< 1e-300"  # exp() underflows far out in the tail
        rows.append([name, "false fail" if correct else "false pass", shown, len(results[name]), wrong,
                     ", ".join(f"{verdict} {n}" for verdict, n in verdicts.items())])
    return rows


def spread_rows(results: dict[str, list[GradeResult]]) -> list[list]:
    rows = []
    for name, (_, scale_sq) in SOLUTIONS.items():
        for p in P_VALUES:
            ratios = [check.value for result in results[name] for check in result.checks
                      if (check.name, check.p) == ("variance_ratio", p)]
            expected, sd = scale_sq(p) * (1 - p), ratio_sd(p, scale_sq(p))
            margin = min(abs(expected - (1 - TOLERANCE)), abs(expected - (1 + TOLERANCE)))
            spread = statistics.stdev(ratios) if len(ratios) > 1 else float("nan")
            rows.append([name, p, f"{expected:.4f}", f"{sd:.5f}", f"{margin / sd:.1f}",
                         f"{statistics.mean(ratios):.4f}", f"{spread:.5f}", f"{spread / sd:.2f}"])
    return rows


def main() -> None:
    args = parser(__doc__).parse_args()
    results = grade_each(1 if args.quick else 200)
    variance, others = false_fail_bound()
    print(f"# Grader power ({machine()})\n")
    print(f"Pinned sample size: n = {N:,} zero-mean inputs per checked p (p = {list(P_VALUES)}), "
          f"tolerance {TOLERANCE:g}.\n")
    table(["solution", "error", "bound (maths)", "grades", "wrong verdicts", "verdicts"],
          verdict_rows(results))
    print(f"The correct solution's bound: {variance:.1e} from the variance checks + {others:.1e} budgeted "
          f"to the other statistical checks (false-fail budget {power.FALSE_FAIL_BUDGET:g}).\n")
    print("Measured variance ratio Var(y)/Var(x), against c^2 (1-p) and its sd c^2 sqrt(p(1-p)/n):\n")
    table(["solution", "p", "expected", "theory sd", "sds to nearest band edge", "mean", "sd", "sd / theory"],
          spread_rows(results))


if __name__ == "__main__":
    main()
