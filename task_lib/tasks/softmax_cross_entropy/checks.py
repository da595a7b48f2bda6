"""The parent side of softmax-cross-entropy's grade: the fresh problem and probes (`make_job`) and
every check (`run_checks`), computed in float64 NumPy in the grader's process from the raw arrays the
child handed back (probabilities, loss values, flat gradients). No torch here. `CLAUSES` names the
sentence of the prompt that announces each check."""

from __future__ import annotations

from typing import Any

import numpy as np

from task_lib.grading.verdict import Check

from . import design, power

STAGE_WORDS = {"train": "training", "predict": "predicting the held-out points"}
RUNS_CLAUSE = "an exception at import, a crash, an exit or a timeout fails the attempt"
LOSS_CLAUSE = ("`training_loss(model, x, y)` returns a scalar tensor whose value is the mean over i of "
               "-log predict_proba(model, x)[i, y[i]], within 1e-6 × max(1, that mean) for float64 and "
               "1e-4 × max(1, that mean) for float32.")
GRADIENT_CLAUSE = ("Its gradient (what `.backward()` gives the parameters) is that mean's gradient: in "
                   "float64, projected on random unit directions, it matches central differences (step 1e-7) "
                   "within 1e-5 × max(1, |difference|), median over 5 directions; in float32, it matches the "
                   "float64 gradient within 1e-3 × max(1, largest entry).")
HELDOUT_CLAUSE = ("`train(model, x, y, *, epochs=15, lr=0.02, seed=S)` trains the model in place so that, "
                  "trained on 1,000 float32 points of 10 unit-covariance Gaussian clusters in 10 dimensions, "
                  "the most probable class has accuracy at least 0.7 on 50,000 fresh points of that "
                  "distribution, and their mean negative log-likelihood (each term capped at 10 nats) is at "
                  "most 1.1.")
CLAUSES = {
    "test_file_unchanged": "It must stay exactly as it is: the grader fails the attempt if it has changed.",
    **{category: RUNS_CLAUSE for category in ("source_readable", "syntax_error", "import_error", "timeout",
                                              "crashed", "early_exit", "bad_output")},
    "model_valid": "`Classifier(n_features, n_classes)` builds an `nn.Module` whose 1 to 65,536 parameters "
                   "are `model.parameters()`.",
    "proba_valid": "`predict_proba(model, x)` returns an (N, n_classes) tensor of finite, non-negative "
                   "probabilities, each row summing to 1 within 1e-5.",
    "proba_rowwise": "Row i depends on row i of `x` and the model only (within 1e-4).",
    "loss_identity": LOSS_CLAUSE,
    "loss_identity_float32": LOSS_CLAUSE,
    "loss_gradient": GRADIENT_CLAUSE,
    "loss_gradient_float32": GRADIENT_CLAUSE,
    "heldout_accuracy": HELDOUT_CLAUSE,
    "heldout_nll": HELDOUT_CLAUSE,
}
HELDOUT, CHUNKED = "heldout/proba", "heldout/chunked"
DTYPES = ("float32", "float64")
TOLERANCES = {"float32": design.LOSS_TOLERANCE_FLOAT32, "float64": design.LOSS_TOLERANCE}


def batch_names() -> list[str]:
    return [f"batch{i}" for i in range(len(design.BATCH_SIZES))]


