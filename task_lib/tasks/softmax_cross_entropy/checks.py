"""The parent side of softmax-cross-entropy's grade: the fresh problem and probes (`make_job`) and
every check (`run_checks`), computed in float64 NumPy in the grader's process from the raw arrays the
child handed back (probabilities, loss values, flat gradients). No torch here. `CLAUSES` names the
sentence of the prompt that announces each check."""

from __future__ import annotations

from typing import Any

import numpy as np

from task_lib.verdict import Check

from . import design, power

STAGE_WORDS = {"train": "training", "predict": "predicting the held-out points"}
RUNS_CLAUSE = "a syntax error, an exception at import, a crash, an exit or a timeout fails the attempt"
CLAUSES = {
    "test_file_unchanged": "It must stay exactly as it is: the grader fails the attempt if it has changed",
    **{category: RUNS_CLAUSE for category in ("source_readable", "syntax_error", "import_error", "timeout",
                                              "crashed", "early_exit", "bad_output")},
    "proba_valid": "every array `predict_proba` returns in the grade has shape (N, 10), finite non-negative "
                   "entries and rows summing to 1",
    "loss_identity": "the value of `training_loss` equals the mean negative log-likelihood the grader "
                     "computes from `predict_proba`",
    "loss_gradient": "the gradient of `training_loss` projected on u equals the central difference",
    "heldout_accuracy": "the accuracy of the most probable class must be at least",
    "heldout_nll": "the mean negative log-likelihood (each term capped at 10 nats) at most",
}
HELDOUT = "heldout/proba"


def state_names() -> list[str]:
    return [f"scale{scale:g}" for scale in design.PROBE_SCALES] + ["trained"]


def probe_keys() -> list[str]:
    return [f"{state}/{batch}" for state in state_names() for batch, _ in design.PROBE_BATCHES]


