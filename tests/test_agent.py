"""The agent loop end to end: the real anthropic SDK over HTTP against the offline server, every
scripted policy (fixes, failures, limits, hostile tool calls, API faults) ending as it should."""

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import replace

import anthropic
import pytest
from tasks.variance_dropout.task_files import POLICIES, TASK

from task_lib.agent.backends import Backend, open_backend
from task_lib.agent.loop import RECORD_FILE, TRANSCRIPT_FILE, WORKSPACE_DIR, build_request, run_attempt
from task_lib.agent.pricing import Usage, cost_usd
from task_lib.agent.transcript import read_transcript
from task_lib.offline import OFFLINE_LABEL, OfflineServer, ScriptedPolicy, ToolUse, Turn
from task_lib.offline.policy_kit import scripted

LIMITS = replace(TASK.agent_limits, max_steps=8)  # escape_paths needs 6 steps; ramble stops at 8


@pytest.fixture(scope="module")
def policy_runs(tmp_path_factory):
    """Every scripted policy played once, all concurrently through one shared client."""
    root = tmp_path_factory.mktemp("policies")

    async def play_all():
        async with open_backend("offline") as backend:
            records = await asyncio.gather(
                *(run_attempt(backend, p.model, root / name, limits=LIMITS) for name, p in POLICIES.items())
            )
            return dict(zip(POLICIES, records, strict=True)), backend.server.requests

    records, requests = asyncio.run(play_all())
    return records, requests, root


def transcript(root, name):
    return read_transcript(root / name / TRANSCRIPT_FILE)


def test_every_scripted_policy_ends_in_its_expected_outcome(policy_runs):
    records, _, _ = policy_runs
    wrong = {}
    for name, policy in POLICIES.items():
        record = records[name]
        expected = (policy.expected_outcome, policy.expected_failure, policy.expected_limit)
        if (record.outcome, record.failure if record.outcome == "failed" else None, record.limit) != expected:
            wrong[name] = (record.outcome, record.failure, record.limit, record.error)
    assert not wrong


@pytest.mark.parametrize(("policy", "status"), [("fault_429", 429), ("fault_500", 500), ("fault_529", 529)])
def test_retried_faults_are_retried_then_recorded_as_error(policy_runs, policy, status):
    records, requests, _ = policy_runs
    assert [r.status for r in requests if r.model == f"scripted:{policy}"] == [status] * 3
    record = records[policy]
    assert record.outcome == "error" and record.error.startswith(str(status)) and not record.fatal


def test_a_flaky_server_is_retried_and_the_attempt_passes(policy_runs):
    records, requests, _ = policy_runs
    statuses = [r.status for r in requests if r.model == "scripted:flaky_529"]
    assert records["flaky_529"].outcome == "passed" and statuses.count(529) == statuses.count(200) == 4


@pytest.mark.parametrize(
    ("policy", "cause"),
    [
        ("malformed_body", "malformed response"),
        ("dropped_connection", "connection failed"),
        ("fault_400", "400 invalid_request_error"),
    ],
)
def test_broken_responses_become_errors_with_their_cause(policy_runs, policy, cause):
    record = policy_runs[0][policy]
    assert record.outcome == "error" and record.error.startswith(cause) and not record.fatal


def test_refused_key_is_fatal_and_names_the_key(policy_runs):
    record = policy_runs[0]["fault_401"]
    assert record.outcome == "error" and record.fatal and "ANTHROPIC_API_KEY" in record.error


def test_max_tokens_and_step_limit_end_as_limit(policy_runs):
    records = policy_runs[0]
    assert (records["overlong"].limit, records["overlong"].stop_reasons) == ("max_tokens", ["max_tokens"])
    assert (records["ramble"].limit, records["ramble"].steps) == ("steps", LIMITS.max_steps)


def test_hostile_path_calls_are_refused_and_nothing_outside_is_read(policy_runs):
    records, _, root = policy_runs
    events = transcript(root, "escape_paths")
    results = {e["id"]: e for e in events if e["kind"] == "tool_result"}
    calls = [e for e in events if e["kind"] == "tool_call" and e["name"] in ("read_file", "write_file")]
    assert len(calls) == 4 and all(results[call["id"]]["is_error"] for call in calls)
    assert "root:x:0:0" not in (root / "escape_paths" / TRANSCRIPT_FILE).read_text()
    assert not (root / "escape_paths" / WORKSPACE_DIR / "link").exists()
    assert records["escape_paths"].outcome == "failed"


