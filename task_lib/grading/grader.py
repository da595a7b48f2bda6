"""The trusted side of grading, for any task: start the task's child program in the sandbox, draw
the task's fresh inputs while it starts, hand them over on its stdin, read back what it sent on its
results pipe (records keyed with a secret drawn for this grade, parsed defensively: see
task_lib/grading/grade_channel.py), and turn the task's checks into a verdict. The checks run at the
child's checkpoint, while it does its late work and ends (`finish_probe`), and count only if the
whole stream turns out sound with nothing after the checkpoint that they read.

Contract: `grade_workspace(path, task)` never raises for anything the candidate did; it raises
`UnusableWorkspace` only when there is nothing to grade (no directory, a solution file missing or
not a regular file). Only the task's solution files are read from the workspace (plus the protected
files' hashes); nothing from it is imported. The task's checks module (and with it NumPy) is
imported only once the child is starting, so that the two imports overlap.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from task_lib.grading.grade_channel import Results, ResultsPipe, checkpoint_marker, job_bytes, parse_results
from task_lib.grading.grade_tables import format_measurement
from task_lib.grading.verdict import Check, GradeResult
from task_lib.registry import get_task
from task_lib.sandbox.run import (
    SandboxChild,
    SandboxLimits,
    SandboxResult,
    isolation,
    package_paths,
    started_python,
)
from task_lib.sandbox.untrusted_files import read_untrusted_file
from task_lib.sandbox.untrusted_trees import remove_tree
from task_lib.task import Task

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Check", "GradeResult", "UnusableWorkspace", "grade_workspace"]

CHILD_LOOP = Path(__file__).with_name("grade_child.py")
CHILD_KIT = Path(__file__).with_name("child_kit.py")
# The child's whole command line after `python -I -B -S` (no `site`: no .pth file runs, and the program
# puts site-packages on sys.path itself): it reads its program from stdin and runs it in a private
# namespace with its own copy of the builtins (see grade_child.py).
BOOTSTRAP = ('import sys;exec(sys.stdin.buffer.read(int(sys.stdin.buffer.readline())),'
             '{"__builtins__":dict(vars(__builtins__))})')
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


@functools.cache
def child_program(task: Task) -> bytes:
    """The program the grader's child runs: a line putting site-packages on sys.path, the harness's
    child kit and the helpers the task asks for (`Task.child_parts`), the task's driver, then the
    harness's child loop."""
    helpers = [CHILD_KIT.with_name(name).read_text(encoding="utf-8") for name in task.child_parts]
    parts = [f"__import__('sys').path.extend({package_paths()!r})", CHILD_KIT.read_text(encoding="utf-8"),
             *helpers, task.file_text("driver.py"), CHILD_LOOP.read_text(encoding="utf-8")]
    return "\n\n".join(parts).encode("utf-8")


# ---- running the probe --------------------------------------------------------------------------


@dataclass
class ProbeRun:
    """What came back from the child: its report and arrays, or the category of why not."""

    sandbox: SandboxResult
    report: dict[str, Any] | None = None
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    stage: str = ""
    forged: bool = False  # the results held bytes that were not this grade's records, or too many
    checks: list[Check] | None = None  # the task's checks, if computed at the checkpoint and still true


@dataclass
class Probe:
    """A started child: its private directory, the sandboxed process, the pipe its results come on."""

    workdir: Path
    child: SandboxChild
    results: ResultsPipe


@contextlib.contextmanager
def started_probe(task: Task, limits: SandboxLimits, files: dict[str, bytes]) -> Iterator[Probe]:
    """The task's child program, started now in a fresh private directory holding `files`: it imports
    its libraries while we draw the inputs, and waits for `run_probe` to hand them over. Nothing the
    child writes stays on the host (under bubblewrap it writes into a tmpfs; otherwise into the
    directory, removed at the end)."""
    workdir = Path(tempfile.mkdtemp(prefix="grade-"))
    results = ResultsPipe()
    try:
        for name, data in files.items():
            (workdir / name).write_bytes(data)
        with started_python(["-S", "-c", BOOTSTRAP], cwd=workdir, limits=limits, stdin=True,
                            pass_fds=[results.child_fd], keep_changes=False) as child:
            results.start()
            program = child_program(task)
            with contextlib.suppress(OSError):  # a child that died at once is reported by finish()
                child.process.stdin.write(f"{len(program)}\n".encode("ascii") + program)
                child.process.stdin.flush()
            yield Probe(workdir, child, results)
    finally:
        results.close()
        remove_tree(workdir)


EarlyChecks = Callable[[dict[str, Any], dict[str, "np.ndarray"]], "list[Check] | None"]


class _Finishing:
    """`child.finish(job)` in a thread of its own, so that the grader can work meanwhile."""

    def __init__(self, child: SandboxChild, job: bytes):
        self.result: SandboxResult | None = None
        self._thread = threading.Thread(target=self._run, args=(child, job), daemon=True)
        self._thread.start()

    def _run(self, child: SandboxChild, job: bytes) -> None:
        try:
            self.result = child.finish(job)
        except Exception:  # reported by wait(): a harness bug, raised in the grader's own thread
            self.result = None

    def running(self) -> bool:
        return self._thread.is_alive()

    def wait_quietly(self) -> None:
        self._thread.join()

    def wait(self) -> SandboxResult:
        self._thread.join()
        if self.result is None:  # finish() raised in its thread: a harness bug, raised here
            raise RuntimeError("the grader's child could not be finished")
        return self.result


