"""variance-dropout's driver: the task's half of the grader's child program (see
task_lib/grade_child.py, which follows it in the child and calls `drive`). Runs only in the sandbox.

Loads the candidate `dropout.py` from the working directory, constructs layers for the plan's p values
(given as the plan's Python or NumPy type), records the `training` flag over eval()/train() round trips,
and makes the plan's calls in order, each on a fresh copy of its input. Right after each call it keeps
its own copy of the output (so a layer returning one buffer it overwrites later is graded on what each
call returned) and, if the call changed its input, a copy of the input as it was left. Every NumPy
function it uses is bound here, before the candidate is imported.
"""

import importlib.util
import sys

from numpy import array as _copy_of
from numpy import float32 as _float32
from numpy import float64 as _float64
from numpy import ndarray as _ndarray

_P_TYPES = {"float": float, "int": int, "float32": _float32, "float64": _float64}


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
            outcomes.append(_error(exc))
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
        report["training_flags"] = _error(exc)


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
            errors[name] = _error(exc)
        if x.dtype != original.dtype or x.shape != original.shape or x.tobytes() != original.tobytes():
            outputs["after:" + name] = _copy_of(x, copy=True, subok=False)
    report["call_errors"] = errors


def drive(plan, inputs, report, outputs, progress):
    """Load the candidate and make every call of `plan` on `inputs`."""
    cls = _load_class(report, progress)
    if cls is not None:
        _constructions(cls, plan, report, progress)
        _calls(cls, plan, inputs, report, outputs, progress)
