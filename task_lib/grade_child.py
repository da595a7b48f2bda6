"""The harness's half of the grader's child program; runs inside the sandbox, never imported.

The child's program is a task's `driver.py` followed by this file, sent as one `python -I -B -c`
source. Started before its inputs exist (so that it imports its libraries while the grader draws
them), it waits for its stdin to close, reads `plan.json` and `inputs.npz` from its working
directory, calls the driver's `drive(plan, inputs, report, outputs, progress)` (which loads the
candidate and makes the calls), and writes back raw results only: `outputs.npz` (every output, and
every input array as it is after all calls) and `report.json`. It computes no statistic.
`progress.txt` gets a line before each stage, so a child that exits or dies part-way can be placed.

The process ends with `os._exit` once the results are written (or the candidate called `sys.exit`),
so exit handlers the candidate registered never run and cannot rewrite the results.
"""

import json as _json
import sys as _sys
import traceback as _traceback
from os import _exit as _exit_now  # bound before the candidate loads

import numpy as _np


def progress(stage):
    with open("progress.txt", "a", encoding="utf-8") as handle:
        handle.write(stage + "\n")


def describe_error(exc):
    return f"{type(exc).__name__}: {exc}"[:300]


def _main():
    _sys.stdin.buffer.read()  # the grader closes our stdin once its files are written
    plan = _json.load(open("plan.json", encoding="utf-8"))
    with _np.load("inputs.npz", allow_pickle=False) as data:
        inputs = {name: data[name] for name in data.files}
    report, outputs = {}, {}
    progress("load")
    drive(plan, inputs, report, outputs, progress)  # noqa: F821 (defined by the task's driver above)
    for name, array in inputs.items():
        outputs["after:" + name] = array
    progress("write")
    _np.savez("outputs.npz", **outputs)
    with open("report.json", "w", encoding="utf-8") as handle:
        _json.dump(report, handle)
    progress("done")


def _run_and_exit():
    """Run `_main` and end the process at once, with the status a normal exit would have had."""
    try:
        _main()
        status = 0
    except SystemExit as exc:  # sys.exit() inside a call
        status = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        if not isinstance(exc.code, int | None):
            print(exc.code, file=_sys.stderr)
    except BaseException:
        _traceback.print_exc()
        status = 1
    for stream in (_sys.stdout, _sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    _exit_now(status)


_run_and_exit()
