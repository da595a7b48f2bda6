"""The agent loop (docs/harness.md): `loop` runs one attempt (model, tools, grade, record), `tools` are
the five tools on a workspace, `workspace` makes and snapshots workspaces, `backends` opens the
Messages API (real or the offline server), `transcript` records an attempt, `pricing` prices its usage,
`interrupts` turns Ctrl-C into a clean stop.

May import: `task_lib.sandbox`, `task_lib.grading`, `task_lib.offline`, `task_lib.task`,
`task_lib.registry`.
"""
