"""One attempt at the task: the tool-use loop over an `anthropic.AsyncAnthropic` client, then a grade.

Contract: `run_attempt` always returns an `AttemptRecord` with exactly one outcome (`passed`,
`failed` + grader category, `limit` + which, `error` + cause) and never raises: not for an API fault,
a hostile tool call, a hostile workspace or a broken solution (a counted failure, or a tool result),
and not for a harness bug (`error`, cause "harness error: ...", traceback in the transcript). It
ends within its wall-clock limits (AgentLimits) plus one grade. It saves the transcript
(`transcript.jsonl`), a copy of the final workspace's files (`workspace/`) and the record
(`attempt.json`) in the attempt's directory, and removes its working copy whatever it holds. The
final workspace is always graded. `anthropic` is never imported here: the backend brings the client.
"""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from task_lib.agent.backends import API_KEY_VARIABLE, Backend
from task_lib.agent.pricing import Usage, cost_usd, price_note
from task_lib.agent.tools import ToolResult, WorkspaceTools, tool_schemas
from task_lib.agent.transcript import EventCallback, Transcript
from task_lib.agent.workspace import create_workspace, snapshot
from task_lib.grading.grader import UnusableWorkspace, grade_workspace
from task_lib.registry import get_task
from task_lib.sandbox.run import isolation
from task_lib.sandbox.untrusted_trees import remove_tree
from task_lib.task import AgentLimits, Task

OUTCOMES = ("passed", "failed", "limit", "error")
EPHEMERAL = {"type": "ephemeral"}
GRADE_GRACE_SECONDS = 60.0  # a grade not done this long after its child's wall-clock limit is a harness bug
Result = TypeVar("Result")


def system_prompt(task: Task) -> str:
    """The system prompt of an attempt at `task`: who the agent is and how it works."""
    return (f"You are an expert {task.role} working in a small project through tools. Paths are relative "
            "to the project directory. Read the code, make the change the task asks for, check it by "
            "running code and the tests, then call submit.")


def cached_tools(task: Task) -> list[dict[str, Any]]:
    """The tool schemas with a cache breakpoint on the last one."""
    schemas = tool_schemas(task)
    return [*schemas[:-1], {**schemas[-1], "cache_control": EPHEMERAL}]


LIMIT_STOP_REASONS = {"max_tokens": "max_tokens", "model_context_window_exceeded": "context_window"}
TRANSCRIPT_FILE, WORKSPACE_DIR, RECORD_FILE = "transcript.jsonl", "workspace", "attempt.json"


@dataclass
class AttemptRecord:
    """Everything one attempt produced, JSON-ready via `to_dict`.

    `grade` is the final workspace's GradeResult as a dict (None when it could not be graded).
    `fatal` marks an error that will repeat for every attempt (the API refused the key).
    """

    outcome: str
    failure: str | None = None
    limit: str | None = None
    error: str | None = None
    fatal: bool = False
    index: int = 0
    model: str = ""
    backend: str = ""
    label: str = ""
    submitted: bool = False
    steps: int = 0
    stop_reasons: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    cost_usd: float | None = None
    price_note: str = ""
    wall_seconds: float = 0.0
    task: str = ""
    task_version: str = ""
    params: dict[str, float] = field(default_factory=dict)
    grade: dict[str, Any] | None = None
    directory: str = ""
    isolation: str = ""  # the sandbox mechanism the tools and the grade ran under

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttemptRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    def describe(self) -> str:
        """One line: the outcome and why."""
        detail = {"failed": self.failure, "limit": self.limit, "error": self.error}.get(self.outcome)
        message = (self.grade or {}).get("message") if self.outcome in ("passed", "failed") else None
        text = self.outcome + (f" ({detail})" if detail else "")
        return text + (f": {message}" if message else "") + f" after {self.steps} steps"


@dataclass
class _Progress:
    """What the loop has done so far; kept when an API fault cuts it short."""

    steps: int = 0
    stop_reasons: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    submitted: bool = False


