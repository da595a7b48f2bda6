"""The grader on every variant: each correct fix passes, each wrong one fails with the check that
catches it, the starting files fail with STARTING_FAILURE, and the grading process never imports torch."""

import re
import subprocess
import sys

import pytest

from task_lib.tasks.softmax_cross_entropy import design
from tasks.softmax_cross_entropy.task_files import TASK, grade_all, requires_torch, variants

pytestmark = requires_torch
POLICIES = TASK.module("policies")
REFERENCE = {name: TASK.reference_text(name) for name in TASK.solution_files}
LOSS = "    return nn.CrossEntropyLoss()(model(x), y)\n"
PROBA = "    return torch.softmax(model(x), dim=1)\n"
OPTIMIZER = "    optimizer = torch.optim.SGD(model.parameters(), lr=lr)\n"
STEP = "            loss = training_loss(model, x[batch], y[batch])\n"


def edited(files: dict[str, str], name: str, *replacements: tuple[str, str]) -> dict[str, str]:
    """`files` with each (old, new) replacement made once in files[name]."""
    text = files[name]
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return {**files, name: text}


def loss(body: str) -> dict[str, str]:
    return edited(REFERENCE, "train.py", (LOSS, body))


CACHE = """    cache = model.__dict__.setdefault("proba_cache", {})
    key = (x.data_ptr(), tuple(x.shape))
    if key not in cache:
        cache[key] = torch.softmax(model(x), dim=1)
    return cache[key]
"""
TO_DOUBLE = ("    generator =", "    model.double()\n    x = x.double()\n    generator =")
CAST_INPUT = ("        return self.layers(x)\n",
              "        return self.layers(x.to(self.layers[0].weight.dtype))\n")
TRAIN_DOUBLE = edited(REFERENCE, "train.py", TO_DOUBLE)
ADAM = OPTIMIZER.replace("SGD", "Adam").replace("lr=lr", "lr=lr / 10")
SCALED = "    nll = nn.CrossEntropyLoss()(model(x), y)\n    return {factor} * nll - {rest} * nll.detach()\n"
# Requirement 4 states an outcome, not how train reaches it: a train minimizing the bug's objective
# with Adam (which trains even through that objective's weak gradient) is correct by contract.
BUG_WITH_ADAM = edited(REFERENCE, "train.py", (OPTIMIZER, ADAM.replace("lr=lr / 10", "lr=0.003")), (
    STEP, "            loss = nn.CrossEntropyLoss()(torch.softmax(model(x[batch]), dim=1), y[batch])\n"))
# Held-out variants beyond the policies': name -> (files, the check that fails them, or None: passes).
HELD_OUT = {
    "adam": (edited(REFERENCE, "train.py", (OPTIMIZER, ADAM)), None),  # the prompt fixes no optimizer
    "train_minimizes_the_bug_with_adam": (BUG_WITH_ADAM, None),
    "log_softmax_module_nll": (edited(loss("    return nn.NLLLoss()(model(x), y)\n"), "model.py",
                                      ("nn.Linear(hidden, n_classes),\n", "nn.Linear(hidden, n_classes),\n"
                                       "            nn.LogSoftmax(dim=1),\n"),
                                      (PROBA, "    return model(x).exp()\n")), None),
    "logsumexp_by_hand_max_subtracted": (loss(
        "    z = model(x)\n    m = z.max(dim=1, keepdim=True).values.detach()\n"
        "    lse = m.squeeze(1) + torch.log(torch.exp(z - m).sum(dim=1))\n"
        "    return (lse - z[torch.arange(len(y)), y]).mean()\n"), None),
    "predict_proba_in_eval_without_grad": (edited(REFERENCE, "model.py", (PROBA, (
        "    was_training = model.training\n    model.eval()\n    with torch.no_grad():\n"
        "        p = torch.softmax(model(x), dim=1)\n    model.train(was_training)\n    return p\n"))), None),
    # train casts the model to float64: the float32 held-out inputs then need the cast in forward.
    "float64_training_casting_inputs": (edited(TRAIN_DOUBLE, "model.py", CAST_INPUT), None),
    "float64_training_refusing_float32": (TRAIN_DOUBLE, "heldout_accuracy"),
    "gradient_doubled": (loss(SCALED.format(factor=2, rest=1)), "loss_gradient"),  # the NLL's value
    "gradient_times_1.001": (loss(SCALED.format(factor=1.001, rest=0.001)), "loss_gradient"),
    "label_smoothing_0.01": (loss("    return nn.CrossEntropyLoss(label_smoothing=0.01)(model(x), y)\n"),
                             "loss_identity"),
    # Not the NLL: at the probes' states a true class's probability can be ~1e-5 (5e-6 to 7e-5 off).
    "log_of_probabilities_plus_1e-8": (edited(REFERENCE, "train.py", (LOSS, (
        "    return nn.NLLLoss()(torch.log(torch.softmax(model(x), dim=1) + 1e-8), y)\n"))), "loss_identity"),
    "temperature_in_predict_proba_only": (edited(REFERENCE, "model.py", (
        PROBA, "    return torch.softmax(model(x) / 2.0, dim=1)\n")), "loss_identity"),
    # Cached per model and input: blind to the parameters the gradient probe moves.
    "predict_proba_cached_by_input": (edited(REFERENCE, "model.py", (PROBA, CACHE)), "loss_gradient"),
}
FLOAT32 = "x.dtype == torch.float32"
# The red team's probe plan, over the whole contract: near misses just off the old plan (float64 probes
# only, batches of 64 and 5, 10 classes), each failing with certainty on the new one, and correct
# variants the new probes must not fail. name -> (files, the check that fails them, or None: passes).
COVERAGE = {
    "label_smoothing_0.01_in_float32_only": (loss(
        f"    smoothing = 0.01 if {FLOAT32} else 0.0\n"
        "    return nn.CrossEntropyLoss(label_smoothing=smoothing)(model(x), y)\n"), "loss_identity_float32"),
    "gradient_doubled_in_float32_only": (loss(
        "    nll = nn.CrossEntropyLoss()(model(x), y)\n"
        f"    return 2 * nll - nll.detach() if {FLOAT32} else nll\n"), "loss_gradient_float32"),
    "loss_off_except_at_the_old_batch_sizes": (loss(
        "    nll = nn.CrossEntropyLoss()(model(x), y)\n"
        "    return nll if len(y) in (5, 64) else 1.01 * nll\n"), "loss_identity"),
    "last_class_ignored": (loss("    z = model(x)\n"
                                "    return nn.CrossEntropyLoss(ignore_index=z.shape[1] - 1)(z, y)\n"),
                           "loss_identity"),
    "proba_squeezed": (edited(REFERENCE, "model.py", (
        PROBA, "    return torch.softmax(model(x), dim=1).squeeze()\n")), "proba_valid"),
    "proba_in_half_precision_for_float32": (edited(REFERENCE, "model.py", (
        PROBA, "    p = torch.softmax(model(x), dim=1)\n"
               f"    return p.half().to(x.dtype) if {FLOAT32} else p\n")),
        "proba_valid"),
    "functional_log_softmax_nll_loss": (loss(
        "    return nn.functional.nll_loss(nn.functional.log_softmax(model(x), dim=1), y)\n"), None),
    "gathered_log_softmax": (loss(
        "    return -torch.log_softmax(model(x), dim=1).gather(1, y[:, None]).mean()\n"), None),
    "summed_then_divided": (loss(
        "    return nn.CrossEntropyLoss(reduction='sum')(model(x), y) / len(y)\n"), None),
    "loss_in_float64_whatever_the_input": (loss(
        "    return nn.CrossEntropyLoss()(model(x).double(), y)\n"), None),
    "proba_in_float64_whatever_the_input": (edited(REFERENCE, "model.py", (
        PROBA, "    return torch.softmax(model(x).double(), dim=1)\n")), None),
    "wider_hidden_layer": (edited(REFERENCE, "model.py", ("hidden=64", "hidden=128")), None),
}


