"""`python -m task_lib export harbor OUT`: every task's folder parses with Harbor's own TaskConfig as a
separate-verifier task with no network, and its tests/test.sh, run in a directory of its own with the
paths remapped, rewards the reference solution 1 and the starting files, a test-file edit or a
conftest.py / sitecustomize.py planted beside the solution 0, writing numbers only to reward.json and
the failure's category to grade.json."""

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from task_lib.export.verdicts import failure_categories
from task_lib.registry import all_tasks, task_names

HARBOR_REQUIREMENT = "harbor==0.25.*"
# A virtual environment with Harbor, kept between sessions outside the repository.
HARBOR_CACHE = Path(os.environ.get("TASK_LIB_TEST_CACHE", Path.home() / ".cache" / "dropout-variance-tests"))
PYTHON_312 = [Path.home() / ".pyenv/versions/3.12.1/bin/python", shutil.which("python3.12")]
# What a planted file does if anything imports it: forge a passing reward and stop the verifier
# before it can write its own.
FORGE = ("import json, os\nout = os.environ.get('VERIFIER_DIR', '/logs/verifier')\n"
         "os.makedirs(out, exist_ok=True)\n"
         "open(os.path.join(out, 'reward.json'), 'w').write(json.dumps({'reward': 1, 'forged': 1}))\n"
         "os._exit(0)\n")
TASKS = {task.name: task for task in all_tasks()}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "task_lib", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("harbor")
    result = cli("export", "harbor", str(out))
    assert result.returncode == 0, result.stderr
    return out


def workspace_variants(task, folder: Path) -> dict[str, dict[str, str]]:
    """name -> files written over the starting workspace."""
    reference = {name: (folder / "solution/files" / name).read_text() for name in task.solution_files}
    protected = task.protected_files[0]
    edited = task.starting_text(protected) + "\n# the agent was here\n"
    return {"reference": reference, "starting": {}, "test_file_edit": {**reference, protected: edited},
            "conftest": {"conftest.py": FORGE}, "sitecustomize": {"sitecustomize.py": FORGE}}


def run_test_sh(folder: Path, box: Path, files: dict[str, str], solve: bool) -> tuple[dict, dict, str]:
    """Run the folder's test.sh in `box` (its own workspace and verifier directory, nothing else in
    the environment but PATH); return reward.json, grade.json and the script's output."""
    workspace, verifier = box / "workspace", box / "logs" / "verifier"
    verifier.mkdir(parents=True)
    shutil.copytree(folder / "environment", workspace)
    env = {"PATH": os.environ["PATH"], "WORKSPACE_DIR": str(workspace), "VERIFIER_DIR": str(verifier),
           "PACK_PYTHON": sys.executable}
    if solve:
        subprocess.run([str(folder / "solution/solve.sh")], env=env, check=True, timeout=30)
    for name, text in files.items():
        (workspace / name).write_text(text)
    run = subprocess.run([str(folder / "tests/test.sh")], env=env, capture_output=True, text=True,
                         timeout=300, cwd=workspace)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    grade = json.loads((verifier / "grade.json").read_text())
    return json.loads((verifier / "reward.json").read_text()), grade, output


@pytest.fixture(scope="module")
def verdicts(exported, tmp_path_factory) -> dict[tuple[str, str], tuple[dict, dict, str]]:
    """(task, variant) -> what test.sh wrote, every case run once, two at a time."""
    cases = {}
    for name, task in TASKS.items():
        for variant, files in workspace_variants(task, exported / name).items():
            box = tmp_path_factory.mktemp(f"{name}-{variant}")
            cases[name, variant] = (exported / name, box, files, variant == "reference")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(run_test_sh, *args) for key, args in cases.items()}
        return {key: future.result() for key, future in futures.items()}


def test_export_writes_one_harbor_folder_per_task(exported):
    assert sorted(path.name for path in exported.iterdir()) == sorted(task_names())
    for name, task in TASKS.items():
        folder = exported / name
        assert (folder / "instruction.md").read_text() == task.prompt()
        assert sorted(path.name for path in (folder / "environment").iterdir()) == sorted(task.starting_files)
        assert not (folder / "environment" / "Dockerfile").exists()
        for script in ("tests/test.sh", "solution/solve.sh"):
            assert os.access(folder / script, os.X_OK)
        toml = (folder / "task.toml").read_text()
        assert f'version = "{task.version}"' in toml and f"--task-version {task.version}" in \
            (folder / "tests/test.sh").read_text()


@pytest.mark.parametrize("task_name", task_names())
@pytest.mark.parametrize("variant", ["reference", "starting", "test_file_edit", "conftest", "sitecustomize"])
def test_test_sh_rewards_only_the_reference_solution(verdicts, task_name, variant):
    reward, grade, output = verdicts[task_name, variant]
    assert all(type(value) in (int, float) for value in reward.values()), reward
    assert set(reward) == {"reward", *(f"failure_{c}" for c in failure_categories(TASKS[task_name]))}
    assert reward["reward"] == (variant == "reference"), output
    assert grade["passed"] == (variant == "reference") and grade["task"] == task_name
    if variant == "reference":
        assert grade["failure"] is None and sum(reward.values()) == 1
    else:
        assert reward[f"failure_{grade['failure']}"] == 1 and sum(reward.values()) == 1
    if variant == "test_file_edit":
        assert grade["failure"] == "test_file_unchanged"


