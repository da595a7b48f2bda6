"""Every scripted policy of softmax-cross-entropy (the task's own and the kit's) ends as it declares,
played through the real anthropic SDK against the offline server, and graded by the real grader."""

import asyncio
from dataclasses import replace

import pytest

from task_lib.agent.backends import open_backend
from task_lib.agent.loop import run_attempt
from task_lib.offline import calibration_mix, policies_for
from tasks.softmax_cross_entropy.task_files import TASK, requires_torch

pytestmark = [requires_torch, pytest.mark.slow]
POLICIES = policies_for(TASK)
LIMITS = replace(TASK.agent_limits, max_steps=8)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = tmp_path_factory.mktemp("policies")

    async def play_all():
        async with open_backend("offline", task=TASK) as backend:
            semaphore = asyncio.Semaphore(2)  # two grades at a time on a small machine

            async def play(name, policy):
                async with semaphore:
                    return await run_attempt(backend, policy.model, root / name, task=TASK, limits=LIMITS)

            results = await asyncio.gather(*(play(name, p) for name, p in POLICIES.items()))
            return dict(zip(POLICIES, results, strict=True))

    return asyncio.run(play_all())


def test_every_scripted_policy_ends_in_its_expected_outcome(records):
    wrong = {}
    for name, policy in POLICIES.items():
        record = records[name]
        expected = (policy.expected_outcome, policy.expected_failure, policy.expected_limit)
        if (record.outcome, record.failure if record.outcome == "failed" else None, record.limit) != expected:
            wrong[name] = (record.outcome, record.failure, record.limit, record.error)
    assert not wrong


def test_the_calibration_mix_passes_three_of_ten():
    mix = calibration_mix(TASK)
    assert len(mix) == 10 and sum(POLICIES[name].expected_outcome == "passed" for name in mix) == 3