class ModelCallFailed(Exception):
    """A model call failed after the SDK's retries; `cause` says why, `fatal` if the key was refused."""

    def __init__(self, cause: str, fatal: bool = False):
        super().__init__(cause)
        self.cause, self.fatal = cause, fatal


# ---- the loop -----------------------------------------------------------------------------------


async def converse(
    backend: Backend, model: str, tools: WorkspaceTools, prompt: str, limits: AgentLimits,
    log: Transcript, progress: _Progress,
) -> str | None:
    """Run the tool-use loop; returns the limit that ended it, or None when the model finished."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": [{"type": "text", "text": prompt}]}]
    sent = 0
    for step in range(1, limits.max_steps + 1):
        log.record("request", step=step, new_messages=messages[sent:], model=model)
        sent = len(messages)
        response = await call_model(backend, build_request(model, messages, limits, tools.task))
        content = note_response(response, log, step, progress)
        messages.append({"role": "assistant", "content": content})
        if response.stop_reason in LIMIT_STOP_REASONS:
            return LIMIT_STOP_REASONS[response.stop_reason]
        uses = [block for block in content if block["type"] == "tool_use"]
        if not uses:
            return None
        results = []
        for use in uses:
            result = await run_tool(tools, use, log, step, limits.tool_call_seconds)
            results.append(tool_result_block(use["id"], result))
            if result.submitted:
                progress.submitted = True
                return None
        messages.append({"role": "user", "content": results})
        if progress.usage.total >= limits.max_total_tokens:
            return "total_tokens"
    return "steps"


# ---- helpers beside the loop --------------------------------------------------------------------


def build_request(model: str, messages: list[dict[str, Any]], limits: AgentLimits,
                  task: Task | None = None) -> dict[str, Any]:
    """The Messages API request for `task` (default: variance-dropout): cache breakpoints on the
    tools, the system prompt and the newest turn."""
    task = task or get_task()
    newest = messages[-1]
    marked = [*newest["content"][:-1], {**newest["content"][-1], "cache_control": EPHEMERAL}]
    return {
        "model": model,
        "max_tokens": limits.max_tokens_per_response,
        "system": [{"type": "text", "text": system_prompt(task), "cache_control": EPHEMERAL}],
        "tools": cached_tools(task),
        "messages": [*messages[:-1], {**newest, "content": marked}],
    }


async def call_model(backend: Backend, request: dict[str, Any]) -> Any:
    """One Messages API call (the SDK retries 429/5xx/connection faults); raises ModelCallFailed."""
    try:
        return await backend.client.messages.create(**request)
    except Exception as exc:  # every way the API or the network can fail ends this attempt as `error`
        raise ModelCallFailed(*describe_api_failure(exc)) from exc


def describe_api_failure(exc: Exception) -> tuple[str, bool]:
    """The cause of a failed model call in one line, and whether it is fatal (the key was refused)."""
    import anthropic  # already loaded: the backend's client made the call

    if isinstance(exc, anthropic.APIStatusError):
        error = exc.body.get("error", {}) if isinstance(exc.body, dict) else {}
        kind = error.get("type", type(exc).__name__) if isinstance(error, dict) else type(exc).__name__
        message = error.get("message", str(exc)) if isinstance(error, dict) else str(exc)
        cause = f"{exc.status_code} {kind}: {message}"
        if exc.status_code in (401, 403):
            return f"{cause} (the API refused the key: check {API_KEY_VARIABLE})", True
        return cause, False
    if isinstance(exc, anthropic.APITimeoutError):
        return "the request timed out (after the SDK's retries)", False
    if isinstance(exc, anthropic.APIConnectionError):
        reason = exc.__cause__ or exc
        return f"connection failed (after the SDK's retries): {type(reason).__name__}: {reason}", False
    if isinstance(exc, ValueError):  # e.g. a body that is not JSON (the SDK raises JSONDecodeError)
        return f"malformed response from the API: {type(exc).__name__}: {exc}", False
    return f"model call failed: {type(exc).__name__}: {exc}", False


def note_response(response: Any, log: Transcript, step: int, progress: _Progress) -> list[dict[str, Any]]:
    """Count the response's usage and stop reason, record it, and return its content as dicts."""
    progress.steps = step
    progress.stop_reasons.append(str(response.stop_reason))
    progress.usage.add(response.usage)
    content = [block_dict(block) for block in response.content]
    content = [block for block in content if block["type"] != "text" or block["text"]]
    usage = response.usage.model_dump(mode="json", exclude_none=True)
    log.record("response", step=step, id=response.id, stop_reason=response.stop_reason, content=content,
               usage=usage)
    return content


