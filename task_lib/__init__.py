"""dropout-variance: a pack of LLM agent tasks (task_lib/tasks/), their behavioural graders, and the
harness that runs, grades and calibrates them (everything else in task_lib, which knows no task).

Importing the package is cheap: heavy dependencies (anthropic, matplotlib, nbclient, torch,
inspect_ai) load inside the functions that need them.
"""

__version__ = "0.1.0"
