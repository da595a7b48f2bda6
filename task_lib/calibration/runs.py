"""Calibration: N attempts run concurrently behind a semaphore, each saved the moment it finishes; the
summary of a run (pass rate with its Wilson interval, band verdict, failure mix, cost); and regrading
a saved run at other task parameters without any model call.

A run directory holds `run.json` (how it was started), `attempts.jsonl` (one AttemptRecord per line,
appended, flushed and fsynced per attempt, in finishing order) and `attempts/NNNN/` (each attempt's
transcript and final workspace). Resuming runs only the indices missing from `attempts.jsonl`; a
half-written last line (a run killed mid-write) is dropped and its attempt run again. An attempt that
met a refused key (401) never ran the task: it is not recorded, no new attempt starts, and the summary
says why the run stopped.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from task_lib.agent.backends import Backend
from task_lib.agent.loop import OUTCOMES, WORKSPACE_DIR, AttemptRecord, grade_saved, run_attempt
from task_lib.agent.pricing import Usage, price_note
from task_lib.calibration.stats import BAND, band_verdict, wilson_interval
from task_lib.registry import UnknownTask, get_task
from task_lib.task import AgentLimits, Task

RUN_FILE, ATTEMPTS_FILE, ATTEMPTS_DIR = "run.json", "attempts.jsonl", "attempts"
DEFAULT_CONCURRENCY = 4


class CalibrationError(ValueError):
    """A run directory that cannot be used as asked: the message says what to change."""


@dataclass
class Progress:
    """Where a run stands: attempts finished (of `total`), outcome counts, the latest record."""

    done: int
    total: int
    outcomes: dict[str, int]
    latest: AttemptRecord | None = None


ProgressCallback = Callable[[Progress], None]


@dataclass
class RunConfig:
    """How a run was started; saved as run.json and checked on resume."""

    backend: str
    model: str
    label: str
    runs: int
    task: str
    task_version: str
    params: dict[str, float]
    limits: dict[str, int] = field(default_factory=lambda: asdict(AgentLimits()))
    started: str = ""

    def describe_task(self) -> str:
        return f"{self.task} version {self.task_version}"


def default_run_dir(backend: str, task: Task, root: Path | str = "runs") -> Path:
    """`root`/<backend>-<task>-<task version>: a run per backend, task and version (`calibrate`'s
    default, where `make run` and the calibration notebook look), so an edited task gets a new run."""
    return Path(root) / f"{backend}-{task.name}-{task.version}"


def attempt_dir(run_dir: Path | str, index: int) -> Path:
    """Where attempt `index` keeps its transcript and final workspace."""
    return Path(run_dir) / ATTEMPTS_DIR / f"{index:04d}"


# ---- the files of a run -------------------------------------------------------------------------


def load_config(run_dir: Path | str) -> RunConfig:
    """The run.json of a run directory; CalibrationError if there is none."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise CalibrationError(f"{run_dir} holds no calibration run (no {RUN_FILE})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "task" not in data:  # made before runs recorded their task
            tolerance = data.pop("tolerance", None)
            data |= {"task": "variance-dropout", "task_version": "unrecorded",
                     "params": {} if tolerance is None else {"tolerance": tolerance}}
        return RunConfig(**data)
    except (ValueError, TypeError) as exc:
        raise CalibrationError(f"{path} is not a readable run description: {exc}") from None


def task_of_run(config: RunConfig, task: Task | None = None) -> Task:
    """The task a saved run was made with; CalibrationError in one line naming both when `task`
    (default: the run's own task, as registered now) is another task or another version."""
    try:
        current = task or get_task(config.task)
    except UnknownTask as exc:
        raise CalibrationError(f"the run's task is not registered here: {exc}") from None
    if (current.name, current.version) != (config.task, config.task_version):
        raise CalibrationError(f"the run was made by task {config.describe_task()}, not {current.name} "
                               f"version {current.version}: use another run directory")
    return current


def load_attempts(run_dir: Path | str, *, repair: bool = False) -> list[AttemptRecord]:
    """The recorded attempts in index order (the last record of an index wins).

    A last line without its newline (a run killed mid-write) is skipped; with `repair` it is also
    cut from the file, so that appends start on a fresh line. Any other unreadable line raises
    CalibrationError.
    """
    path = Path(run_dir) / ATTEMPTS_FILE
    if not path.is_file():
        return []
    *complete, tail = path.read_bytes().split(b"\n")  # tail is b"" when the file ends with a newline
    records: dict[int, AttemptRecord] = {}
    for number, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            record = AttemptRecord.from_dict(json.loads(line))
        except (ValueError, TypeError) as exc:
            raise CalibrationError(f"{path}:{number} is not an attempt record: {exc}") from None
        records[record.index] = record
    if tail and repair:
        with open(path, "r+b") as handle:
            handle.truncate(sum(len(line) + 1 for line in complete))
    return [records[index] for index in sorted(records)]


