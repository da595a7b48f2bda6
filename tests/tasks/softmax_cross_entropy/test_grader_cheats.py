"""Cheats fail, and the grader survives them: exits, planted modules, patched torch, loops, big
allocations, forged results, an edited visible test. Each is a failed grade with its category."""

from dataclasses import replace

import pytest
from cheats import endless_loops, harness_cheats

from task_lib.tasks.softmax_cross_entropy import checks
from tasks.softmax_cross_entropy.task_files import TASK, grade_all, requires_torch, variants

pytestmark = requires_torch
REFERENCE = {name: TASK.reference_text(name) for name in TASK.solution_files}
BUG = {name: TASK.starting_text(name) for name in TASK.solution_files}
TRAIN_DEF = "def train(model, x, y, *, epochs, lr, seed):\n"


def in_train(files: dict[str, str], code: str) -> dict[str, str]:
    """`files` with `code` run at the start of train()."""
    body = "".join(f"    {line}\n" for line in code.splitlines())
    return {**files, "train.py": files["train.py"].replace(TRAIN_DEF, TRAIN_DEF + body)}


def appended(files: dict[str, str], name: str, code: str) -> dict[str, str]:
    return {**files, name: files[name] + "\n" + code}


# The bug's gradient behind the right value, with Module.parameters() emptied for everyone but train:
# the gradient probe would see no parameters at all.
HIDDEN_PARAMETERS = '''
_parameters = nn.Module.parameters
nn.Module.parameters = lambda self, recurse=True: iter(())
'''
BUG_GRADIENT = variants()["bug_gradient"]
HIDDEN_TRAIN = {
    "model.py": BUG_GRADIENT.model + HIDDEN_PARAMETERS,
    "train.py": BUG_GRADIENT.train
    .replace("torch.optim.SGD(model.parameters(), lr=lr)", "torch.optim.SGD(list(_parameters(model)), lr=lr)")
    .replace("from torch import nn\n", "from model import _parameters\nfrom torch import nn\n", 1),
}
# Writes a passing report at exit, and disarms os._exit: the child ends before any exit handler runs.
FORGE = '''
import atexit
import json
import os


def _forge():
    json.dump({"errors": {}}, open("report.json", "w"))
    open("progress.txt", "a").write("done\\n")


atexit.register(_forge)
os._exit = lambda status: None
'''
HARNESS_CHEATS = harness_cheats(BUG, lambda code: appended(BUG, "model.py", code),
                               lambda code: in_train(BUG, code), "test_train.py")
# name -> (files, the failure categories allowed, or None when only "failed" is pinned)
CHEATS = {name: (files, {category} if category else None)
          for name, (files, category) in HARNESS_CHEATS.items()} | {
    "planted_torch_with_bug": ({**BUG, "torch.py": "raise SystemExit(0)\n"}, {"loss_identity"}),
    "patched_torch_hides_parameters": (HIDDEN_TRAIN, {"loss_gradient"}),
    "huge_allocation_in_train": (in_train(REFERENCE, "torch.ones(2**36)"), {"heldout_accuracy"}),
    "forged_results_at_exit": (appended(BUG, "model.py", FORGE), {"loss_identity"}),
}
PASSING = {"planted_torch_with_reference": {**REFERENCE, "torch.py": "raise SystemExit(0)\n"}}


@pytest.fixture(scope="module")
def grades(tmp_path_factory):
    workspaces = {name: files for name, (files, _) in CHEATS.items()} | PASSING
    return grade_all(tmp_path_factory.mktemp("cheats"), workspaces, seed=7)


@pytest.mark.parametrize("name", list(CHEATS))
def test_each_cheat_fails_with_its_category(grades, name):
    result, categories = grades[name], CHEATS[name][1]
    assert not result.passed and (categories is None or result.failure in categories), result.message


def test_a_torch_module_planted_in_the_workspace_is_never_loaded(grades):
    assert grades["planted_torch_with_reference"].passed


def test_endless_loops_time_out_within_the_wall_clock_limit(tmp_path):
    limits = replace(TASK.grade_limits, wall_seconds=12, cpu_seconds=12)
    loops = endless_loops(lambda code: appended(BUG, "model.py", code), lambda code: in_train(BUG, code))
    for name, result in grade_all(tmp_path, loops, limits=limits).items():
        assert result.failure == "timeout" and result.seconds < 20, (name, result.message)


def test_the_heldout_labels_are_kept_from_the_child():
    import numpy as np

    inputs, plan = checks.make_job({}, np.random.default_rng(0))
    assert set(inputs.private) == {"heldout_y"} and "heldout_y" not in inputs
    sent = set(inputs)
    assert all(not np.array_equal(inputs[k], inputs.private["heldout_y"]) for k in sent if k.endswith("_y"))
