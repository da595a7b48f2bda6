"""`python -m task_lib setup | grade | demo` as a user runs them: exit codes, --json, one-line errors,
and a grading path that never imports the heavy dependencies."""

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from tasks.variance_dropout.solutions import BUG, CORRECT
from tasks.variance_dropout.task_files import SOLUTION_FILE, TASK, TEST_FILE, template_text

HEAVY = ("anthropic", "matplotlib", "nbclient", "jupyterlab")
CHECK_KEYS = {"name", "passed", "value", "threshold"}


def cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def strict_json(text: str):
    """Parse JSON as any consumer would: NaN and Infinity are not JSON."""
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON output"))


@pytest.fixture(scope="module")
def runs(make_workspace, tmp_path_factory):
    """Every grading command of this module, run once and side by side."""
    fresh = tmp_path_factory.mktemp("cli") / "fresh"
    setup = cli("-m", "task_lib", "setup", str(fresh))
    reference = make_workspace({SOLUTION_FILE: template_text("reference_dropout.py")})
    rewritten = make_workspace({SOLUTION_FILE: CORRECT["binomial_mask"]})
    latin1 = make_workspace({SOLUTION_FILE: "# caf\xe9\n".encode("latin-1")})
    # A numpy.py beside the bug that would make every variance ratio 1 if the grader imported it.
    planted = make_workspace({SOLUTION_FILE: BUG, "numpy.py": (
        "import sys\nsys.modules.pop('numpy')\nsys.path = sys.path[1:]\nimport numpy\n"
        "numpy.var = lambda *a, **k: 1.0\nsys.modules['numpy'] = numpy\n")})
    report = f"import sys; print(json.dumps([m for m in {HEAVY} if m in sys.modules]))"
    commands = {
        "fresh_json": (["-m", "task_lib", "grade", str(fresh), "--json"], None),
        "reference": (["-m", "task_lib", "grade", str(reference)], None),
        "reference_json": (["-m", "task_lib", "grade", str(reference), "--json", "--tolerance", "0.2"], None),
        "rewritten": (["-m", "task_lib", "grade", str(rewritten)], None),
        "latin1_json": (["-m", "task_lib", "grade", str(latin1), "--json"], None),
        "planted_numpy_from_inside": (["-m", "task_lib", "grade", ".", "--json"], planted),
        "importtime": (["-X", "importtime", "-m", "task_lib", "grade", str(reference)], None),
        "library_imports": (["-c", "import json; from task_lib.grading.grader import grade_workspace; "
                                   f"grade_workspace({str(reference)!r}); {report}"], None),
        "demo": (["-m", "task_lib", "demo"], None),
    }
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(cli, *args, cwd=cwd) for name, (args, cwd) in commands.items()}
        return {"setup": setup, "fresh": fresh} | {name: f.result() for name, f in futures.items()}


# ---- setup and exit codes -----------------------------------------------------------------------


def test_setup_writes_the_starting_workspace(runs):
    assert runs["setup"].returncode == 0
    for name in (SOLUTION_FILE, TEST_FILE):
        assert (runs["fresh"] / name).read_text(encoding="utf-8") == template_text(name)


@pytest.mark.parametrize("name", ["reference", "rewritten"])
def test_grade_exits_0_for_a_correct_solution(runs, name):
    run = runs[name]
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines()[-1].startswith("PASSED: passed all")


def test_grade_exits_1_for_the_starting_bug(runs):
    run = runs["fresh_json"]
    assert run.returncode == 1, run.stderr
    assert strict_json(run.stdout)["failure"] == "variance_ratio"


def test_grade_exits_1_for_a_non_utf8_file(runs):
    run = runs["latin1_json"]
    assert run.returncode == 1, run.stderr
    assert strict_json(run.stdout)["failure"] == "source_readable"


def test_numpy_py_in_the_working_directory_does_not_reach_the_grader(runs):
    run = runs["planted_numpy_from_inside"]
    assert run.returncode == 1, run.stdout + run.stderr
    assert strict_json(run.stdout)["failure"] == "variance_ratio"


# ---- --json -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["fresh_json", "reference_json"])
def test_json_output_has_the_contract_shape(runs, name):
    data = strict_json(runs[name].stdout)
    assert isinstance(data["passed"], bool)
    assert data["failure"] is None if data["passed"] else isinstance(data["failure"], str)
    assert data["checks"] and all(CHECK_KEYS <= set(check) for check in data["checks"])
    assert all(isinstance(check["passed"], bool) for check in data["checks"])
    assert data["passed"] == all(check["passed"] for check in data["checks"])


def test_json_output_is_one_object_and_nothing_else(runs):
    assert runs["reference_json"].stdout.count("\n") == 1
    assert runs["reference_json"].stderr == ""


