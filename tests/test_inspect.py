"""Every registered task on Inspect AI, offline: Inspect's mockllm plays the pack's scripted policies,
and each attempt must end as the pack's own harness ends it for the same policy."""

from __future__ import annotations

import asyncio
import math

import pytest

pytest.importorskip("inspect_ai", reason="inspect-ai is not installed: pip install -e '.[inspect]'")

from inspect_ai import eval as inspect_eval  # noqa: E402
from inspect_ai.model import get_model  # noqa: E402
from inspect_ai.tool import ToolDef  # noqa: E402
from inspect_support import epoch_policies  # noqa: E402

from task_lib import inspect_tasks, registry  # noqa: E402
from task_lib.agent.backends import open_backend  # noqa: E402
from task_lib.agent.loop import run_attempt, system_prompt  # noqa: E402
from task_lib.agent.tools import tool_schemas  # noqa: E402
from task_lib.calibration.runs import RunConfig, summarize  # noqa: E402
from task_lib.calibration.stats import wilson_interval  # noqa: E402
from task_lib.cli import main  # noqa: E402
from task_lib.inspect_support.log import log_records, log_summary, read_log  # noqa: E402
from task_lib.inspect_support.tools import pack_tools  # noqa: E402
from task_lib.offline import policies_for  # noqa: E402
from task_lib.sandbox.run import isolation  # noqa: E402

CONTRACT_NAMES = ("variance-dropout", "dropout-from-scratch", "softmax-cross-entropy")


def available_tasks():
    return [pytest.param(task, id=task.name, marks=pytest.mark.skipif(
        task.missing_requirement() is not None, reason=task.missing_requirement() or ""))
        for task in registry.all_tasks()]


def played_policies(task) -> list[str]:
    """A correct fix, the bug submitted, a tampering policy where the task has one, and a step limit."""
    own = task.module("policies").POLICIES
    correct = next(name for name, policy in own.items() if policy.expected_outcome == "passed")
    return [correct, "submit_bug", *(["edit_test_file"] if "edit_test_file" in own else []), "ramble"]


class Played:
    """One Inspect eval (one sample, one epoch per policy) and the harness's attempts of those policies."""

    def __init__(self, task, tmp_path):
        self.task, self.names = task, played_policies(task)
        policies = policies_for(task)
        model = epoch_policies([policies[name] for name in self.names])
        logs = inspect_eval(inspect_tasks.pack_task(task.name), model=model, epochs=len(self.names),
                            log_dir=str(tmp_path / "logs"), display="none")
        self.log_path = logs[0].location
        self.log = read_log(self.log_path)
        self.samples = sorted(self.log.samples, key=lambda sample: sample.epoch)
        self.harness = asyncio.run(self._harness(tmp_path / "harness"))

    async def _harness(self, out):
        async with open_backend("offline", task=self.task) as backend:
            return [await run_attempt(backend, f"scripted:{name}", out / name, index=i, task=self.task)
                    for i, name in enumerate(self.names)]

    def score(self, name):
        sample = self.samples[self.names.index(name)]
        error = sample.error and f"{sample.error.message}\n{sample.error.traceback}"
        assert sample.scores and "pack_grader" in sample.scores, f"{name} was not scored: {error}"
        return sample, sample.scores["pack_grader"]


@pytest.fixture(scope="module", params=available_tasks())
def played(request, tmp_path_factory) -> Played:
    return Played(request.param, tmp_path_factory.mktemp(request.param.name))


@pytest.mark.parametrize("task", available_tasks())
def test_tools_have_the_contract_names_descriptions_and_schemas(task):
    for inspect_tool, schema in zip(pack_tools(task), tool_schemas(task), strict=True):
        definition = ToolDef(inspect_tool)
        assert (definition.name, definition.description) == (schema["name"], schema["description"])
        expected = {"required": [], **schema["input_schema"]}
        assert definition.parameters.model_dump(exclude_none=True) == expected


@pytest.mark.parametrize("task", available_tasks())
def test_task_has_the_pack_prompt_limits_and_version(task):
    overrides = {param.name: (param.default + param.high) / 2 if math.isfinite(param.high) else
                 param.default + 1 for param in task.params}
    inspect_task = inspect_tasks.pack_task(task.name, **overrides)
    assert inspect_task.metadata["params"] == task.resolve_params(overrides)
    system, user = inspect_task.dataset[0].input
    assert system.text == system_prompt(task)
    assert user.text == task.prompt(inspect_task.metadata["params"])
    assert (inspect_task.turn_limit, inspect_task.token_limit) == (task.agent_limits.max_steps,
                                                                   task.agent_limits.max_total_tokens)
    assert inspect_task.metadata["task_version"] == task.version
    module_task = getattr(inspect_tasks, inspect_tasks.underscored(task.name))()
    assert module_task.name == inspect_tasks.underscored(task.name)


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_each_contract_name_is_a_module_task_that_fails_clearly_until_registered(name):
    make = getattr(inspect_tasks, name.replace("-", "_"))
    if name in registry.task_names():
        assert make().metadata["task"] == name
    else:
        with pytest.raises(ValueError, match=f"unknown task '{name}'"):
            make()


def test_docker_sandbox_uses_the_task_compose_file_without_network_and_with_a_memory_limit():
    inspect_task = inspect_tasks.variance_dropout(sandbox="docker")
    assert inspect_task.sandbox.type == "docker"
    compose = inspect_tasks.compose_file("variance-dropout").read_text()
    assert inspect_task.sandbox.config == str(inspect_tasks.compose_file("variance-dropout"))
    assert "network_mode: none" in compose and "mem_limit:" in compose
    with pytest.raises(ValueError, match="sandbox must be one of local, docker"):
        inspect_tasks.variance_dropout(sandbox="kubernetes-ish")


