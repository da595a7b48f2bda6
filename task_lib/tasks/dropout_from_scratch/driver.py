"""dropout-from-scratch's driver: the task's half of the grader's child program (see
task_lib/grade_child.py, which follows it in the child and calls `drive`). Runs only in the sandbox.

Loads the candidate `dropout.py` from the working directory and makes the plan's calls. Each call
gets its own copy of its input; the result (copied as soon as it returns, so later calls cannot
change it) goes into `outputs[name]` and the input copy, as it is after every call, into
`outputs["post:" + name]`. Exceptions go into `report["call_errors"]`, raw.
"""

import importlib.util
import sys

import numpy as np


def _error(exc):
    return f"{type(exc).__name__}: {exc}"[:300]


def _load_function(report, progress):
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
        function = module.dropout
    except BaseException as exc:  # the candidate may raise anything, SystemExit included
        report["stage_error"] = ["import_error", _error(exc)]
        return None
    if not callable(function):
        report["stage_error"] = ["import_error", "dropout.py defines `dropout`, but it is not a function"]
        return None
    return function


def _p_value(kind, value):
    """The p argument a plan entry names: a Python float or int, a NumPy float32, or NaN."""
    if kind == "int":
        return int(value)
    if kind == "float32":
        return np.float32(value)
    if kind == "nan":
        return float("nan")
    return float(value)


def _call(function, call, x):
    p = _p_value(*call["p"])
    if call["training"] is None:
        return function(x, p)
    return function(x, p, training=call["training"])


def drive(plan, inputs, report, outputs, progress):
    """Load the candidate and make every call of `plan` on copies of `inputs`."""
    function = _load_function(report, progress)
    if function is None:
        return
    errors, rejections = {}, {}
    for call in plan["calls"]:
        name = call["name"]
        progress("call " + name)
        x = inputs[call["input"]].copy()
        outputs["post:" + name] = x
        try:
            result = _call(function, call, x)
        except ValueError as exc:
            rejections[name] = "ValueError"
            errors[name] = _error(exc)
            continue
        except Exception as exc:
            errors[name] = _error(exc)
            continue
        rejections[name] = "returned"
        if not isinstance(result, np.ndarray):
            errors[name] = f"returned {type(result).__name__}, not a numpy array"
            continue
        try:  # a plain copy: a subclass's overrides (of dtype, ==, ...) stay behind
            result = np.array(result, copy=True, subok=False)
        except Exception as exc:
            errors[name] = "returned an array that cannot be copied: " + _error(exc)
            continue
        if result.dtype.hasobject:
            errors[name] = "returned an array of Python objects"
        else:
            outputs[name] = result
    report["call_errors"] = errors
    report["rejections"] = rejections
