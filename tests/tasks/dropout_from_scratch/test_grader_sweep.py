"""Every mutant fails on its pinned check first, and only there where pinned so, in every grade: each
graded with SWEEP_GRADES fresh plans (fixed seeds; the mutants' own masks are random), side by side."""

import pytest

from .solutions import MUTANTS
from .task_files import SOLUTION_FILE

SWEEP_GRADES = 10


@pytest.fixture(scope="module")
def swept(grade_dfs):
    variants = {f"{name}@{seed}": {SOLUTION_FILE: source} for name, (_, source, _) in MUTANTS.items()
                for seed in range(SWEEP_GRADES)}
    results = {}
    for seed in range(SWEEP_GRADES):  # one seed per batch: grade_dfs takes one seed for all it grades
        batch = {key: files for key, files in variants.items() if key.endswith(f"@{seed}")}
        results |= grade_dfs(batch, seed=7000 + seed)
    return results


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MUTANTS))
def test_mutant_fails_its_check_first_in_every_grade(swept, name):
    check, _, only = MUTANTS[name]
    for seed in range(SWEEP_GRADES):
        result = swept[f"{name}@{seed}"]
        assert result.failure == check, f"seed {seed}: {result.message}"
        if only:
            failed = {c.name for c in result.checks if not c.passed}
            assert failed == {check}, f"seed {seed}: {sorted(failed)}"
