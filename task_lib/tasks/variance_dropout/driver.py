"""variance-dropout's driver: the task's half of the grader's child program (after
task_lib/grading/child_kit.py and child_arrays.py, whose names it uses, and before
task_lib/grading/grade_child.py, which calls `drive`). Runs only in the sandbox.

Loads the candidate `dropout.py` from the working directory, constructs layers for the plan's p values
(each given as the plan's Python or NumPy type), records the `training` flag over the plan's
eval()/train() switches, and makes the plan's calls in order: each on a fresh array in the call's
memory layout, on its own layer or one it shares, after the call's mode switches. Right after each
call it keeps its own copy of the output (so a layer returning one buffer it overwrites later is graded
on what each call returned) and, if the call changed its input, a copy of the input as it was left;
after the last call, once the outputs are sent, it looks at every input again (`InputWatch`). Every
NumPy name it uses is bound here, before the candidate is imported.
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


def _switch(layer, mode):
    layer.eval() if mode == "eval" else layer.train()


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
    try:  # the switched layer's flag, and those of a layer never switched and of one built last
        layer, other = cls(0.5), cls(0.5)
        flags, others = [layer.training], [other.training]
        for mode in plan["flag_switches"]:
            _switch(layer, mode)
            flags.append(layer.training)
            others.append(other.training)
        others.append(cls(0.5).training)
        report["training_flags"] = [f if type(f) is bool else repr(f)[:100] for f in flags]
        report["other_flags"] = [f if type(f) is bool else repr(f)[:100] for f in others]
    except Exception as exc:
        report["training_flags"] = describe_error(exc)


def _calls(cls, plan, inputs, report, outputs, progress):
    layers, errors, watch = {}, {}, InputWatch()
    for call in plan["calls"]:
        name = call["name"]
        progress("call " + name)
        values = inputs[call["input"]]
        x = laid_out(values, call["layout"])
        watch.hold(name, x, values)
        try:
            key = call["layer"]
            if key not in layers:
                layers[key] = cls(_p(call["p"]))
            layer = layers[key]
            for mode in call["switches"]:
                _switch(layer, mode)
            result = layer(x)
            if type(result) is not _ndarray:
                raise TypeError(f"returned {type(result).__module__}.{type(result).__name__}, "
                                "not numpy.ndarray")
            outputs[name] = kept_output(result)
        except Exception as exc:
            errors[name] = describe_error(exc)
        if watch.changed_now(x, values):
            outputs["after:" + name] = _copy_of(x, copy=True, subok=False)
    report["call_errors"] = errors
    return watch.late_recheck(progress, plan["recheck_age"])


def drive(plan, inputs, report, outputs, progress):
    """Load the candidate and make every call of `plan` on `inputs`; returns the late re-check of the
    inputs, which the child runs once it has sent the outputs."""
    add_seeded_inputs(plan, inputs)  # before the candidate is imported
    cls = _load_class(report, progress)
    if cls is None:
        return None
    _constructions(cls, plan, report, progress)
    return _calls(cls, plan, inputs, report, outputs, progress)
