"""Every registered task as an Inspect AI task (the Inspect contract in DESIGN.md).

    inspect eval task_lib/inspect_tasks.py@variance_dropout --model anthropic/claude-haiku-4-5 --epochs 40
    inspect eval task_lib/inspect_tasks.py@variance_dropout -T sandbox=docker -T tolerance=0.2 ...

Each `@task` (named with underscores) is `pack_task(name)`: the task's prompt and system prompt, the
five tools of the tool contract (`task_lib.inspect_support.tools`), its limits (turn limit = max_steps, token
limit = max_total_tokens, max_tokens per response), and `pack_grader`, which grades the sample's
final files with the pack's grader in the pack's sandbox. A limit ends a sample the way Inspect
records limits (the sample's `limit`) and the sample is still graded; its score is INCORRECT with
outcome "limit", as in the pack's own harness. An API error leaves the sample unscored (Inspect's
convention; `fail_on_error=False` so the other samples go on) and `summarize-inspect` counts it
beside the pass rate. The pass rate and its 95% Wilson interval count every graded epoch of every
sample (`epoch_tally` keeps the counts through Inspect's epoch reduction), so one sample x N epochs
gives an interval over N attempts, not a point.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inspect_ai import Epochs, Task, task
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageUser, GenerateConfig, execute_tools, get_model
from inspect_ai.scorer import (
    CORRECT,
    INCORRECT,
    Metric,
    SampleScore,
    Score,
    ScoreReducer,
    Target,
    ci_wilson,
    metric,
    score_reducer,
    scorer,
)
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.util import LimitExceededError

from task_lib import registry
from task_lib.agent.loop import AttemptRecord, decide_outcome, grade_saved, system_prompt
from task_lib.inspect_support.tools import pack_tools, sample_workspace
from task_lib.sandbox.run import isolation

SANDBOXES = ("local", "docker")
DOCKER_DIR = Path(__file__).parent / "inspect_support" / "docker"
LIMIT_KEY = "pack_limit"  # the sample store key holding the pack's name of the limit that ended it
SUBMITTED_KEY = "pack_submitted"
# Inspect's limit types under the names the pack's harness gives them.
LIMIT_NAMES = {"turn": "steps", "token": "total_tokens", "message": "messages", "time": "time",
               "working": "working_time", "cost": "cost", "operator": "operator"}
STOP_LIMITS = {"max_tokens": "max_tokens", "model_length": "context_window"}


def underscored(name: str) -> str:
    """The Inspect task name of a pack task: `variance-dropout` -> `variance_dropout`."""
    return name.replace("-", "_")


def compose_file(task_name: str) -> Path:
    """The compose file of `task_name`'s Docker sandbox (network none, a memory limit)."""
    return DOCKER_DIR / underscored(task_name) / "compose.yaml"


def sandbox_spec(task_name: str, sandbox: str) -> str | tuple[str, str]:
    """Inspect's sandbox spec for `sandbox` ("local" or "docker"); ValueError saying what to change."""
    if sandbox == "local":
        return "local"
    if sandbox != "docker":
        raise ValueError(f"sandbox must be one of {', '.join(SANDBOXES)}, got {sandbox!r}")
    path = compose_file(task_name)
    if not path.is_file():
        raise ValueError(f"task {task_name} has no Docker sandbox yet: add {path} "
                         "(see task_lib/inspect_support/docker/)")
    return "docker", str(path)


def required_confinement(allow_unconfined: bool) -> str:
    """The pack's confinement, which grades every sample here (and runs the tools in the `local`
    sandbox): ValueError, before any model call, when it is weaker than bubblewrap and
    `allow_unconfined` is not set."""
    mechanism = isolation().mechanism
    if mechanism != "bubblewrap" and not allow_unconfined:
        raise ValueError(f"refusing to grade a model's code with confinement '{mechanism}' "
                         f"({isolation().weaker_because}): install bubblewrap (Debian: apt-get install "
                         "bubblewrap); -T allow_unconfined=true runs it anyway")
    return mechanism