def test_transcripts_of_concurrent_attempts_stay_apart(policy_runs):
    records, _, root = policy_runs
    seen_responses = set()
    for name, record in records.items():
        events = transcript(root, name)
        assert events[0]["kind"] == "start" and events[0]["model"] == record.model == f"scripted:{name}"
        assert {e.get("model") for e in events if e["kind"] == "request"} <= {record.model}
        blocks = [block for e in events if e["kind"] == "response" for block in e["content"]]
        uses = {block["id"] for block in blocks if block["type"] == "tool_use"}
        assert {e["id"] for e in events if e["kind"] in ("tool_call", "tool_result")} <= uses
        responses = {e["id"] for e in events if e["kind"] == "response"}
        assert not responses & seen_responses
        seen_responses |= responses
        assert events[-1]["kind"] == "end" and events[-1]["outcome"] == record.outcome


def test_every_attempt_saves_its_record_transcript_and_graded_workspace(policy_runs):
    records, _, root = policy_runs
    for name, record in records.items():
        assert (root / name / WORKSPACE_DIR / "dropout.py").is_file()
        assert json.loads((root / name / RECORD_FILE).read_text()) == record.to_dict()
        assert record.grade is not None and record.grade["checks"], name  # graded, whatever the outcome


def test_usage_and_cost_are_recorded(policy_runs):
    record = policy_runs[0]["fix_math_sqrt"]
    usage = Usage(**record.usage)
    assert record.steps == 4 and usage.input_tokens > 0 and usage.output_tokens > 0
    assert record.cost_usd == cost_usd(usage, record.model) > 0
    assert "claude-haiku-4-5" in record.price_note and record.label == OFFLINE_LABEL
    assert record.stop_reasons == ["tool_use"] * 4 and record.submitted and record.wall_seconds > 0


def test_request_marks_tools_system_and_the_newest_turn_for_caching():
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "task"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "submit", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
    ]
    request = build_request("scripted:fix_power", messages, TASK.agent_limits)
    marked = [tool for tool in request["tools"] if "cache_control" in tool]
    assert marked == [request["tools"][-1]]
    assert request["system"][-1]["cache_control"] == {"type": "ephemeral"}
    blocks = [block for message in request["messages"] for block in message["content"]]
    assert [("cache_control" in block) for block in blocks] == [False, False, True]
    assert all("cache_control" not in block for message in messages for block in message["content"])


def offline_backend(server: OfflineServer, **client_options) -> Backend:
    client = anthropic.AsyncAnthropic(api_key=server.api_key, base_url=server.base_url, **client_options)
    return Backend("offline", client, OFFLINE_LABEL, server)


def test_prompt_cache_is_written_then_read_as_the_conversation_grows(tmp_path):
    async def attempt():
        with OfflineServer(min_cacheable_tokens=800) as server:
            return await run_attempt(offline_backend(server), "scripted:fix_math_sqrt", tmp_path)

    usage = asyncio.run(attempt()).usage
    assert usage["cache_creation_input_tokens"] > 0 and usage["cache_read_input_tokens"] > 0


def test_a_request_timeout_becomes_an_error(tmp_path):
    async def attempt():
        with OfflineServer(latency=3.0) as server:
            backend = offline_backend(server, timeout=0.3, max_retries=0)
            return await run_attempt(backend, "scripted:fix_power", tmp_path)

    record = asyncio.run(attempt())
    assert record.outcome == "error" and "timed out" in record.error


def test_total_token_limit_ends_as_limit(tmp_path):
    async def attempt():
        async with open_backend("offline") as backend:
            limits = replace(TASK.agent_limits, max_total_tokens=2_000)
            return await run_attempt(backend, "scripted:fix_math_sqrt", tmp_path, limits=limits)

    record = asyncio.run(attempt())
    assert (record.outcome, record.limit) == ("limit", "total_tokens")


def test_event_callback_sees_every_transcript_event_as_it_happens(tmp_path):
    events = []

    async def attempt():
        async with open_backend("offline") as backend:
            return await run_attempt(backend, "scripted:submit_bug", tmp_path, on_event=events.append)

    asyncio.run(attempt())
    assert events == read_transcript(tmp_path / TRANSCRIPT_FILE)
    kinds = [event["kind"] for event in events]
    assert kinds[:5] == ["start", "request", "response", "tool_call", "tool_result"]
    assert kinds[-2:] == ["grade", "end"]


