"""Array helpers for the drivers of NumPy tasks, in the grader's child. Runs only in the sandbox, never
imported: a task that lists it in `Task.child_parts` gets it between task_lib/grading/child_kit.py and
its `driver.py` (see `grader.child_program`), so a driver calls these names directly. Every NumPy
function used here is bound before the candidate is imported.

- `laid_out(values, layout)`: a fresh array holding `values` (a C-ordered array the grader sent) in one
  of `LAYOUTS`, the memory layouts the contract allows.
- `kept_output(result)`: a call's array result as the grader keeps it: a plain copy, never of objects.
- `seeded_values(spec)`, `add_seeded_inputs(plan, inputs)`: large inputs drawn here from a seed the
  grader sent (it draws the same).
- `InputWatch`: each input handed to the candidate, with the values it must keep. `changed_now` tells
  whether a call changed it; `report_late_changes`, after the last call, waits until the input handed
  over at the middle of the calls is at least `age` seconds old, then records every input changed
  since its call (a change made later than that is not seen: docs/grader.md names it); `late_recheck`
  wraps that as the work a driver hands back for after the checkpoint.
"""

from time import monotonic as _arrays_monotonic
from time import sleep as _arrays_sleep

from numpy import array as _arrays_array
from numpy import copysign as _arrays_copysign
from numpy import float32 as _arrays_float32
from numpy import float64 as _arrays_float64
from numpy import zeros as _arrays_zeros
from numpy.random import default_rng as _arrays_default_rng

LAYOUTS = ("C", "F", "strided", "readonly")


def laid_out(values, layout):
    """A fresh array equal to `values` in `layout`: "C" (contiguous, C order), "F" (Fortran order),
    "strided" (every second element of the last axis of a zeroed buffer twice as long, the first axis
    reversed: neither C- nor Fortran-contiguous, one stride negative) or "readonly" (C order, not
    writeable)."""
    if layout == "F":
        return _arrays_array(values, order="F", copy=True)
    if layout == "strided" and values.ndim:
        buffer = _arrays_zeros((*values.shape[:-1], 2 * values.shape[-1]), values.dtype)
        view = buffer[..., ::2][::-1]
        view[...] = values
        return view
    array = _arrays_array(values, copy=True)
    if layout == "readonly":
        array.flags.writeable = False
    return array


def kept_output(result):
    """A copy of a call's array `result` as a plain numpy.ndarray (a subclass's overrides stay behind);
    TypeError for an array of Python objects."""
    result = _arrays_array(result, copy=True, subok=False)
    if result.dtype.hasobject:
        raise TypeError("returned an array of Python objects")
    return result


def seeded_values(spec):
    """The input a plan's {"seed", "shape", "dtype"} entry names, drawn here rather than sent (large
    inputs): uniform in [-1.5, -0.5] and [0.5, 1.5]. task_lib.grading.probe_draws.seeded_values draws
    the very same array in the grader."""
    dtype = _arrays_float32 if spec["dtype"] == "float32" else _arrays_float64
    size = 1
    for side in spec["shape"]:
        size *= side
    values = _arrays_default_rng(spec["seed"]).random(size, dtype=dtype)
    values -= dtype(0.5)
    values *= dtype(2)
    values += _arrays_copysign(dtype(0.5), values)
    return values.reshape(spec["shape"])


def add_seeded_inputs(plan, inputs):
    """Draw every input of `plan["seeded"]` into `inputs` (before the candidate is imported)."""
    for name, spec in plan["seeded"].items():
        inputs[name] = seeded_values(spec)


def _differs(x, values):
    """True unless `x` still has exactly the dtype, shape and values of `values` (which hold no NaN)."""
    return x.dtype != values.dtype or x.shape != values.shape or not (x == values).all()


class InputWatch:
    """The inputs handed to the candidate, each with the values it must keep and when it was handed."""

    def __init__(self):
        self._held = []

    def hold(self, name, x, values):
        """Remember input `x` of call `name`, which must keep `values`."""
        self._held.append((name, x, values, _arrays_monotonic()))

    @staticmethod
    def changed_now(x, values):
        return _differs(x, values)

    def late_recheck(self, progress, age):
        """The driver's work after the checkpoint: `report_late_changes` once `progress` says so."""

        def recheck(outputs):
            progress("re-check")
            self.report_late_changes(outputs, age)

        return recheck

    def report_late_changes(self, outputs, age):
        """Once the input handed at the middle of the calls is `age` seconds old, a copy of every input
        changed since its call as outputs["late:<call>"] (the candidate's threads get the time:
        sleeping releases the GIL)."""
        if self._held:
            wait = self._held[len(self._held) // 2][3] + age - _arrays_monotonic()
            if wait > 0:
                _arrays_sleep(wait)
        for name, x, values, _ in self._held:
            if "after:" + name not in outputs and _differs(x, values):
                outputs["late:" + name] = _arrays_array(x, copy=True, subok=False)