def _clusters(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Centres (n_classes, n_features) of a fresh problem: orthogonal, offset; and the label order."""
    basis, _ = np.linalg.qr(rng.standard_normal((design.N_FEATURES, design.N_FEATURES)))
    centres = design.SEPARATION * basis[: design.N_CLASSES] + rng.standard_normal(design.N_FEATURES)
    return centres, rng.permutation(design.N_CLASSES)


def draw_points(rng: np.random.Generator, centres: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n points with uniformly drawn labels, unit-covariance Gaussian around their class centre."""
    y = rng.integers(0, len(centres), n)
    return centres[y] + rng.standard_normal((n, centres.shape[1])), y


class JobInputs(dict):
    """The arrays sent to the child (the dict's items), plus `private` ones the grader keeps to itself:
    the held-out labels, which the child must never see."""

    def __init__(self, arrays: dict[str, np.ndarray], private: dict[str, np.ndarray]):
        super().__init__(arrays)
        self.private = private


def make_job(params: dict[str, float], rng: np.random.Generator) -> tuple[JobInputs, dict]:
    """The inputs (training, held-out and probe points, directions; held-out labels kept private) and
    the plan of one grade."""
    centres, order = _clusters(rng)
    centres = centres[order]
    train_x, train_y = draw_points(rng, centres, design.N_TRAIN)
    heldout_x, heldout_y = draw_points(rng, centres, design.N_HELDOUT)
    arrays = {"train_x": train_x.astype(np.float32), "train_y": train_y,
              "heldout_x": heldout_x.astype(np.float32),
              "directions": rng.standard_normal((design.N_DIRECTIONS, design.MAX_PARAMS))}
    for batch, size in design.PROBE_BATCHES:
        arrays[batch + "_x"], arrays[batch + "_y"] = draw_points(rng, centres, size)
    seeds = rng.integers(0, 2**31, 2 + len(design.PROBE_SCALES))
    states = [{"name": f"scale{scale:g}", "init_seed": int(seed), "scale": scale}
              for scale, seed in zip(design.PROBE_SCALES, seeds[2:], strict=True)]
    plan = {
        "n_features": design.N_FEATURES, "n_classes": design.N_CLASSES, "epochs": design.EPOCHS,
        "lr": design.LR, "train_init_seed": int(seeds[0]), "train_seed": int(seeds[1]),
        "states": [*states, {"name": "trained"}], "batches": [batch for batch, _ in design.PROBE_BATCHES],
        "max_params": design.MAX_PARAMS, "step": design.STEP,
    }
    return JobInputs(arrays, {"heldout_y": heldout_y}), plan


def nll_of(proba: np.ndarray, y: np.ndarray, cap: float = np.inf) -> np.ndarray:
    """-log proba[i, y[i]] for every row (float64), each capped at `cap`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.minimum(-np.log(proba[np.arange(len(y)), y]), cap)


def run_checks(params: dict[str, float], inputs: JobInputs, plan: dict, report: dict[str, Any],
               outputs: dict[str, np.ndarray]) -> list[Check]:
    """Every check of the contract, in the order of the prompt."""
    return ContractChecker(inputs, report, outputs).all_checks()


def proba_problem(proba: Any, n: int) -> str | None:
    """Why `proba` is not an (n, n_classes) array of probability rows, or None."""
    if not isinstance(proba, np.ndarray) or proba.shape != (n, design.N_CLASSES):
        shape = list(proba.shape) if isinstance(proba, np.ndarray) else type(proba).__name__
        return f"shape {shape}, not [{n}, {design.N_CLASSES}]"
    if not np.all(np.isfinite(proba)):
        return "non-finite entries"
    if proba.min() < 0:
        return f"a negative entry ({proba.min():.3g})"
    worst = float(np.max(np.abs(proba.sum(axis=1) - 1)))
    return None if worst <= design.SUM_TOLERANCE else f"a row sum is off 1 by {worst:.3g}"


class ContractChecker:
    """Computes every check from the inputs we sent, the labels we kept and the arrays we got back."""

    def __init__(self, inputs: JobInputs, report: dict[str, Any], outputs: dict[str, np.ndarray]):
        self.inputs, self.outputs = inputs, outputs
        errors = report.get("errors")
        self.errors: dict[str, Any] = errors if isinstance(errors, dict) else {}
        # The trained state is probed only when training returned; otherwise the held-out checks fail.
        self.keys = [k for k in probe_keys() if not (k.startswith("trained/") and "train" in self.errors)]

    def why_missing(self, key: str) -> str:
        state = key.split("/")[0]
        return f"{state}: {self.errors[state]}" if state in self.errors else f"{key}: no output"

    def array(self, name: str) -> np.ndarray | None:
        value = self.outputs.get(name)
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            return value.astype(np.float64)
        return None

    def labels(self, key: str) -> np.ndarray:
        return self.inputs[key.split("/")[1] + "_y"]

    def probability_arrays(self) -> list[tuple[str, int]]:
        """(output name, rows) of every probability array the grade asked for."""
        names = [(HELDOUT, design.N_HELDOUT)] if "train" not in self.errors else []
        for key in self.keys:
            n = len(self.labels(key))
            names.append((key + "/proba", n))
            names += [(f"{key}/shift{k}{sign}", n) for k in range(design.N_DIRECTIONS) for sign in "+-"]
        return names

    def proba_valid(self) -> Check:
        threshold = f"(N, {design.N_CLASSES}), finite, >= 0, rows sum to 1 +- {design.SUM_TOLERANCE:g}"
        for name, n in self.probability_arrays():
            proba = self.array(name)
            if proba is None:
                if name.endswith("/proba"):  # a shifted array is missing only after a later failure
                    return Check("proba_valid", False, f"predict_proba: {self.why_missing(name)}", threshold)
                continue
            problem = proba_problem(proba, n)
            if problem:
                return Check("proba_valid", False, f"{name}: {problem}", threshold)
        return Check("proba_valid", True, "probabilities", threshold)

    def mean_nll(self, name: str, y: np.ndarray) -> float:
        proba = self.array(name)
        if proba is None or proba_problem(proba, len(y)):
            return float("nan")
        return float(np.mean(nll_of(proba, y)))

    def loss_identity(self) -> Check:
        worst, where = 0.0, ""
        for key in self.keys:
            loss = self.array(key + "/loss")
            if loss is None or loss.size != 1:
                return Check("loss_identity", False, f"training_loss: {self.why_missing(key)}",
                             design.LOSS_TOLERANCE)
            nll = self.mean_nll(key + "/proba", self.labels(key))
            error = abs(float(loss.reshape(())) - nll) / max(1.0, abs(nll))
            if not error <= worst:  # NaN counts as the worst
                worst, where = error, f"{key}: loss {float(loss.reshape(())):.10g}, NLL {nll:.10g}"
        return Check("loss_identity", worst <= design.LOSS_TOLERANCE, worst, design.LOSS_TOLERANCE,
                     detail=f"|loss - NLL| / max(1, NLL), worst at {where}" if where else "")

    def gradient_errors(self, key: str) -> list[float] | str:
        """|g.u - central difference| / max(1, |central difference|) per direction, or why not."""
        gradient = self.array(key + "/grad")
        if gradient is None or gradient.ndim != 1 or gradient.size > design.MAX_PARAMS:
            return f"gradient: {self.why_missing(key)}"
        if gradient.size == 0:
            return f"{key}: the model has no parameters"
        y, errors = self.labels(key), []
        for k, direction in enumerate(self.inputs["directions"]):
            unit = direction[: gradient.size] / max(np.linalg.norm(direction[: gradient.size]), 1e-300)
            plus, minus = (self.mean_nll(f"{key}/shift{k}{sign}", y) for sign in "+-")
            central = (plus - minus) / (2 * design.STEP)
            errors.append(abs(float(gradient @ unit) - central) / max(1.0, abs(central)))
        return errors

    def loss_gradient(self) -> Check:
        """The median over directions of the relative error, worst over states and batches."""
        worst, where, largest = 0.0, "", 0.0
        for key in self.keys:
            errors = self.gradient_errors(key)
            if isinstance(errors, str):
                return Check("loss_gradient", False, errors, design.GRADIENT_TOLERANCE)
            median = float(np.median(errors))
            largest = max(largest, float(np.max(errors))) if np.all(np.isfinite(errors)) else float("nan")
            if not median <= worst:  # NaN counts as the worst
                worst, where = median, key
        detail = (f"median over {design.N_DIRECTIONS} directions of |g.u - central difference| / "
                  f"max(1, |it|), worst at {where}; largest single direction {largest:.3g}")
        return Check("loss_gradient", worst <= design.GRADIENT_TOLERANCE, worst, design.GRADIENT_TOLERANCE,
                     detail=detail)

    def heldout(self) -> list[Check]:
        accuracy_min, nll_max = design.ACCURACY_MIN, design.NLL_MAX
        y = self.inputs.private["heldout_y"]
        proba = self.array(HELDOUT)
        if "train" in self.errors or proba is None or proba_problem(proba, len(y)):
            why = f"train: {self.errors['train']}" if "train" in self.errors else "no valid probabilities"
            return [Check("heldout_accuracy", False, why, accuracy_min),
                    Check("heldout_nll", False, why, nll_max)]
        accuracy = float(np.mean(np.argmax(proba, axis=1) == y))
        nll = float(np.mean(nll_of(proba, y, design.NLL_CAP)))
        return [
            Check("heldout_accuracy", accuracy >= accuracy_min, accuracy, accuracy_min,
                  detail=f"{len(y)} held-out points; Hoeffding margin {power.accuracy_margin():.4f}"),
            Check("heldout_nll", nll <= nll_max, nll, nll_max,
                  detail=f"capped at {design.NLL_CAP:g} nats; Hoeffding margin {power.nll_margin():.4f}"),
        ]

    def all_checks(self) -> list[Check]:
        return [self.proba_valid(), self.loss_identity(), self.loss_gradient(), *self.heldout()]