def scripted_policy(name, *turns):
    """A one-off policy playing `turns`, then a text-only closing turn."""
    return ScriptedPolicy(name, name, "failed", next_turn=scripted(lambda: turns))


def play_custom(tmp_path, policy, **options):
    async def attempt():
        with OfflineServer(policies={policy.name: policy}) as server:
            return await run_attempt(offline_backend(server), policy.model, tmp_path, **options)

    return asyncio.run(attempt())


def test_a_deleted_solution_fails_as_no_solution(tmp_path):
    policy = scripted_policy(
        "delete_solution",
        Turn("Removing it.", (ToolUse("run_python", {"code": "import os\nos.remove('dropout.py')"}),)),
        Turn("Done.", (ToolUse("submit"),)),
    )
    record = play_custom(tmp_path, policy)
    assert (record.outcome, record.failure, record.submitted) == ("failed", "no_solution", True)


def test_a_binary_solution_fails_without_crashing_the_harness(tmp_path):
    code = "open('dropout.py', 'wb').write(bytes(range(256)))"
    policy = scripted_policy(
        "binary_solution",
        Turn("Writing bytes.", (ToolUse("run_python", {"code": code}),)),
        Turn("Reading it back.", (ToolUse("read_file", {"path": "dropout.py"}),)),
        Turn("Done.", (ToolUse("submit"),)),
    )
    record = play_custom(tmp_path, policy)
    results = [e for e in read_transcript(tmp_path / TRANSCRIPT_FILE) if e["kind"] == "tool_result"]
    assert results[1]["is_error"] and "not UTF-8" in results[1]["text"]
    assert record.outcome == "failed" and record.failure == record.grade["failure"] != "no_solution"


def test_bad_tool_calls_come_back_as_errors_and_submit_ends_the_turn(tmp_path):
    policy = scripted_policy(
        "clumsy",
        Turn("Trying things.", (ToolUse("delete_file", {"path": "dropout.py"}), ToolUse("read_file", {}),
                                ToolUse("write_file", {"path": "../x.py", "content": "x"}))),
        Turn("Submitting twice.", (ToolUse("submit"), ToolUse("run_tests"))),
    )
    record = play_custom(tmp_path, policy)
    events = read_transcript(tmp_path / TRANSCRIPT_FILE)
    results = [e for e in events if e["kind"] == "tool_result"]
    assert [r["is_error"] for r in results] == [True, True, True, False] and results[-1]["submitted"]
    assert [e["name"] for e in events if e["kind"] == "tool_call"][-1] == "submit"  # run_tests never ran
    assert record.steps == 2 and record.outcome == "failed" and record.failure == "variance_ratio"


def test_code_the_model_runs_cannot_see_the_harness_api_key(tmp_path):
    secret = "sk-ant-api03-fake-secret-for-the-sandbox-test"
    env = {**os.environ, "ANTHROPIC_API_KEY": secret}
    command = [sys.executable, "-m", "task_lib", "attempt", "--backend", "offline",
               "--model", "scripted:read_secrets", "--out", str(tmp_path / "run"), "--json"]
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    events = read_transcript(tmp_path / "run" / TRANSCRIPT_FILE)
    tool_results = [e for e in events if e["kind"] == "tool_result"]
    assert "environ" in json.dumps(tool_results[0])  # the snooping code ran
    assert secret not in (tmp_path / "run" / TRANSCRIPT_FILE).read_text()


def test_a_transcript_keeps_a_lone_surrogate_the_model_sent(tmp_path):
    """Valid JSON can carry a lone surrogate ("\\udcff") that strict UTF-8 cannot write: the transcript
    escapes it instead of failing the attempt, and reads it back as sent."""
    from task_lib.agent.transcript import Transcript, read_transcript

    transcript = Transcript(tmp_path / "transcript.jsonl")
    transcript.record("tool_call", name="write_file", input={"path": "odd\udcff.py"})
    transcript.close()
    [event] = read_transcript(tmp_path / "transcript.jsonl")
    assert event["input"] == {"path": "odd\udcff.py"}
