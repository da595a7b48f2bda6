"""The trusted grading path, for any task (docs/grader.md): `grader` orchestrates a grade, `grade_child`
and `child_kit` are the child's side (read as text and run in the sandbox, never imported),
`grade_channel` is the results' byte format, `verdict` and `grade_tables` the verdict and its tables,
`tail_bounds` and `mask_statistics` the statistics the tasks' checks use, `threads` runs them side by
side.

May import: `task_lib.sandbox`, `task_lib.task`, `task_lib.registry` (and, at run time, a task's
modules through the registry). Never `anthropic` or `torch`.
"""
