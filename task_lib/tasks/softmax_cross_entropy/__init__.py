"""Task `softmax-cross-entropy`: fix a PyTorch classifier whose `forward` ends in `softmax` and whose
training loss applies `nn.CrossEntropyLoss` to those probabilities. Its `TASK` value is all the
harness sees; torch is imported only by the grader's child and the candidate's own runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from task_lib.sandbox import SandboxLimits
from task_lib.task import Task

from . import design, power


def prompt_fields(params: Mapping[str, float]) -> dict[str, Any]:
    """The numbers the prompt states (the task has no parameters)."""
    batches = " and ".join(str(size) for _, size in design.PROBE_BATCHES)
    return {
        "n_features": design.N_FEATURES, "n_classes": design.N_CLASSES, "separation": design.SEPARATION,
        "n_train": design.N_TRAIN, "n_heldout": design.N_HELDOUT, "epochs": design.EPOCHS, "lr": design.LR,
        "accuracy_min": design.ACCURACY_MIN, "nll_max": design.NLL_MAX, "nll_cap": f"{design.NLL_CAP:g}",
        "scales": " and ".join(f"{s:g}" for s in design.PROBE_SCALES), "batches": batches,
        "n_directions": design.N_DIRECTIONS, "max_params": design.MAX_PARAMS, "step": f"{design.STEP:g}",
        "sum_tolerance": f"{design.SUM_TOLERANCE:g}", "loss_tolerance": f"{design.LOSS_TOLERANCE:g}",
        "gradient_tolerance": f"{design.GRADIENT_TOLERANCE:g}", "alpha": f"{power.ALPHA:g}",
        "grade_seconds": design.GRADE_SECONDS, "grade_memory_gib": design.GRADE_MEMORY_GIB,
    }


TASK = Task(
    name="softmax-cross-entropy",
    package=__name__,
    summary="Fix a PyTorch classifier trained with CrossEntropyLoss on its softmax outputs (softmax twice).",
    role="Python and PyTorch engineer",
    starting_files=("model.py", "train.py", "test_train.py"),
    solution_files=("model.py", "train.py"),
    protected_files=("test_train.py",),
    visible_tests="test_train.py",
    grade_limits=SandboxLimits(wall_seconds=design.GRADE_SECONDS, cpu_seconds=design.GRADE_SECONDS,
                               memory_bytes=design.GRADE_MEMORY_GIB * 1024**3),
    prompt_fields=prompt_fields,
    libraries=("PyTorch", "NumPy"),
    requires=("torch",),
    install_hint="pip install -e '.[torch]'",
    defining_files=("driver.py", "checks.py", "design.py", "power.py"),
)