def _clusters(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Centres (n_classes, n_features) of a fresh problem: orthogonal, offset; and the label order."""
    basis, _ = np.linalg.qr(rng.standard_normal((design.N_FEATURES, design.N_FEATURES)))
    centres = design.SEPARATION * basis[: design.N_CLASSES] + rng.standard_normal(design.N_FEATURES)
    return centres, rng.permutation(design.N_CLASSES)


def draw_points(rng: np.random.Generator, centres: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n points with uniformly drawn labels, unit-covariance Gaussian around their class centre."""
    y = rng.integers(0, len(centres), n)
    return centres[y] + rng.standard_normal((n, centres.shape[1])), y


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def probe_batch(rng: np.random.Generator, size: int, n_features: int, n_classes: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """A probe batch: float32 inputs around a random centre with a random spread, and labels, every
    class among them when the batch has room for each."""
    spread = _log_uniform(rng, *design.INPUT_SPREAD)
    x = rng.standard_normal(n_features) + spread * rng.standard_normal((size, n_features))
    y = rng.integers(0, n_classes, size)
    if size >= n_classes:
        y[rng.choice(size, n_classes, replace=False)] = np.arange(n_classes)
    return x.astype(np.float32), y


def batch_size(rng: np.random.Generator, low: int, high: int) -> int:
    return int(round(_log_uniform(rng, low, high + 0.5) - 0.5)) if low < high else low


def chunk_bounds(rng: np.random.Generator, n: int) -> np.ndarray:
    """Cut points 0 = b0 < b1 < ... = n of chunks with log-uniform sizes (the first chunk one row)."""
    bounds = [0, 1]
    while bounds[-1] < n:
        bounds.append(min(n, bounds[-1] + batch_size(rng, *design.CHUNK_SIZES)))
    return np.array(bounds)


class JobInputs(dict):
    """The arrays sent to the child (the dict's items), plus `private` ones the grader keeps to itself:
    the held-out labels, which the child must never see."""

    def __init__(self, arrays: dict[str, np.ndarray], private: dict[str, np.ndarray]):
        super().__init__(arrays)
        self.private = private


def _states(rng: np.random.Generator) -> list[dict]:
    """The fresh states (built under float32, then float64) with their sizes, scales and seeds, and
    the trained state."""
    (low_features, high_features), (low_classes, high_classes) = design.PROBE_FEATURES, design.PROBE_CLASSES
    states = []
    for build_dtype in DTYPES:
        states.append({"name": f"fresh_{build_dtype}", "build_dtype": build_dtype,
                       "init_seed": int(rng.integers(0, 2**31)),
                       "scale": float(rng.uniform(*design.SCALE_RANGE)),
                       "n_features": int(rng.integers(low_features, high_features + 1)),
                       "n_classes": int(rng.integers(low_classes, high_classes + 1))})
    return [*states, {"name": "trained", "n_features": design.N_FEATURES, "n_classes": design.N_CLASSES}]


def make_job(params: dict[str, float], rng: np.random.Generator) -> tuple[JobInputs, dict]:
    """The inputs (training, held-out and probe points, directions, chunks; held-out labels kept
    private) and the plan of one grade."""
    centres, order = _clusters(rng)
    centres = centres[order]
    train_x, train_y = draw_points(rng, centres, design.N_TRAIN)
    heldout_x, heldout_y = draw_points(rng, centres, design.N_HELDOUT)
    arrays = {"train_x": train_x.astype(np.float32), "train_y": train_y,
              "heldout_x": heldout_x.astype(np.float32), "chunk_bounds": chunk_bounds(rng, design.N_HELDOUT),
              "directions": rng.standard_normal((design.N_DIRECTIONS, design.MAX_PARAMS))}
    states = _states(rng)
    for state in states:
        for batch, sizes in zip(batch_names(), design.BATCH_SIZES, strict=True):
            size = batch_size(rng, *sizes)
            key = f"{state['name']}/{batch}"
            arrays[key + "_x"], arrays[key + "_y"] = probe_batch(rng, size, state["n_features"],
                                                                 state["n_classes"])
    seeds = rng.integers(0, 2**31, 2)
    plan = {
        "n_features": design.N_FEATURES, "n_classes": design.N_CLASSES, "epochs": design.EPOCHS,
        "lr": design.LR, "train_init_seed": int(seeds[0]), "train_seed": int(seeds[1]),
        "states": states, "batches": batch_names(), "max_params": design.MAX_PARAMS, "step": design.STEP,
    }
    return JobInputs(arrays, {"heldout_y": heldout_y}), plan


def nll_of(proba: np.ndarray, y: np.ndarray, cap: float = np.inf) -> np.ndarray:
    """-log proba[i, y[i]] for every row (float64), each capped at `cap`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.minimum(-np.log(proba[np.arange(len(y)), y]), cap)


def run_checks(params: dict[str, float], inputs: JobInputs, plan: dict, report: dict[str, Any],
               outputs: dict[str, np.ndarray]) -> list[Check]:
    """Every check of the contract, in the order of the prompt."""
    return ContractChecker(inputs, plan, report, outputs).all_checks()


def proba_problem(proba: Any, n: int, n_classes: int) -> str | None:
    """Why `proba` is not an (n, n_classes) array of probability rows, or None."""
    if not isinstance(proba, np.ndarray) or proba.shape != (n, n_classes):
        shape = list(proba.shape) if isinstance(proba, np.ndarray) else type(proba).__name__
        return f"shape {shape}, not [{n}, {n_classes}]"
    if not np.all(np.isfinite(proba)):
        return "non-finite entries"
    if proba.min() < 0:
        return f"a negative entry ({proba.min():.3g})"
    worst = float(np.max(np.abs(proba.sum(axis=1) - 1)))
    return None if worst <= design.SUM_TOLERANCE else f"a row sum is off 1 by {worst:.3g}"


def worst_of(errors: list[tuple[float, str]]) -> tuple[float, str]:
    """The largest (error, where) of a list, NaN counting as the largest; (0, "") for none."""
    worst, where = 0.0, ""
    for error, place in errors:
        if not error <= worst:
            worst, where = error, place
    return worst, where


class ContractChecker:
    """Computes every check from the inputs we sent, the labels we kept and the arrays we got back."""

    def __init__(self, inputs: JobInputs, plan: dict, report: dict[str, Any], outputs: dict[str, np.ndarray]):
        self.inputs, self.outputs = inputs, outputs
        errors = report.get("errors")
        self.errors: dict[str, Any] = errors if isinstance(errors, dict) else {}
        self.classes = {state["name"]: state["n_classes"] for state in plan["states"]}
        # The trained state is probed only when training returned; otherwise the held-out checks fail.
        self.states = [s for s in self.classes if not (s == "trained" and "train" in self.errors)]

    def keys(self, dtype: str) -> list[str]:
        return [f"{state}/{dtype}/{batch}" for state in self.states for batch in batch_names()]

    def why_missing(self, name: str) -> str:
        """The error recorded for the batch or state an output `name` belongs to."""
        parts = name.split("/")
        for where in ("/".join(parts[:3]), parts[0]):
            if where in self.errors:
                return f"{where}: {self.errors[where]}"
        return f"{name}: no output"

    def array(self, name: str) -> np.ndarray | None:
        value = self.outputs.get(name)
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            return value.astype(np.float64)
        return None

    def labels(self, key: str) -> np.ndarray:
        state, _, batch = key.split("/")
        return self.inputs[f"{state}/{batch}_y"]

    def model_valid(self) -> Check:
        counts = []
        for state in self.states:
            count = self.array(f"{state}/n_params")
            if count is None or count.size != 1:
                why = f"Classifier: {self.why_missing(state)}"
                return Check("model_valid", False, why, design.MAX_PARAMS)
            counts.append(int(count.reshape(())))
            if counts[-1] < 1:
                return Check("model_valid", False, f"{state}: the model has no parameters", design.MAX_PARAMS)
        return Check("model_valid", True, max(counts), design.MAX_PARAMS, detail="most parameters of a state")

    def probability_arrays(self) -> list[tuple[str, int, int]]:
        """(output name, rows, classes) of every probability array the grade asked for."""
        names = [(name, design.N_HELDOUT, design.N_CLASSES) for name in (HELDOUT, CHUNKED)
                 if "train" not in self.errors]
        for dtype in DTYPES:
            for key in self.keys(dtype):
                n, classes = len(self.labels(key)), self.classes[key.split("/")[0]]
                names.append((key + "/proba", n, classes))
                if dtype == "float64":
                    names += [(f"{key}/shift{k}{sign}", n, classes)
                              for k in range(design.N_DIRECTIONS) for sign in "+-"]
        return names

    def proba_valid(self) -> Check:
        threshold = f"(N, n_classes), finite, >= 0, rows sum to 1 +- {design.SUM_TOLERANCE:g}"
        for name, n, classes in self.probability_arrays():
            proba = self.array(name)
            if proba is None:
                if name.endswith("/proba"):  # a shifted array is missing only after a later failure
                    return Check("proba_valid", False, f"predict_proba: {self.why_missing(name)}", threshold)
                continue
            problem = proba_problem(proba, n, classes)
            if problem:
                return Check("proba_valid", False, f"{name}: {problem}", threshold)
        return Check("proba_valid", True, "probabilities", threshold)

    def proba_rowwise(self) -> Check:
        """The held-out rows predicted whole and in chunks agree (no row depends on the others)."""
        whole, chunked = self.array(HELDOUT), self.array(CHUNKED)
        if "train" in self.errors or whole is None or chunked is None or whole.shape != chunked.shape:
            return Check("proba_rowwise", "train" in self.errors, "held-out predictions not compared",
                         design.ROW_TOLERANCE, detail="training failed: the held-out checks fail")
        gap = float(np.max(np.abs(whole - chunked)))
        return Check("proba_rowwise", gap <= design.ROW_TOLERANCE, gap, design.ROW_TOLERANCE,
                     detail=f"max |whole - chunked| over {len(self.inputs['chunk_bounds']) - 1} chunks")

    def mean_nll(self, name: str, y: np.ndarray, classes: int) -> float:
        proba = self.array(name)
        if proba is None or proba_problem(proba, len(y), classes):
            return float("nan")
        return float(np.mean(nll_of(proba, y)))

    def loss_identity(self, dtype: str) -> Check:
        name = "loss_identity" if dtype == "float64" else "loss_identity_float32"
        found = []
        for key in self.keys(dtype):
            loss = self.array(key + "/loss")
            if loss is None or loss.size != 1:
                return Check(name, False, f"training_loss: {self.why_missing(key)}", TOLERANCES[dtype])
            nll = self.mean_nll(key + "/proba", self.labels(key), self.classes[key.split("/")[0]])
            value = float(loss.reshape(()))
            found.append((abs(value - nll) / max(1.0, abs(nll)), f"{key}: loss {value:.10g}, NLL {nll:.10g}"))
        worst, where = worst_of(found)
        return Check(name, worst <= TOLERANCES[dtype], worst, TOLERANCES[dtype],
                     detail=f"|loss - NLL| / max(1, NLL), worst at {where}" if where else "")

    def gradient(self, key: str) -> np.ndarray | str:
        gradient = self.array(key + "/grad")
        if gradient is None or gradient.ndim != 1 or gradient.size > design.MAX_PARAMS:
            return f"gradient: {self.why_missing(key)}"
        return gradient

    def gradient_errors(self, key: str) -> list[float] | str:
        """|g.u - central difference| / max(1, |central difference|) per direction, or why not."""
        gradient = self.gradient(key)
        if isinstance(gradient, str):
            return gradient
        y, classes, errors = self.labels(key), self.classes[key.split("/")[0]], []
        for k, direction in enumerate(self.inputs["directions"]):
            unit = direction[: gradient.size] / max(np.linalg.norm(direction[: gradient.size]), 1e-300)
            plus, minus = (self.mean_nll(f"{key}/shift{k}{sign}", y, classes) for sign in "+-")
            central = (plus - minus) / (2 * design.STEP)
            errors.append(abs(float(gradient @ unit) - central) / max(1.0, abs(central)))
        return errors

    def loss_gradient(self) -> Check:
        """The median over directions of the relative error, worst over states and batches (float64)."""
        found, largest = [], 0.0
        for key in self.keys("float64"):
            errors = self.gradient_errors(key)
            if isinstance(errors, str):
                return Check("loss_gradient", False, errors, design.GRADIENT_TOLERANCE)
            found.append((float(np.median(errors)), key))
            largest = max(largest, float(np.max(errors))) if np.all(np.isfinite(errors)) else float("nan")
        worst, where = worst_of(found)
        detail = (f"median over {design.N_DIRECTIONS} directions of |g.u - central difference| / "
                  f"max(1, |it|), worst at {where}; largest single direction {largest:.3g}")
        return Check("loss_gradient", worst <= design.GRADIENT_TOLERANCE, worst, design.GRADIENT_TOLERANCE,
                     detail=detail)

    def loss_gradient_float32(self) -> Check:
        """The float32 gradient against the float64 one at the same parameters and inputs."""
        name, tolerance, found = "loss_gradient_float32", design.GRADIENT_TOLERANCE_FLOAT32, []
        for key in self.keys("float32"):
            single, double = self.gradient(key), self.gradient(key.replace("/float32/", "/float64/"))
            for gradient in (single, double):
                if isinstance(gradient, str):
                    return Check(name, False, gradient, tolerance)
            if single.shape != double.shape:
                return Check(name, False, f"{key}: {single.size} gradient entries in float32, "
                                          f"{double.size} in float64", tolerance)
            scale = max(1.0, float(np.max(np.abs(double), initial=0.0)))
            found.append((float(np.max(np.abs(single - double), initial=0.0)) / scale, key))
        worst, where = worst_of(found)
        return Check(name, worst <= tolerance, worst, tolerance,
                     detail=f"max |g32 - g64| / max(1, max |g64|), worst at {where}")

    def heldout(self) -> list[Check]:
        accuracy_min, nll_max = design.ACCURACY_MIN, design.NLL_MAX
        y = self.inputs.private["heldout_y"]
        proba = self.array(HELDOUT)
        if "train" in self.errors or proba is None or proba_problem(proba, len(y), design.N_CLASSES):
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
        return [self.model_valid(), self.proba_valid(), self.proba_rowwise(), self.loss_identity("float64"),
                self.loss_identity("float32"), self.loss_gradient(), self.loss_gradient_float32(),
                *self.heldout()]