def pack_task(name: str, sandbox: str = "local", allow_unconfined: bool = False, **params: Any) -> Task:
    """The Inspect task of the pack's task `name`, at `params` (its defaults, overridden), in
    `sandbox`. ValueError when `name` is not registered here, a parameter is wrong, or the pack's
    sandbox does not confine here (see `required_confinement`)."""
    try:
        pack = registry.get_task(name)
    except registry.UnknownTask as exc:
        raise ValueError(f"Inspect task {underscored(name)}: {exc} (register it in task_lib/registry.py)") \
            from None
    confinement = required_confinement(allow_unconfined)
    pack.check_available()
    resolved = pack.resolve_params(params)
    limits = pack.agent_limits
    sample = Sample(
        id=underscored(name),
        input=[ChatMessageSystem(content=system_prompt(pack)),
               ChatMessageUser(content=pack.prompt(resolved))],
        files={file: pack.starting_text(file) for file in pack.starting_files},
        metadata={"task": pack.name, "task_version": pack.version},
    )
    return Task(
        dataset=[sample],
        solver=pack_agent(pack.name),
        scorer=pack_grader(pack.name, resolved),
        sandbox=sandbox_spec(name, sandbox),
        epochs=Epochs(1, epoch_tally()),
        config=GenerateConfig(max_tokens=limits.max_tokens_per_response),
        turn_limit=limits.max_steps,
        token_limit=limits.max_total_tokens,
        fail_on_error=False,
        name=underscored(name),
        version=pack.version,
        metadata={"task": pack.name, "task_version": pack.version, "params": resolved,
                  "confinement": confinement,
                  "limits": {"max_steps": limits.max_steps, "max_total_tokens": limits.max_total_tokens,
                             "max_tokens_per_response": limits.max_tokens_per_response}},
    )


# ---- the agent loop -----------------------------------------------------------------------------


@solver
def pack_agent(task_name: str) -> Solver:
    """The pack's loop: call the model, run each tool call in order, stop on submit or on a turn
    without tool calls. A limit is noted in the sample's store (for the scorer) and re-raised, so
    that Inspect records it."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        pack = registry.get_task(task_name)
        tools, model = pack_tools(pack), get_model()
        try:
            while True:
                output = await model.generate(state.messages, tools)
                state.output = output
                state.messages.append(output.message)
                if output.stop_reason in STOP_LIMITS:
                    raise LimitExceededError("custom", value=pack.agent_limits.max_tokens_per_response,
                                             limit=pack.agent_limits.max_tokens_per_response,
                                             message=STOP_LIMITS[output.stop_reason])
                calls = output.message.tool_calls or []
                if not calls:
                    return state
                submit = next((i for i, call in enumerate(calls) if call.function == "submit"), None)
                if submit is not None:  # like the pack's loop, nothing after submit runs
                    output.message.tool_calls = calls[:submit + 1]
                executed = await execute_tools(state.messages, tools)
                state.messages.extend(executed.messages)
                if submit is not None:
                    state.store.set(SUBMITTED_KEY, True)
                    return state
        except LimitExceededError as exc:
            name = exc.message if exc.type == "custom" else LIMIT_NAMES.get(exc.type, exc.type)
            state.store.set(LIMIT_KEY, name)
            raise

    return solve


# ---- grading, reduction over epochs, metrics ----------------------------------------------------


@metric
def pass_rate() -> Metric:
    """Passed / graded attempts, over every epoch of every sample."""

    def compute(scores: list[SampleScore]) -> float:
        passed, graded = _tally(scores)
        return passed / graded if graded else 0.0

    return compute


@metric
def pass_rate_ci95() -> Metric:
    """Inspect's 95% Wilson interval (`ci_wilson`) over every graded epoch of every sample."""
    wilson = ci_wilson(0.95)

    def compute(scores: list[SampleScore]) -> dict[str, float]:
        passed, graded = _tally(scores)
        attempts = [SampleScore(score=Score(value=CORRECT if i < passed else INCORRECT), sample_id=i)
                    for i in range(graded)]
        return wilson(attempts)  # type: ignore[return-value]

    return compute


