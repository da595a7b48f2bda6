"""Registry-wide invariants for dropout-from-scratch: the reference passes, the starting files fail
with STARTING_FAILURE, and every scripted policy ends as declared when played through the real SDK
against the offline server."""

import asyncio
from dataclasses import replace

import pytest

from task_lib.agent.backends import open_backend
from task_lib.agent.loop import run_attempt
from task_lib.agent.workspace import create_workspace, write_reference_solution
from task_lib.grading.grader import grade_workspace
from task_lib.offline import calibration_mix, policies_for

from .task_files import TASK

POLICIES = policies_for(TASK)
LIMITS = replace(TASK.agent_limits, max_steps=8)


def test_reference_passes_and_starting_files_fail_as_declared(tmp_path):
    assert grade_workspace(write_reference_solution(tmp_path / "ref", TASK), TASK).passed
    starting = grade_workspace(create_workspace(tmp_path / "start", TASK), TASK)
    assert starting.failure == TASK.module("policies").STARTING_FAILURE


def test_calibration_mix_names_known_policies_and_about_three_in_ten_pass():
    mix = calibration_mix(TASK)
    assert set(mix) <= set(POLICIES) and len(mix) == 10
    assert sum(POLICIES[name].expected_outcome == "passed" for name in mix) == 3


@pytest.fixture(scope="module")
def policy_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("dfs-policies")

    async def play_all():
        async with open_backend("offline", task=TASK) as backend:
            attempts = [run_attempt(backend, p.model, root / name, task=TASK, limits=LIMITS)
                        for name, p in POLICIES.items()]
            records = await asyncio.gather(*attempts)
            return dict(zip(POLICIES, records, strict=True))

    return asyncio.run(play_all())


@pytest.mark.slow
def test_every_scripted_policy_ends_in_its_expected_outcome(policy_runs):
    wrong = {}
    for name, policy in POLICIES.items():
        record = policy_runs[name]
        expected = (policy.expected_outcome, policy.expected_failure, policy.expected_limit)
        got = (record.outcome, record.failure if record.outcome == "failed" else None, record.limit)
        if got != expected:
            wrong[name] = (got, record.error)
    assert not wrong