class AttemptLog:
    """attempts.jsonl opened for appending: one line per record, flushed and fsynced at once."""

    def __init__(self, path: Path):
        self._file = open(path, "a", encoding="utf-8")

    def append(self, record: AttemptRecord) -> None:
        self._file.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def prepare_run(run_dir: Path, config: RunConfig, resume: bool) -> RunConfig:
    """Check the directory against `config` (resuming: same task and version, backend, model and
    parameters) and save it."""
    saved_path = run_dir / RUN_FILE
    if saved_path.is_file() or (run_dir / ATTEMPTS_FILE).is_file():
        if not resume:
            raise CalibrationError(
                f"{run_dir} already holds a run: add --resume to complete it, or choose another --out"
            )
        saved = load_config(run_dir)
        if (saved.task, saved.task_version) != (config.task, config.task_version):
            raise CalibrationError(f"{run_dir} was made by task {saved.describe_task()}, not "
                                   f"{config.describe_task()}: choose another run directory")
        for name in ("backend", "model", "params"):
            if getattr(saved, name) != getattr(config, name):
                raise CalibrationError(
                    f"{run_dir} was run with {name} {getattr(saved, name)}, not {getattr(config, name)}: "
                    f"resume it with the same {name}, or choose another run directory"
                )
        config = replace(config, started=saved.started)
    run_dir.mkdir(parents=True, exist_ok=True)
    config.started = config.started or time.strftime("%Y-%m-%dT%H:%M:%S%z")
    saved_path.write_text(json.dumps(asdict(config), indent=1) + "\n", encoding="utf-8")
    return config


# ---- running ------------------------------------------------------------------------------------


async def run_calibration(
    backend: Backend,
    model: str,
    run_dir: Path | str,
    runs: int,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    task: Task | None = None,
    params: dict[str, Any] | None = None,
    limits: AgentLimits | None = None,
    resume: bool = False,
    on_progress: ProgressCallback | None = None,
    grade_seed: int | None = None,
) -> dict[str, Any]:
    """Run attempts 0..runs-1 (resuming: only the missing ones), `concurrency` at a time; return
    the run's summary. Cancelling it (Ctrl-C) leaves every finished attempt on disk.

    `grade_seed` fixes the grader's inputs, attempt i using `grade_seed + i` (default: fresh seeds).
    """
    if runs < 1 or concurrency < 1:
        raise CalibrationError(f"runs and concurrency must be at least 1, got {runs} and {concurrency}")
    run_dir = Path(run_dir)
    task = task or backend.task or get_task()
    params = task.resolve_params(params)
    limits = task.agent_limits if limits is None else limits
    config = prepare_run(run_dir, RunConfig(backend.name, model, backend.label, runs, task.name, task.version,
                                            params, asdict(limits)), resume)
    done = {record.index: record for record in load_attempts(run_dir, repair=True)}
    todo = [index for index in range(runs) if index not in done]
    semaphore, stopped = asyncio.Semaphore(concurrency), []
    log = AttemptLog(run_dir / ATTEMPTS_FILE)

    def report(latest: AttemptRecord | None) -> None:
        if on_progress is not None:
            counts = Counter(record.outcome for index, record in done.items() if index < runs)
            on_progress(Progress(len([i for i in done if i < runs]), runs, _counts(counts), latest))

    async def attempt(index: int) -> None:
        async with semaphore:
            if stopped:
                return
            try:
                record = await run_attempt(backend, model, attempt_dir(run_dir, index), index=index,
                                           task=task, limits=limits, params=params,
                                           grade_seed=None if grade_seed is None else grade_seed + index)
            except Exception as exc:  # a harness bug: this attempt is an error, the others go on
                record = AttemptRecord("error", error=f"harness error: {type(exc).__name__}: {exc}",
                                       index=index, model=model, backend=backend.name, label=backend.label,
                                       task=task.name, task_version=task.version, params=params)
        if record.fatal:
            stopped.append(record.error)
            return
        record.directory = str(attempt_dir(run_dir, index).relative_to(run_dir))
        log.append(record)
        done[record.index] = record
        report(record)

    report(None)
    try:
        async with asyncio.TaskGroup() as group:
            for index in todo:
                group.create_task(attempt(index))
    finally:
        log.close()
    records = [done[index] for index in sorted(done) if index < runs]
    return summarize(records, config, run_dir, stopped=stopped[0] if stopped else None)