@pytest.fixture(scope="module")
def grades(tmp_path_factory):
    workspaces = {name: {"model.py": v.model, "train.py": v.train} for name, v in variants().items()}
    workspaces["starting"] = {}
    workspaces["reference"] = REFERENCE
    workspaces |= {name: files for name, (files, _) in (HELD_OUT | COVERAGE).items()}
    return grade_all(tmp_path_factory.mktemp("variants"), workspaces, seed=20_261_201)


@pytest.mark.parametrize("name", [n for n, v in variants().items() if v.expected_failure is None])
def test_every_correct_fix_passes(grades, name):
    result = grades[name]
    assert result.passed, result.message


@pytest.mark.parametrize("name", [n for n, v in variants().items() if v.expected_failure is not None])
def test_every_wrong_fix_fails_on_the_check_that_catches_it(grades, name):
    result = grades[name]
    assert (result.passed, result.failure) == (False, variants()[name].expected_failure), result.message


@pytest.mark.parametrize("name", list(HELD_OUT | COVERAGE))
def test_each_held_out_variant_ends_as_declared(grades, name):
    result = grades[name]
    expected = (HELD_OUT | COVERAGE)[name][1]
    assert (result.passed, result.failure) == (expected is None, expected), result.message


def test_the_reference_passes_every_check_and_the_starting_files_fail_as_declared(grades):
    reference, starting = grades["reference"], grades["starting"]
    assert reference.passed and len(reference.checks) == 10
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


def test_every_requirement_sentence_is_the_clause_of_a_check():
    prompt = TASK.prompt()
    requirements = prompt[prompt.index("\n1. "):prompt.index("## How it is graded")]
    text = re.sub(r"(^| )\d\. ", " ", " ".join(requirements.split())).strip()
    sentences = re.split(r"(?<=\.)\s+(?=[A-Z`])", text)
    clauses = [" ".join(clause.split()) for clause in TASK.module("checks").CLAUSES.values()]
    assert len(sentences) == 6
    assert [s for s in sentences if not any(s.startswith(clause) for clause in clauses)] == []


def test_the_prompt_states_the_contract_in_at_most_400_words():
    assert len(TASK.prompt().split()) <= 400


GRADE_AND_LIST_MODULES = """
import sys
from task_lib.grading.grader import grade_workspace
from task_lib.registry import get_task
from task_lib.agent.workspace import create_workspace
task = get_task("softmax-cross-entropy")
workspace = create_workspace(sys.argv[1], task)
result = grade_workspace(workspace, task, seed=1)
print(result.failure, "torch" in sys.modules)
"""


def test_the_grading_process_never_imports_torch(tmp_path):
    run = subprocess.run([sys.executable, "-c", GRADE_AND_LIST_MODULES, str(tmp_path / "ws")],
                         capture_output=True, text=True, timeout=120, cwd=".")
    assert run.stdout.split() == [POLICIES.STARTING_FAILURE, "False"], run.stderr