def test_correct_policy_scores_correct_with_every_check_passed(played):
    sample, score = played.score(played.names[0])
    assert score.value == "C" and score.metadata["outcome"] == "passed" and sample.limit is None
    assert score.metadata["checks"] and all(check["passed"] for check in score.metadata["checks"])
    assert score.metadata["task_version"] == played.task.version == played.log.eval.metadata["task_version"]


def test_bug_and_tampering_score_incorrect_with_the_harness_failure(played):
    for name in played.names[1:-1]:
        _, score = played.score(name)
        harness = played.harness[played.names.index(name)]
        assert score.value == "I" and score.metadata["outcome"] == "failed"
        expected = policies_for(played.task)[name].expected_failure
        assert score.metadata["failure"] == harness.failure == expected
        failed = [check["name"] for check in score.metadata["checks"] if not check["passed"]]
        assert failed and failed[0] == harness.failure


def test_step_limit_is_recorded_as_an_inspect_limit_and_still_graded(played):
    sample, score = played.score("ramble")
    assert sample.limit is not None and sample.limit.type == "turn"
    assert sample.limit.limit == played.task.agent_limits.max_steps
    assert score.value == "I" and score.metadata["outcome"] == "limit" and score.metadata["limit"] == "steps"
    assert score.metadata["checks"], "a limited sample is still graded"
    assert played.harness[-1].outcome == "limit" and played.harness[-1].limit == "steps"


def test_epochs_of_one_sample_give_inspect_wilson_interval_over_every_attempt(played):
    metrics = played.log.results.scores[0].metrics
    passed = sum(record.outcome == "passed" for record in played.harness)
    low, high = wilson_interval(passed, len(played.names))
    assert metrics["pass_rate"].value == pytest.approx(passed / len(played.names))
    assert metrics["lower"].value == pytest.approx(low, abs=1e-9)
    assert metrics["upper"].value == pytest.approx(high, abs=1e-9)
    assert 0 < low < high < 1, "one sample x N epochs must not collapse to a point"


def test_summary_read_back_from_the_log_equals_the_harness_summary(played):
    from_log = log_summary(played.log_path)
    config = RunConfig("offline", "scripted", "", len(played.names), played.task.name, played.task.version,
                       {})
    harness = summarize(played.harness, config, "harness")
    for key in ("outcomes", "failures", "limits", "errors", "pass_rate", "verdict", "runs_needed", "runs"):
        assert from_log[key] == harness[key], key
    assert from_log["ci95"] == pytest.approx(harness["ci95"])
    assert [(r.outcome, r.failure, r.limit) for r in log_records(played.log)] == \
        [(r.outcome, r.failure, r.limit) for r in played.harness]
    assert from_log["usage"]["input_tokens"] > 0 and from_log["task_version"] == played.task.version


def test_summarize_inspect_prints_the_calibrate_summary(played, capsys):
    assert main(["summarize-inspect", str(played.log_path)]) == 0
    out = capsys.readouterr().out
    passed = sum(record.outcome == "passed" for record in played.harness)
    assert f"pass rate {passed}/{len(played.names)}" in out and "limits: steps 1" in out


def test_api_error_is_not_scored_and_is_counted_beside_the_pass_rate(tmp_path):
    task = registry.get_task()
    bug = policies_for(task)["submit_bug"]
    played_model = epoch_policies([bug])

    def flaky(messages, tools, tool_choice, config):
        from inspect_ai.log._samples import sample_active

        if sample_active().epoch == 1:
            raise RuntimeError("overloaded_error: the API is overloaded")
        return played_model.api.outputs(messages, tools, tool_choice, config)

    model = get_model("mockllm/model", custom_outputs=flaky, memoize=False)
    [log] = inspect_eval(inspect_tasks.variance_dropout(), model=model, epochs=2, log_dir=str(tmp_path),
                         display="none")
    errored = [sample for sample in log.samples if sample.error is not None]
    assert len(errored) == 1 and not errored[0].scores
    summary = log_summary(log.location)
    assert summary["outcomes"] == {"passed": 0, "failed": 1, "limit": 0, "error": 1}
    assert summary["errors"] == {"RuntimeError": 1} and summary["ci95"] == list(wilson_interval(0, 1))
    assert not math.isnan(log.results.scores[0].metrics["pass_rate"].value)


def test_summarize_inspect_refuses_a_file_that_is_not_a_log(tmp_path, capsys):
    bad = tmp_path / "not-a-log.json"
    bad.write_text("{}")
    assert main(["summarize-inspect", str(bad)]) == 2
    assert "not a readable Inspect log" in capsys.readouterr().err


def test_a_task_refuses_to_start_without_bubblewrap_unless_allowed(monkeypatch):
    """The pack grades every sample on this machine: with a weaker confinement (forced here with
    TASK_LIB_SANDBOX=none) a task is refused when it is built, before any model call."""
    monkeypatch.setenv("TASK_LIB_SANDBOX", "none")
    isolation.cache_clear()
    try:
        with pytest.raises(ValueError, match="confinement 'none'.*allow_unconfined=true"):
            inspect_tasks.variance_dropout()
        allowed = inspect_tasks.variance_dropout(allow_unconfined=True)
        assert allowed.metadata["confinement"] == "none"
    finally:
        monkeypatch.delenv("TASK_LIB_SANDBOX")
        isolation.cache_clear()
