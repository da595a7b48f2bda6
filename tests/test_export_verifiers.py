"""The pack as a verifiers v1 taskset (`vf-eval dropout-variance`), driven offline by a scripted
OpenAI-compatible server on 127.0.0.1: a scripted fix scores 1, the untouched bug 0, a test-file edit
0 with its failure category as a metric; submit ends the rollout; the model's tools are the five of
the tool contract and nothing else."""

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from openai_script_server import ScriptedChatServer

pytest.importorskip("verifiers", reason="the verifiers extra is not installed: pip install -e '.[verifiers]'")

from task_lib.agent.tools import TOOL_NAMES  # noqa: E402
from task_lib.export.verdicts import failure_categories  # noqa: E402
from task_lib.registry import get_task, task_names  # noqa: E402

TASK = get_task("variance-dropout")
FIX = [("write_file", {"path": "dropout.py", "content": TASK.reference_text("dropout.py")})]
SCRIPTS = {
    "fix": [FIX, [("run_tests", {})], [("submit", {})]],
    "bug": [[("run_tests", {})], [("submit", {})]],
    "test_file_edit": [FIX, [("write_file", {"path": "test_dropout.py", "content": "print('ok')\n"})],
                       [("submit", {})]],
    # Everything after submit is never asked for: the rollout ends at submit.
    "submit_then_fix": [[("submit", {})], FIX, [("submit", {})]],
}


def vf_eval(script, out: Path) -> tuple[dict, ScriptedChatServer]:
    """Run vf-eval on variance-dropout against `script`; return the rollout's trace and the server."""
    with ScriptedChatServer(script) as server:
        run = subprocess.run(
            [str(Path(sys.executable).with_name("vf-eval")), "dropout-variance", "-m", "scripted",
             "--client.base-url", server.base_url, "--client.api-key-var", "SCRIPTED_API_KEY", "--no-push",
             "-o", str(out), "--select.include.names", "variance-dropout",
             "--env.agent.runtime.type", "subprocess"],
            env={**os.environ, "SCRIPTED_API_KEY": "scripted"}, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    (traces,) = glob.glob(str(out / "*" / "traces.jsonl"))
    (episode,) = [json.loads(line) for line in Path(traces).read_text().splitlines()]
    (trace,) = episode["traces"]
    assert trace["errors"] == [], trace["errors"]
    return trace, server


@pytest.fixture(scope="module")
def traces(tmp_path_factory) -> dict[str, tuple[dict, ScriptedChatServer]]:
    return {name: vf_eval(script, tmp_path_factory.mktemp(name)) for name, script in SCRIPTS.items()}


def test_taskset_loads_every_task_with_its_version_and_parameters():
    from verifiers.v1.utils.loaders import default_harness_id

    from task_lib.export.verifiers_taskset import PackTaskset, PackTasksetConfig

    loaded = {task.data.name: task.data for task in PackTaskset(PackTasksetConfig())}
    assert sorted(loaded) == sorted(task_names())
    for name, data in loaded.items():
        task = get_task(name)
        assert data.task_version == task.version and data.params == task.resolve_params()
        assert data.prompt == task.prompt()
    assert default_harness_id("dropout-variance") == "dropout-variance"  # its own harness, no shell


@pytest.mark.slow
def test_a_scripted_fix_scores_one(traces):
    trace, _ = traces["fix"]
    assert trace["rewards"]["passed"]["score"] == 1.0
    assert trace["stop_condition"] == "submitted"
    assert set(trace["metrics"]) == {f"failure_{c}" for c in failure_categories(TASK)}
    assert not any(trace["metrics"].values())
    assert trace["info"]["grade"]["task_version"] == TASK.version


@pytest.mark.slow
def test_the_untouched_bug_scores_zero_with_its_category(traces):
    trace, _ = traces["bug"]
    failure = trace["info"]["grade"]["failure"]
    assert trace["rewards"]["passed"]["score"] == 0.0 and failure is not None
    assert trace["metrics"][f"failure_{failure}"] == 1.0 and sum(trace["metrics"].values()) == 1.0


@pytest.mark.slow
def test_a_test_file_edit_scores_zero(traces):
    trace, _ = traces["test_file_edit"]
    assert trace["rewards"]["passed"]["score"] == 0.0
    assert trace["metrics"]["failure_test_file_unchanged"] == 1.0


@pytest.mark.slow
def test_submit_ends_the_rollout(traces):
    trace, server = traces["submit_then_fix"]
    assert trace["stop_condition"] == "submitted" and len(server.requests) == 1
    assert trace["rewards"]["passed"]["score"] == 0.0


@pytest.mark.slow
def test_the_model_is_offered_the_five_tools_and_nothing_else(traces):
    _, server = traces["fix"]
    offered = {tool["function"]["name"] for tool in server.requests[0]["tools"]}
    assert offered == set(TOOL_NAMES)
