"""The trusted side of grading: start the candidate's child process, draw fresh inputs while it starts,
hand them over, read back what it wrote (safely), and turn the contract checks into a verdict.

Contract: `grade_workspace(path)` never raises for anything the candidate did; it raises
`UnusableWorkspace` only when there is nothing to grade (no directory, no `dropout.py`).
Only `dropout.py` is read from the workspace (plus the test file's hash); nothing from it is imported.
NumPy is imported only once the child is starting, so that the two imports overlap.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from task_lib.grade_tables import format_measurement
from task_lib.sandbox import SandboxChild, SandboxLimits, SandboxResult, started_python
from task_lib.task import DEFAULT_TASK, SOLUTION_FILE, TEST_FILE, TaskSpec, template_text
from task_lib.untrusted_files import load_untrusted_arrays, read_untrusted_file
from task_lib.verdict import Check, GradeResult

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Check", "GradeResult", "UnusableWorkspace", "grade_workspace"]

PROBE = Path(__file__).with_name("probe.py")
GRADE_LIMITS = SandboxLimits(wall_seconds=DEFAULT_TASK.grade_seconds, cpu_seconds=DEFAULT_TASK.grade_seconds,
                             memory_bytes=DEFAULT_TASK.grade_memory_gib * 1024**3)
# Bounds on what the child may hand back (ours are about 10 MiB of arrays and a few KiB of text).
MAX_OUTPUT_BYTES = 256 * 1024**2
MAX_ARRAY_BYTES = 64 * 1024**2
MAX_REPORT_BYTES = MAX_PROGRESS_BYTES = 1024**2
MAX_SOURCE_BYTES = 1024**2  # dropout.py and test_dropout.py as read from the workspace
STAGE_WORDS = {"starting": "starting", "load": "compiling dropout.py", "import": "importing dropout.py",
               "construct": "constructing layers", "write": "writing results"}


class UnusableWorkspace(Exception):
    """There is nothing to grade: the directory or its dropout.py is missing."""


def visible_tests_check(workspace: Path) -> Check:
    """The visible test file must be byte-for-byte the one the task started with."""
    expected = hashlib.sha256(template_text(TEST_FILE).encode("utf-8")).hexdigest()
    data = read_untrusted_file(workspace / TEST_FILE, MAX_SOURCE_BYTES)
    found = None if data is None else hashlib.sha256(data).hexdigest()
    state = "missing" if found is None else "unchanged" if found == expected else "changed"
    return Check("test_file_unchanged", state == "unchanged", state, "unchanged", detail=TEST_FILE)


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
            started_python(["-c", PROBE.read_text()], cwd=Path(tmp), limits=limits, stdin=True) as child:
        yield Path(tmp), child


def run_probe(probe: tuple[Path, SandboxChild], source: bytes, inputs: dict[str, np.ndarray],
              plan: dict) -> ProbeRun:
    """Give the started probe the candidate's dropout.py and our inputs (nothing else), let it run,
    and collect what it wrote."""
    import numpy as np

    workdir, child = probe
    (workdir / SOLUTION_FILE).write_bytes(source)
    np.savez(workdir / "inputs.npz", **inputs)
    (workdir / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    result = child.finish()
    progress = read_untrusted_file(workdir / "progress.txt", MAX_PROGRESS_BYTES) or b""
    stages = progress.decode("utf-8", errors="replace").splitlines()
    run = ProbeRun(result, stage=stages[-1] if stages else "starting")
    if run.stage == "done" and result.returncode == 0:
        _read_results(workdir, run)
    return run


def _read_results(workdir: Path, run: ProbeRun) -> None:
    """Fill in the report and arrays the child wrote, if both are sound; leave them None otherwise."""
    report_bytes = read_untrusted_file(workdir / "report.json", MAX_REPORT_BYTES)
    outputs = read_untrusted_file(workdir / "outputs.npz", MAX_OUTPUT_BYTES)
    if report_bytes is None or outputs is None:
        return
    try:
        report = json.loads(report_bytes.decode("utf-8"))
        arrays = load_untrusted_arrays(outputs, MAX_ARRAY_BYTES)
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
    if not solution.exists() and not solution.is_symlink():
        raise UnusableWorkspace(f"{solution} does not exist: nothing to grade")
    source = read_untrusted_file(solution, MAX_SOURCE_BYTES)
    if source is None:
        raise UnusableWorkspace(f"{solution} is not a regular file of at most {MAX_SOURCE_BYTES // 1024} KiB "
                                "(a symlink, directory, FIFO or device is not graded)")
    seed = secrets.randbits(63) if seed is None else seed
    checks = [visible_tests_check(workspace)]
    try:
        source.decode("utf-8")
    except UnicodeDecodeError as exc:
        checks.append(Check("source_readable", False, f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                            "UTF-8 Python source"))
        return _verdict(checks, tolerance, seed, start)
    with started_probe(limits) as probe:
        import numpy as np  # while the child starts

        from task_lib import contract_checks

        inputs = contract_checks.make_inputs(spec, np.random.default_rng(seed))
        plan = contract_checks.make_plan(spec)
        run = run_probe(probe, source, inputs, plan)
    if run.report is None:
        category, message = process_failure(run)
        checks.append(Check(category, False, message, "the module imports and every call returns"))
    elif "stage_error" in run.report:
        category, message = run.report["stage_error"]
        checks.append(Check(category, False, message, "dropout.py imports and defines the class"))
    else:
        checker = contract_checks.ContractChecker(spec, tolerance, inputs, plan, run.report, run.outputs)
        checks += checker.all_checks()
    return _verdict(checks, tolerance, seed, start)