# ---- summaries ----------------------------------------------------------------------------------


def _counts(counter: Counter) -> dict[str, int]:
    return {outcome: counter.get(outcome, 0) for outcome in OUTCOMES}


def summarize(
    records: Iterable[AttemptRecord],
    config: RunConfig,
    run_dir: Path | str,
    *,
    params: dict[str, float] | None = None,
    stopped: str | None = None,
) -> dict[str, Any]:
    """The summary of a run: outcomes, pass rate = passed / (runs - error) with a 95% Wilson
    interval, the 10-40% band verdict (and the graded runs that would decide it), failure mix, the
    indices of the attempts an error ended, usage and cost. `stopped` says why a run ended before its
    requested runs."""
    records = list(records)
    outcomes = _counts(Counter(record.outcome for record in records))
    graded = len(records) - outcomes["error"]
    verdict = band_verdict(outcomes["passed"], graded)
    usage = Usage()
    for record in records:
        usage.add(record.usage)
    costs = [record.cost_usd for record in records]
    runs_needed = verdict.runs_needed
    return {
        "label": config.label,
        "backend": config.backend,
        "model": config.model,
        "run_dir": str(run_dir),
        "task": config.task,
        "task_version": config.task_version,
        "params": config.params if params is None else params,
        "requested": config.runs,
        "runs": len(records),
        "outcomes": outcomes,
        "pass_rate": outcomes["passed"] / graded if graded else None,
        "ci95": list(wilson_interval(outcomes["passed"], graded)),
        "verdict": verdict.verdict,
        "band": list(BAND),
        "runs_needed": runs_needed,
        "more_runs_needed": None if runs_needed is None else runs_needed - graded,
        "failures": dict(Counter(r.failure for r in records if r.outcome == "failed").most_common()),
        "limits": dict(Counter(r.limit for r in records if r.outcome == "limit").most_common()),
        "errors": dict(Counter(_cause(r.error) for r in records if r.outcome == "error").most_common()),
        "error_attempts": [r.index for r in records if r.outcome == "error"],
        "confinement": dict(Counter(r.isolation or "unknown" for r in records).most_common()),
        "usage": usage.to_dict(),
        "cost_usd": None if None in costs else round(float(sum(costs)), 6),
        "price_note": price_note(records[0].model if records else config.model),
        "mean_steps": round(sum(r.steps for r in records) / len(records), 2) if records else None,
        "stopped": stopped,
    }


def _cause(error: str | None) -> str:
    return (error or "unknown").split(":")[0]


def load_summary(run_dir: Path | str) -> dict[str, Any]:
    """The summary of a saved run, from its files alone."""
    config = load_config(run_dir)
    return summarize(load_attempts(run_dir), config, run_dir)


def saved_summary(
    run_dir: Path | str, backend: str, model: str, runs: int, task: Task, params: dict[str, float]
) -> dict[str, Any] | None:
    """The summary of attempts 0..runs-1 of the run saved in `run_dir`, when it is a run of `model`
    on `backend` of this `task` and version at `params` holding all of them; None otherwise (no run,
    another run, unfinished). Reads files only: nothing is run and nothing is written."""
    if not (Path(run_dir) / RUN_FILE).is_file():
        return None
    config = load_config(run_dir)
    wanted = (backend, model, task.name, task.version, task.resolve_params(params))
    if (config.backend, config.model, config.task, config.task_version, config.params) != wanted:
        return None
    records = [record for record in load_attempts(run_dir) if record.index < runs]
    if len(records) < runs:
        return None
    return summarize(records, replace(config, runs=runs), run_dir)


def format_progress(progress: Progress, width: int = 30) -> str:
    """One line for a progress display: a bar, attempts done of the total, and the outcomes so far."""
    filled = width * progress.done // max(progress.total, 1)
    counts = "  ".join(f"{name} {count}" for name, count in progress.outcomes.items())
    return f"[{'#' * filled}{'.' * (width - filled)}] {progress.done}/{progress.total}  {counts}"


