"""Task `softmax-cross-entropy`: fix a PyTorch classifier whose `forward` ends in `softmax` and whose
training loss applies `nn.CrossEntropyLoss` to those probabilities. Its `TASK` value is all the
harness sees; torch is imported only by the grader's child and the candidate's own runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from task_lib.sandbox.run import SandboxLimits
from task_lib.task import Task

from . import design, power


def _stated(value: float) -> str:
    """A tolerance as the prompt states it: 1e-5, not 1e-05."""
    return f"{value:.0e}".replace("e-0", "e-")


def prompt_fields(params: Mapping[str, float]) -> dict[str, Any]:
    """The numbers the prompt states (the task has no parameters)."""
    return {
        "min_features": design.PROBE_FEATURES[0], "max_features": design.PROBE_FEATURES[1],
        "min_classes": design.PROBE_CLASSES[0], "max_classes": design.PROBE_CLASSES[1],
        "n_features": design.N_FEATURES, "n_classes": design.N_CLASSES, "n_train": design.N_TRAIN,
        "n_heldout": design.N_HELDOUT, "epochs": design.EPOCHS, "lr": design.LR,
        "accuracy_min": design.ACCURACY_MIN, "nll_max": design.NLL_MAX, "nll_cap": f"{design.NLL_CAP:g}",
        "n_directions": design.N_DIRECTIONS, "max_params": design.MAX_PARAMS, "step": _stated(design.STEP),
        "sum_tolerance": _stated(design.SUM_TOLERANCE), "row_tolerance": _stated(design.ROW_TOLERANCE),
        "loss_tolerance": _stated(design.LOSS_TOLERANCE),
        "loss_tolerance_float32": _stated(design.LOSS_TOLERANCE_FLOAT32),
        "gradient_tolerance": _stated(design.GRADIENT_TOLERANCE),
        "gradient_tolerance_float32": _stated(design.GRADIENT_TOLERANCE_FLOAT32),
        "alpha": _stated(power.ALPHA),
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
