"""The array helpers of the grader's child (task_lib/grading/child_arrays.py, run here as the child
runs it: as source, not as an import), against the grader's side of the same draws."""

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from task_lib.grading import probe_draws

CHILD_ARRAYS = Path(__file__).parents[1] / "task_lib" / "grading" / "child_arrays.py"


@pytest.fixture(scope="module")
def child():
    namespace: dict = {}
    exec(compile(CHILD_ARRAYS.read_text(encoding="utf-8"), str(CHILD_ARRAYS), "exec"), namespace)
    return namespace


@pytest.mark.parametrize("shape", [(7,), (5, 6), (3, 4, 5), (2, 3, 0), (0,)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_layout_holds_the_values_in_fresh_memory(child, shape, dtype):
    values = np.arange(np.prod(shape), dtype=dtype).reshape(shape) + 0.5
    for layout in child["LAYOUTS"]:
        x = child["laid_out"](values, layout)
        assert type(x) is np.ndarray and x.dtype == values.dtype and x.shape == values.shape
        assert np.array_equal(x, values) and not np.shares_memory(x, values)
        if layout == "F" and len(shape) > 1 and values.size:
            assert x.flags.f_contiguous and not x.flags.c_contiguous
        if layout == "strided" and values.size:
            assert not x.flags.c_contiguous and not x.flags.f_contiguous and min(x.strides) < 0
        assert x.flags.writeable == (layout != "readonly")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_child_draws_the_very_inputs_the_grader_draws(child, dtype):
    spec = {"seed": 12345, "shape": [3, 700, 5], "dtype": dtype}
    mine = probe_draws.seeded_values(spec["seed"], tuple(spec["shape"]), dtype)
    theirs = child["seeded_values"](spec)
    assert mine.dtype == theirs.dtype == np.dtype(dtype) and np.array_equal(mine, theirs)
    assert np.all(np.abs(mine) >= 0.5) and np.all(np.abs(mine) <= 1.5)


def test_the_late_re_check_waits_and_sees_a_change_made_after_the_call(child):
    watch = child["InputWatch"]()
    values = np.ones(10)
    touched, untouched = values.copy(), values.copy()
    watch.hold("a", touched, values)
    watch.hold("b", untouched, values)
    threading.Timer(0.02, lambda: touched.__setitem__(3, 7.0)).start()
    start = time.monotonic()
    outputs: dict = {}
    watch.report_late_changes(outputs, 0.06)
    assert time.monotonic() - start >= 0.05
    assert list(outputs) == ["late:a"] and outputs["late:a"][3] == 7.0
    assert not child["InputWatch"].changed_now(untouched, values)
    assert child["InputWatch"].changed_now(touched.astype(np.float32), values)
