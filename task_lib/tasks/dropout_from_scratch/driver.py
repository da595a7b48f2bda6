"""dropout-from-scratch's driver: the task's half of the grader's child program (after
task_lib/grading/child_kit.py, whose `load_candidate` and `describe_error` it uses, and before
task_lib/grading/grade_child.py, which calls `drive`). Runs only in the sandbox.

Loads the candidate `dropout.py` from the working directory and makes the plan's calls. Each call
gets its own copy of its input; the result (copied as soon as it returns, so later calls cannot
change it) goes into `outputs[name]` and the input copy, as it is after every call, into
`outputs["post:" + name]`. Exceptions go into `report["call_errors"]`, raw.
"""

import numpy as np

# Candidates draw their masks with numpy.random, which NumPy imports only when first used: loaded
# here, it loads while the grader draws the inputs, not inside the candidate's import.
import numpy.random  # noqa: F401

# Defined by task_lib/grading/child_kit.py, which precedes this driver in the child's program.
load_candidate = load_candidate  # noqa: F821
describe_error = describe_error  # noqa: F821


def _load_function(report, progress):
    module = load_candidate("dropout", report, progress)
    if module is None:
        return None
    try:
        function = module.dropout
    except Exception as exc:  # a module __getattr__ may raise anything
        report["stage_error"] = ["import_error", describe_error(exc)]
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
            errors[name] = describe_error(exc)
            continue
        except Exception as exc:
            errors[name] = describe_error(exc)
            continue
        rejections[name] = "returned"
        if not isinstance(result, np.ndarray):
            errors[name] = f"returned {type(result).__name__}, not a numpy array"
            continue
        try:  # a plain copy: a subclass's overrides (of dtype, ==, ...) stay behind
            result = np.array(result, copy=True, subok=False)
        except Exception as exc:
            errors[name] = "returned an array that cannot be copied: " + describe_error(exc)
            continue
        if result.dtype.hasobject:
            errors[name] = "returned an array of Python objects"
        else:
            outputs[name] = result
    report["call_errors"] = errors
    report["rejections"] = rejections