def test_test_sh_rewards_a_workspace_without_the_solution_file_zero(exported, tmp_path):
    folder = exported / "variance-dropout"
    workspace = tmp_path / "workspace"
    shutil.copytree(folder / "environment", workspace)
    (workspace / "dropout.py").unlink()
    env = {"PATH": os.environ["PATH"], "WORKSPACE_DIR": str(workspace),
           "VERIFIER_DIR": str(tmp_path / "verifier"), "PACK_PYTHON": sys.executable}
    subprocess.run([str(folder / "tests/test.sh")], env=env, check=True, capture_output=True, timeout=120)
    grade = json.loads((tmp_path / "verifier/grade.json").read_text())
    reward = json.loads((tmp_path / "verifier/reward.json").read_text())
    assert grade["failure"] == "unusable_workspace"
    assert reward["reward"] == 0 and reward["failure_unusable_workspace"] == 1


def test_test_sh_refuses_an_image_of_another_task_version(exported, tmp_path):
    folder = tmp_path / "stale"
    shutil.copytree(exported / "variance-dropout", folder)
    script = folder / "tests/test.sh"
    version = TASKS["variance-dropout"].version
    script.write_text(script.read_text().replace(version, "000000000000"))
    env = {"PATH": os.environ["PATH"], "WORKSPACE_DIR": str(folder / "environment"),
           "VERIFIER_DIR": str(tmp_path / "verifier"), "PACK_PYTHON": sys.executable}
    run = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "rebuild the image or re-export" in run.stderr
    assert not (tmp_path / "verifier" / "reward.json").exists()


def test_export_refuses_a_folder_already_there(exported):
    result = cli("export", "harbor", str(exported), "--task", "variance-dropout")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "already exists and is not empty" in result.stderr


def test_export_records_the_parameters_given(tmp_path):
    result = cli("export", "harbor", str(tmp_path), "--task", "variance-dropout", "--param", "tolerance=0.2")
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "variance-dropout"
    assert "tolerance = 0.2" in (folder / "task.toml").read_text()
    assert "--param tolerance=0.2" in (folder / "tests/test.sh").read_text()
    assert "0.2" in (folder / "instruction.md").read_text()


# ---- Harbor's own schema ------------------------------------------------------------------------

VALIDATE = """
import json, sys
from pathlib import Path
from harbor.models.task.config import TaskConfig
from harbor.models.task.paths import TaskPaths
from harbor.models.task.verifier_mode import (
    resolve_task_verifier_mode, resolve_verifier_environment_definition)
found = {}
for folder in map(Path, sys.argv[1:]):
    config = TaskConfig.model_validate_toml((folder / "task.toml").read_text())
    verifier = resolve_verifier_environment_definition(config, TaskPaths(folder))
    found[folder.name] = {
        "version": config.task.version, "mode": resolve_task_verifier_mode(config).value,
        "artifacts": config.artifacts, "image": config.environment.docker_image,
        "agent_network": config.environment.network_mode.value,
        "verifier_network": verifier.config.network_mode.value,
        "verifier_image": verifier.config.docker_image,
        "verifier_workdir": verifier.config.workdir, "params": config.metadata.get("params")}
print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def harbor_python() -> Path:
    """A Python 3.12 with Harbor 0.25 (made once, under HARBOR_CACHE); skip when none can be made."""
    venv = HARBOR_CACHE / "harbor-0.25"
    python = venv / "bin" / "python"
    if not python.exists():
        base = next((Path(p) for p in PYTHON_312 if p and Path(p).exists()), None)
        if base is None:
            pytest.skip("Harbor 0.25 needs Python 3.12: none found (pyenv 3.12.1 or python3.12 on PATH)")
        made = subprocess.run([str(base), "-m", "venv", str(venv)], capture_output=True, text=True)
        installed = made.returncode == 0 and subprocess.run(
            [str(python), "-m", "pip", "install", "-q", HARBOR_REQUIREMENT], capture_output=True, text=True,
            timeout=900).returncode == 0
        if not installed:
            shutil.rmtree(venv, ignore_errors=True)
            pytest.skip(f"cannot install {HARBOR_REQUIREMENT} into a Python 3.12 venv (no PyPI?)")
    return python


@pytest.mark.slow
def test_harbor_taskconfig_reads_every_folder_as_a_separate_verifier_task_without_network(
        exported, harbor_python):
    run = subprocess.run([str(harbor_python), "-c", VALIDATE, *(str(exported / n) for n in task_names())],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout)
    for name, task in TASKS.items():
        config = found[name]
        assert config["version"] == task.version and config["params"] == task.resolve_params()
        assert config["mode"] == "separate" and config["artifacts"] == ["/workspace"]
        assert config["agent_network"] == config["verifier_network"] == "no-network"
        assert config["verifier_image"] == config["image"] and config["verifier_workdir"] != "/workspace"


@pytest.mark.slow
def test_harbor_lint_finds_nothing_in_any_folder(exported, harbor_python):
    folders = [str(exported / name) for name in task_names()]
    lint = subprocess.run([str(harbor_python.with_name("harbor")), "lint", *folders], capture_output=True,
                          text=True, timeout=120)
    assert lint.returncode == 0, lint.stdout + lint.stderr
