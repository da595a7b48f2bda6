"""Exports of the pack to RL training formats: Harbor task folders (`harbor.py`, graded in the
verifier box by `harbor_verifier.py`) and a verifiers v1 taskset (`verifiers_taskset.py`, an optional
extra). `commands.py` adds the `export` subcommand."""
