"""Cheats fail, and the grader survives them: each is a failed grade with its own category, in
bounded time, and nothing from the workspace ever runs in this process."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from task_lib.grader import GradeResult
from task_lib.sandbox import SandboxLimits
from tasks.variance_dropout.solutions import BUG, edit
from tasks.variance_dropout.task_files import SOLUTION_FILE, TEST_FILE, template_text

REFERENCE = template_text("reference_dropout.py")
CALL = "    def __call__(self, x):\n"
RETURN = "return (x * keep / (1.0 - self.p)).astype(x.dtype)"


def in_call(code: str) -> str:
    """BUG with `code` run at the start of every call."""
    return edit(BUG, (CALL, CALL + "".join(f"        {line}\n" for line in code.splitlines())))


# Writes the probe's result files with *correct* dropout outputs of the probe's inputs: if it ever
# ran after the probe, the buggy class would pass.
FORGE = '''
import atexit
import json
import os


def _forge():
    plan = json.load(open("plan.json"))
    with np.load("inputs.npz") as data:
        inputs = {name: data[name] for name in data.files}
    rng, outputs = np.random.default_rng(), {}
    for call in plan["calls"]:
        x = inputs[call["input"]]
        if call["mode"] == "eval" or call["p"] == 0:
            outputs[call["name"]] = x.copy()
        else:
            keep = rng.random(x.shape) >= call["p"]
            outputs[call["name"]] = (x * keep / np.sqrt(1 - call["p"])).astype(x.dtype)
    outputs |= {"after:" + name: x for name, x in inputs.items()}
    np.savez("outputs.npz", **outputs)
    constructions = {repr(p): "ok" for p in plan["valid_p"]}
    constructions |= {repr(p): "ValueError" for p in plan["invalid_p"]}
    report = {"constructions": constructions, "training_flags": [True, False, True], "call_errors": {}}
    json.dump(report, open("report.json", "w"))
    open("progress.txt", "a").write("done\\n")


atexit.register(_forge)
os._exit = lambda status: None
'''
# Replaces the probe's np.savez so that outputs.npz declares an array of 800 GB.
FORGE_HUGE_HEADER = '''
import io
import zipfile


def _forged_savez(path, **arrays):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**11,)})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("var@0.3.npy", header.getvalue() + bytes(64))


np.savez = _forged_savez
'''
# Claims to be done, leaves a FIFO (a read would block forever) or a link to /dev/zero (a read would
# never end) where the grader reads results, and exits cleanly.
TRAP_RESULT_FILES = '''
import os
open("progress.txt", "a").write("done\\n")
os.mkfifo("report.json")
os.symlink("/dev/zero", "outputs.npz")
os._exit(0)
'''
PLANTED = {
    "conftest.py": "import pytest\n\n@pytest.hookimpl(tryfirst=True)\ndef pytest_runtest_call(item):\n"
                   "    return True\n",
    "sitecustomize.py": "import numpy\nnumpy.var = lambda *a, **k: 1.0\n"
                        "print('PASSED: passed all 22 checks')\n",
    "numpy.py": "import sys\nsys.modules.pop('numpy')\nsys.path = sys.path[1:]\nimport numpy\n"
                "numpy.var = lambda *a, **k: 1.0\nsys.modules['numpy'] = numpy\n",
    "usercustomize.py": "raise SystemExit(0)\n",
}

# name -> (files, expected failure category)
CHEATS = {
    "rewrites_the_visible_tests": (
        {SOLUTION_FILE: BUG, TEST_FILE: "def test_everything():\n    pass\n"}, "test_file_unchanged"),
    "os_exit_at_import": ({SOLUTION_FILE: BUG + "\nimport os\nos._exit(0)\n"}, "early_exit"),
    "os_exit_in_call": ({SOLUTION_FILE: in_call("import os\nos._exit(0)")}, "early_exit"),
    "sys_exit_in_call": ({SOLUTION_FILE: in_call("import sys\nsys.exit()")}, "early_exit"),
    "sys_exit_at_import": ({SOLUTION_FILE: BUG + "\nimport sys\nsys.exit(0)\n"}, "import_error"),
    "prints_a_fake_success_line": (
        {SOLUTION_FILE: in_call("print('PASSED: passed all 22 checks', flush=True)")}, "variance_ratio"),
    "patches_numpy_statistics": (
        {SOLUTION_FILE: BUG + "\nnp.var = lambda *a, **k: 1.0\nnp.mean = lambda *a, **k: 0.0\n"
                              "np.allclose = lambda *a, **k: True\n"}, "variance_ratio"),
    "plants_conftest_sitecustomize_and_numpy": ({SOLUTION_FILE: BUG, **PLANTED}, "variance_ratio"),
    "atexit_hook_forges_the_results": ({SOLUTION_FILE: BUG + FORGE}, "variance_ratio"),
    "forges_the_results_then_exits_in_a_call": (
        {SOLUTION_FILE: edit(BUG + FORGE, (CALL, CALL + "        raise SystemExit(0)\n"))}, "early_exit"),
    "kills_its_own_process_group": (
        {SOLUTION_FILE: in_call("import os, signal\nos.killpg(os.getpgrp(), signal.SIGKILL)")}, None),
    "allocates_50_gb_at_import": ({SOLUTION_FILE: BUG + "\nnp.ones(50 * 10**9 // 8)\n"}, "import_error"),
    "allocates_50_gb_in_call": ({SOLUTION_FILE: in_call("np.ones(50 * 10**9 // 8)")}, None),
    "prints_a_gigabyte": (
        {SOLUTION_FILE: BUG + "\nfor _ in range(1000):\n    print('x' * 10**6)\n"}, "import_error"),
    "returns_nan": ({SOLUTION_FILE: edit(BUG, (RETURN, "return np.full_like(x, np.nan)"))}, "drop_fraction"),
    "returns_strings": ({SOLUTION_FILE: edit(BUG, (RETURN, "return x.astype('U1')"))}, "shape_and_dtype"),
    "returns_dates": (
        {SOLUTION_FILE: edit(BUG, (RETURN, "return x.astype('int64').astype('datetime64[s]')"))},
        "shape_and_dtype"),
    "forges_a_huge_array_header": ({SOLUTION_FILE: BUG + FORGE_HUGE_HEADER}, "bad_output"),
    "traps_the_result_files": ({SOLUTION_FILE: BUG + TRAP_RESULT_FILES}, "bad_output"),
    "returns_a_list": ({SOLUTION_FILE: edit(BUG, (RETURN, RETURN + ".tolist()"))}, "shape_and_dtype"),
    "syntax_error": ({SOLUTION_FILE: BUG.replace("def __call__(self, x):", "def __call__(self, x)")},
                     "syntax_error"),
    "nul_byte_in_source": ({SOLUTION_FILE: BUG + "\n# \0\n"}, "syntax_error"),
    "raises_at_import": ({SOLUTION_FILE: BUG + "\nraise RuntimeError('no')\n"}, "import_error"),
    "class_missing": ({SOLUTION_FILE: BUG.replace("class VarianceStabilizedDropout", "class Dropout")},
                      "import_error"),
    "not_utf8": ({SOLUTION_FILE: "# caf\xe9\n".encode("latin-1") + BUG.encode()}, "source_readable"),
}
LOOPS = {
    "infinite_loop_at_import": {SOLUTION_FILE: BUG + "\nwhile True:\n    pass\n"},
    "infinite_loop_in_call": {SOLUTION_FILE: in_call("while True:\n    pass")},
}
LOOP_LIMITS = SandboxLimits(wall_seconds=1.5)


@pytest.fixture(scope="module")
def graded(grade_many) -> dict[str, GradeResult]:
    variants = {name: files for name, (files, _) in CHEATS.items()}
    variants["reference_beside_planted_files"] = {SOLUTION_FILE: REFERENCE, **PLANTED,
                                                  "numpy.py": "raise SystemExit('planted numpy.py ran')\n"}
    return grade_many(variants)


@pytest.fixture(scope="module")
def graded_loops(grade_many) -> dict[str, GradeResult]:
    return grade_many(LOOPS, limits=LOOP_LIMITS)


@pytest.mark.parametrize("name", list(CHEATS))
def test_cheat_fails_with_its_category(graded, name):
    _, category = CHEATS[name]
    result = graded[name]
    assert not result.passed
    if category is not None:
        assert result.failure == category, result.message
    assert result.seconds < 10


def test_a_fake_success_line_is_not_a_verdict(graded):
    assert not graded["prints_a_fake_success_line"].message.startswith("passed")


@pytest.mark.parametrize("name", ["allocates_50_gb_at_import", "allocates_50_gb_in_call"])
def test_huge_allocation_hits_the_memory_limit(graded, name):
    assert "MemoryError" in graded[name].message


def test_non_utf8_source_is_reported_as_such(graded):
    assert "not UTF-8" in graded["not_utf8"].message


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
    assert Path(sys.modules["conftest"].__file__).parent == Path(__file__).parents[2]
    assert np.var(np.array([1.0, -1.0])) == 1.0
    assert not np.allclose(0.0, 1.0)


def test_non_finite_measurements_serialize_as_strict_json(graded):
    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    text = json.dumps(graded["returns_nan"].to_dict(), allow_nan=False)
    values = [check["value"] for check in json.loads(text, parse_constant=refuse)["checks"]]
    assert "nan" in values
