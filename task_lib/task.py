"""The task spec: prompt, starting files, checked p values, tolerance, sample sizes and limits. Pure data."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

SOLUTION_FILE = "dropout.py"
TEST_FILE = "test_dropout.py"
STARTING_FILES = (SOLUTION_FILE, TEST_FILE)
REFERENCE_FILE = "reference_dropout.py"
PROMPT_FILE = "prompt.md"


def template_text(name: str) -> str:
    """The text of one file under task_lib/templates."""
    return resources.files("task_lib.templates").joinpath(name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class AgentLimits:
    """Per-attempt limits; hitting one ends the attempt as `limit`, not as a wrong answer."""

    max_steps: int = 40
    max_tokens_per_response: int = 8192
    max_total_tokens: int = 2_000_000


@dataclass(frozen=True)
class TaskSpec:
    """Everything that defines the task; the grader and the agent read it, nothing mutates it."""

    p_values: tuple[float, ...] = (0.3, 0.5, 0.7)
    tolerance: float = 0.10
    # Zero-mean (random-sign) inputs per variance check; derived in grader_power.py, pinned by a test.
    n_variance: int = 422_912
    # Gaussian inputs per p for the mask and scale checks (two calls each).
    n_mask: int = 65_536
    # The grader's child (import and every call) must finish within these.
    grade_seconds: int = 20
    grade_memory_gib: int = 2
    limits: AgentLimits = field(default_factory=AgentLimits)

    def prompt(self) -> str:
        """The task prompt as the model sees it, with this spec's numbers filled in."""
        return template_text(PROMPT_FILE).format(
            p_values=", ".join(f"{p:g}" for p in self.p_values),
            n_variance=self.n_variance,
            tolerance=f"{self.tolerance:g}",
            tolerance_pct=f"{self.tolerance:.0%}",
            grade_seconds=self.grade_seconds,
            grade_memory_gib=self.grade_memory_gib,
        )


DEFAULT_TASK = TaskSpec()
