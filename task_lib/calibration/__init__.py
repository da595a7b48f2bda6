"""Calibration and reporting (docs/calibration.md): `runs` executes, resumes, summarises and re-grades
runs of N attempts, `stats` holds the Wilson interval and band verdict, `run_plots` the figures,
`report` explains a saved run.

May import: `task_lib.agent`, `task_lib.grading`, `task_lib.sandbox`, `task_lib.task`,
`task_lib.registry`.
"""
