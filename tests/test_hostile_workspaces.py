"""Hostile workspaces end as counted failures: agents that build a deep tree, symlink loops or a FIFO
and then touch them with the tools, played through the real SDK against the offline server, end
`failed` with their summary, quickly; a harness bug is an error of its own attempt only; tool
calls and attempts past their wall-clock limits are told to the model or end as `limit`."""

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace

import pytest
from tasks.variance_dropout.task_files import POLICIES, TASK

from task_lib.agent.backends import open_backend
from task_lib.agent.loop import TRANSCRIPT_FILE, run_attempt
from task_lib.agent.tools import WorkspaceTools
from task_lib.agent.transcript import read_transcript
from task_lib.agent.workspace import create_workspace
from task_lib.calibration import runs as calibration
from task_lib.calibration.runs import attempt_dir, format_summary, run_calibration
from task_lib.sandbox.run import isolation
from task_lib.sandbox.untrusted_trees import remove_tree

HOSTILE = ("deep_tree", "symlink_loop", "fifo")


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """A TMPDIR of the test's own, to see what the harness leaves behind."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setenv("TMPDIR", str(directory))
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def calibrate(run_dir, model, runs=2, **options):
    async def run():
        async with open_backend("offline") as backend:
            return await run_calibration(backend, model, run_dir, runs, task=TASK, **options)

    return asyncio.run(run())


def tool_results(run_dir, index=0):
    events = read_transcript(attempt_dir(run_dir, index) / TRANSCRIPT_FILE)
    return [(e["name"], e["is_error"], e["text"]) for e in events if e["kind"] == "tool_result"]


@pytest.mark.parametrize("policy", HOSTILE)
def test_a_hostile_workspace_ends_as_a_counted_failure_with_its_summary(tmp_path, private_tmp, policy):
    started = time.monotonic()
    summary = calibrate(tmp_path / "run", f"scripted:{policy}")
    assert time.monotonic() - started < 110
    assert summary["outcomes"] == {"passed": 0, "failed": 2, "limit": 0, "error": 0}
    assert summary["failures"] == {POLICIES[policy].expected_failure: 2}
    assert list(private_tmp.iterdir()) == []  # the attempts' working copies are gone, whatever they held
    results = tool_results(tmp_path / "run")
    assert [name for name, _, _ in results][-1] == "submit"
    errors = " ".join(text for _, is_error, text in results if is_error)
    if policy == "fifo" and isolation().mechanism == "bubblewrap":
        assert "FIFO" not in errors  # the sandbox's copy-back keeps no FIFO or socket: no tool meets one
    else:
        assert {
            "deep_tree": "more than the sandbox takes",
            "symlink_loop": "loop of symbolic links",
            "fifo": "FIFO or a socket",
        }[policy] in errors


def test_a_harness_bug_in_one_attempt_leaves_the_others_and_the_summary(tmp_path, monkeypatch):
    async def broken_for_one(backend, model, out_dir, *, index, **options):
        if index == 1:
            raise RecursionError("maximum recursion depth exceeded")
        return await run_attempt(backend, model, out_dir, index=index, **options)

    monkeypatch.setattr(calibration, "run_attempt", broken_for_one)
    summary = calibrate(tmp_path / "run", "scripted:submit_bug", runs=3)
    assert summary["outcomes"] == {"passed": 0, "failed": 2, "limit": 0, "error": 1}
    assert summary["error_attempts"] == [1] and summary["errors"] == {"harness error": 1}
    assert "attempts ended by an error: 1" in format_summary(summary)


def slow_tools(monkeypatch, seconds):
    handle = WorkspaceTools.handle

    def slow(self, name, tool_input):
        if name != "submit":
            time.sleep(seconds)
        return handle(self, name, tool_input)

    monkeypatch.setattr(WorkspaceTools, "handle", slow)


def play(tmp_path, model, limits):
    async def run():
        async with open_backend("offline") as backend:
            return await run_attempt(backend, model, tmp_path / "attempt", task=TASK, limits=limits)

    return asyncio.run(run())


def test_a_tool_call_past_its_limit_is_told_to_the_model_and_the_attempt_goes_on(tmp_path, monkeypatch):
    slow_tools(monkeypatch, 1.0)
    record = play(tmp_path, "scripted:submit_bug", replace(TASK.agent_limits, tool_call_seconds=0.2))
    assert record.outcome == "failed" and record.submitted
    events = read_transcript(tmp_path / "attempt" / TRANSCRIPT_FILE)
    results = [e for e in events if e["kind"] == "tool_result"]
    timed_out = [e["name"] for e in results if e["is_error"] and "did not finish within 0.2 s" in e["text"]]
    assert timed_out == ["read_file", "run_tests"]


def test_an_attempt_past_its_wall_clock_limit_ends_as_limit(tmp_path, monkeypatch):
    slow_tools(monkeypatch, 0.5)
    started = time.monotonic()
    record = play(tmp_path, "scripted:ramble", replace(TASK.agent_limits, attempt_seconds=1.2))
    assert record.outcome == "limit" and record.limit == "wall_time" and record.grade is not None
    assert time.monotonic() - started < 1.2 + 15  # the loop's limit, then one grade


DEEP_AT_IMPORT = """import os as _os
_top = _os.getcwd()
for _ in range(1500):
    _os.mkdir("deep")
    _os.chdir("deep")
_os.chdir(_top)
"""


def test_a_solution_building_a_deep_tree_at_import_gets_a_verdict_and_leaves_nothing(tmp_path):
    workspace = create_workspace(tmp_path / "ws", TASK)
    (workspace / "dropout.py").write_text(DEEP_AT_IMPORT + TASK.starting_text("dropout.py"))
    private = tmp_path / "tmp"
    private.mkdir()
    try:
        done = subprocess.run([sys.executable, "-m", "task_lib", "grade", str(workspace), "--json"],
                              capture_output=True, text=True, timeout=120,
                              env={"TMPDIR": str(private), "PATH": "/usr/bin:/bin"})
        assert done.returncode in (0, 1), done.stderr[-2000:]
        assert json.loads(done.stdout)["failure"] is not None
        assert list(private.iterdir()) == []
    finally:
        remove_tree(private)  # pytest's own clean-up of old tmp_paths recurses
