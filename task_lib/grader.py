"""The trusted side of grading, for any task: start the task's child program in the sandbox, draw
the task's fresh inputs while it starts, hand them over, read back what it wrote (safely), and turn
the task's checks into a verdict.

Contract: `grade_workspace(path, task)` never raises for anything the candidate did; it raises
`UnusableWorkspace` only when there is nothing to grade (no directory, a solution file missing or
not a regular file). Only the task's solution files are read from the workspace (plus the protected
files' hashes); nothing from it is imported. The task's checks module (and with it NumPy) is
imported only once the child is starting, so that the two imports overlap.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from task_lib.grade_tables import format_measurement
from task_lib.registry import get_task
from task_lib.sandbox import SandboxChild, SandboxLimits, SandboxResult, isolation, started_python
from task_lib.task import Task
from task_lib.untrusted_files import load_untrusted_arrays, read_untrusted_file
from task_lib.verdict import Check, GradeResult

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Check", "GradeResult", "UnusableWorkspace", "grade_workspace"]

CHILD_LOOP = Path(__file__).with_name("grade_child.py")
# Bounds on what the child may hand back (ours are about 10 MiB of arrays and a few KiB of text).
MAX_OUTPUT_BYTES = 256 * 1024**2
MAX_ARRAY_BYTES = 64 * 1024**2
MAX_REPORT_BYTES = MAX_PROGRESS_BYTES = 1024**2
MAX_SOURCE_BYTES = 1024**2  # each solution and protected file as read from the workspace
STAGE_WORDS = {"starting": "starting", "load": "loading the solution", "import": "importing the solution",
               "write": "writing results"}


class UnusableWorkspace(Exception):
    """There is nothing to grade: the directory or a solution file is missing."""


def protected_files_check(task: Task, workspace: Path) -> Check:
    """The task's protected files (its visible tests) must be byte-for-byte as they started."""
    states = {}
    for name in task.protected_files:
        expected = hashlib.sha256(task.starting_text(name).encode("utf-8")).hexdigest()
        data = read_untrusted_file(workspace / name, MAX_SOURCE_BYTES)
        found = None if data is None else hashlib.sha256(data).hexdigest()
        states[name] = "missing" if found is None else "unchanged" if found == expected else "changed"
    wrong = {name: state for name, state in states.items() if state != "unchanged"}
    value = "unchanged" if not wrong else "; ".join(f"{name} {state}" for name, state in wrong.items())
    return Check("test_file_unchanged", not wrong, value, "unchanged", detail=", ".join(task.protected_files))


def child_program(task: Task) -> str:
    """The source the grader's child runs: the task's driver, then the harness's child loop."""
    return task.file_text("driver.py") + "\n\n" + CHILD_LOOP.read_text(encoding="utf-8")


# ---- running the probe --------------------------------------------------------------------------


@dataclass
class ProbeRun:
    """What came back from the child: its report and arrays, or the category of why not."""

    sandbox: SandboxResult
    report: dict[str, Any] | None = None
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    stage: str = ""


@contextlib.contextmanager
def started_probe(task: Task, limits: SandboxLimits) -> Iterator[tuple[Path, SandboxChild]]:
    """The task's child program, started now in a fresh private directory: it imports its
    libraries while we draw the inputs, and waits for `run_probe` to hand it its files."""
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp, \
            started_python(["-c", child_program(task)], cwd=Path(tmp), limits=limits, stdin=True) as child:
        yield Path(tmp), child


def run_probe(probe: tuple[Path, SandboxChild], sources: dict[str, bytes], inputs: dict[str, np.ndarray],
              plan: dict) -> ProbeRun:
    """Give the started child the candidate's solution files and our inputs (nothing else), let it
    run, and collect what it wrote."""
    import numpy as np

    workdir, child = probe
    for name, source in sources.items():
        (workdir / name).write_bytes(source)
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


def process_failure(run: ProbeRun, stage_words: dict[str, str]) -> tuple[str, str]:
    """Category and message for a child that handed back no usable results."""
    sandbox = run.sandbox
    where = (STAGE_WORDS | stage_words).get(run.stage, run.stage.replace("call ", "calling "))
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


def _verdict(task: Task, checks: list[Check], params: dict[str, float], seed: int,
             start: float) -> GradeResult:
    clauses = task.module("checks").CLAUSES
    checks = [replace(c, clause=c.clause or clauses.get(c.name, "")) for c in checks]
    failed = next((c for c in checks if not c.passed), None)
    if failed is None:
        message = f"passed all {len(checks)} checks"
    else:
        at_p = f" at p={failed.p:g}" if failed.p is not None else ""
        message = (f"failed {failed.name}{at_p}: {format_measurement(failed.value)} (required "
                   f"{format_measurement(failed.threshold)})")
    return GradeResult(failed is None, failed.name if failed else None, message, checks, task.name,
                       task.version, params, seed, time.monotonic() - start, isolation().mechanism)


def read_solution(task: Task, workspace: Path) -> dict[str, bytes]:
    """The bytes of every solution file; UnusableWorkspace when one is missing or not a regular file."""
    if not workspace.is_dir():
        raise UnusableWorkspace(f"no workspace directory at {workspace}")
    sources = {}
    for name in task.solution_files:
        path = workspace / name
        if not path.exists() and not path.is_symlink():
            raise UnusableWorkspace(f"{path} does not exist: nothing to grade")
        source = read_untrusted_file(path, MAX_SOURCE_BYTES)
        if source is None:
            raise UnusableWorkspace(f"{path} is not a regular file of at most {MAX_SOURCE_BYTES // 1024} KiB "
                                    "(a symlink, directory, FIFO or device is not graded)")
        sources[name] = source
    return sources


def unreadable_source(sources: dict[str, bytes]) -> Check | None:
    """A failed `source_readable` check for the first solution file that is not UTF-8 text."""
    for name, source in sources.items():
        try:
            source.decode("utf-8")
        except UnicodeDecodeError as exc:
            why = f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})"
            return Check("source_readable", False, why, "UTF-8 Python source")
    return None


def grade_workspace(
    workspace: Path | str,
    task: Task | None = None,
    params: dict[str, Any] | None = None,
    seed: int | None = None,
    limits: SandboxLimits | None = None,
) -> GradeResult:
    """Grade `task`'s solution files in `workspace` (default task: variance-dropout) with fresh inputs
    (from `seed`, fresh when None), at `params` (the task's defaults, overridden; ValueError for an
    unknown or out-of-range one) and the task's grade limits unless `limits` are given."""
    start = time.monotonic()
    task = task or get_task()
    params = task.resolve_params(params)
    task.check_available()
    workspace = Path(workspace)
    sources = read_solution(task, workspace)
    seed = secrets.randbits(63) if seed is None else seed
    checks = [protected_files_check(task, workspace)]
    if (unreadable := unreadable_source(sources)) is not None:
        return _verdict(task, [*checks, unreadable], params, seed, start)
    with started_probe(task, limits or task.grade_limits) as probe:
        import numpy as np  # while the child starts

        task_checks = task.module("checks")
        inputs, plan = task_checks.make_job(params, np.random.default_rng(seed))
        run = run_probe(probe, sources, inputs, plan)
    if run.report is None:
        category, message = process_failure(run, task_checks.STAGE_WORDS)
        checks.append(Check(category, False, message, "the solution imports and every call returns"))
    elif "stage_error" in run.report:
        category, message = run.report["stage_error"]
        checks.append(Check(category, False, message, "the solution imports and defines what it must"))
    else:
        checks += task_checks.run_checks(params, inputs, plan, run.report, run.outputs)
    return _verdict(task, checks, params, seed, start)
