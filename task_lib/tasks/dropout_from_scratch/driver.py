"""dropout-from-scratch's driver: the task's half of the grader's child program (after
task_lib/grading/child_kit.py and child_arrays.py, whose names it uses, and before
task_lib/grading/grade_child.py, which calls `drive`). Runs only in the sandbox.

Loads the candidate `dropout.py` from the working directory and makes the plan's calls in order, each
on a fresh array in the call's memory layout, with p as the plan's Python or NumPy type and `training`
left out, passed by keyword or by position. Right after each call it keeps its own copy of the output
(so a function returning one buffer it overwrites later is graded on what each call returned), notes a
result that is not exactly a `numpy.ndarray`, notes whether the call raised ValueError or returned, and,
if the call changed its input, keeps a copy of the input as it was left; after the last call, once the
outputs are sent, it looks at every input again (`InputWatch`). Every NumPy name it uses is bound here,
before the candidate is imported.
"""

# Candidates draw their masks with numpy.random, which NumPy imports only when first used: loaded
# here, it loads while the grader draws the inputs, not inside the candidate's import.
import numpy.random  # noqa: F401
from numpy import array as _copy_of
from numpy import float16 as _float16
from numpy import float32 as _float32
from numpy import float64 as _float64
from numpy import ndarray as _ndarray

# Defined by task_lib/grading/child_kit.py and child_arrays.py, which precede this driver.
load_candidate = load_candidate  # noqa: F821
describe_error = describe_error  # noqa: F821
laid_out = laid_out  # noqa: F821
kept_output = kept_output  # noqa: F821
InputWatch = InputWatch  # noqa: F821
add_seeded_inputs = add_seeded_inputs  # noqa: F821

_P_TYPES = {"float": float, "int": int, "float16": _float16, "float32": _float32, "float64": _float64}


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


def _p(spec):
    return _P_TYPES[spec["type"]](spec["value"])


def _call(function, call, x):
    p, training = _p(call["p"]), call["training"]
    if call["style"] == "omitted":
        return function(x, p)
    if call["style"] == "positional":
        return function(x, p, training)
    return function(x, p, training=training)


def _calls(function, plan, inputs, report, outputs, progress):
    errors, outcomes, types, watch = {}, {}, {}, InputWatch()
    for call in plan["calls"]:
        name = call["name"]
        progress("call " + name)
        values = inputs[call["input"]]
        x = laid_out(values, call["layout"])
        watch.hold(name, x, values)
        try:
            result = _call(function, call, x)
            outcomes[name] = "returned"
            if not isinstance(result, _ndarray):
                raise TypeError(f"returned {type(result).__module__}.{type(result).__name__}, "
                                "not a numpy array")
            if type(result) is not _ndarray:
                types[name] = f"{type(result).__module__}.{type(result).__name__}"
            outputs[name] = kept_output(result)
        except ValueError as exc:
            outcomes.setdefault(name, "ValueError")
            errors[name] = describe_error(exc)
        except Exception as exc:
            errors[name] = describe_error(exc)
        if watch.changed_now(x, values):
            outputs["after:" + name] = _copy_of(x, copy=True, subok=False)
    report["call_errors"] = errors
    report["outcomes"] = outcomes
    report["result_types"] = types
    return watch.late_recheck(progress, plan["recheck_age"])


def drive(plan, inputs, report, outputs, progress):
    """Load the candidate and make every call of `plan` on `inputs`; returns the late re-check of the
    inputs, which the child runs once it has sent the outputs."""
    add_seeded_inputs(plan, inputs)  # before the candidate is imported
    function = _load_function(report, progress)
    if function is None:
        return None
    return _calls(function, plan, inputs, report, outputs, progress)
