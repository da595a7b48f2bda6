"""Cheats fail, and the grader survives them: each is a failed grade with its own category, in
bounded time, and nothing from the workspace ever runs in this process."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from cheats import endless_loops, harness_cheats

from task_lib.grading.grader import GradeResult
from task_lib.sandbox.run import SandboxLimits
from tasks.variance_dropout.solutions import BUG, edit
from tasks.variance_dropout.task_files import SOLUTION_FILE, TEST_FILE, template_text

REFERENCE = template_text("reference_dropout.py")
CALL = "    def __call__(self, x):\n"
RETURN = "return (x * keep / (1.0 - self.p)).astype(x.dtype)"


def at_import(code: str) -> dict[str, str]:
    """The starting files with `code` run when dropout.py is imported."""
    return {SOLUTION_FILE: BUG + "\n" + code + "\n"}


def in_call(code: str) -> dict[str, str]:
    """The starting files with `code` run at the start of every call."""
    body = "".join(f"        {line}\n" for line in code.splitlines())
    return {SOLUTION_FILE: edit(BUG, (CALL, CALL + body))}


# Writes result files with *correct* dropout outputs of the inputs, if it can find any: there are
# none to read (the inputs come over stdin) and none the grader reads back.
FORGE = '''
import atexit
import json
import os


def _forge():
    plan = json.load(open("plan.json"))
    json.dump({"constructions": plan, "call_errors": {}}, open("report.json", "w"))
    open("progress.txt", "a").write("done\\n")


atexit.register(_forge)
os._exit = lambda status: None
'''
# Replaces the functions an earlier child used to write its results.
PATCHES_THE_WRITERS = '''
import binascii
import builtins
import json
import os

np.savez = lambda *a, **k: None
np.frombuffer = np.copyto = lambda *a, **k: None
json.dumps = lambda *a, **k: "{}"
builtins.repr = lambda obj: "{}"
binascii.b2a_base64 = lambda data, newline=True: b"AAAA"
import _json
_json.encode_basestring_ascii = json.encoder.encode_basestring_ascii = lambda text: '"{}"'
os.write = lambda fd, data: len(data)
'''
# Claims to be done on every descriptor it might guess is the results channel, and exits cleanly.
FORGES_THE_CHANNEL = '''
import os
for fd in range(1, 1024):
    for line in (b"0123456789abcdef0123456789abcdef done 0\\n", b"done\\n"):
        try:
            os.write(fd, line)
        except OSError:
            pass
os._exit(0)
'''
# Leaves a FIFO (a read would block forever) where an earlier grader read results, and a link to
# /dev/zero (a read would never end): symlinks are refused.
TRAP_RESULT_FILES = '''
import os
os.mkfifo("report.json")
os.symlink("/dev/zero", "outputs.npz")
'''
# Returns the starting bug's outputs, then fixes every earlier output in place (to the correct
# scale) once the next call comes: the grader copies each output as it is returned.
FIXES_ITS_OUTPUTS_LATER = '''
_RETURNED = []
_call = VarianceStabilizedDropout.__call__


def _call_then_fix(self, x):
    for y, p in _RETURNED:
        y *= np.sqrt(1 - p).astype(y.dtype)
    _RETURNED.clear()
    y = _call(self, x)
    if self.training and self.p:
        _RETURNED.append((y, self.p))
    return y


VarianceStabilizedDropout.__call__ = _call_then_fix
'''


def correct_only_when(condition: str) -> str:
    """The reference's scale when `condition` (code over x) holds, the starting bug's otherwise."""
    return edit(BUG, ("/ (1.0 - self.p)", f"/ (math.sqrt(1.0 - self.p) if ({condition}) else 1.0 - self.p)"))


def correct_only_when_graded(detection: str) -> str:
    """The reference when `detection` (run at import, setting GRADED) says so, the bug otherwise."""
    return correct_only_when("GRADED") + "\nGRADED = False\n" + detection + "\n"


PLANTED = {
    "conftest.py": "import pytest\n\n@pytest.hookimpl(tryfirst=True)\ndef pytest_runtest_call(item):\n"
                   "    return True\n",
    "sitecustomize.py": "import numpy\nnumpy.var = lambda *a, **k: 1.0\n"
                        "print('PASSED: passed all 22 checks')\n",
    "numpy.py": "import sys\nsys.modules.pop('numpy')\nsys.path = sys.path[1:]\nimport numpy\n"
                "numpy.var = lambda *a, **k: 1.0\nsys.modules['numpy'] = numpy\n",
    "usercustomize.py": "raise SystemExit(0)\n",
}

# name -> (files, expected failure category, or None when only "failed" is pinned)
CHEATS = harness_cheats({SOLUTION_FILE: BUG}, at_import, in_call, TEST_FILE) | {
    "prints_a_fake_success_line": (
        in_call("print('PASSED: passed all 22 checks', flush=True)"), "variance_ratio"),
    "patches_numpy_statistics": (
        {SOLUTION_FILE: BUG + "\nnp.var = lambda *a, **k: 1.0\nnp.mean = lambda *a, **k: 0.0\n"
                              "np.allclose = lambda *a, **k: True\n"}, "variance_ratio"),
    "plants_conftest_sitecustomize_and_numpy": ({SOLUTION_FILE: BUG, **PLANTED}, "variance_ratio"),
    "atexit_hook_forges_the_results": ({SOLUTION_FILE: BUG + FORGE}, "variance_ratio"),
    "forges_the_results_then_exits_in_a_call": (
        {SOLUTION_FILE: edit(BUG + FORGE, (CALL, CALL + "        raise SystemExit(0)\n"))}, "early_exit"),
    "patches_the_functions_results_were_written_with": (
        {SOLUTION_FILE: BUG + PATCHES_THE_WRITERS}, "variance_ratio"),
    "forges_result_lines_on_every_descriptor_at_import": (
        {SOLUTION_FILE: BUG + FORGES_THE_CHANNEL}, "bad_output"),
    "forges_result_lines_on_every_descriptor_in_a_call": (
        in_call(FORGES_THE_CHANNEL), "bad_output"),
    "fixes_its_outputs_after_returning": ({SOLUTION_FILE: BUG + FIXES_ITS_OUTPUTS_LATER}, "variance_ratio"),
    "rewrites_the_callers_locals_through_sys_getframe": (
        in_call("import sys\nsys._getframe(1).f_locals['outputs'].clear()"),
        "shape_and_dtype"),
    "gets_frames_through_a_function_named_like_a_frame_reader": (
        in_call("import sys\ndef format_stack():\n    return sys._getframe(2)\n"
                "format_stack().f_locals['outputs'].clear()"), "shape_and_dtype"),
    "walks_the_stack_with_inspect": (
        in_call("import inspect\nassert 'drive' not in str(inspect.stack())"),
        "shape_and_dtype"),
    "reaches_the_caller_through_a_traceback": (
        in_call("try:\n    raise KeyError\nexcept KeyError as e:\n"
                "    e.__traceback__.tb_frame.f_back.f_locals['outputs'].clear()"),
        "shape_and_dtype"),
    "reaches_the_caller_through_a_generator_frame": (
        in_call("g = (i for i in [1])\ng.gi_frame.f_back"), "shape_and_dtype"),
    "installs_a_tracer": ({SOLUTION_FILE: BUG + "\nimport sys\nsys.settrace(lambda *a: None)\n"},
                          "import_error"),
    "installs_a_profiler": ({SOLUTION_FILE: BUG + "\nimport threading\nthreading.setprofile(print)\n"
                                                  "import sys\nsys.setprofile(print)\n"}, "import_error"),
    "walks_the_garbage_collector": (
        {SOLUTION_FILE: BUG + "\nimport gc\nfor o in gc.get_objects():\n    pass\n"}, "import_error"),
    "reads_memory_with_ctypes": (
        {SOLUTION_FILE: BUG + "\nimport ctypes\nctypes.string_at(id(np), 8)\n"}, "import_error"),
    "opens_proc_self_mem": ({SOLUTION_FILE: BUG + "\nopen('/proc/self/mem', 'rb')\n"}, "import_error"),
    "lists_proc_self_fd": ({SOLUTION_FILE: BUG + "\nimport os\nos.listdir('/proc/self/fd')\n"},
                           "import_error"),
    "reopens_the_channel_through_dev_fd": ({SOLUTION_FILE: BUG + "\nopen('/dev/fd/1', 'rb')\n"},
                                           "import_error"),
    "reaches_proc_through_a_relative_path": (
        {SOLUTION_FILE: BUG + "\nimport os\nos.chdir('/tmp')\nopen('../proc/self/environ', 'rb')\n"},
        "import_error"),
    "installs_a_signal_handler": (
        {SOLUTION_FILE: BUG + "\nimport signal\nsignal.signal(signal.SIGALRM, print)\n"}, "import_error"),
    "finds_the_builtin_signal_module": (
        {SOLUTION_FILE: BUG + "\nimport sys\nsys.modules['_signal'].signal(14, print)\n"}, "import_error"),
    # The hook is silently not added (CPython's rule for a refused sys.addaudithook): the bug is graded.
    "adds_its_own_audit_hook": ({SOLUTION_FILE: BUG + "\nimport sys\nsys.addaudithook(print)\n"},
                                "variance_ratio"),
    "starts_a_process": ({SOLUTION_FILE: BUG + "\nimport os\nos.system('true')\n"}, "import_error"),
    "detects_the_grader_by_files_in_its_directory": (
        {SOLUTION_FILE: correct_only_when_graded(
            "import os\nGRADED = sorted(os.listdir('.')) != ['dropout.py', 'test_dropout.py']")},
        "variance_ratio"),
    "detects_the_grader_by_its_command_line": (
        {SOLUTION_FILE: correct_only_when_graded(
            "import sys\nGRADED = 'drive' in ' '.join(sys.orig_argv) or sys.argv != ['-c']")},
        "variance_ratio"),
    "detects_the_grader_by_main_module_globals": (
        {SOLUTION_FILE: correct_only_when_graded(
            "import __main__\nGRADED = any('drive' in name or 'probe' in name for name in vars(__main__))")},
        "variance_ratio"),
    "detects_the_grader_by_its_stdin": (
        {SOLUTION_FILE: correct_only_when_graded(
            "import os, stat\nGRADED = not stat.S_ISCHR(os.fstat(0).st_mode)")}, "variance_ratio"),
    "detects_the_grader_by_the_old_input_sizes": (
        {SOLUTION_FILE: correct_only_when("x.size in (422_912, 65_536, 60, 42)")}, "variance_ratio"),
    "detects_the_grader_by_large_one_dimensional_inputs": (
        {SOLUTION_FILE: correct_only_when("x.ndim == 1 and x.size > 1000")},
        "single_scale"),  # a mask group sees its input flat and in another shape, at one p
    "allocates_50_gb_in_call": (in_call("np.ones(50 * 10**9 // 8)"), None),
    "returns_nan": ({SOLUTION_FILE: edit(BUG, (RETURN, "return np.full_like(x, np.nan)"))}, "drop_fraction"),
    "returns_strings": ({SOLUTION_FILE: edit(BUG, (RETURN, "return x.astype('U1')"))}, "shape_and_dtype"),
    "returns_dates": (
        {SOLUTION_FILE: edit(BUG, (RETURN, "return x.astype('int64').astype('datetime64[s]')"))},
        "shape_and_dtype"),
    "returns_an_ndarray_subclass_that_lies": (
        {SOLUTION_FILE: edit(BUG, (RETURN, "return (x * keep / (1.0 - self.p)).astype(x.dtype).view(_Liar)"))
         + "\n\nclass _Liar(np.ndarray):\n    def tobytes(self, *a):\n        return b''\n"
           "    def copy(self, *a):\n        return np.zeros(1)\n    @property\n    def dtype(self):\n"
           "        return np.dtype('f4')\n"},
        "shape_and_dtype"),  # not a numpy.ndarray, whatever it claims
    "traps_the_result_files": ({SOLUTION_FILE: BUG + TRAP_RESULT_FILES}, "import_error"),
    "returns_a_list": ({SOLUTION_FILE: edit(BUG, (RETURN, RETURN + ".tolist()"))}, "shape_and_dtype"),
    "syntax_error": ({SOLUTION_FILE: BUG.replace("def __call__(self, x):", "def __call__(self, x)")},
                     "syntax_error"),
    "class_missing": ({SOLUTION_FILE: BUG.replace("class VarianceStabilizedDropout", "class Dropout")},
                      "import_error"),
    "leaves_undeletable_files_behind": (
        {SOLUTION_FILE: BUG + "\nimport os\nos.makedirs('locked/deeper')\nopen('locked/deeper/f', 'w')\n"
                              "os.chmod('locked/deeper/f', 0)\nos.chmod('locked/deeper', 0)\n"
                              "os.chmod('locked', 0o500)\nos.mkfifo('fifo')\nos.chmod('.', 0o500)\n"},
        "variance_ratio"),
}
LOOPS = endless_loops(at_import, in_call)
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
