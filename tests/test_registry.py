"""Every registered task, validated as SWE-bench validates an instance with its gold patch: the
reference passes, the starting files fail as declared, every check is announced by its prompt, and
the task interface's own contracts (version, parameters, layout) hold."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from prompt_sentences import requirement_sentences

from task_lib.agent.workspace import create_workspace, write_reference_solution
from task_lib.grading.grader import grade_workspace
from task_lib.registry import TASK_PACKAGES, UnknownTask, all_tasks, get_task

TASKS = [task for task in all_tasks() if task.missing_requirement() is None]
UNAVAILABLE = [task for task in all_tasks() if task.missing_requirement() is not None]


def normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The starting files and the reference of every available task, graded side by side."""
    jobs = {}
    for task in TASKS:
        root = tmp_path_factory.mktemp(task.package.rsplit(".", 1)[1])
        jobs[(task.name, "start")] = (create_workspace(root / "start", task), task)
        jobs[(task.name, "reference")] = (write_reference_solution(root / "reference", task), task)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(grade_workspace, path, task, seed=7)
                   for key, (path, task) in jobs.items()}
        return {key: future.result() for key, future in futures.items()}


def test_every_registered_task_is_listed_and_unavailable_ones_say_how_to_install():
    assert [task.name for task in all_tasks()] == list(TASK_PACKAGES)
    for task in UNAVAILABLE:
        assert "pip install" in task.missing_requirement()


@pytest.mark.parametrize("task", TASKS, ids=lambda task: task.name)
def test_reference_passes_and_starting_files_fail_as_declared(graded, task):
    reference, start = graded[(task.name, "reference")], graded[(task.name, "start")]
    assert reference.passed, reference.message
    assert not start.passed
    assert start.failure == task.module("policies").STARTING_FAILURE, start.message
    assert (reference.task, reference.task_version) == (task.name, task.version)


@pytest.mark.parametrize("task", TASKS, ids=lambda task: task.name)
def test_the_prompt_has_at_most_400_words(task):
    assert len(task.prompt().split()) <= 400


@pytest.mark.parametrize("task", TASKS, ids=lambda task: task.name)
def test_every_check_names_a_clause_its_prompt_states(graded, task):
    prompt = normalised(task.prompt())
    clauses = task.module("checks").CLAUSES
    missing = {name: clause for name, clause in clauses.items() if normalised(clause) not in prompt}
    assert missing == {}, "clauses not found in the prompt"
    for key in [(task.name, "reference"), (task.name, "start")]:
        unannounced = [check.name for check in graded[key].checks if not check.clause]
        assert unannounced == [], f"checks with no clause in CLAUSES: {unannounced}"


@pytest.mark.parametrize("task", TASKS, ids=lambda task: task.name)
def test_every_graded_requirement_of_the_prompt_is_some_checks_clause(task):
    """'Every requirement in the prompt is checked': each bullet of the prompt's grading section holds
    at least one check's clause; a prompt whose grading section is a paragraph (no bullets) states its
    requirements as numbered items instead, and each of their sentences is some check's clause."""
    prompt = task.prompt()
    clauses = [normalised(clause) for clause in task.module("checks").CLAUSES.values()]
    section = prompt.split("## How it is graded", 1)[1].split("\n## ", 1)[0]
    bullets = [normalised(item) for item in re.split(r"\n- ", "\n" + section.split("\n", 1)[1])[1:]]
    if bullets:
        unchecked = [bullet for bullet in bullets if not any(clause in bullet for clause in clauses)]
    else:
        bullets = requirement_sentences(prompt, numbered_only=True)
        unchecked = [sentence for sentence in bullets if sentence not in clauses]
    assert bullets and unchecked == []


@pytest.mark.parametrize("task", TASKS, ids=lambda task: task.name)
def test_version_is_a_stable_content_hash(task):
    again = subprocess.run([sys.executable, "-c", f"from task_lib.registry import get_task; "
                            f"print(get_task({task.name!r}).version)"], capture_output=True, text=True,
                           check=True)
    assert again.stdout.strip() == task.version and re.fullmatch(r"[0-9a-f]{12}", task.version)


def test_version_changes_when_what_defines_the_task_changes():
    from dataclasses import replace

    task = get_task()
    longer = replace(task.grade_limits, wall_seconds=task.grade_limits.wall_seconds + 1)
    edited = replace(task, grade_limits=longer)
    assert edited.version != task.version
    assert replace(task, summary="reworded").version == task.version  # the summary defines nothing


def test_parameters_are_checked_by_name_and_range():
    task = get_task()
    assert task.resolve_params({"tolerance": "0.2"}) == {"tolerance": 0.2}
    with pytest.raises(ValueError, match="no parameter 'p_max'.*tolerance"):
        task.resolve_params({"p_max": 1})
    with pytest.raises(ValueError, match="between 0 and 1"):
        task.resolve_params({"tolerance": 1.5})


def test_unknown_task_names_the_registered_ones():
    with pytest.raises(UnknownTask, match="variance-dropout"):
        get_task("no-such-task")


def test_tasks_json_lists_each_task_with_its_version():
    run = subprocess.run([sys.executable, "-m", "task_lib", "tasks", "--json"], capture_output=True,
                         text=True, check=True)
    listed = {entry["name"]: entry for entry in json.loads(run.stdout)}
    for task in all_tasks():
        entry = listed[task.name]
        assert entry["version"] == task.version and entry["solution_files"] == list(task.solution_files)
        assert entry["summary"] == task.summary


def test_the_registry_imports_only_the_task_asked_for():
    code = ("import sys; from task_lib.registry import get_task; get_task('variance-dropout'); "
            "others = [m for m in sys.modules if m.startswith('task_lib.tasks.') and "
            "not m.startswith('task_lib.tasks.variance_dropout')]; "
            "heavy = [m for m in ('numpy', 'anthropic', 'matplotlib', 'torch') if m in sys.modules]; "
            "print(others, heavy)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[] []"