def format_summary(summary: dict[str, Any]) -> str:
    """A summary as a few lines of text for a console or a notebook."""
    o, graded = summary["outcomes"], summary["runs"] - summary["outcomes"]["error"]
    low, high = summary["ci95"]
    rate = "n/a" if summary["pass_rate"] is None else f"{summary['pass_rate']:.0%}"
    verdict = summary["verdict"]
    if verdict == "undetermined":
        more = summary["more_runs_needed"]
        verdict += f" (about {more} more graded runs would decide it)" if more else " (on a band edge)"
    band = "–".join(f"{edge:.0%}" for edge in summary["band"])
    regraded = summary.get("regraded_from_params")
    setting = ", ".join(f"{name} {value:g}" for name, value in summary["params"].items())
    run_at = ", ".join(f"{name} {value:g}" for name, value in (regraded or {}).items())
    lines = [
        f"{summary['runs']} of {summary['requested']} runs of {summary['model']} on {summary['backend']} "
        f"({summary['label']}), task {summary['task']} version {summary['task_version']}"
        + (f", {setting}" if setting else "")
        + (f" (regraded; run at {run_at})" if regraded is not None else ""),
        f"  passed {o['passed']}  failed {o['failed']}  limit {o['limit']}  error {o['error']}",
        f"  pass rate {o['passed']}/{graded} = {rate}, 95% CI [{low:.1%}, {high:.1%}]",
        f"  band {band}: {verdict}",
    ]
    for key in ("failures", "limits", "errors"):
        if summary[key]:
            lines.append(f"  {key}: " + ", ".join(f"{name} {count}" for name, count in summary[key].items()))
    if summary.get("error_attempts"):
        lines.append("  attempts ended by an error: " + ", ".join(map(str, summary["error_attempts"])))
    confinement = summary.get("confinement", {})
    unconfined = {name: count for name, count in confinement.items() if name != "bubblewrap"}
    if unconfined:
        lines.append("  UNCONFINED attempts (the model's code ran without the bubblewrap sandbox): "
                     + ", ".join(f"{name} {count}" for name, count in unconfined.items()))
    u = summary["usage"]
    cost = "n/a" if summary["cost_usd"] is None else f"${summary['cost_usd']:.4f}"
    lines.append(f"  tokens: {u['input_tokens']:,} in, {u['output_tokens']:,} out, "
                 f"{u['cache_creation_input_tokens']:,} cache write, {u['cache_read_input_tokens']:,} "
                 f"cache read; cost {cost} ({summary['price_note']})")
    if summary["stopped"]:
        lines.append(f"  stopped early: {summary['stopped']}")
    lines.append(f"  run dir: {summary['run_dir']}")
    return "\n".join(lines)


# ---- regrading ----------------------------------------------------------------------------------


async def regrade_attempts(
    run_dir: Path | str, task: Task, params: dict[str, float], *, concurrency: int | None = None
) -> list[AttemptRecord]:
    """Every recorded attempt re-graded from its saved workspace as `task` at `params` (no model call).

    passed/failed follow the new grade; limit and error outcomes keep their outcome.
    """
    records = load_attempts(run_dir)
    semaphore = asyncio.Semaphore(concurrency or os.cpu_count() or 1)

    async def regrade(record: AttemptRecord) -> AttemptRecord:
        new = replace(record, params=params)
        workspace = attempt_dir(run_dir, record.index) / WORKSPACE_DIR
        if not workspace.is_dir():
            if record.outcome in ("passed", "failed"):
                new.outcome, new.failure, new.error = "error", None, f"saved workspace missing: {workspace}"
            return new
        async with semaphore:
            new.grade, problem = await grade_saved(workspace, task, params)
        if record.outcome in ("passed", "failed"):
            passed = bool(new.grade and new.grade["passed"])
            new.outcome = "passed" if passed else "failed"
            new.failure = None if passed else (new.grade["failure"] if new.grade else "no_solution")
        return new

    return list(await asyncio.gather(*(regrade(record) for record in records)))


async def regrade_run(
    run_dir: Path | str, params: dict[str, Any] | None = None, *, task: Task | None = None,
    concurrency: int | None = None,
) -> dict[str, Any]:
    """The summary of a saved run re-graded at `params` (the run's own, overridden), without any model
    call. CalibrationError when `task` (default: the run's) is another task or version than the run's."""
    config = load_config(run_dir)
    task = task_of_run(config, task)
    try:
        new_params = task.resolve_params({**config.params, **(params or {})})
    except ValueError as exc:
        raise CalibrationError(str(exc)) from None
    records = await regrade_attempts(run_dir, task, new_params, concurrency=concurrency)
    summary = summarize(records, config, run_dir, params=new_params)
    summary["regraded_from_params"] = config.params
    return summary
