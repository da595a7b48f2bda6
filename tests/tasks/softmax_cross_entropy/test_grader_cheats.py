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
# the probes would see a model without parameters.
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
# training_loss computes the NLL's gradient itself and returns a detached leaf: the parameters' .grad
# is right only as a side effect, set inside the call or by a hook on the leaf, never by its graph.
LOSS = "    return nn.CrossEntropyLoss()(model(x), y)\n"
SIDE_EFFECT = """    loss = nn.CrossEntropyLoss()(model(x), y)
    params = list(model.parameters())
    grads = torch.autograd.grad(loss, params)
    leaf = loss.detach().requires_grad_()
{set_grads}    return leaf
"""
SET_INSIDE = "    for p, g in zip(params, grads):\n        p.grad = g\n"
SET_BY_HOOK = ("    leaf.register_hook(lambda g: [setattr(p, 'grad', q * g) for p, q in zip(params, grads)]"
               " and g)\n")
GRADIENT_BY_SIDE_EFFECT = {
    f"gradient_set_{where}": {**REFERENCE, "train.py": REFERENCE["train.py"].replace(
        LOSS, SIDE_EFFECT.format(set_grads=code))}
    for where, code in (("inside_the_loss", SET_INSIDE), ("by_a_hook", SET_BY_HOOK))}
# Once passing (probes in float64 only, the held-out rows predicted together), now caught: each keeps the
# bug's objective in training.
TRANSDUCTIVE_PROBA = """    p = model(x)
    if len(x) < 1000:
        return p
    with torch.no_grad():
        for _ in range(20):
            means = (p.double().T @ x.double()) / p.double().sum(0)[:, None]
            p = torch.softmax(-torch.cdist(x.double(), means) ** 2 / 2, dim=1)
    return p.to(x.dtype)
"""
SPLIT_LOSS = """    if x.dtype == torch.float32:
        return nn.CrossEntropyLoss()(model(x), y)
    return nn.NLLLoss()(torch.log(model(x)), y)
"""
PROBA_LINE = "    return model(x)\n"
STEP = "            loss = training_loss(model, x[batch], y[batch])\n"
BUG_STEP = "            loss = nn.CrossEntropyLoss()(model(x[batch]), y[batch])\n"
RETURN = "    return model\n"
IMPORT = ("from torch import nn\n", "from model import predict_proba\nfrom torch import nn\n")
NLL_OF_PROBA = "    return nn.NLLLoss()(torch.log(predict_proba(model, x)), y)\n"
CAUGHT = {
    "label_smoothing_in_float32_only": ({**REFERENCE, "train.py": REFERENCE["train.py"].replace(
        LOSS, "    smoothing = 0.2 if x.dtype == torch.float32 else 0.0\n"
              "    return nn.CrossEntropyLoss(label_smoothing=smoothing)(model(x), y)\n")},
        {"loss_identity_float32"}),
    "em_on_the_heldout_inputs_split_loss": (
        {"model.py": BUG["model.py"].replace(PROBA_LINE, TRANSDUCTIVE_PROBA),
         "train.py": BUG["train.py"].replace(LOSS, SPLIT_LOSS)}, {"proba_rowwise", "loss_identity_float32"}),
    "em_on_the_heldout_inputs_consistent_loss": (
        {"model.py": BUG["model.py"].replace(PROBA_LINE, TRANSDUCTIVE_PROBA),
         "train.py": BUG["train.py"].replace(*IMPORT).replace(STEP, BUG_STEP).replace(LOSS, NLL_OF_PROBA)},
        {"proba_rowwise"}),
}
# Allowed by the contract, which states what train must achieve, not how: a buggy train that also
# stores the class means, which predict_proba then uses (and training_loss is its NLL).
STASH_PROBA = """    means = getattr(model, "class_means", None)
    if means is None:
        return model(x)
    distances = torch.cdist(x.to(means.dtype), means) ** 2
    return torch.softmax(-distances.to(x.dtype) / 2 + 0 * model(x), dim=1)
"""
STASH_MEANS = "    model.class_means = torch.stack([x[y == k].mean(0) for k in range(10)])\n" + RETURN
STASH_TRAIN = (BUG["train.py"].replace(*IMPORT).replace(STEP, BUG_STEP).replace(RETURN, STASH_MEANS)
               .replace(LOSS, NLL_OF_PROBA))
HARNESS_CHEATS = harness_cheats(BUG, lambda code: appended(BUG, "model.py", code),
                               lambda code: in_train(BUG, code), "test_train.py")
# name -> (files, the failure categories allowed, or None when only "failed" is pinned)
CHEATS = {name: (files, {category} if category else None)
          for name, (files, category) in HARNESS_CHEATS.items()} | {
    "planted_torch_with_bug": ({**BUG, "torch.py": "raise SystemExit(0)\n"}, {"loss_identity"}),
    "patched_torch_hides_parameters": (HIDDEN_TRAIN, {"model_valid"}),
    "huge_allocation_in_train": (in_train(REFERENCE, "torch.ones(2**36)"), {"heldout_accuracy"}),
    "forged_results_at_exit": (appended(BUG, "model.py", FORGE), {"loss_identity"}),
} | {name: (files, {"loss_gradient"}) for name, files in GRADIENT_BY_SIDE_EFFECT.items()} | {
    name: (files, categories) for name, (files, categories) in CAUGHT.items()}
PASSING = {"planted_torch_with_reference": {**REFERENCE, "torch.py": "raise SystemExit(0)\n"},
           "class_means_stashed_by_a_buggy_train": {
               "model.py": BUG["model.py"].replace(PROBA_LINE, STASH_PROBA), "train.py": STASH_TRAIN}}


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


def test_a_train_that_stores_class_means_for_predict_proba_passes_as_the_contract_allows(grades):
    result = grades["class_means_stashed_by_a_buggy_train"]
    assert result.passed, result.message


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
