"""What softmax before cross-entropy does, in numbers: the idempotence of log_softmax, and training
runs of the task's MLP on the grader's problem with the bug's objective and with the fixes'. Imports
torch (inside the functions); used by the notebook and the threshold measurements, never by the grader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import checks, design

# How each variant turns the MLP's last layer z into (what forward returns, the loss on it).
OBJECTIVES = ("logits + CrossEntropyLoss", "log_softmax + NLLLoss", "log_softmax + CrossEntropyLoss",
              "softmax + CrossEntropyLoss (the bug)")
BUG = OBJECTIVES[-1]


def idempotence_gap(rng: np.random.Generator, rows: int = 5) -> float:
    """max |log_softmax(log_softmax(z)) - log_softmax(z)| over random float64 logits z."""
    import torch

    z = torch.from_numpy(rng.normal(scale=5.0, size=(rows, design.N_CLASSES)))
    once = torch.log_softmax(z, dim=1)
    return float((torch.log_softmax(once, dim=1) - once).abs().max())


def _objective(name: str) -> tuple[Callable, Callable]:
    """(head applied to the logits in forward, loss on the head's output) of a variant."""
    import torch
    from torch import nn

    identity = lambda z: z  # noqa: E731
    log_softmax = lambda z: torch.log_softmax(z, dim=1)  # noqa: E731
    softmax = lambda z: torch.softmax(z, dim=1)  # noqa: E731
    return {OBJECTIVES[0]: (identity, nn.CrossEntropyLoss()), OBJECTIVES[1]: (log_softmax, nn.NLLLoss()),
            OBJECTIVES[2]: (log_softmax, nn.CrossEntropyLoss()),
            OBJECTIVES[3]: (softmax, nn.CrossEntropyLoss())}[name]


@dataclass(frozen=True)
class Curve:
    """Held-out accuracy and NLL (capped as the grader caps it) after each epoch (index 0: before).
    Every variant's probabilities are softmax of the last layer: exp(log_softmax(z)) = softmax(z)."""

    objective: str
    accuracy: np.ndarray
    nll: np.ndarray


def training_curve(objective: str, seed: int, epochs: int = design.EPOCHS) -> Curve:
    """Train the task's MLP (the reference architecture, SGD, batch 32, lr design.LR) with `objective`
    on the grader's problem drawn from `seed`, recording held-out accuracy and NLL after each epoch."""
    import torch
    from torch import nn

    torch.set_num_threads(1)
    inputs, plan = checks.make_job({}, np.random.default_rng(seed))
    x, y = torch.from_numpy(inputs["train_x"]), torch.from_numpy(inputs["train_y"])
    heldout_x, heldout_y = torch.from_numpy(inputs["heldout_x"]), inputs.private["heldout_y"]
    head, loss_fn = _objective(objective)
    torch.manual_seed(plan["train_init_seed"])
    layers = nn.Sequential(nn.Linear(design.N_FEATURES, 64), nn.ReLU(), nn.Linear(64, design.N_CLASSES))
    optimizer = torch.optim.SGD(layers.parameters(), lr=design.LR)
    generator = torch.Generator().manual_seed(plan["train_seed"])
    accuracy, nll = [], []
    for epoch in range(epochs + 1):
        with torch.no_grad():
            proba = torch.softmax(layers(heldout_x), dim=1).double().numpy()
        accuracy.append(float(np.mean(proba.argmax(1) == heldout_y)))
        nll.append(float(np.mean(checks.nll_of(proba, heldout_y, design.NLL_CAP))))
        if epoch == epochs:
            break
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 32):
            batch = order[start:start + 32]
            optimizer.zero_grad()
            loss_fn(head(layers(x[batch])), y[batch]).backward()
            optimizer.step()
    return Curve(objective, np.array(accuracy), np.array(nll))
