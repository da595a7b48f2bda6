"""The grader on every variant: each correct fix passes, each wrong one fails with the check that
catches it, the starting files fail with STARTING_FAILURE, and the grading process never imports torch."""

import subprocess
import sys

import pytest

from task_lib.tasks.softmax_cross_entropy import design
from tasks.softmax_cross_entropy.task_files import TASK, grade_all, requires_torch, variants

pytestmark = requires_torch
POLICIES = TASK.module("policies")


@pytest.fixture(scope="module")
def grades(tmp_path_factory):
    workspaces = {name: {"model.py": v.model, "train.py": v.train} for name, v in variants().items()}
    workspaces["starting"] = {}
    workspaces["reference"] = {name: TASK.reference_text(name) for name in TASK.solution_files}
    return grade_all(tmp_path_factory.mktemp("variants"), workspaces, seed=20_261_201)


@pytest.mark.parametrize("name", [n for n, v in variants().items() if v.expected_failure is None])
def test_every_correct_fix_passes(grades, name):
    result = grades[name]
    assert result.passed, result.message


@pytest.mark.parametrize("name", [n for n, v in variants().items() if v.expected_failure is not None])
def test_every_wrong_fix_fails_on_the_check_that_catches_it(grades, name):
    result = grades[name]
    assert (result.passed, result.failure) == (False, variants()[name].expected_failure), result.message


def test_the_reference_passes_every_check_and_the_starting_files_fail_as_declared(grades):
    reference, starting = grades["reference"], grades["starting"]
    assert reference.passed and len(reference.checks) == 6
    assert starting.failure == POLICIES.STARTING_FAILURE


def test_the_reference_clears_the_heldout_thresholds_by_more_than_the_hoeffding_margins(grades):
    values = {c.name: c.value for c in grades["reference"].checks}
    power = TASK.module("power")
    assert values["heldout_accuracy"] - design.ACCURACY_MIN > 4 * power.accuracy_margin()
    assert design.NLL_MAX - values["heldout_nll"] > 2 * power.nll_margin()


def test_the_bug_misses_the_loss_checks_by_orders_of_magnitude(grades):
    values = {c.name: c.value for c in grades["starting"].checks}
    assert values["loss_identity"] > 1e4 * design.LOSS_TOLERANCE
    assert values["loss_gradient"] > 1e3 * design.GRADIENT_TOLERANCE
    assert values["heldout_accuracy"] < design.ACCURACY_MIN and values["heldout_nll"] > design.NLL_MAX


def test_every_check_is_announced_by_a_sentence_of_the_prompt(grades):
    prompt = " ".join(TASK.prompt().split())
    clauses = TASK.module("checks").CLAUSES
    for check in grades["reference"].checks:
        assert " ".join(clauses[check.name].split()) in prompt, check.name


GRADE_AND_LIST_MODULES = """
import sys
from task_lib.grader import grade_workspace
from task_lib.registry import get_task
from task_lib.workspace import create_workspace
task = get_task("softmax-cross-entropy")
workspace = create_workspace(sys.argv[1], task)
result = grade_workspace(workspace, task, seed=1)
print(result.failure, "torch" in sys.modules)
"""


def test_the_grading_process_never_imports_torch(tmp_path):
    run = subprocess.run([sys.executable, "-c", GRADE_AND_LIST_MODULES, str(tmp_path / "ws")],
                         capture_output=True, text=True, timeout=120, cwd=".")
    assert run.stdout.split() == [POLICIES.STARTING_FAILURE, "False"], run.stderr
