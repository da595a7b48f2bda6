"""Exports of the pack to RL training formats, one concept a module: Harbor task folders
(`harbor.py`, graded in Harbor's separate verifier box by `harbor_verifier.py`), a verifiers v1
taskset (`verifiers_taskset.py` with its toolset `verifiers_tools.py`; the optional extra
`verifiers`), the verdict-to-reward mapping both use (`verdicts.py`), and the `export` subcommand
(`commands.py`). Nothing outside this package imports it but `task_lib.cli`."""