def finish_probe(probe: Probe, inputs: dict[str, np.ndarray], plan: dict, *,
                 prepare: Callable[[], None] | None = None,
                 early: EarlyChecks | None = None) -> tuple[SandboxResult, bytes, str, Results | None, Any]:
    """Hand the started child our plan and inputs on its stdin, under a fresh key, and let it run;
    meanwhile `prepare()`, then, once the child's checkpoint has come, `early(report, outputs)` on
    what came up to it (the child goes on with its late work). Returns what the child did, what came
    on the results pipe, the key, and the checkpoint's results and early checks (None, None if the
    checkpoint never came)."""
    key = secrets.token_hex(16)
    probe.results.expect(checkpoint_marker(key))
    finishing = _Finishing(probe.child, job_bytes(key, probe.results.child_fd, plan, inputs))
    try:
        if prepare is not None:
            prepare()
        prefix = probe.results.until_marker(finishing.running)
        at_checkpoint, checks = None, None
        if prefix is not None:
            at_checkpoint = parse_results(prefix, key)
            if at_checkpoint.checkpoint and not at_checkpoint.forged \
                    and isinstance(at_checkpoint.report, dict) and early is not None:
                checks = early(at_checkpoint.report, at_checkpoint.outputs)
    except BaseException:  # our own failure (or an interrupt): end the child before its directory goes
        probe.child.stop()
        finishing.wait_quietly()
        raise
    result = finishing.wait()
    stream = probe.results.collected()
    if prefix is not None and not stream.startswith(prefix):
        at_checkpoint, checks = None, None
    return result, stream, key, at_checkpoint, checks


def read_results(result: SandboxResult, stream: bytes, key: str, *, complete: bool) -> ProbeRun:
    """What the child sent under `key`; used only if the stream was `complete`, every byte of it a
    record of this grade, `done` came last, and the child exited 0."""
    found = parse_results(stream, key)
    run = ProbeRun(result, stage=found.stage, forged=found.forged or not complete)
    if found.done and not run.forged and result.returncode == 0 and isinstance(found.report, dict):
        run.stage, run.report, run.outputs = "done", found.report, found.outputs
    return run


def run_probe(probe: Probe, inputs: dict[str, np.ndarray], plan: dict, *,
              prepare: Callable[[], None] | None = None, early: EarlyChecks | None = None) -> ProbeRun:
    """`finish_probe`, then `read_results`; the early checks are the run's `checks` when nothing but
    stages and arrays the checks never read came after the checkpoint (else they are computed again by
    the caller, on everything)."""
    result, stream, key, at_checkpoint, checks = finish_probe(probe, inputs, plan, prepare=prepare,
                                                              early=early)
    run = read_results(result, stream, key, complete=probe.results.complete)
    if run.report is not None and at_checkpoint is not None and checks is not None \
            and run.report == at_checkpoint.report and run.outputs.keys() == at_checkpoint.outputs.keys():
        run.checks = checks
    return run


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
    if run.forged:
        return "bad_output", ("the child's results were not the harness's records alone "
                              "(forged, cut short or too long)")
    if run.stage == "write":
        return "bad_output", "the child's results could not be read"
    return "early_exit", f"exited ({sandbox.describe_end()}) while {where}; {last_error}".rstrip("; ")


def stage_error(report: dict[str, Any]) -> tuple[str, str] | None:
    """The child's [category, message] for a solution that did not load, if it reported one;
    a malformed one is itself a failure."""
    if "stage_error" not in report:
        return None
    error = report["stage_error"]
    if isinstance(error, list) and len(error) == 2 and all(isinstance(item, str) for item in error) \
            and error[0] in ("syntax_error", "import_error"):
        return error[0], " ".join(error[1].split())[:300]
    return "bad_output", "the child reported a malformed stage error"


def task_checks_of(task_checks: Any, params: dict[str, Any], inputs: dict[str, np.ndarray], plan: dict,
                   report: dict[str, Any], outputs: dict[str, np.ndarray]) -> list[Check]:
    """The task's checks on what came back; a report so malformed that they cannot be computed is a
    failed `bad_output` check, never an exception."""
    try:
        return task_checks.run_checks(params, inputs, plan, report, outputs)
    except Exception as exc:  # the report's shape is the child's doing
        return [Check("bad_output", False, f"the child's report could not be checked ({type(exc).__name__})",
                      "a well-formed report")]


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


def probe_files(task: Task, sources: dict[str, bytes]) -> dict[str, bytes]:
    """The files of the child's directory: the candidate's solution files, and every other starting
    file as it started (so the directory looks like the workspace; nothing else of it is copied)."""
    others = {name: task.starting_text(name).encode("utf-8") for name in task.starting_files
              if name not in sources}
    return others | sources


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
    with started_probe(task, limits or task.grade_limits, probe_files(task, sources)) as probe:
        import numpy as np  # while the child starts

        task_checks = task.module("checks")
        inputs, plan = task_checks.make_job(params, np.random.default_rng(seed))
        prepare = getattr(task_checks, "prepare", None)

        def early(report: dict[str, Any], outputs: dict[str, np.ndarray]) -> list[Check] | None:
            if stage_error(report) is not None:
                return None
            return task_checks_of(task_checks, params, inputs, plan, report, outputs)

        run = run_probe(probe, inputs, plan, early=early,
                        prepare=None if prepare is None else lambda: prepare(params, inputs, plan))
    if run.report is None:
        category, message = process_failure(run, task_checks.STAGE_WORDS)
        checks.append(Check(category, False, message, "the solution imports and every call returns"))
    elif (error := stage_error(run.report)) is not None:
        checks.append(Check(error[0], False, error[1], "the solution imports and defines what it must"))
    else:
        checks += run.checks if run.checks is not None else task_checks_of(task_checks, params, inputs, plan,
                                                                           run.report, run.outputs)
    return _verdict(task, checks, params, seed, start)
