"""The grader's child side. Runs inside the sandbox and is never imported by the grader.

Started before its inputs exist (so that it imports NumPy while the grader draws them), it waits for
its stdin to close, then loads the candidate `dropout.py` from the working directory, makes the calls
listed in `plan.json` on the arrays in `inputs.npz`, and writes back raw results only: `outputs.npz`
(every output, and every input array as it is after all calls) and `report.json` (flags and error
messages). It computes no statistic. `progress.txt` gets a line before each stage, so a child that
exits or dies part-way can be placed.

The process ends with `os._exit` once the results are written (or the candidate called `sys.exit`),
so exit handlers the candidate registered never run and cannot rewrite the results.
"""

import importlib.util
import json
import sys
import traceback
from os import _exit  # bound before the candidate loads, so replacing os._exit has no effect

import numpy as np


def _progress(stage):
    with open("progress.txt", "a", encoding="utf-8") as handle:
        handle.write(stage + "\n")


def _error(exc):
    return f"{type(exc).__name__}: {exc}"[:300]


def _load_class(report):
    source = open("dropout.py", encoding="utf-8").read()
    try:
        compile(source, "dropout.py", "exec")
    except SyntaxError as exc:
        report["stage_error"] = ["syntax_error", _error(exc)]
        return None
    _progress("import")
    spec = importlib.util.spec_from_file_location("dropout", "dropout.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["dropout"] = module
    try:
        spec.loader.exec_module(module)
        return module.VarianceStabilizedDropout
    except BaseException as exc:  # the candidate may raise anything, SystemExit included
        report["stage_error"] = ["import_error", _error(exc)]
        return None


def _constructions(cls, plan, report):
    _progress("construct")
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


def _calls(cls, plan, inputs, report, outputs):
    layers, errors = {}, {}
    for call in plan["calls"]:
        name = call["name"]
        _progress("call " + name)
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


def main():
    sys.stdin.buffer.read()  # the grader closes our stdin once its files are written
    plan = json.load(open("plan.json", encoding="utf-8"))
    with np.load("inputs.npz", allow_pickle=False) as data:
        inputs = {name: data[name] for name in data.files}
    report, outputs = {}, {}
    _progress("load")
    cls = _load_class(report)
    if cls is not None:
        _constructions(cls, plan, report)
        _calls(cls, plan, inputs, report, outputs)
    for name, array in inputs.items():
        outputs["after:" + name] = array
    _progress("write")
    np.savez("outputs.npz", **outputs)
    with open("report.json", "w", encoding="utf-8") as handle:
        json.dump(report, handle)
    _progress("done")


def run_and_exit():
    """Run `main` and end the process at once, with the status a normal exit would have had."""
    try:
        main()
        status = 0
    except SystemExit as exc:  # sys.exit() inside a call
        status = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        if not isinstance(exc.code, int | None):
            print(exc.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    _exit(status)


if __name__ == "__main__":
    run_and_exit()
