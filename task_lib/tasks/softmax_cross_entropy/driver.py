"""softmax-cross-entropy's driver: the task's half of the grader's child program (after
task_lib/grading/child_kit.py, whose `load_candidate` and `describe_error` it uses, and before
task_lib/grading/grade_child.py, which calls `drive`). Runs only in the sandbox,
the one place torch is imported.

Loads the candidate's `model.py` and `train.py` from the working directory, trains one model on the
plan's training data and predicts the held-out inputs (whole and in chunks), then probes
`predict_proba` and `training_loss` at each parameter state of the plan, in float32 and then in
float64 at the same parameter values: probabilities, loss values, loss gradients and (float64) the
probabilities at parameters moved along the plan's directions. Everything goes back raw, as NumPy
arrays; every statistic (NLL, accuracy, the loss identity, the gradient checks) is computed by the
grader. Nothing the candidate returns is trusted to be a tensor of the right kind.
"""


import numpy as np
import torch

# torch imports torch._dynamo (and sympy) at the first optimizer step; sympy reads frames while it
# imports, which the harness's audit hook refuses once the candidate is loaded: import it now.
import torch._dynamo  # noqa: F401

# Defined by task_lib/grading/child_kit.py, which precedes this driver in the child's program.
load_candidate = load_candidate  # noqa: F821
describe_error = describe_error  # noqa: F821

torch.set_num_threads(1)


def _definitions(report, progress):
    """The candidate's Classifier, predict_proba, training_loss and train, or None (stage_error set)."""
    model = load_candidate("model", report, progress)
    train = model and load_candidate("train", report, progress)
    if train is None:
        return None
    wanted = {"Classifier": model, "predict_proba": model, "training_loss": train, "train": train}
    missing = [name for name, module in wanted.items() if not callable(getattr(module, name, None))]
    if missing:
        report["stage_error"] = ["import_error", "not defined: " + ", ".join(missing)]
        return None
    return {name: getattr(module, name) for name, module in wanted.items()}


def _tensor_array(value, what):
    """A candidate's tensor as a float64 NumPy array; TypeError when it is not a real tensor."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{what} returned {type(value).__name__}, not a torch tensor")
    if value.is_complex():
        raise TypeError(f"{what} returned a complex tensor")
    return np.array(value.detach().cpu().to(torch.float64).numpy(), dtype=np.float64)


def _probabilities(fns, model, x):
    with torch.no_grad():
        return _tensor_array(fns["predict_proba"](model, x), "predict_proba")


def _parameters(model, limit):
    params = [p for p in model.parameters()]
    count = sum(p.numel() for p in params)
    if count > limit:
        raise ValueError(f"the model has {count} parameters, more than {limit}")
    return params, count


def _flat_gradient(loss, params, count):
    """The flat gradient of the returned tensor `loss` itself (torch.autograd.grad, the gradient
    `.backward()` would add): a `.grad` the candidate's code sets as a side effect is never read."""
    trainable = [p for p in params if p.requires_grad]
    found = torch.autograd.grad(loss, trainable, allow_unused=True) if trainable else ()
    grads = dict(zip(map(id, trainable), found, strict=True))
    parts = [np.zeros(p.numel()) if grads.get(id(p)) is None
             else grads[id(p)].detach().to(torch.float64).reshape(-1).numpy() for p in params]
    return np.concatenate(parts) if parts else np.zeros(count)


def _shift(params, direction, step):
    """Add step * direction (flat, float64) to the parameters, in place."""
    with torch.no_grad():
        offset = 0
        for p in params:
            n = p.numel()
            p.add_(torch.from_numpy(step * direction[offset:offset + n]).reshape(p.shape).to(p.dtype))
            offset += n


DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _probe_batch(fns, model, key, x, y, dtype, params, count, plan, inputs, outputs):
    outputs[key + "/proba"] = _probabilities(fns, model, x)
    loss = fns["training_loss"](model, x, y)
    value = _tensor_array(loss, "training_loss")
    if value.size != 1:
        raise TypeError(f"training_loss returned a tensor of shape {list(value.shape)}, not a scalar")
    outputs[key + "/loss"] = value.reshape(())
    outputs[key + "/grad"] = _flat_gradient(loss, params, count)
    if dtype != "float64":
        return
    for k, direction in enumerate(inputs["directions"]):
        unit = direction[:count] / max(np.linalg.norm(direction[:count]), 1e-300)
        for sign in (1, -1):
            _shift(params, unit, sign * plan["step"])
            try:
                outputs[f"{key}/shift{k}{'+' if sign > 0 else '-'}"] = _probabilities(fns, model, x)
            finally:
                _shift(params, unit, -sign * plan["step"])


def _probe(fns, model, state, dtype, plan, inputs, outputs, errors, progress):
    """Probabilities, loss value and gradient of each batch of `state`, with torch's default dtype and
    the inputs in `dtype`; in float64 also the probabilities at parameters shifted along each direction.
    An exception ends its batch only (recorded under the batch's key)."""
    params, count = _parameters(model, plan["max_params"])
    outputs[f"{state}/n_params"] = np.array(count)
    torch.set_default_dtype(DTYPES[dtype])
    for batch in plan["batches"]:
        key = f"{state}/{dtype}/{batch}"
        progress("probe " + key)
        x = torch.from_numpy(inputs[f"{state}/{batch}_x"]).to(DTYPES[dtype])
        y = torch.from_numpy(inputs[f"{state}/{batch}_y"]).to(torch.int64)
        try:
            _probe_batch(fns, model, key, x, y, dtype, params, count, plan, inputs, outputs)
        except Exception as exc:
            errors[key] = describe_error(exc)


def _train(fns, plan, inputs, outputs, progress):
    """Train a fresh model on the float32 training data; predict the held-out inputs whole and in chunks."""
    progress("train")
    torch.manual_seed(plan["train_init_seed"])
    model = fns["Classifier"](plan["n_features"], plan["n_classes"])
    x = torch.from_numpy(inputs["train_x"])
    y = torch.from_numpy(inputs["train_y"]).to(torch.int64)
    fns["train"](model, x, y, epochs=plan["epochs"], lr=plan["lr"], seed=plan["train_seed"])
    progress("predict")
    heldout = torch.from_numpy(inputs["heldout_x"])
    outputs["heldout/proba"] = _probabilities(fns, model, heldout)
    bounds = inputs["chunk_bounds"]
    outputs["heldout/chunked"] = np.concatenate([_probabilities(fns, model, heldout[start:end])
                                                 for start, end in zip(bounds[:-1], bounds[1:], strict=True)])
    return model


def _state_model(fns, plan, state, trained):
    """The model of one probe state: the trained one, or a fresh one built under the state's default
    dtype with its parameters scaled."""
    if state["name"] == "trained":
        if trained is None:
            raise RuntimeError("training failed")
        return trained
    torch.set_default_dtype(DTYPES[state["build_dtype"]])
    torch.manual_seed(state["init_seed"])
    model = fns["Classifier"](state["n_features"], state["n_classes"])
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(state["scale"])
    return model


def drive(plan, inputs, report, outputs, progress):
    """Load the candidate, train and predict (float32), then probe every state of `plan` in float32 and
    float64."""
    fns = _definitions(report, progress)
    if fns is None:
        return
    errors = {}
    report["errors"] = errors
    try:
        trained = _train(fns, plan, inputs, outputs, progress)
    except Exception as exc:
        errors["train"] = describe_error(exc)
        trained = None
    for state in plan["states"]:
        name = state["name"]
        try:
            model = _state_model(fns, plan, state, trained)
            for dtype, cast in (("float32", model.float), ("float64", model.double)):
                _probe(fns, cast(), name, dtype, plan, inputs, outputs, errors, progress)
        except Exception as exc:
            errors[name] = describe_error(exc)