def block_dict(block: Any) -> dict[str, Any]:
    """A response block as it is sent back in the next request."""
    if block.type == "text":
        return {"type": "text", "text": block.text}
    if block.type == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    return block.model_dump(mode="json", exclude_none=True)


async def in_thread(function: Callable[[], Result], seconds: float) -> Result:
    """`function()` in a daemon thread of its own, waited for up to `seconds` (TimeoutError after).
    A call past its time is abandoned, and cannot hold up the event loop's or the process's end."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if not future.done():
            future.set_exception(error) if error is not None else future.set_result(result)

    def run() -> None:
        try:
            result, error = function(), None
        except BaseException as exc:  # handed to the awaiting coroutine
            result, error = None, exc
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # the loop has closed: nobody waits for this call any more
            pass

    threading.Thread(target=run, daemon=True).start()
    return await asyncio.wait_for(future, seconds)


async def run_tool(tools: WorkspaceTools, use: dict[str, Any], log: Transcript, step: int,
                   seconds: float) -> ToolResult:
    """Run one tool call in a thread (tools block on the sandbox), recording call and result; a call
    past `seconds` comes back as an is_error result saying so."""
    log.record("tool_call", step=step, id=use["id"], name=use["name"], input=use["input"])
    started = time.monotonic()
    try:
        result = await in_thread(functools.partial(tools.handle, use["name"], use["input"]), seconds)
    except TimeoutError:
        result = ToolResult(f"{use['name']} did not finish within {seconds:g} s (the time limit of one "
                            "tool call) and was abandoned; its effects on the project are unknown",
                            is_error=True)
    log.record("tool_result", step=step, id=use["id"], name=use["name"], text=result.text,
               is_error=result.is_error, submitted=result.submitted,
               seconds=round(time.monotonic() - started, 3))
    return result


def tool_result_block(tool_use_id: str, result: ToolResult) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_use_id, "content": result.text,
            "is_error": result.is_error}


async def grade_saved(
    workspace: Path, task: Task, params: dict[str, float], seed: int | None = None
) -> tuple[dict[str, Any] | None, str | None]:
    """The grade of a saved workspace of `task` at `params` (in a thread; fresh inputs unless `seed`
    is given), or None and the reason it has no grade. A grade that raises anything else, or does
    not end GRADE_GRACE_SECONDS after its child's limit, is a harness bug: it raises."""
    seconds = task.grade_limits.wall_seconds + GRADE_GRACE_SECONDS
    try:
        result = await in_thread(functools.partial(grade_workspace, workspace, task, params, seed), seconds)
    except UnusableWorkspace as exc:
        return None, str(exc)
    except TimeoutError:
        raise RuntimeError(f"the grade did not end within {seconds:g} s") from None
    return result.to_dict(), None


def decide_outcome(record: AttemptRecord, limit: str | None, failure: ModelCallFailed | None,
                   no_grade: str | None) -> None:
    """Fill in the record's single outcome: error, then limit, then the grade's verdict."""
    if failure is not None:
        record.outcome, record.error, record.fatal = "error", failure.cause, failure.fatal
    elif limit is not None:
        record.outcome, record.limit = "limit", limit
    elif record.grade is None:
        record.outcome, record.failure = "failed", "no_solution"
        record.grade = {"passed": False, "failure": "no_solution", "message": no_grade, "checks": []}
    else:
        record.outcome = "passed" if record.grade["passed"] else "failed"
        record.failure = record.grade["failure"]


