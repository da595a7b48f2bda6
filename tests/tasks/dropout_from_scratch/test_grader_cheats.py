"""Cheats fail against dropout-from-scratch's grader, and the grader survives them: each is a failed
grade with its own category, in bounded time, and nothing from the workspace runs in this process."""

import sys

import numpy as np
import pytest
from cheats import endless_loops, harness_cheats

from task_lib.sandbox.run import SandboxLimits

from .solutions import BUG, DEF, edit
from .task_files import REFERENCE, SOLUTION_FILE, TEST_FILE

RETURN = "return (x * keep * (1 - p) ** -0.5).astype(x.dtype)"


def at_import(code: str) -> dict[str, str]:
    """The starting files with `code` run when dropout.py is imported."""
    return {SOLUTION_FILE: BUG + "\n" + code + "\n"}


def in_call(code: str) -> dict[str, str]:
    """The starting files with `code` run at the start of every call."""
    return {SOLUTION_FILE: edit(BUG, (DEF, DEF + "".join(f"    {line}\n" for line in code.splitlines())))}


# Writes the probe's result files with *correct* outputs for the plan: if it ever ran after the
# probe, the wrong scale would pass.
FORGE = '''
import atexit
import json
import os


def _forge():
    plan = json.load(open("plan.json"))
    with np.load("inputs.npz") as data:
        inputs = {name: data[name] for name in data.files}
    outputs, rejections = {}, {}
    for call in plan["calls"]:
        name, x, (kind, p) = call["name"], inputs[call["input"]], call["p"]
        outputs["post:" + name] = x
        if call["role"] == "invalid":
            rejections[name] = "ValueError"
            continue
        rejections[name] = "returned"
        if call["training"] is False or p == 0:
            outputs[name] = x.copy()
        elif p == 1:
            outputs[name] = np.zeros_like(x)
        else:
            outputs[name] = np.where(_rng.random(x.shape) >= p, x / (1 - p), 0).astype(x.dtype)
    outputs |= {"after:" + name: x for name, x in inputs.items()}
    np.savez("outputs.npz", **outputs)
    json.dump({"call_errors": {}, "rejections": rejections}, open("report.json", "w"))
    open("progress.txt", "a").write("done\\n")


atexit.register(_forge)
os._exit = lambda status: None
'''
TRAP_RESULT_FILES = '''
import os
open("progress.txt", "a").write("done\\n")
os.mkfifo("report.json")
os.symlink("/dev/zero", "outputs.npz")
os._exit(0)
'''
# An ndarray subclass that claims to equal anything: the driver hands back plain arrays.
LYING_ARRAY = '''

class _Equal(np.ndarray):
    def __eq__(self, other):
        return np.ones(self.shape, dtype=bool)

    __ne__ = lambda self, other: np.zeros(self.shape, dtype=bool)


_honest = dropout


def dropout(x, p, training=True):
    return _honest(x, p, training).view(_Equal)
'''
PLANTED = {
    "conftest.py": "import pytest\n\n@pytest.hookimpl(tryfirst=True)\ndef pytest_runtest_call(item):\n"
                   "    return True\n",
    "sitecustomize.py": "import numpy\nnumpy.array_equal = lambda *a, **k: True\n"
                        "print('PASSED: passed all 33 checks')\n",
    "numpy.py": "import sys\nsys.modules.pop('numpy')\nsys.path = sys.path[1:]\nimport numpy\n"
                "numpy.abs = lambda *a, **k: 0.0\nsys.modules['numpy'] = numpy\n",
    "usercustomize.py": "raise SystemExit(0)\n",
}

