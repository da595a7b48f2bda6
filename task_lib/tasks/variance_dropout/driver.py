"""variance-dropout's driver: the task's half of the grader's child program (after
task_lib/grading/child_kit.py, whose `load_candidate` and `describe_error` it uses, and before
task_lib/grading/grade_child.py, which calls `drive`). Runs only in the sandbox.

Loads the candidate `dropout.py` from the working directory, constructs layers for the plan's p values
(given as the plan's Python or NumPy type), records the `training` flag over eval()/train() round trips,
and makes the plan's calls in order, each on a fresh copy of its input. Right after each call it keeps
its own copy of the output (so a layer returning one buffer it overwrites later is graded on what each
call returned) and, if the call changed its input, a copy of the input as it was left. Every NumPy
function it uses is bound here, before the candidate is imported.
"""

# Candidates draw their masks with numpy.random, which NumPy imports only when first used: loaded
# here, it loads while the grader draws the inputs, not inside the candidate's import.
import numpy.random  # noqa: F401
from numpy import array as _copy_of
from numpy import float32 as _float32
from numpy import float64 as _float64
from numpy import ndarray as _ndarray

# Defined by task_lib/grading/child_kit.py, which precedes this driver in the child's program.
load_candidate = load_candidate  # noqa: F821
describe_error = describe_error  # noqa: F821

_P_TYPES = {"float": float, "int": int, "float32": _float32, "float64": _float64}


def _load_class(report, progress):
    module = load_candidate("dropout", report, progress)
    if module is None:
        return None
    try:
        return module.VarianceStabilizedDropout
    except Exception as exc:  # a module __getattr__ may raise anything
        report["stage_error"] = ["import_error", describe_error(exc)]
        return None


def _p(spec):
    return _P_TYPES[spec["type"]](spec["value"])


def _constructions(cls, plan, report, progress):
    progress("construct")
    outcomes = []
    for spec in plan["constructions"]:
        try:
            cls(_p(spec))
            outcomes.append("ok")
        except ValueError:
            outcomes.append("ValueError")
        except Exception as exc:
            outcomes.append(describe_error(exc))
    report["constructions"] = outcomes
    try:
        layer = cls(0.5)
        flags = [layer.training]
        for _ in range(2):
            layer.eval()
            flags.append(layer.training)
            layer.train()
            flags.append(layer.training)
        report["training_flags"] = [f if type(f) is bool else repr(f)[:100] for f in flags]
    except Exception as exc:
        report["training_flags"] = describe_error(exc)


def _calls(cls, plan, inputs, report, outputs, progress):
    layers, errors = {}, {}
    for call in plan["calls"]:
        name = call["name"]
        progress("call " + name)
        original = inputs[call["input"]]
        x = _copy_of(original, copy=True)
        try:
            key = call["layer"]
            if key not in layers:
                layers[key] = cls(_p(call["p"]))
            layer = layers[key]
            layer.eval() if call["mode"] == "eval" else layer.train()
            result = layer(x)
            if not isinstance(result, _ndarray):
                raise TypeError(f"returned {type(result).__name__}, not a numpy array")
            result = _copy_of(result, copy=True, subok=False)
            if result.dtype.hasobject:
                raise TypeError("returned an array of Python objects")
            outputs[name] = result
        except Exception as exc:
            errors[name] = describe_error(exc)
        if x.dtype != original.dtype or x.shape != original.shape or x.tobytes() != original.tobytes():
            outputs["after:" + name] = _copy_of(x, copy=True, subok=False)
    report["call_errors"] = errors


def drive(plan, inputs, report, outputs, progress):
    """Load the candidate and make every call of `plan` on `inputs`."""
    cls = _load_class(report, progress)
    if cls is not None:
        _constructions(cls, plan, report, progress)
        _calls(cls, plan, inputs, report, outputs, progress)
