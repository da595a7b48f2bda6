"""What the Inspect AI tasks (`task_lib/inspect_tasks.py`, the entry point Inspect loads) are built
from (docs/scaling-out.md): `tools` are the five tools on a sample's sandbox, `log` turns an Inspect log
into the pack's attempt records and summary; `docker/` holds the Docker sandbox's image and compose
files. Named `inspect_support`, not `inspect`, so that no path Inspect puts on `sys.path` can shadow the
standard library's `inspect`.

May import: `task_lib.agent`, `task_lib.calibration`, `task_lib.grading`, `task_lib.sandbox`,
`task_lib.task`, `task_lib.registry`, and `inspect_ai`.
"""
