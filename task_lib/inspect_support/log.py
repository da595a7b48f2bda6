"""Reading an Inspect AI log of a pack task back as the pack's own records, so that a run on Inspect
reads like a `calibrate` run: `log_summary(path)` is `calibration.summarize` over one AttemptRecord
per sample epoch.

Outcomes follow the pack's harness: a sample with an error is `error` (unscored, kept out of the pass
rate's denominator); a sample that hit a limit is `limit`; otherwise the grade's `passed`/`failed`.
`inspect_ai` is imported only when a log is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from task_lib.agent.loop import AttemptRecord
from task_lib.agent.pricing import Usage, cost_usd, price_note
from task_lib.calibration.runs import RunConfig, summarize

BACKEND = "inspect"
# Inspect's limit types under the names the pack's harness gives them (as task_lib.inspect_tasks).
LIMIT_NAMES = {"turn": "steps", "token": "total_tokens", "message": "messages", "time": "time",
               "working": "working_time", "cost": "cost", "operator": "operator"}


class UnreadableLog(ValueError):
    """The file is not an Inspect log of a pack task: the message says why."""


def priced_name(model: str) -> str:
    """The model name the price table knows: `anthropic/claude-haiku-4-5` -> `claude-haiku-4-5`."""
    return model.rsplit("/", 1)[-1]


def sample_usage(sample: Any) -> Usage:
    """A sample's tokens over every model it called, in the pack's four kinds."""
    usage = Usage()
    for model_usage in (sample.model_usage or {}).values():
        usage.add({"input_tokens": model_usage.input_tokens, "output_tokens": model_usage.output_tokens,
                   "cache_creation_input_tokens": model_usage.input_tokens_cache_write,
                   "cache_read_input_tokens": model_usage.input_tokens_cache_read})
    return usage


def pack_score(sample: Any) -> Any | None:
    """The sample's score from `pack_grader` (the one whose metadata holds an outcome), or None."""
    return next((score for score in (sample.scores or {}).values()
                 if isinstance(score.metadata, dict) and "outcome" in score.metadata), None)


def sample_record(sample: Any, index: int, model: str) -> AttemptRecord:
    """One sample epoch of the log as the pack's AttemptRecord."""
    usage, name = sample_usage(sample), priced_name(model)
    steps = sum(message.role == "assistant" for message in sample.messages)
    record = AttemptRecord("error", index=index, model=name, backend=BACKEND, steps=steps,
                           usage=usage.to_dict(), cost_usd=cost_usd(usage, name), price_note=price_note(name),
                           wall_seconds=round(sample.total_time or 0.0, 3),
                           task=sample.metadata.get("task", ""),
                           task_version=sample.metadata.get("task_version", ""))
    score = pack_score(sample)
    if sample.error is not None:
        message = sample.error.message or "sample error"
        record.error = f"{message.split('(')[0].split(':')[0].strip() or 'sample error'}: {message}"
    elif score is None:
        record.error = "not scored: the sample has no pack_grader score"
    else:
        meta = score.metadata
        record.outcome, record.failure = meta["outcome"], meta.get("failure")
        record.limit = meta.get("limit") or (LIMIT_NAMES.get(sample.limit.type, sample.limit.type)
                                             if sample.limit is not None else None)
        record.submitted, record.params = bool(meta.get("submitted")), dict(meta.get("params") or {})
        record.grade = {"passed": meta.get("grade_passed"), "failure": meta.get("failure"),
                        "message": score.explanation, "checks": meta.get("checks", [])}
        if record.outcome != "failed":
            record.failure = None
    return record


def read_log(path: Path | str) -> Any:
    """The Inspect log at `path` (.eval or .json), samples included; UnreadableLog when it is not one."""
    from inspect_ai.log import read_eval_log

    if not Path(path).is_file():
        raise UnreadableLog(f"no log file at {path}")
    try:
        return read_eval_log(str(path))
    except Exception as exc:  # every way a file can fail to be an Inspect log
        raise UnreadableLog(f"{path} is not a readable Inspect log: {type(exc).__name__}: {exc}") from None


def log_records(log: Any) -> list[AttemptRecord]:
    """One AttemptRecord per sample epoch of `log`, in (epoch, sample) order."""
    samples = sorted(log.samples or [], key=lambda sample: (sample.epoch, str(sample.id)))
    return [sample_record(sample, index, log.eval.model) for index, sample in enumerate(samples)]


def log_summary(path: Path | str) -> dict[str, Any]:
    """The `calibrate` summary of the Inspect log at `path`."""
    from importlib.metadata import version

    log = read_log(path)
    meta = log.eval.metadata or {}
    if "task_version" not in meta:
        raise UnreadableLog(f"{path} is not a log of a pack task (made by task_lib/inspect_tasks.py): its "
                            "task metadata has no task_version")
    epochs = log.eval.config.epochs or 1
    requested = epochs * (log.eval.dataset.samples or 1)
    config = RunConfig(BACKEND, priced_name(log.eval.model), f"Inspect AI {version('inspect-ai')}, "
                       f"model {log.eval.model}, status {log.status}", requested, meta["task"],
                       meta["task_version"], dict(meta.get("params") or {}), dict(meta.get("limits") or {}))
    stopped = log.error.message if log.error is not None else None
    return summarize(log_records(log), config, path, stopped=stopped)