def _tally(scores: list[SampleScore]) -> tuple[int, int]:
    """(passed, graded) attempts behind `scores`: the counts `epoch_tally` kept, else one per score."""
    passed = graded = 0
    for sample_score in scores:
        meta = sample_score.score.metadata or {}
        if "passed_epochs" in meta:
            passed, graded = passed + meta["passed_epochs"], graded + meta["graded_epochs"]
        else:
            passed, graded = passed + (sample_score.score.value == CORRECT), graded + 1
    return passed, graded


@score_reducer(name="epoch_tally")
def epoch_tally() -> ScoreReducer:
    """The mean over a sample's graded epochs, keeping the counts (passed, graded) for the metrics."""

    def reduce(scores: list[Score]) -> Score:
        passed = sum(score.value == CORRECT for score in scores)
        return Score(value=passed / len(scores) if scores else 0.0,
                     metadata={"passed_epochs": passed, "graded_epochs": len(scores)})

    return reduce


@scorer(metrics=[pass_rate(), pass_rate_ci95()])
def pack_grader(task_name: str, params: dict[str, float]):
    """Grade the sample's final solution files with the pack's grader (in the pack's sandbox):
    CORRECT only when the grade passed and no limit ended the sample. The metadata holds the outcome,
    the failure category, the limit, every check, and the task's name and version."""

    async def score(state: TaskState, target: Target) -> Score:
        import tempfile

        pack = registry.get_task(task_name)
        with tempfile.TemporaryDirectory(prefix="inspect-grade-") as tmp:
            await sample_workspace(pack).copy_final_files(Path(tmp))
            grade, no_grade = await grade_saved(Path(tmp), pack, params)
        record = AttemptRecord("error", grade=grade)
        decide_outcome(record, state.store.get(LIMIT_KEY), None, no_grade)
        grade = record.grade or {}
        return Score(
            value=CORRECT if record.outcome == "passed" else INCORRECT,
            answer=record.outcome,
            explanation=grade.get("message") or "",
            metadata={"outcome": record.outcome, "failure": grade.get("failure"), "limit": record.limit,
                      "grade_passed": bool(grade.get("passed")),
                      "submitted": bool(state.store.get(SUBMITTED_KEY)),
                      "checks": grade.get("checks", []), "seed": grade.get("seed"), "params": params,
                      "task": pack.name, "task_version": pack.version},
        )

    return score


# ---- one @task per task -------------------------------------------------------------------------


@task
def variance_dropout(sandbox: str = "local", allow_unconfined: bool = False, **params: Any) -> Task:
    """Task variance-dropout on Inspect AI (`-T sandbox=docker`, `-T tolerance=0.2`)."""
    return pack_task("variance-dropout", sandbox, allow_unconfined, **params)


@task
def dropout_from_scratch(sandbox: str = "local", allow_unconfined: bool = False, **params: Any) -> Task:
    """Task dropout-from-scratch on Inspect AI."""
    return pack_task("dropout-from-scratch", sandbox, allow_unconfined, **params)


@task
def softmax_cross_entropy(sandbox: str = "local", allow_unconfined: bool = False, **params: Any) -> Task:
    """Task softmax-cross-entropy on Inspect AI."""
    return pack_task("softmax-cross-entropy", sandbox, allow_unconfined, **params)


def _inspect_task(name: str) -> Any:
    """A registered Inspect task for the pack's task `name`."""

    def run(sandbox: str = "local", allow_unconfined: bool = False, **params: Any) -> Task:
        return pack_task(name, sandbox, allow_unconfined, **params)

    run.__doc__ = f"Task {name} on Inspect AI."
    return task(name=underscored(name))(run)


# Every registered task not defined above gets one too (run it as task_lib/inspect_tasks.py@its_name).
for _name in registry.task_names():
    globals().setdefault(underscored(_name), _inspect_task(_name))