def harness_error(exc: Exception, log: Transcript, step: int) -> ModelCallFailed:
    """The `error` cause of a harness bug, recorded with its traceback."""
    failure = ModelCallFailed(f"harness error: {type(exc).__name__}: {exc}")
    log.record("api_error", step=step, message=failure.cause, traceback=traceback.format_exc())
    return failure


# ---- the entry point ----------------------------------------------------------------------------


async def run_attempt(
    backend: Backend,
    model: str,
    out_dir: Path | str,
    *,
    index: int = 0,
    task: Task | None = None,
    limits: AgentLimits | None = None,
    params: dict[str, Any] | None = None,
    on_event: EventCallback | None = None,
    grade_seed: int | None = None,
) -> AttemptRecord:
    """Run one attempt of `model` (resolved with `backend.resolve_model(model, index)`) and grade it.

    `task` defaults to variance-dropout; the model sees its prompt at `params` (its defaults,
    overridden), and its final workspace is graded at them. `limits` default to the task's agent
    limits (AgentLimits: 40 steps, 8192 tokens per response, 2M tokens in all, 30 minutes of loop,
    2 minutes per tool call). `on_event` receives
    every transcript event as it happens.
    `grade_seed` fixes the grader's inputs (default: fresh), so that a rerun reproduces the grade.
    """
    task = task or get_task()
    params = task.resolve_params(params)
    limits = task.agent_limits if limits is None else limits
    out_dir, started = Path(out_dir), time.monotonic()
    shutil.rmtree(out_dir / WORKSPACE_DIR, ignore_errors=True)  # a rerun replaces a cut-short attempt
    name = backend.resolve_model(model, index)
    record = AttemptRecord("error", index=index, model=name, backend=backend.name, label=backend.label,
                           task=task.name, task_version=task.version, params=params,
                           isolation=isolation().mechanism, price_note=price_note(name),
                           directory=str(out_dir))
    progress, limit, failure = _Progress(), None, None
    workspace = create_workspace(Path(tempfile.mkdtemp(prefix="attempt-")) / "project", task)
    try:
        with Transcript(out_dir / TRANSCRIPT_FILE, on_event) as log:
            log.record("start", model=name, backend=backend.name, label=backend.label, index=index,
                       workspace=str(out_dir / WORKSPACE_DIR), system=system_prompt(task),
                       tools=tool_schemas(task), limits=asdict(limits), task=task.name,
                       task_version=task.version, params=params)
            try:
                limit = await asyncio.wait_for(
                    converse(backend, name, WorkspaceTools(workspace, task=task), task.prompt(params),
                             limits, log, progress), limits.attempt_seconds)
            except TimeoutError:
                limit = "wall_time"
            except ModelCallFailed as exc:
                failure = exc
                log.record("api_error", step=progress.steps + 1, message=exc.cause, fatal=exc.fatal)
            except Exception as exc:  # a harness bug must not take the other attempts of a run down
                failure = harness_error(exc, log, progress.steps + 1)
            record.steps, record.stop_reasons, record.submitted = progress.steps, progress.stop_reasons, \
                progress.submitted
            record.usage, record.cost_usd = progress.usage.to_dict(), cost_usd(progress.usage, name)
            no_grade = None
            try:
                left_out = snapshot(workspace, out_dir / WORKSPACE_DIR)
                log.record("snapshot", left_out=left_out)
                record.grade, no_grade = await grade_saved(out_dir / WORKSPACE_DIR, task, params, grade_seed)
                log.record("grade", grade=record.grade, problem=no_grade)
            except Exception as exc:  # a harness bug, as above
                failure = failure or harness_error(exc, log, progress.steps + 1)
            decide_outcome(record, limit, failure, no_grade)
            record.wall_seconds = round(time.monotonic() - started, 3)
            log.record("end", outcome=record.outcome, summary=record.describe(), record=record.to_dict())
    finally:
        remove_tree(workspace.parent)
    (out_dir / RECORD_FILE).write_text(json.dumps(record.to_dict(), indent=1) + "\n", encoding="utf-8")
    return record
