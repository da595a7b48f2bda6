"""variance-dropout's driver: the task's half of the grader's child program (see
task_lib/grade_child.py, which follows it in the child and calls `drive`). Runs only in the sandbox.

Loads the candidate `dropout.py` from the working directory, constructs layers for the p values in
the plan, records the `training` flag, and makes the plan's calls; every outcome goes into `report`
and every returned array into `outputs`, raw.
"""

import importlib.util
import sys

import numpy as np


def _error(exc):
    return f"{type(exc).__name__}: {exc}"[:300]


def _load_class(report, progress):
    source = open("dropout.py", encoding="utf-8").read()
    try:
        compile(source, "dropout.py", "exec")
    except SyntaxError as exc:
        report["stage_error"] = ["syntax_error", _error(exc)]
        return None
    progress("import")
    spec = importlib.util.spec_from_file_location("dropout", "dropout.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["dropout"] = module
    try:
        spec.loader.exec_module(module)
        return module.VarianceStabilizedDropout
    except BaseException as exc:  # the candidate may raise anything, SystemExit included
        report["stage_error"] = ["import_error", _error(exc)]
        return None


def _constructions(cls, plan, report, progress):
    progress("construct")
    outcomes = {}
    for p in plan["valid_p"] + plan["invalid_p"]:
        try:
            cls(p)
            outcomes[repr(p)] = "ok"
        except ValueError as exc:
            outcomes[repr(p)] = "ValueError" if p in plan["invalid_p"] else _error(exc)
        except Exception as exc:
            outcomes[repr(p)] = _error(exc)
    report["constructions"] = outcomes
    try:
        layer = cls(0.5)
        flags = [layer.training]
        layer.eval()
        flags.append(layer.training)
        layer.train()
        flags.append(layer.training)
        report["training_flags"] = [f if isinstance(f, bool) else repr(f) for f in flags]
    except Exception as exc:
        report["training_flags"] = _error(exc)


def _calls(cls, plan, inputs, report, outputs, progress):
    layers, errors = {}, {}
    for call in plan["calls"]:
        name = call["name"]
        progress("call " + name)
        try:
            key = call["layer"]
            if key not in layers:
                layers[key] = cls(call["p"])
            layer = layers[key]
            layer.eval() if call["mode"] == "eval" else layer.train()
            result = layer(inputs[call["input"]])
            if not isinstance(result, np.ndarray):
                raise TypeError(f"returned {type(result).__name__}, not a numpy array")
            if result.dtype.hasobject:
                raise TypeError("returned an array of Python objects")
            outputs[name] = result
        except Exception as exc:
            errors[name] = _error(exc)
    report["call_errors"] = errors


def drive(plan, inputs, report, outputs, progress):
    """Load the candidate and make every call of `plan` on `inputs`."""
    cls = _load_class(report, progress)
    if cls is not None:
        _constructions(cls, plan, report, progress)
        _calls(cls, plan, inputs, report, outputs, progress)