# name -> (files, expected failure category, or None when only "failed" is pinned)
CHEATS = harness_cheats({SOLUTION_FILE: BUG}, at_import, in_call, TEST_FILE) | {
    "prints_a_fake_success_line": (
        in_call("print('PASSED: passed all 33 checks', flush=True)"), "survivor_scale"),
    "patches_numpy": (
        {SOLUTION_FILE: BUG + "\nnp.array_equal = lambda *a, **k: True\nnp.mean = lambda *a, **k: 0.5\n"
                              "np.abs = lambda *a, **k: 0.0\n"}, "survivor_scale"),
    "plants_conftest_sitecustomize_and_numpy": ({SOLUTION_FILE: BUG, **PLANTED}, "survivor_scale"),
    "atexit_hook_forges_the_results": ({SOLUTION_FILE: BUG + FORGE}, "survivor_scale"),
    "forges_the_results_then_exits_in_a_call": (
        {SOLUTION_FILE: edit(BUG + FORGE, (DEF, DEF + "    raise SystemExit(0)\n"))}, "early_exit"),
    # The driver hands back a plain copy (so the lie stays behind), and notes the subclass.
    "returns_an_array_that_equals_anything": ({SOLUTION_FILE: BUG + LYING_ARRAY}, "shape_and_dtype"),
    "allocates_50_gb_in_call": (in_call("np.ones(50 * 10**9 // 8)"), "call_error"),
    "returns_nan": ({SOLUTION_FILE: edit(BUG, (RETURN, "return np.full_like(x, np.nan)"))}, "survivor_scale"),
    "returns_strings": ({SOLUTION_FILE: edit(BUG, (RETURN, "return x.astype('U1')"))}, "call_error"),
    "returns_a_list": ({SOLUTION_FILE: edit(BUG, (RETURN, RETURN + ".tolist()"))}, "call_error"),
    # The audit hook refuses the symlink at import; the results never come from files anyway.
    "traps_the_result_files": ({SOLUTION_FILE: BUG + TRAP_RESULT_FILES}, "import_error"),
    "syntax_error": ({SOLUTION_FILE: BUG.replace(DEF, DEF.rstrip(":\n") + "\n")}, "syntax_error"),
    "function_missing": ({SOLUTION_FILE: BUG.replace("def dropout(", "def drop_out(")}, "import_error"),
    "dropout_is_not_a_function": ({SOLUTION_FILE: BUG + "\ndropout = 3\n"}, "import_error"),
}
LOOPS = endless_loops(at_import, in_call)
LOOP_LIMITS = SandboxLimits(wall_seconds=1.5)


@pytest.fixture(scope="module")
def graded(grade_dfs):
    variants = {name: files for name, (files, _) in CHEATS.items()}
    variants["reference_beside_planted_files"] = {SOLUTION_FILE: REFERENCE, **PLANTED,
                                                  "numpy.py": "raise SystemExit('planted numpy.py ran')\n"}
    return grade_dfs(variants)


@pytest.fixture(scope="module")
def graded_loops(grade_dfs):
    return grade_dfs(LOOPS, limits=LOOP_LIMITS)


@pytest.mark.parametrize("name", list(CHEATS))
def test_cheat_fails_with_its_category(graded, name):
    _, category = CHEATS[name]
    result = graded[name]
    assert not result.passed
    if category is not None:
        assert result.failure == category, result.message
    assert result.seconds < 10


@pytest.mark.parametrize("name", ["allocates_50_gb_at_import", "allocates_50_gb_in_call"])
def test_huge_allocation_hits_the_memory_limit(graded, name):
    assert "MemoryError" in graded[name].message


def test_planted_files_do_not_reach_the_candidates_process(graded):
    result = graded["reference_beside_planted_files"]
    assert result.passed, result.message


@pytest.mark.parametrize("name", list(LOOPS))
def test_infinite_loop_times_out_in_bounded_time(graded_loops, name):
    result = graded_loops[name]
    assert result.failure == "timeout", result.message
    assert result.seconds < LOOP_LIMITS.wall_seconds + 3


def test_nothing_from_the_workspaces_ran_here(graded, graded_loops):
    from_workspaces = [name for name, module in list(sys.modules.items())
                       if "graded" in str(getattr(module, "__file__", None) or "")]
    assert from_workspaces == []
    assert "dropout" not in sys.modules
    assert np.array_equal(np.array([1.0]), np.array([1.0])) and not np.array_equal([0.0], [1.0])