def test_tolerance_option_reaches_the_variance_check(runs):
    data = strict_json(runs["reference_json"].stdout)
    assert data["passed"] and data["params"] == {"tolerance": 0.2}
    assert data["task"] == "variance-dropout" and data["task_version"] == TASK.version
    bounds = [c["threshold"] for c in data["checks"] if c["name"] == "variance_ratio"]
    assert bounds and all(b == pytest.approx([0.8, 1.2]) for b in bounds)


# ---- unusable input and bad usage: exit 2, one line, no traceback -------------------------------


def assert_one_line_error(run: subprocess.CompletedProcess, mentions: str) -> None:
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""
    errors = [line for line in run.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and mentions in errors[0], run.stderr


def test_grade_of_a_missing_directory_exits_2(tmp_path):
    run = cli("-m", "task_lib", "grade", str(tmp_path / "missing"))
    assert_one_line_error(run, "no workspace directory")
    assert run.stderr.count("\n") == 1


def test_grade_of_a_directory_without_dropout_py_exits_2(tmp_path):
    (tmp_path / TEST_FILE).write_text(template_text(TEST_FILE))
    run = cli("-m", "task_lib", "grade", str(tmp_path))
    assert_one_line_error(run, "dropout.py")
    assert run.stderr.count("\n") == 1


@pytest.mark.parametrize("kind", ["symlink_out", "fifo", "directory"])
def test_a_dropout_py_that_is_not_a_regular_file_exits_2_without_reading_it(tmp_path, kind):
    (tmp_path / TEST_FILE).write_text(template_text(TEST_FILE))
    target = tmp_path / "dropout.py"
    if kind == "symlink_out":
        target.symlink_to("/etc/passwd")
    elif kind == "fifo":
        os.mkfifo(target)  # reading it would block for ever
    else:
        target.mkdir()
    run = cli("-m", "task_lib", "grade", str(tmp_path))
    assert_one_line_error(run, "not a regular file")


def test_a_symlinked_test_file_counts_as_missing(make_workspace, tmp_path):
    workspace = make_workspace({SOLUTION_FILE: template_text("reference_dropout.py")})
    original = tmp_path / "elsewhere.py"
    original.write_text(template_text(TEST_FILE))
    (workspace / TEST_FILE).unlink()
    (workspace / TEST_FILE).symlink_to(original)
    run = cli("-m", "task_lib", "grade", str(workspace), "--json")
    result = json.loads(run.stdout)
    assert run.returncode == 1 and result["failure"] == "test_file_unchanged"
    assert result["checks"][0]["value"] == "test_dropout.py missing"


@pytest.mark.parametrize("tolerance", ["-1", "0", "abc", "1.5", "nan"])
def test_bad_tolerance_exits_2_with_one_error_line(tmp_path, tolerance):
    run = cli("-m", "task_lib", "grade", str(tmp_path), "--tolerance", tolerance)
    assert_one_line_error(run, "tolerance")


# ---- imports on the grading path ----------------------------------------------------------------


def test_grading_as_a_library_imports_no_heavy_dependency(runs):
    run = runs["library_imports"]
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == []


def test_grade_command_imports_no_heavy_dependency(runs):
    run = runs["importtime"]
    assert run.returncode == 0, run.stderr
    imported = {line.rsplit("|", 1)[1].strip() for line in run.stderr.splitlines()
                if line.startswith("import time:") and "|" in line}
    assert "numpy" in imported  # the report is real
    assert not {name for name in imported if name.split(".")[0] in HEAVY}


# ---- demo ---------------------------------------------------------------------------------------

DEMO_ROW = re.compile(r"^\s*(0\.\d+)\s+([+-][\d.]+)%\s+([+-][\d.]+)%\s+([+-][\d.]+)%\s*$")


def test_demo_shows_the_bug_off_by_its_theory_and_the_fix_within_one_percent(runs):
    run = runs["demo"]
    assert run.returncode == 0, run.stderr
    rows = {float(m[1]): (float(m[2]), float(m[3]), float(m[4]))
            for m in map(DEMO_ROW.match, run.stdout.splitlines()) if m}
    expected_bug = {0.3: 42.9, 0.5: 100.0, 0.7: 233.3}
    assert set(rows) == set(expected_bug)
    for p, (bug, theory, fix) in rows.items():
        assert theory == pytest.approx(expected_bug[p], abs=0.1)
        assert bug == pytest.approx(expected_bug[p], abs=3)
        assert abs(fix) < 1
    assert re.search(r"^starting files:\s+FAILED", run.stdout, re.M)
    assert re.search(r"^reference:\s+PASSED", run.stdout, re.M)
